"""The SIP driver registering a trunk at SIPp (Debian sip-tester) playing the provider's registrar: SIPp
challenges with 401 and checks the digest answer itself (verifyauth); the driver's panel data says registered."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from hotline.drivers.sip.driver import SipDriver
from tests.scenarios.conftest import udp_port

HERE = Path(__file__).parent / "sip"
SIPP = shutil.which("sipp")


def registrar(port: int, password: str) -> subprocess.Popen:
    """SIPp as a registrar on 127.0.0.1:port expecting user 7551234 with ``password``, for one registration."""
    if SIPP is None:
        pytest.fail("sipp is missing: scripts/setup-env test installs sip-tester")
    return subprocess.Popen([SIPP, "-sf", str(HERE / "provider_registrar.xml"), "-i", "127.0.0.1", "-p", str(port),
                             "-m", "1", "-nostdin", "-set", "user", "7551234", "-set", "password", password,
                             "-timeout", "20s", "-timeout_error"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_bound(port: int) -> None:
    """Return once something (SIPp) has bound UDP ``port`` (read from /proc/net/udp: binding it ourselves to find
    out could take it from SIPp)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = Path("/proc/net/udp").read_text().splitlines()[1:]
        if any(row.split()[1].endswith(f":{port:04X}") for row in rows):
            return
        time.sleep(0.02)
    raise AssertionError(f"SIPp never listened on {port}")


def trunk(drv: SipDriver, state: str) -> dict:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        row = drv.overview()["trunks"][0]
        if row["state"] == state:
            return row
        time.sleep(0.02)
    raise AssertionError(f"trunk never {state}: {drv.overview()['trunks']}")


@pytest.mark.parametrize("password, state", [("Zh8-secret-q", "registered"), ("wrong", "failed")])
def test_the_box_registers_its_trunk_at_a_sipp_registrar(password: str, state: str) -> None:
    port = udp_port()
    sipp = registrar(port, "Zh8-secret-q")
    rtp = udp_port()
    drv = SipDriver("sip0", {"listen": "127.0.0.1:0", "rtp_ports": f"{rtp}-{rtp + 10}", "channels": 1,
                             "trunks": [{"name": "carrier", "registrar": f"127.0.0.1:{port}", "register": True,
                                         "username": "7551234", "password": password,
                                         "domain": "carrier.example.cn"}]}, lambda e: None)
    try:
        wait_bound(port)
        drv.open()
        row = trunk(drv, state)
        out, err = sipp.communicate(timeout=25)
        assert sipp.returncode == 0, (out[-2000:], err[-2000:])
        if state == "registered":
            assert 590 < row["expires_at"] - time.time() <= 600     # what SIPp granted, not the 3600 asked
        else:
            assert row["reason"] == "403 Forbidden" and row["next_try"] > time.time()
    finally:
        drv.close()
        if sipp.poll() is None:
            sipp.kill()
            sipp.wait()
