"""vgetty (mgetty-voice), real modem software nobody here wrote, takes a call on the virtual modem's pty.

vgetty answers after two RINGs with caller ID, plays a greeting, beeps, records
the caller and hands the DTMF code it received (a `4`, sent by the modem as
`DLE / DLE 4 DLE ~` or plain `DLE 4` as the profile says) to its dtmf program.
vgetty insists on /etc/mgetty, /var/spool/voice, /var/log/mgetty and
/var/lock: it runs in a private mount namespace (unshare -m) where a temporary
directory is bound over each, so the machine's own files are never touched.
The test needs root (for unshare and the /dev link), like the rest of the suite.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from hotline.drivers.common.resample import resample
from hotline.drivers.modem.profiles import PROFILES
from hotline.drivers.modem.virtual.far_end import CallState
from hotline.drivers.modem.virtual.modem import ModemState
from hotline.drivers.modem.virtual.ptyrun import PtyModem

VGETTY = "/usr/sbin/vgetty"
CALL_LIMIT = 90.0   # seconds: the whole call through vgetty, bounded

VOICE_CONF = """\
part generic
voice_log_level 6
voice_dir /var/spool/voice
phone_owner root
phone_group root
phone_mode 0660
receive_dir incoming
message_dir messages
message_list Index
backup_message greeting.rmd
port_timeout 10
command_delay 100
dtmf_len 30
dtmf_wait 3
rec_compression {rec_compression}
rec_speed 8000
rec_silence_len 20
rec_max_len 20
rec_min_len 0
do_hard_flow false
watchdog_timeout 60
enable_command_echo false
program vgetty
rings 2
answer_mode voice
dtmf_program {dtmf_program}
"""

# How vgetty's V253modem driver names the formats (pvftormd -L): rmd compression per profile.
RMD_FORMAT = {"default": 8, "emu-half": 6}


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if not path:
        pytest.fail(f"{name} is not installed: run scripts/setup-env test (it installs mgetty-voice, mgetty-pvftools)")
    return path


def _speech(espeak: str, text: str, path: Path) -> np.ndarray:
    """Say `text` with espeak-ng; write it as an 8 kHz 16-bit WAV at `path` and return the samples."""
    raw = subprocess.run([espeak, "-v", "en-us", "--stdout", text], capture_output=True, check=True,
                         timeout=30).stdout
    data = np.frombuffer(raw[44:len(raw) // 2 * 2], dtype="<i2")   # --stdout sizes are bogus: skip the header
    pcm = np.clip(np.rint(resample(data.astype(np.float64), 22050, 8000) * 0.8), -32768, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(pcm.tobytes())
    return pcm


def _read_wav(path: Path) -> np.ndarray:
    """Samples of a PCM WAV (8-bit unsigned, as pvftowav writes, or 16-bit) as int16, first channel."""
    with wave.open(str(path), "rb") as wav:
        raw, width, channels = wav.readframes(wav.getnframes()), wav.getsampwidth(), wav.getnchannels()
    if width == 1:
        data = ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    else:
        data = np.frombuffer(raw, dtype="<i2")
    return data.reshape(-1, channels)[:, 0]


class Vgetty:
    """vgetty on one tty name, in a mount namespace over a temporary etc/spool/log/lock tree."""

    def __init__(self, root: Path, tty: str) -> None:
        self.root, self.tty = root, tty
        self.log = root / "log" / f"vg_{tty}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        """Bind the temporary tree over vgetty's fixed paths and exec vgetty (its own process group)."""
        r = self.root
        script = "\n".join([
            "set -e",
            f"mount --bind {r}/etc /etc/mgetty",
            f"mount --bind {r}/spool /var/spool/voice",
            f"mount --bind {r}/log /var/log/mgetty",
            f"mount --bind {r}/lock /run/lock",
            f"exec {VGETTY} -x 6 {self.tty}",
        ])
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                                     stdout=open(r / "vgetty.out", "wb"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def log_text(self) -> str:
        """vgetty's log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_log(self, needle: str, timeout: float) -> bool:
        """Wait until `needle` appears in the log (False on timeout or if vgetty died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log_text():
                return True
            if self.proc is not None and self.proc.poll() is not None:
                return needle in self.log_text()
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """End vgetty (the process group this test started) if it still runs."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=5)


def _poll(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("profile", ["default", "emu-half"])
def test_vgetty_answers_plays_records_and_gets_dtmf(profile: str, tmp_path: Path, espeak: str, correlate) -> None:
    """vgetty answers with caller ID, the caller hears the greeting, vgetty records the caller and gets DTMF 4."""
    _tool("unshare")
    assert os.path.exists(VGETTY), "vgetty missing: run scripts/setup-env test (it installs mgetty-voice)"
    wavtopvf, pvftormd, rmdtopvf, pvftowav = (_tool(t) for t in ("wavtopvf", "pvftormd", "rmdtopvf", "pvftowav"))
    assert os.geteuid() == 0, "vgetty needs root: it binds a temporary tree over /etc/mgetty in a mount namespace"

    root = tmp_path / "vg"
    for sub in ("etc", "spool/messages", "spool/incoming", "log", "lock"):
        (root / sub).mkdir(parents=True)
    dtmf_out = root / "dtmf.out"
    dtmf_sh = root / "dtmf.sh"
    dtmf_sh.write_text(f"#!/bin/sh\necho \"$@\" >> {dtmf_out}\nexit 0\n")
    dtmf_sh.chmod(0o755)
    (root / "etc" / "voice.conf").write_text(VOICE_CONF.format(rec_compression=RMD_FORMAT[profile],
                                                               dtmf_program=dtmf_sh))
    (root / "etc" / "mgetty.config").write_text("debug 6\nspeed 38400\n")

    greeting = _speech(espeak, "Hello. You have reached the hotline test box. Please leave a message.",
                       tmp_path / "greeting.wav")
    caller = _speech(espeak, "This is the caller, speaking after the beep.", tmp_path / "caller.wav")
    subprocess.run([wavtopvf, tmp_path / "greeting.wav", tmp_path / "greeting.pvf"], check=True, timeout=30)
    subprocess.run([pvftormd, "V253modem", str(RMD_FORMAT[profile]), tmp_path / "greeting.pvf",
                    root / "spool" / "messages" / "greeting.rmd"], check=True, timeout=30)

    tty = f"ttyHL{os.getpid() % 100000}{profile[:1]}"
    link = f"/dev/{tty}"
    line = PtyModem(profile, name=f"vg-{tty}", link=link)
    vg = Vgetty(root, tty)
    try:
        vg.start()
        assert vg.wait_log("waiting...", 30), f"vgetty did not initialise the modem:\n{vg.log_text()[-3000:]}"
        assert "V253 modem detected" in vg.log_text()

        far = line.far
        far.ring("5551234", "ALICE", rings=8, period=2.0)
        assert far.wait_for(CallState.CONNECTED, 20), f"vgetty did not answer:\n{vg.log_text()[-3000:]}"
        # vgetty plays the greeting and a beep, then records (+VRX).
        assert _poll(lambda: line.modem.state is ModemState.VOICE_RX, 30), \
            f"vgetty never started recording:\n{vg.log_text()[-3000:]}"
        heard = far.heard()
        far.speak(tmp_path / "caller.wav")
        assert _poll(lambda: not far.speaking, 20)
        far.send_dtmf("4")
        vg.proc.wait(timeout=CALL_LIMIT)
        log = vg.log_text()
    finally:
        vg.stop()
        line.close()

    # Caller ID reached vgetty.
    assert "CALLER_ID=5551234" in log and "CALLER_NAME=ALICE" in log
    # The caller heard the greeting (through the modem's format, real time), then the beep.
    assert correlate(heard, greeting) > 0.9, "the greeting heard by the caller does not match the file played"
    # The recording holds the caller's speech.
    recs = sorted((root / "spool" / "incoming").glob("*.rmd"))
    assert len(recs) == 1, recs
    subprocess.run([rmdtopvf, recs[0], tmp_path / "rec.pvf"], check=True, timeout=30)
    subprocess.run([pvftowav, tmp_path / "rec.pvf", tmp_path / "rec.wav"], check=True, timeout=30)
    recorded = _read_wav(tmp_path / "rec.wav")
    assert correlate(recorded, caller) > 0.9, "vgetty's recording does not hold the caller's speech"
    # DTMF 4 reached vgetty in the profile's spelling, as a digit, and its dtmf program ran with it.
    dle_lines = [ln.split("modem: ", 1)[1] for ln in log.splitlines() if "modem: <DLE> <" in ln]
    expected = ["<DLE> </>", "<DLE> <4>", "<DLE> <~>"] if PROFILES[profile].dtmf_shielded else ["<DLE> <4>"]
    start = dle_lines.index(expected[0]) if expected[0] in dle_lines else -1
    assert dle_lines[start:start + len(expected)] == expected, dle_lines
    assert "got event RECEIVED_DTMF with data <4>" in log
    assert dtmf_out.exists(), f"vgetty never ran its dtmf program:\n{log[-3000:]}"
    assert dtmf_out.read_text().split()[0] == "4"
