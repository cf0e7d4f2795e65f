"""baresip (Debian baresip-core) as an IP phone: it registers as extension 1001 with digest authentication, a
caller on the simulated card dials 1001, the phone rings and answers, and the caller hears the phone's audio."""
from __future__ import annotations

import shutil
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.scenarios.conftest import udp_port

from hotline.drivers.sip.auth import ha1, save_secret

BARESIP = shutil.which("baresip")
TONE_HZ = 1000


@pytest.fixture
def phone_box(make_box, tmp_path: Path):
    """A box whose extension 1001 lives on a SIP device (no simulated phone 1001), and a baresip registered as it."""
    if BARESIP is None:
        pytest.fail("baresip is missing: scripts/setup-env test installs baresip-core")
    secrets_file = tmp_path / "sip-secrets"
    save_secret(secrets_file, "1001", ha1("1001", "hotline", "phone-pass-1001"))
    port, rtp = udp_port(), udp_port()
    box = make_box({"engine": {"speed": 1.0},
                    "devices": [{"name": "sim0", "driver": "sim", "trunks": 2, "stations": ["1002"]},
                                {"name": "sip0", "driver": "sip", "listen": f"127.0.0.1:{port}",
                                 "rtp_ports": f"{rtp}-{rtp + 20}", "channels": 2, "extensions": ["1001"],
                                 "secrets_file": str(secrets_file)}]})
    conf = tmp_path / "baresip"
    conf.mkdir()
    tone_wav = tmp_path / "tone.wav"
    with wave.open(str(tone_wav), "wb") as w:   # what the phone's microphone picks up: a steady 1 kHz tone
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((6000 * np.sin(2 * np.pi * TONE_HZ * np.arange(8000 * 60) / 8000)).astype("<i2").tobytes())
    (conf / "config").write_text(
        "poll_method\t\tpoll\n"
        f"sip_listen\t\t127.0.0.1:{udp_port()}\n"
        "audio_player\t\taufile,/dev/null\n"
        f"audio_source\t\taufile,{tone_wav}\n"
        "audio_alert\t\taufile,/dev/null\n"
        f"rtp_ports\t\t{rtp + 40}-{rtp + 60}\n"
        "module_path\t\t/usr/lib/baresip/modules\n"
        "module\t\t\tg711.so\nmodule\t\t\taufile.so\n"
        "module_app\t\taccount.so\nmodule_app\t\tmenu.so\n")
    (conf / "accounts").write_text(
        f"<sip:1001@127.0.0.1:{port}>;auth_pass=phone-pass-1001;answermode=auto;regint=60;"
        "audio_codecs=PCMU\n")
    (conf / "contacts").write_text("")
    log = open(tmp_path / "baresip.log", "wb")
    proc = subprocess.Popen([BARESIP, "-f", str(conf), "-v"], stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT)
    box.baresip_log = tmp_path / "baresip.log"
    yield box
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_baresip_registers_rings_answers_and_the_caller_hears_it(phone_box) -> None:
    box = phone_box
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if "200 OK" in box.baresip_log.read_text(errors="replace") or "registered" in \
                box.baresip_log.read_text(errors="replace").lower():
            break
        time.sleep(0.2)
    else:
        raise AssertionError("baresip never registered:\n" + box.baresip_log.read_text(errors="replace")[-3000:])
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
    heard = box.heard(call)[-8000:].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(heard))
    peak_hz = np.argmax(spectrum[10:]) + 10
    assert abs(peak_hz * 8000 / len(heard) - TONE_HZ) < 15, peak_hz * 8000 / len(heard)
    box.api("DELETE", f"/sim/calls/{call}", expect=200)
    box.wait(call, "ended")
