"""The SIP panel page and /api/v1/sip: a real daemon with a SIP device, a phone registering over UDP (its user agent
hostile HTML), an address banned after failed passwords; the page escapes, the API lists, an admin lifts the ban
(audited), other roles are refused."""
from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from hotline.drivers.sip.auth import ha1, save_secret

from tests.unit.test_sip_endpoint import Far, _digest, _register

HOSTILE_UA = '<img src=x onerror="alert(1)"> Grandstream GXP1625'


def udp_free() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sip_box(prepared_box, tmp_path: Path, **extra):
    """A daemon with sim0 and sip0 (extensions 2001 with password pw-2001, and 2002; banned after 2 failures)."""
    secrets_file = tmp_path / "sip-secrets"
    save_secret(secrets_file, "2001", ha1("2001", "hotline", "pw-2001"))
    rtp = udp_free() // 2 * 2
    rtp = rtp if rtp < 64000 else 30000
    devices = [{"name": "sim0", "driver": "sim", "trunks": 2, "stations": ["1001"]},
               {"name": "sip0", "driver": "sip", "listen": f"127.0.0.1:{udp_free()}", "rtp_ports": f"{rtp}-{rtp + 20}",
                "channels": 2, "trunks": ["carrier=192.0.2.5"], "extensions": ["2001", "2002"],
                "secrets_file": str(secrets_file), "ban_after": 2, **extra}]
    box = prepared_box(config={"devices": devices})
    box.sip_port = int(devices[1]["listen"].rsplit(":", 1)[1])
    return box


def register_and_get_banned(port: int) -> Far:
    """2001 registers (with a hostile User-Agent); then two wrong passwords for 2002 ban 127.0.0.1."""
    phone = Far(port)
    challenge = _register(phone, "2001")
    ok = _register(phone, "2001", cseq=2, auth=_digest(challenge.headers.get("www-authenticate"), "2001", "pw-2001")
                   + f"User-Agent: {HOSTILE_UA}\r\n")
    assert ok.status == 200, ok.status
    for n in range(2):
        c = _register(phone, "2002", cseq=10 + 2 * n)
        _register(phone, "2002", cseq=11 + 2 * n, auth=_digest(c.headers.get("www-authenticate"), "2002", "wrong"))
    assert _register(phone, "2001", cseq=20).status == 403
    return phone


@pytest.fixture
def box(prepared_box, tmp_path):
    """sip_box with the device open (the API says up), serving SIP over TLS too (a certificate made by openssl)."""
    from tests.unit.test_sip_tls import make_certificate
    cert, key = make_certificate(tmp_path)
    return sip_box(prepared_box, tmp_path, tls_cert=str(cert), tls_key=str(key), tls_listen="127.0.0.1:0")


def wait_up(panel) -> dict:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        devs = panel.api("GET", "/sip/devices").json()["devices"]
        if devs and devs[0]["state"] == "up":
            return devs[0]
        time.sleep(0.1)
    raise AssertionError(f"sip0 never came up: {devs}")


def test_the_api_lists_trunks_phones_and_bans_and_an_admin_lifts_a_ban(box, client) -> None:
    admin = client(box.url)
    admin.login("admin")
    dev = wait_up(admin)
    assert [t["name"] for t in dev["trunks"]] == ["carrier"] and dev["trunks"][0]["state"] == "inbound only"
    assert [e["registered"] for e in dev["extensions"]] == [False, False] and dev["bans"] == []
    assert dev["tls"].startswith("127.0.0.1:") and int(dev["tls"].rsplit(":", 1)[1]) > 0
    phone = register_and_get_banned(box.sip_port)
    dev = admin.api("GET", "/sip/devices").json()["devices"][0]
    one = dev["extensions"][0]
    assert one["registered"] and one["user_agent"] == HOSTILE_UA and one["source"] == f"127.0.0.1:{phone.port}"
    assert [(b["source"], b["failures"]) for b in dev["bans"]] == [("127.0.0.1", 2)]
    assert dev["limits"]["rates"] == {"INVITE": "10/s", "REGISTER": "120/min"}
    metrics = admin.get("/metrics").text
    for series in ('hotline_sip_registered_extensions{device="sip0"} 1.0', 'hotline_sip_banned_sources{device="sip0"} 1.0',
                   'hotline_sip_rate_limited_total{device="sip0",method="INVITE"} 0.0'):
        assert series in metrics, series

    # the page shows them, the user agent as text
    page = admin.get("/config/sip")
    assert page.status == 200 and 'data-extension="2001"' in page.text and 'data-ban="127.0.0.1"' in page.text
    assert f'data-sip-tls="{dev["tls"]}"' in page.text
    assert HOSTILE_UA not in page.text and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page.text

    # agents and supervisors may not see or lift; a browser session needs the XSRF token
    for name in ("agent1", "sup"):
        other = client(box.url)
        other.login(name)
        assert other.api("GET", "/sip/devices").status == 403
        assert other.api("DELETE", "/sip/devices/sip0/bans/127.0.0.1").status == 403
    assert admin.api("DELETE", "/sip/devices/sip0/bans/127.0.0.1", xsrf=False).status == 403
    assert admin.api("DELETE", "/sip/devices/sip0/bans/not-an-ip").status in (400, 404)
    assert admin.api("DELETE", "/sip/devices/sip9/bans/127.0.0.1").status == 404

    assert admin.post("/config/sip/unban", {"device": "sip0", "source": "<script>"}).status == 400
    assert admin.post("/config/sip/unban", {"device": "sip0", "source": "127.0.0.1"}, xsrf=False).status == 403
    r = admin.api("DELETE", "/sip/devices/sip0/bans/127.0.0.1")
    assert r.status == 200 and r.json() == {"device": "sip0", "source": "127.0.0.1", "lifted": True}
    assert admin.api("DELETE", "/sip/devices/sip0/bans/127.0.0.1").status == 404      # not banned any more
    assert admin.api("GET", "/sip/devices").json()["devices"][0]["bans"] == []
    assert _register(phone, "2001", cseq=30).status == 401                            # challenged, not refused
    entries = admin.api("GET", "/audit?action=sip.ban_lifted").json()["entries"]
    assert [(e["user"], e["target"]) for e in entries] == [("admin", "sip0 127.0.0.1")]
    assert entries[0]["before"]["failures"] == 2
    phone.close()


def test_a_registering_trunk_shows_its_registration_and_never_its_password(prepared_box, tmp_path, client) -> None:
    import threading

    from tests.unit.test_sip_trunkreg import PASSWORD, Registrar, register_ok
    registrar = Registrar()
    registrar.sock.settimeout(20)
    answered = threading.Thread(target=register_ok, args=(registrar,), daemon=True)
    answered.start()
    provider = {"name": "provider", "registrar": f"127.0.0.1:{registrar.port}", "register": True,
                "username": "7551234", "password": PASSWORD, "domain": "carrier.example.cn", "expires": 600}
    box = sip_box(prepared_box, tmp_path, trunks=["carrier=192.0.2.5", provider])
    admin = client(box.url)
    admin.login("admin")
    wait_up(admin)
    answered.join(timeout=20)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = admin.api("GET", "/sip/devices").json()["devices"][0]["trunks"][1]
        if row["state"] == "registered":
            break
        time.sleep(0.05)
    assert row["state"] == "registered" and row["username"] == "7551234"
    assert 110 < row["expires_at"] - time.time() <= 120
    page = admin.get("/config/sip")
    assert 'data-registration="registered"' in page.text and "7551234" in page.text
    assert PASSWORD not in page.text and PASSWORD not in admin.api("GET", "/sip/devices").text
    registrar.close()
