"""SIP limits over real UDP on 127.0.0.1: per-source INVITE/REGISTER rates (503 + Retry-After, or dropped; trunk
peers exempt by default), per-extension call limits (486), the panel's overview of a device and lifting a ban,
and the configuration's errors for bad limits."""
from __future__ import annotations

import socket
import time

import pytest

from hotline.daemon.box.config import parse_config
from hotline.daemon.errors import ConfigError
from hotline.drivers.base import LineEvent, LineUp
from hotline.drivers.sip.auth import ha1, md5, parse_authorization, save_secret
from hotline.drivers.sip.driver import SipDriver
from hotline.drivers.sip.limits import Rate, RateLimiter, parse_rate

from tests.unit.test_sip_endpoint import Far, _digest, _free_rtp_range, _register, wait_for


def open_driver(tmp_path, **settings) -> SipDriver:
    """A SIP device with extensions 1001 (password right-password) and 1002, opened on a free port."""
    secrets_file = tmp_path / "sip-secrets"
    save_secret(secrets_file, "1001", ha1("1001", "hotline", "right-password"))
    events: list[LineEvent] = []
    drv = SipDriver("sip0", {"listen": "127.0.0.1:0", "rtp_ports": _free_rtp_range(), "channels": 2,
                             "extensions": ["1001", "1002"], "secrets_file": str(secrets_file), **settings},
                    events.append)
    drv.line_map = {ln.name: ln for ln in drv.open()}
    drv.events = events
    return drv


@pytest.fixture
def make_driver(tmp_path):
    """make_driver(**settings) -> an opened SipDriver, closed after the test."""
    opened: list[SipDriver] = []

    def make(**settings) -> SipDriver:
        opened.append(open_driver(tmp_path, **settings))
        return opened[-1]
    yield make
    for drv in opened:
        drv.close()


def stranger_invite(far: Far, n: int) -> None:
    far.send(f"INVITE sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{far.port};branch=z9hG4bKs{n}\r\n"
             f"From: <sip:scanner@127.0.0.1>;tag=s{n}\r\nTo: <sip:8001@127.0.0.1>\r\nCall-ID: scan-{n}\r\n"
             f"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


def test_invites_over_the_rate_get_503_with_retry_after_and_are_counted(make_driver) -> None:
    sip = make_driver(invite_rate="2/s")
    far = Far(sip.endpoint.port)
    statuses = []
    for n in range(4):
        stranger_invite(far, n)
        resp = far.recv(b"SIP/2.0")
        statuses.append(resp.status)
    assert statuses == [407, 407, 503, 503]     # not a peer: challenged; too fast: refused before looking
    assert resp.headers.get("retry-after") == "1"
    assert sip.endpoint.status()["rate_limited"]["INVITE"] == 2
    limits = sip.overview()["limits"]
    assert limits["rates"] == {"INVITE": "2/s", "REGISTER": "120/min"} and limits["rate_limited"]["INVITE"] == 2
    far.close()


def test_registers_over_the_rate_are_dropped_silently_when_configured(make_driver) -> None:
    sip = make_driver(register_rate="2/min", rate_limit_action="drop")
    phone = Far(sip.endpoint.port)
    assert _register(phone, "1001", cseq=1).status == 401
    assert _register(phone, "1001", cseq=2).status == 401
    phone.sig.settimeout(0.5)
    with pytest.raises(socket.timeout):
        _register(phone, "1001", cseq=3)
    assert sip.endpoint.status()["rate_limited"] == {"INVITE": 0, "REGISTER": 1}
    phone.close()


def test_each_source_and_method_has_its_own_bucket() -> None:
    limiter = RateLimiter({"INVITE": Rate(1, 1.0)}, clock=lambda: 100.0)
    assert limiter.check("INVITE", "192.0.2.1") == 0.0
    assert limiter.check("INVITE", "192.0.2.1") == pytest.approx(1.0)     # the same second: wait a second
    assert limiter.check("INVITE", "192.0.2.2") == 0.0                   # another source has its own bucket
    assert limiter.check("REGISTER", "192.0.2.1") == 0.0                 # no rate for REGISTER: always passes


def test_a_trunk_peer_is_not_rate_limited_by_default(make_driver) -> None:
    sip = make_driver(invite_rate="1/s", trunks=["lab=127.0.0.1"])
    far = Far(sip.endpoint.port)
    for n in range(3):
        far.invite(f"peer-{n}", branch=f"z9hG4bKp{n}")
        got = far.recv(b"SIP/2.0")
        assert got.status in (100, 486), got.status     # answered as calls (2 channels, then busy), never 503
    assert sip.endpoint.status()["rate_limited"]["INVITE"] == 0
    assert sip.overview()["trunks"][0]["name"] == "lab" and sip.overview()["trunks"][0]["last_seen"]
    far.close()


def test_retransmissions_and_trunks_when_limited(make_driver) -> None:
    """With rate_limit_trunks on, a trunk's new INVITEs count; a retransmitted INVITE of a call in progress does
    not, and is answered as before."""
    sip = make_driver(invite_rate="1/s", trunks=["lab=127.0.0.1"], rate_limit_trunks=True)
    far = Far(sip.endpoint.port)
    far.invite("r-1", branch="z9hG4bKr1")
    assert far.recv(b"SIP/2.0").status == 100
    far.invite("r-1", branch="z9hG4bKr1")              # the same INVITE again (our 100 was lost)
    assert far.recv(b"SIP/2.0").status == 100
    far.invite("r-2", branch="z9hG4bKr2")              # a new call within the same second
    assert far.recv(b"SIP/2.0").status == 503
    assert sip.endpoint.status()["rate_limited"]["INVITE"] == 1
    far.close()


def _phone_invite(phone: Far, call_id: str) -> int:
    """A phone (extension 1001, right password) INVITEs 1002: the final status after the 407 round."""
    body = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            b"m=audio %d RTP/AVP 0\r\n" % phone.media.getsockname()[1])

    def send(auth: str, branch: str):
        phone.send(f"INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{phone.port};branch={branch}\r\n"
                   f"From: <sip:1001@127.0.0.1>;tag=ph\r\nTo: <sip:1002@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
                   f"CSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:{phone.port}>\r\n{auth}Max-Forwards: 70\r\n"
                   f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n", body)
        return phone.recv(b"SIP/2.0")
    challenge = send("", f"z9hG4bK{call_id}a")
    assert challenge.status == 407
    params = parse_authorization(challenge.headers.get("proxy-authenticate"))
    response = md5(f"{md5('1001:hotline:right-password')}:{params['nonce']}:00000001:c1:auth:"
                   f"{md5('INVITE:sip:1002@127.0.0.1')}")
    auth = (f'Proxy-Authorization: Digest username="1001", realm="hotline", nonce="{params["nonce"]}", '
            f'uri="sip:1002@127.0.0.1", response="{response}", qop=auth, nc=00000001, cnonce="c1"\r\n')
    return send(auth, f"z9hG4bK{call_id}b").status


def test_an_extension_at_its_call_limit_gets_486(make_driver) -> None:
    """1001 with max_calls 0 (ring-only) is refused at once; with the default 1 a phone in a call is
    refused a second call."""
    sip = make_driver(call_limits=["1001=0"])
    phone = Far(sip.endpoint.port)
    assert _phone_invite(phone, "lim-1") == 486
    assert sip.endpoint.status()["over_limit"] == 1
    assert [e["max_calls"] for e in sip.overview()["extensions"]] == [0, 1]
    phone.close()
    sip2 = make_driver()
    phone = Far(sip2.endpoint.port)
    assert _phone_invite(phone, "one-1") == 200
    assert _phone_invite(phone, "one-2") == 486
    assert sip2.endpoint.status()["over_limit"] == 1
    phone.close()


def test_max_calls_above_one_gives_the_extension_more_station_lines(make_driver) -> None:
    """1001 with max_calls 2: its registration brings up sip0-1001 and sip0-1001-2; the phone's second call while
    the first goes on takes the second line (its own station line, off hook there), a third gets 486."""
    from hotline.drivers.base import OffHook
    sip = make_driver(max_calls=2)
    assert [ln for ln in sip.line_map if ln.startswith("sip0-1001")] == ["sip0-1001", "sip0-1001-2"]
    assert sip.line_map["sip0-1001-2"].extension == "1001"
    phone = Far(sip.endpoint.port)
    challenge = _register(phone, "1001")
    assert _register(phone, "1001", cseq=2, auth=_digest(challenge.headers.get("www-authenticate"), "1001",
                                                          "right-password")).status == 200
    wait_for(sip.events, LineUp)
    assert {e.line for e in sip.events if isinstance(e, LineUp)} == {"sip0-1001", "sip0-1001-2"}
    assert _phone_invite(phone, "two-1") == 200
    assert _phone_invite(phone, "two-2") == 200
    assert _phone_invite(phone, "two-3") == 486
    assert {sip.endpoint.calls[name].call_id for name in ("sip0-1001", "sip0-1001-2")} == {"two-1", "two-2"}
    assert sip.overview()["extensions"][0]["calls"] == 2
    for call_id in ("two-1", "two-2"):    # each confirmed call goes off hook on its own line
        phone.in_dialog("ACK", call_id, 1, "<sip:1002@127.0.0.1>", f"z9hG4bKack{call_id}")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len([e for e in sip.events if isinstance(e, OffHook)]) < 2:
        time.sleep(0.02)
    assert sorted(e.line for e in sip.events if isinstance(e, OffHook)) == ["sip0-1001", "sip0-1001-2"]
    phone.close()


def test_the_overview_shows_registered_phones_and_bans_and_a_ban_can_be_lifted(make_driver) -> None:
    sip = make_driver(ban_after=2)
    phone = Far(sip.endpoint.port)
    challenge = _register(phone, "1001")
    ok = _register(phone, "1001", cseq=2,
                   auth=_digest(challenge.headers.get("www-authenticate"), "1001", "right-password")
                   + "User-Agent: Yealink SIP-T46U 108.86\r\n")
    assert ok.status == 200
    wait_for(sip.events, LineUp)
    view = sip.overview()
    one, two = view["extensions"]
    assert one["registered"] and one["user_agent"] == "Yealink SIP-T46U 108.86"
    assert one["contact"] == f"sip:1001@127.0.0.1:{phone.port}" and one["source"] == f"127.0.0.1:{phone.port}"
    assert 590 <= one["expires_in"] <= 600 and not two["registered"]
    for n in range(2):     # two wrong passwords: banned
        c = _register(phone, "1002", cseq=10 + 2 * n)
        _register(phone, "1002", cseq=11 + 2 * n, auth=_digest(c.headers.get("www-authenticate"), "1002", "x"))
    assert _register(phone, "1001", cseq=20).status == 403
    bans = sip.overview()["bans"]
    assert [(b["source"], b["failures"]) for b in bans] == [("127.0.0.1", 2)] and "2 authentication" in bans[0]["reason"]
    assert sip.lift_ban("127.0.0.1") and not sip.lift_ban("127.0.0.1")
    assert sip.overview()["bans"] == []
    assert _register(phone, "1001", cseq=21).status == 401      # challenged again, not refused
    phone.close()


@pytest.mark.parametrize("key,value,message", [
    ("invite_rate", "ten per second", "invite_rate"),
    ("register_rate", "0/min", "register_rate"),
    ("rate_limit_action", "reject", "rate_limit_action"),
    ("max_calls", 5, "max_calls"),
    ("call_limits", ["1001:0"], "call_limits"),
])
def test_bad_limits_are_configuration_errors_naming_the_key(key, value, message) -> None:
    import yaml
    text = yaml.safe_dump({"devices": [{"name": "sip0", "driver": "sip", "extensions": ["1001"], key: value}]})
    with pytest.raises(ConfigError) as err:
        parse_config(text, "hotline.yaml", {}, None, True)
    assert f"devices[0].{message}" in str(err.value) or f"devices.0.{message}" in str(err.value), str(err.value)


def test_call_limits_for_an_unknown_extension_are_named(tmp_path) -> None:
    drv = SipDriver("sip0", {"extensions": ["1001"], "call_limits": ["1009=0"]}, lambda e: None)
    assert drv.validate_environment() == ["call_limits[0]: '1009' is not one of the extensions"]
    assert parse_rate("off", "x") is None and parse_rate("600/min", "x") == Rate(600, 60.0)
