"""``hotline dsp callerid`` and ``hotline dsp tones`` on real WAV files, through the installed command."""
from __future__ import annotations

import json
import os
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from hotline.drivers.common.callerid import Absence, CallerId
from hotline.drivers.common.callerid_audio import generate_callerid
from hotline.drivers.common.tones import render_tone

RATE = 8000


def write_wav(path: Path, *channels: np.ndarray) -> Path:
    """16-bit WAV at 8 kHz, one column per channel."""
    width = max(c.size for c in channels)
    data = np.zeros((width, len(channels)), dtype="<i2")
    for k, c in enumerate(channels):
        data[:c.size, k] = c
    with wave.open(str(path), "wb") as w:
        w.setnchannels(len(channels))
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data.tobytes())
    return path


@pytest.fixture
def line_recording(tmp_path: Path) -> Path:
    """0.5 s silence, Chinese FSK caller ID, 1 s, private DTMF caller ID (D1#), 1 s, China busy tone for 3 s."""
    parts = [np.zeros(4000, np.int16), generate_callerid(CallerId("13812345678", "王小明", "12071130"), "cn"),
             np.zeros(8000, np.int16), generate_callerid(CallerId(number_absent=Absence.PRIVATE), "dtmf-d"),
             np.zeros(8000, np.int16), render_tone(("CN", "busy"), 3000), np.zeros(4000, np.int16)]
    return write_wav(tmp_path / "line.wav", np.concatenate(parts))


def run(hotline_bin: str, *args: str) -> subprocess.CompletedProcess:
    """The installed command, without the caller's HOTLINE_CONFIG."""
    env = {k: v for k, v in os.environ.items() if k != "HOTLINE_CONFIG"}
    return subprocess.run([hotline_bin, *args], capture_output=True, text=True, timeout=60, env=env)


def test_callerid_lines_and_json(hotline_bin: str, line_recording: Path) -> None:
    """One line per message, format found by itself; --json gives the same as objects."""
    proc = run(hotline_bin, "dsp", "callerid", str(line_recording))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["bell202-mdmf 13812345678 王小明", "dtmf-d P -"]
    assert float(lines[0].split()[0]) == pytest.approx(0.5, abs=0.01)
    objects = [json.loads(line) for line in run(hotline_bin, "dsp", "callerid", "--json",
                                                str(line_recording)).stdout.splitlines()]
    assert [(o["format"], o["number"], o["name"], o["datetime"], o["number_absent"]) for o in objects] == [
        ("bell202-mdmf", "13812345678", "王小明", "12071130", None), ("dtmf-d", "", "", "", "P")]


def test_tones_country_from_config_and_override(hotline_bin: str, line_recording: Path, tmp_path: Path) -> None:
    """The configured profile (us) does not know 450 Hz busy; --country cn finds it with its start and end."""
    config = tmp_path / "hotline.yaml"
    config.write_text("locale:\n  tone_profile: US\n", encoding="utf-8")
    as_us = run(hotline_bin, "dsp", "tones", "-c", str(config), str(line_recording))
    assert (as_us.returncode, as_us.stdout) == (0, "")
    as_cn = run(hotline_bin, "dsp", "tones", "-c", str(config), "--country", "cn", "--json", str(line_recording))
    assert as_cn.returncode == 0, as_cn.stderr
    (found,) = [json.loads(line) for line in as_cn.stdout.splitlines()]
    busy_start = (line_recording.stat().st_size - 44) / 2 / RATE - 0.5 - 3.0
    assert found["kind"] == "busy" and found["country"] == "cn"
    assert found["start_s"] == pytest.approx(busy_start, abs=0.06)
    assert found["end_s"] == pytest.approx(busy_start + 2.45, abs=0.06)  # end of the last whole burst
    plain = run(hotline_bin, "dsp", "tones", "-c", str(config), "--country", "cn", str(line_recording)).stdout
    start, end, kind = plain.split()
    assert (float(start), float(end), kind) == (found["start_s"], found["end_s"], "busy")


def test_stereo_recording_is_read_on_the_line_side(hotline_bin: str, tmp_path: Path) -> None:
    """Caller ID on the left (the line): found by default and with --channel caller, not on the right."""
    cid = np.concatenate([np.zeros(2000, np.int16), generate_callerid(CallerId("4155550123", "SMITH JOHN",
                                                                               "12071130"), "bell")])
    path = write_wav(tmp_path / "stereo.wav", cid, np.zeros(cid.size, np.int16))
    default = run(hotline_bin, "dsp", "callerid", str(path)).stdout.split(" ", 1)[1]
    assert default == "bell202-mdmf 4155550123 SMITH JOHN\n"
    assert run(hotline_bin, "dsp", "callerid", "--channel", "other", str(path)).stdout == ""


def test_bad_input_is_a_clear_error(hotline_bin: str, tmp_path: Path, line_recording: Path) -> None:
    """A missing file, a file that is not WAV, an unknown country: exit 2 and a message naming the problem."""
    missing = run(hotline_bin, "dsp", "callerid", str(tmp_path / "nope.wav"))
    assert missing.returncode == 2 and "nope.wav" in missing.stderr
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wav file at all")
    assert run(hotline_bin, "dsp", "tones", "--country", "cn", str(junk)).returncode == 2
    country = run(hotline_bin, "dsp", "tones", "--country", "xx", str(line_recording))
    assert country.returncode == 2 and "'xx'" in country.stderr and "cn, us" in country.stderr
    mono = run(hotline_bin, "dsp", "callerid", "--channel", "caller", str(line_recording))
    assert mono.returncode == 2 and "stereo" in mono.stderr
