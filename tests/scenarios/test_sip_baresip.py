"""baresip (Debian baresip-core) as an IP phone: it registers as extension 1001 with digest authentication, a
caller on the simulated card dials 1001, the phone rings and answers, and the caller hears the phone's audio."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import free_port
from tests.scenarios.conftest import udp_port

from hotline.drivers.sip.auth import ha1, save_secret

BARESIP = shutil.which("baresip")
TONE_HZ = 1000


class Phone:
    """A running baresip registered (or registering) as extension 1001, driven over its ctrl_tcp socket."""

    def __init__(self, tmp_path: Path, sip_port: int, rtp: int, *, tls_ca: Path | None = None) -> None:
        conf = tmp_path / "baresip"
        conf.mkdir()
        tone_wav = tmp_path / "tone.wav"
        with wave.open(str(tone_wav), "wb") as w:   # what the phone's microphone picks up: a steady 1 kHz tone
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes((6000 * np.sin(2 * np.pi * TONE_HZ * np.arange(8000 * 60) / 8000)).astype("<i2").tobytes())
        self.ctrl_port = free_port()
        (conf / "config").write_text(
            "poll_method\t\tpoll\n"
            f"sip_listen\t\t127.0.0.1:{udp_port()}\n"
            "audio_player\t\taufile,/dev/null\n"
            f"audio_source\t\taufile,{tone_wav}\n"
            "audio_alert\t\taufile,/dev/null\n"
            f"rtp_ports\t\t{rtp + 40}-{rtp + 60}\n"
            f"ctrl_tcp_listen\t\t127.0.0.1:{self.ctrl_port}\n"
            + (f"sip_cafile\t\t{tls_ca}\n" if tls_ca else "") +
            "module_path\t\t/usr/lib/baresip/modules\n"
            "module\t\t\tg711.so\nmodule\t\t\taufile.so\n"
            "module_app\t\taccount.so\nmodule_app\t\tmenu.so\nmodule_app\t\tctrl_tcp.so\n")
        (conf / "accounts").write_text(
            f"<sip:1001@127.0.0.1:{sip_port}{';transport=tls' if tls_ca else ''}>;auth_pass=phone-pass-1001;"
            "answermode=auto;regint=60;"
            "audio_codecs=PCMU\n")
        (conf / "contacts").write_text("")
        self.log_path = tmp_path / "baresip.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([BARESIP, "-f", str(conf), "-v"], stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_registered(self) -> None:
        """Until baresip says its registration succeeded."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            text = self.log()
            if "200 OK" in text or "registered" in text.lower():
                return
            time.sleep(0.2)
        raise AssertionError("baresip never registered:\n" + self.log()[-3000:])

    def command(self, command: str, params: str = "") -> None:
        """One ctrl_tcp command (a JSON netstring), as the phone's keypad would: dial, hangup, ..."""
        body = json.dumps({"command": command, "params": params, "token": "t1"}).encode()
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=5) as conn:
                    conn.sendall(b"%d:%s," % (len(body), body))
                    conn.recv(4096)
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def start_phone_box(make_box, tmp_path: Path, overrides: dict | None = None, tls: tuple[Path, Path] | None = None):
    """A box whose extension 1001 lives on a SIP device (no simulated phone 1001), and a baresip registered as it
    (``box.phone``); with ``tls`` (certificate, key) the phone registers and talks SIP over TLS."""
    if BARESIP is None:
        pytest.fail("baresip is missing: scripts/setup-env test installs baresip-core")
    secrets_file = tmp_path / "sip-secrets"
    save_secret(secrets_file, "1001", ha1("1001", "hotline", "phone-pass-1001"))
    port, rtp = udp_port(), udp_port()
    tls_port = free_port()
    tls_settings = {"tls_cert": str(tls[0]), "tls_key": str(tls[1]), "tls_listen": f"127.0.0.1:{tls_port}"} if tls else {}
    box = make_box({"engine": {"speed": 1.0},
                    "devices": [{"name": "sim0", "driver": "sim", "trunks": 2, "stations": ["1002"]},
                                {"name": "sip0", "driver": "sip", "listen": f"127.0.0.1:{port}",
                                 "rtp_ports": f"{rtp}-{rtp + 20}", "channels": 2, "extensions": ["1001"],
                                 "secrets_file": str(secrets_file), **tls_settings}],
                    **(overrides or {})})
    box.phone = Phone(tmp_path, tls_port if tls else port, rtp, tls_ca=tls[0] if tls else None)
    box.baresip_log = box.phone.log_path
    return box


@pytest.fixture
def phone_box(make_box, tmp_path: Path):
    """start_phone_box with the built-in reception flow on every number."""
    box = start_phone_box(make_box, tmp_path)
    yield box
    box.phone.stop()


def heard_peak_hz(box, call: str) -> float:
    """The strongest frequency in the last second the caller heard."""
    heard = box.heard(call)[-8000:].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(heard))
    return (np.argmax(spectrum[10:]) + 10) * 8000 / len(heard)


def test_baresip_registers_rings_answers_and_the_caller_hears_it(phone_box) -> None:
    box = phone_box
    box.phone.wait_registered()
    time.sleep(0.5)
    call = box.call(frm="13700000021", to="8000")
    box.wait(call, "answered")
    box.api("POST", f"/sim/calls/{call}/dtmf", {"digits": "1001#"}, expect=202)
    leg = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and leg is None:
        st = box.state(call)
        leg = next((e for e in st["events"] if e["kind"] == "call.bridged"), None)
        time.sleep(0.2)
    assert leg is not None, box.state(call)["events"]
    time.sleep(2.0)
    assert abs(heard_peak_hz(box, call) - TONE_HZ) < 15, heard_peak_hz(box, call)
    box.api("DELETE", f"/sim/calls/{call}", expect=200)
    box.wait(call, "ended")


ACD_FLOW = """
flow: acd_sip
blocks:
  main:
    - answer
    - queue: {name: support, no_agent: none}
    - hangup
  none:
    - hangup: goodbye
"""


def place_call(box, frm: str, to: str) -> str:
    """A caller rings in; on a box loaded by other work the admission control may refuse the call for a moment
    (503 overload, the box's documented answer to overrun media ticks): try again then, a few times."""
    for _ in range(20):
        got = box.api("POST", "/sim/calls", {"from": frm, "to": to})
        if got.get("_status") == 201:
            return got["id"]
        assert got.get("reason") == "overload", got
        time.sleep(0.5)
    raise AssertionError("the box refused every call for 10 s: overload")


@pytest.fixture
def agent_phone_box(make_box, tmp_path: Path):
    """start_phone_box with 7000 routed to the queue 'support', served by agent ann at extension 1001."""
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "acd_sip.yaml").write_text(ACD_FLOW)
    (tmp_path / "queues.yaml").write_text('agents:\n  - {name: ann, extension: "1001"}\n'
                                          "queues:\n  support:\n    ring_timeout: 15\n    wrapup_seconds: 0\n"
                                          "    members: [{agent: ann}]\n")
    box = start_phone_box(make_box, tmp_path, {"routes": [{"dialed": "7000", "flow": "acd_sip"}],
                                               "paths": {"flows": str(tmp_path / "flows")}})
    yield box
    box.phone.stop()


def test_an_agent_logs_in_at_a_sip_phone_and_a_queued_call_rings_it(agent_phone_box) -> None:
    """ann dials *11 on the IP phone (its INVITE is challenged, the box answers and takes the code, beeps and
    hangs up); a caller queued for 'support' rings the phone, which answers; caller and phone are bridged."""
    box = agent_phone_box
    box.phone.wait_registered()
    assert box.agent("ann")["state"] == "logged_out"
    box.phone.command("dial", "*11")
    ann = box.wait_agent("ann", "ready")
    assert ann["station"] == "1001"
    deadline = time.monotonic() + 15          # the box beeps and hangs up the login call: the station is free
    while time.monotonic() < deadline and any(
            c["state"] not in ("ending", "ended") for c in box.api("GET", "/calls", expect=200)["calls"]):
        time.sleep(0.1)
    call = place_call(box, "13700000022", "7000")
    box.wait_event(call, "queue.joined")
    offered = box.wait_event(call, "agent.offered")
    answered = box.wait_event(call, "queue.answered")
    assert offered["data"]["agents"] == [ann["id"]] and answered["data"]["agent"] == ann["id"]
    box.wait(call, "bridged")
    assert box.agent("ann")["state"] == "on_call"
    time.sleep(1.5)
    assert abs(heard_peak_hz(box, call) - TONE_HZ) < 15      # the caller hears the phone's microphone
    box.api("DELETE", f"/sim/calls/{call}", expect=200)
    box.wait(call, "ended")


def test_baresip_registers_and_answers_over_tls(make_box, tmp_path: Path) -> None:
    """With a certificate configured (self-signed, made by openssl; the phone trusts it as its CA), baresip
    registers over TLS, the box rings it on that connection, it answers, and the caller hears its tone."""
    from tests.unit.test_sip_tls import make_certificate
    box = start_phone_box(make_box, tmp_path, tls=make_certificate(tmp_path))
    try:
        box.phone.wait_registered()
        assert "/TLS/" in box.phone.log(), box.phone.log()[-2000:]      # "1001@127.0.0.1: {0/TLS/v4} 200 OK"
        call = place_call(box, "13700000025", "8000")
        box.wait(call, "answered")
        box.api("POST", f"/sim/calls/{call}/dtmf", {"digits": "1001#"}, expect=202)
        box.wait_event(call, "call.bridged", peer="1001")
        assert "sipsess connect via TLS" in box.phone.log() or "via TLS" in box.phone.log()
        time.sleep(2.0)
        assert abs(heard_peak_hz(box, call) - TONE_HZ) < 15, heard_peak_hz(box, call)
        box.api("DELETE", f"/sim/calls/{call}", expect=200)
        box.wait(call, "ended")
    finally:
        box.phone.stop()
