"""Outbound trunk registration over UDP on 127.0.0.1: the real endpoint registers at a registrar played by the
test (which checks the digest answers with the box's own server-side checker), refreshes, backs off after
failures, accepts the provider's INVITEs and answers its challenge to the box's INVITEs; config errors; fuzz."""
from __future__ import annotations

import json
import logging
import random
import socket
import time

import pytest

from hotline.daemon.box.config import parse_config
from hotline.daemon.errors import ConfigError
from hotline.drivers.base import DriverNotReady, HungUp, LineEvent, Ringing
from hotline.drivers.sip import message as sipmsg
from hotline.drivers.sip.auth import DigestAuth, ha1
from hotline.drivers.sip.driver import SipDriver, parse_trunks
from hotline.drivers.sip.trunkreg import digest_answer
from tests.unit.test_sip_endpoint import _free_rtp_range, wait_for

PASSWORD = "Zh8-secret-q"


class Registrar:
    """The provider played by the test: one UDP socket, challenges checked with DigestAuth."""

    def __init__(self, password: str = PASSWORD) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(3)
        self.port = self.sock.getsockname()[1]
        self.auth = DigestAuth("carrier.example.cn", {"7551234": ha1("7551234", "carrier.example.cn", password)})

    def recv(self) -> tuple[sipmsg.Request | sipmsg.Response, tuple[str, int]]:
        data, source = self.sock.recvfrom(8192)
        return sipmsg.parse(data), source

    def reply(self, req, source, status: int, reason: str, extra=()) -> None:
        self.sock.sendto(sipmsg.response_to(req, status, reason, to_tag="reg1", extra=list(extra)).to_bytes(), source)

    def challenge(self, req, source, status: int = 401) -> None:
        name = "www-authenticate" if status == 401 else "proxy-authenticate"
        self.reply(req, source, status, "Unauthorized", [(name, self.auth.challenge())])

    def check(self, req, header: str = "authorization") -> str | None:
        user, _ = self.auth.check(req.method, req.headers.get(header), "box")
        return user

    def close(self) -> None:
        self.sock.close()


def open_box(far: Registrar, **trunk) -> SipDriver:
    events: list[LineEvent] = []
    item = {"name": "carrier", "registrar": f"127.0.0.1:{far.port}", "register": True,
            "username": "7551234", "password": PASSWORD, "expires": 120, "domain": "carrier.example.cn", **trunk}
    drv = SipDriver("sip0", {"listen": "127.0.0.1:0", "rtp_ports": _free_rtp_range(), "channels": 2,
                             "trunks": [item], "allow_outbound": True}, events.append)
    drv.line_map = {ln.name: ln for ln in drv.open()}
    drv.events = events
    return drv


def trunk_row(drv: SipDriver) -> dict:
    return drv.overview()["trunks"][0]


def wait_state(drv: SipDriver, state: str, timeout: float = 3.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = trunk_row(drv)
        if row["state"] == state:
            return row
        time.sleep(0.01)
    raise AssertionError(f"trunk never {state}: {trunk_row(drv)}")


@pytest.fixture
def registrar():
    reg = Registrar()
    yield reg
    reg.close()


def register_ok(registrar: Registrar, granted: int = 120):
    """Challenge the first REGISTER, accept the answered one; returns the accepted request and its source."""
    req, source = registrar.recv()
    assert req.method == "REGISTER" and not req.headers.get("authorization")
    registrar.challenge(req, source)
    again, source = registrar.recv()
    assert registrar.check(again) == "7551234", again.headers.get("authorization")
    assert again.call_id == req.call_id and again.cseq[0] == req.cseq[0] + 1
    contact = again.headers.get("contact")
    registrar.reply(again, source, 200, "OK", [("contact", f"{contact.split(';')[0]};expires={granted}")])
    return again, source


def test_a_trunk_registers_answering_the_digest_challenge_and_the_panel_shows_it(registrar, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="hotline")
    drv = open_box(registrar)
    try:
        req, _ = register_ok(registrar)
        assert str(req.uri) == "sip:carrier.example.cn"
        assert req.to.uri.user == "7551234" and req.to.uri.host == "carrier.example.cn"
        assert "qop=auth" in req.headers.get("authorization")
        row = wait_state(drv, "registered")
        assert row["kind"] == "register" and row["username"] == "7551234" and row["reason"] == ""
        assert 110 < row["expires_at"] - time.time() <= 120
        assert 0 < row["next_try"] - time.time() <= 60       # refreshed a minute before the binding ends
        shown = json.dumps(drv.overview()) + json.dumps(drv.status()) + caplog.text
        assert PASSWORD not in shown
    finally:
        drv.close()
    # Closing unregisters (Expires: 0).
    bye, _ = registrar.recv()
    assert bye.method == "REGISTER" and bye.headers.get("expires") == "0"


def test_a_short_grant_is_refreshed_before_it_ends(registrar) -> None:
    drv = open_box(registrar)
    try:
        first, _ = register_ok(registrar, granted=2)
        wait_state(drv, "registered")
        refresh, source = registrar.recv()        # after half the grant: 1 s
        assert refresh.method == "REGISTER" and refresh.call_id == first.call_id
        assert refresh.cseq[0] == first.cseq[0] + 1
        registrar.reply(refresh, source, 200, "OK", [("expires", "120")])
        time.sleep(0.05)
        assert trunk_row(drv)["state"] == "registered"
    finally:
        drv.close()


def test_a_wrong_password_fails_with_its_reason_and_retries_with_growing_waits(registrar) -> None:
    drv = open_box(registrar, password="wrong", retry_seconds=0.3)
    try:
        tries = []
        for _ in range(2):
            for _ in range(2):                     # the first REGISTER and its answered retry: both refused
                req, source = registrar.recv()
                tries.append(time.monotonic())
                assert registrar.check(req) is None
                registrar.challenge(req, source)
            row = wait_state(drv, "failed")
            assert row["reason"] == "401 Unauthorized: wrong user name or password"
            assert row["next_try"] > time.time() - 0.05
        req, _ = registrar.recv()
        tries.append(time.monotonic())
        first_wait, second_wait = tries[2] - tries[1], tries[4] - tries[3]
        assert 0.25 < first_wait < 1.5 and second_wait > first_wait + 0.2   # 0.3 s, then 0.6 s
        assert trunk_row(drv)["failures"] == 2
    finally:
        drv.close()


def test_a_refusal_without_challenge_is_shown_and_retry_after_is_honoured(registrar) -> None:
    drv = open_box(registrar, retry_seconds=0.1)
    try:
        req, source = registrar.recv()
        registrar.reply(req, source, 503, "Service Unavailable", [("retry-after", "30")])
        row = wait_state(drv, "failed")
        assert row["reason"] == "503 Service Unavailable"
        assert 25 < row["next_try"] - time.time() <= 30
    finally:
        drv.close()


def test_the_providers_invite_is_a_trunk_call_dialled_by_its_to_number(registrar) -> None:
    drv = open_box(registrar)
    try:
        register_ok(registrar)
        wait_state(drv, "registered")
        body = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                b"m=audio 40000 RTP/AVP 0\r\n")
        invite = (f"INVITE sip:7551234@127.0.0.1:{drv.endpoint.port} SIP/2.0\r\n"
                  f"Via: SIP/2.0/UDP 127.0.0.1:{registrar.port};branch=z9hG4bKin1\r\n"
                  "From: <sip:13900000001@carrier.example.cn>;tag=p1\r\nTo: <sip:075583001234@carrier.example.cn>\r\n"
                  "Call-ID: in1\r\nCSeq: 1 INVITE\r\nContact: <sip:p@127.0.0.1>\r\nMax-Forwards: 70\r\n"
                  f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        registrar.sock.sendto(invite, ("127.0.0.1", drv.endpoint.port))
        ring = wait_for(drv.events, Ringing)
        assert (ring.caller_id, ring.dialed) == ("13900000001", "075583001234")
        resp, _ = registrar.recv()
        assert resp.status == 100
    finally:
        drv.close()


def test_the_box_answers_the_trunks_challenge_to_its_invite(registrar) -> None:
    drv = open_box(registrar)
    try:
        register_ok(registrar)
        wait_state(drv, "registered")
        drv.line_map["sip0-1"].dial("13800138000")
        invite, source = registrar.recv()
        assert invite.method == "INVITE" and str(invite.uri) == "sip:13800138000@carrier.example.cn"
        assert invite.from_.uri.user == "7551234"
        registrar.challenge(invite, source, status=407)
        ack, _ = registrar.recv()
        assert ack.method == "ACK" and ack.vias[0].branch == invite.vias[0].branch
        again, source = registrar.recv()
        assert again.method == "INVITE" and again.cseq[0] == 2 and again.vias[0].branch != invite.vias[0].branch
        assert registrar.check(again, "proxy-authorization") == "7551234"
        # A second challenge to the same call means the answer was refused: ACKed, not answered again (no loop).
        registrar.challenge(again, source, status=407)
        assert registrar.recv()[0].method == "ACK"
        assert wait_for(drv.events, HungUp).line == "sip0-1"
        registrar.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            registrar.recv()
    finally:
        drv.close()


REG = {"name": "p", "registrar": "10.0.0.1", "register": True, "username": "u"}


@pytest.mark.parametrize("trunk, error", [
    (REG, "trunks[0]: a registering trunk needs password or password_file"),
    ({**REG, "password": "x", "expires": 5}, "trunks[0].expires: expected seconds between 60 and 86400, got 5"),
    ({**REG, "pasword": "x"}, "trunks[0]: unknown key 'pasword'"),
    ({"name": "p", "peer": "10.0.0.1", "username": "u"}, "trunks[0].username: only used with register: true"),
    ({**REG, "register": "yes", "password": "x"}, "trunks[0].register: expected true or false"),
    ({**REG, "password_file": "/nonexistent/pw"}, "trunks[0].password_file: cannot read /nonexistent/pw"),
])
def test_bad_trunk_settings_are_named(trunk, error) -> None:
    drv = SipDriver("sip0", {"listen": "127.0.0.1:0", "trunks": [trunk]}, lambda e: None)
    problems = drv.validate_environment()
    assert any(p.startswith(error) for p in problems), problems


def test_the_password_can_come_from_a_file(tmp_path, registrar) -> None:
    path = tmp_path / "carrier.pw"
    path.write_text(PASSWORD + "\n")
    drv = open_box(registrar, password=None, password_file=str(path))
    try:
        register_ok(registrar)
        wait_state(drv, "registered")
    finally:
        drv.close()


def test_random_challenges_and_register_answers_never_raise(registrar) -> None:
    rnd = random.Random(17)
    for _ in range(3000):
        junk = bytes(rnd.randrange(256) for _ in range(rnd.randrange(80))).decode("latin-1")
        for text in (junk, "Digest " + junk, f'Digest realm="r", nonce="n", {junk}'):
            answer = digest_answer(text, method="REGISTER", uri="sip:x", user="u", password="p")
            assert answer is None or answer.startswith("Digest ")
    drv = open_box(registrar)
    try:
        req, source = registrar.recv()
        head = sipmsg.response_to(req, 401, "Unauthorized", to_tag="t").to_bytes().split(b"Content-Length")[0]
        for n in range(300):
            junk = bytes(rnd.randrange(32, 127) for _ in range(rnd.randrange(60)))
            name = rnd.choice([b"WWW-Authenticate: ", b"Contact: ", b"Expires: ", b"Min-Expires: ", b"Retry-After: "])
            status = rnd.choice([b"401", b"407", b"200", b"423", b"503"])
            registrar.sock.sendto(head.replace(b"401", status, 1) + name + junk + b"\r\nContent-Length: 0\r\n\r\n",
                                  source)
        time.sleep(0.2)
        assert drv.endpoint.stats.internal_errors == 0
        assert trunk_row(drv)["state"] in ("registered", "failed", "registering")
    finally:
        drv.close()


def test_the_configuration_file_takes_trunks_as_strings_or_mappings_and_names_typos() -> None:
    text = ("devices:\n  - name: sip0\n    driver: sip\n    trunks:\n      - lab=10.0.0.9\n"
            "      - {name: carrier, registrar: sip.example.cn, register: true, username: '7551234',\n"
            "         password: pw, expires: 600}\n")
    device = next(d for d in parse_config(text, "hotline.yaml", env={})["devices"] if d["name"] == "sip0")
    peers, accounts = parse_trunks(device["trunks"])
    assert peers == {"lab": ("10.0.0.9", 0), "carrier": ("sip.example.cn", 5060)}
    assert [(a.name, a.username, a.expires, a.domain) for a in accounts] == [
        ("carrier", "7551234", 600, "sip.example.cn")]
    with pytest.raises(ConfigError) as err:
        parse_config(text.replace("expires: 600", "expire: 600"), "hotline.yaml", env={})
    assert "hotline.yaml:7" in str(err.value)
    assert "devices[0].trunks[1].expire: unknown key (did you mean 'expires'?)" in str(err.value)


def test_a_registrar_name_is_resolved_at_open_and_a_bad_one_keeps_the_device_down(registrar) -> None:
    drv = open_box(registrar, registrar=f"localhost:{registrar.port}")
    try:
        req, _ = registrar.recv()                  # sent to the name's address
        assert req.method == "REGISTER" and drv.endpoint.peers["carrier"] == ("127.0.0.1", registrar.port)
    finally:
        drv.close()
    with pytest.raises(DriverNotReady, match="trunk carrier: registrar no-such-host.invalid does not resolve"):
        open_box(registrar, registrar="no-such-host.invalid")
