"""SIP over TLS on 127.0.0.1 with a self-signed certificate made by the openssl CLI: a phone registers over TLS
(digest on the TLS connection), the box rings it on that connection with Via TLS and a transport=tls Contact; a
connection that never finishes its handshake, or speaks plain text, is closed and counted; configuration errors."""
from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from hotline.drivers.sip import message as sipmsg
from hotline.drivers.sip import tcp
from hotline.drivers.sip.driver import SipDriver

from tests.unit.test_sip_endpoint import _digest, wait_for
from tests.unit.test_sip_limits import make_driver  # noqa: F401 - the fixture

OPENSSL = shutil.which("openssl")


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed P-256 certificate for 127.0.0.1 (and its key), made with the openssl CLI."""
    if OPENSSL is None:
        pytest.fail("openssl is missing: scripts/setup-env test installs it")
    cert, key = directory / "sip-cert.pem", directory / "sip-key.pem"
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
    return cert, key


class TlsPhone:
    """A phone on one verified TLS connection to the box."""

    def __init__(self, port: int, ca: Path) -> None:
        ctx = ssl.create_default_context(cafile=str(ca))
        raw = socket.create_connection(("127.0.0.1", port), timeout=3)
        self.conn = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.port = self.conn.getsockname()[1]
        self.buf = b""

    def send(self, text: str) -> None:
        self.conn.sendall(text.encode())

    def recv(self, want: bytes = b"") -> sipmsg.Request | sipmsg.Response:
        while True:
            msg, self.buf = sipmsg.frame_stream(self.buf)
            if msg is not None:
                if msg.startswith(want):
                    return sipmsg.parse(msg)
                continue
            chunk = self.conn.recv(65536)
            assert chunk, "the box closed the TLS connection"
            self.buf += chunk

    def register(self, cseq: int, auth: str = "") -> sipmsg.Response:
        self.send(f"REGISTER sips:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:{self.port};branch=z9hG4bKt{cseq}\r\n"
                  f"From: <sips:1001@127.0.0.1>;tag=t1\r\nTo: <sips:1001@127.0.0.1>\r\nCall-ID: tls-reg\r\n"
                  f"CSeq: {cseq} REGISTER\r\nContact: <sip:1001@127.0.0.1:{self.port};transport=tls>\r\n"
                  f"Expires: 600\r\n{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        return self.recv(b"SIP/2.0")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def tls_driver(make_driver, certificate):
    cert, key = certificate
    return make_driver(tls_cert=str(cert), tls_key=str(key), tls_listen="127.0.0.1:0")


def test_a_phone_registers_over_tls_and_is_rung_on_its_connection(make_driver, certificate) -> None:
    from hotline.drivers.base import HangupCause, HungUp, LineUp
    sip = tls_driver(make_driver, certificate)
    assert sip.endpoint.status()["tls"] == f"127.0.0.1:{sip.endpoint.tls.port}"
    phone = TlsPhone(sip.endpoint.tls.port, certificate[0])
    challenge = phone.register(1)
    assert challenge.status == 401
    ok = phone.register(2, _digest(challenge.headers.get("www-authenticate"), "1001", "right-password"))
    assert ok.status == 200 and ok.vias[0].transport == "TLS"
    assert wait_for(sip.events, LineUp).line == "sip0-1001"
    sip.line_map["sip0-1001"].ring("13700000021", "")
    invite = phone.recv(b"INVITE ")
    assert invite.vias[0].transport == "TLS" and invite.vias[0].port == sip.endpoint.tls.port
    assert invite.headers.get("contact").endswith(f":{sip.endpoint.tls.port};transport=tls>")
    sip.line_map["sip0-1001"].hangup()
    phone.conn.close()                     # the phone's connection is gone: it is not rung over UDP instead
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and sip.endpoint.tls.conns:
        time.sleep(0.02)
    sip.events.clear()
    sip.line_map["sip0-1001"].ring("13700000021", "")
    assert wait_for(sip.events, HungUp).cause is HangupCause.LINE_DOWN


def test_handshakes_are_bounded_and_plain_text_is_refused(make_driver, certificate, monkeypatch) -> None:
    monkeypatch.setattr(tcp, "HANDSHAKE_SECONDS", 0.3)
    sip = tls_driver(make_driver, certificate)
    port = sip.endpoint.tls.port
    silent = socket.create_connection(("127.0.0.1", port), timeout=3)
    plain = socket.create_connection(("127.0.0.1", port), timeout=3)
    plain.sendall(b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n\r\n")     # not a TLS hello: the handshake fails
    for conn in (silent, plain):
        deadline = time.monotonic() + 3
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                closed = conn.recv(4096) == b""   # (a TLS alert may come first)
            except ConnectionResetError:
                closed = True
        assert closed
        conn.close()
    assert sip.endpoint.status()["tls_handshake_failures"] == 2 and not sip.endpoint.tls.conns
    # the UDP side is not disturbed
    assert sip.endpoint.status()["internal_errors"] == 0


def test_tls_configuration_errors_name_the_setting(tmp_path, certificate) -> None:
    cert, key = certificate
    def problems(**settings) -> list[str]:
        return SipDriver("sip0", {"listen": "127.0.0.1:5060", **settings}, lambda e: None).validate_environment()
    assert problems(tls_cert=str(cert), tls_key=str(key)) == []
    assert any(p.startswith("tls_key:") for p in problems(tls_cert=str(cert)))
    assert any(p.startswith("tls_cert:") for p in problems(tls_key=str(key)))
    assert any("cannot load" in p for p in problems(tls_cert=str(tmp_path / "none.pem"), tls_key=str(key)))
    assert any(p.startswith("tls_listen:") for p in problems(tls_cert=str(cert), tls_key=str(key), tls_listen=":x"))
