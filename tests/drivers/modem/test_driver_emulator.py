"""The modem driver against the virtual modem (virtualmodem://, the emulator checked against vgetty): faults
(unplug/replug timing, garbage, stall, stuck echo), dialling out and the far end's busy tone."""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from hotline.drivers.base import (Answered, AnswerConfirmed, DeviceFailed, DigitReceived, DriverNotReady, HangupCause,
                                  HungUp, LineDown, LineUp, Ringing, ToneDetected, ToneKind)
from hotline.drivers.modem import virtual
from hotline.drivers.modem.driver import ModemDriver


class Sink:
    """The driver's events, with waiting."""

    def __init__(self):
        self.items: list[tuple[float, object]] = []
        self.cond = threading.Condition()

    def __call__(self, event) -> None:
        with self.cond:
            self.items.append((time.monotonic(), event))
            self.cond.notify_all()

    def wait(self, kind, timeout: float = 10.0, after: float = 0.0, **match):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, e in self.items:
                    if t >= after and isinstance(e, kind) and all(getattr(e, k) == v for k, v in match.items()):
                        return e, t
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {kind.__name__} {match} in {timeout} s; got {self.items}")
                self.cond.wait(left)


class Ticker:
    """The media engine's 20 ms calls into the frame device, on a thread."""

    def __init__(self, drv: ModemDriver, line: str):
        self.drv, self.lines, self.stop = drv, [line], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        out = np.zeros((1, 160), np.int16)
        voice = (6000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16)[None, :]
        while not self.stop.wait(0.02):
            self.drv.tick()
            self.drv.read_frames(self.lines, out)
            self.drv.write_frames(self.lines, voice)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)


@pytest.fixture
def emulated():
    made: list = []

    def make(profile: str = "emu-half"):
        name = f"drv-{profile}-{os.getpid()}-{len(made)}"
        sink = Sink()
        drv = ModemDriver("modem0", {"port": f"virtualmodem://{profile}?name={name}", "number": "8001"}, sink)
        far = virtual.far_end(name)
        made.append((drv, name))
        return drv, far, sink
    yield make
    for drv, name in made:
        drv.close()
        virtual.forget(name)


def in_call(drv, far, sink, after: float = 0.0):
    line = drv.line
    far.ring("13800138000", "LI NA", rings=8, period=1.0)
    sink.wait(Ringing, after=after)
    line.answer()
    sink.wait(AnswerConfirmed, after=after)
    assert far.wait_for(virtual.CallState.CONNECTED, 5)
    return line


def test_unplugged_mid_call_down_within_2_s_and_back_within_10_s_of_the_replug(emulated) -> None:
    drv, far, sink = emulated()
    [line] = drv.open()
    ticker = Ticker(drv, line.name)
    try:
        in_call(drv, far, sink)
        t_unplug = time.monotonic()
        far.unplug()
        _, t_down = sink.wait(LineDown, timeout=5)
        assert t_down - t_unplug < 2.0
        assert sink.wait(HungUp)[0].cause is HangupCause.LINE_DOWN
        time.sleep(1.0)
        t_replug = time.monotonic()
        far.replug()
        _, t_up = sink.wait(LineUp, timeout=12)
        assert t_up - t_replug < 10.0
        assert drv.status()["faults"] == [] and drv.status()["reopens"] == 1
        in_call(drv, far, sink, after=t_up)  # the same driver answers the next call: no restart
    finally:
        ticker.close()


def test_garbage_from_the_modem_is_counted_and_the_line_works_on(emulated) -> None:
    drv, far, sink = emulated()
    drv.open()
    far.garbage(bytes(range(1, 16)) + b"\r\n\xff\xfe\x80GARBAGE\r\n" + bytes(np.random.default_rng(3).integers(
        17, 256, 500, dtype=np.uint8)) + b"\r\n")
    deadline = time.monotonic() + 5
    while drv.status()["garbage_lines"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert drv.status()["garbage_lines"] >= 1
    in_call(drv, far, sink)


def test_a_modem_that_stalls_is_reset_in_band_then_reported_failed_and_reopens(emulated) -> None:
    """Deaf for 10 s: the answer gets no reply within 5 s, the in-band reset (DLE !, +++, ATZ) fails too, a
    URL has no USB device to reset, so the device is reported failed with the reason; the device manager then
    opens a new driver, which works once the modem answers again."""
    drv, far, sink = emulated()
    [line] = drv.open()
    far.ring("13800138000", "LI NA", rings=20, period=1.0)
    sink.wait(Ringing)
    t_stall = time.monotonic()
    far.stall(10.0)
    line.answer()
    assert sink.wait(HungUp, timeout=12)[0].cause is HangupCause.LINE_DOWN
    failed, _ = sink.wait(DeviceFailed, timeout=25)
    assert "stopped answering (AT+FCLASS=8)" in failed.reason and "reset failed" in failed.reason
    st = drv.status()
    assert "stalled" in st["faults"] and st["resets"] == 1 and st["usb_resets"] == 0
    drv.close()
    far.hangup()   # the caller gave up: a modem still ringing would seize the new driver's line
    time.sleep(max(0.0, t_stall + 10.2 - time.monotonic()))  # the modem answers again
    again = ModemDriver("modem0", dict(drv.settings), Sink())
    try:
        [line2] = again.open()
        assert again.status()["state"] == "idle" and again.status()["faults"] == []
    finally:
        again.close()


def test_a_modem_stuck_echoing_is_refused_with_the_reason(emulated) -> None:
    drv, far, sink = emulated()
    modem_name = drv.session.port.name.split("name=")[1]
    from hotline.drivers.modem.profiles import PROFILES
    virtual.lines.modem_for(modem_name, PROFILES["emu-half"]).stuck_echo = True
    with pytest.raises(DriverNotReady, match="does not answer .*only echoes commands back \\(stuck echo\\)"):
        drv.open()


def test_dial_out_answer_and_busy_tone(emulated) -> None:
    drv, far, sink = emulated("conexant")
    [line] = drv.open()
    line.dial("T5551234")
    assert far.wait_dialled(10) == "5551234"
    far.answer()
    sink.wait(Answered, timeout=10)
    far.busy_tone()  # the far end hung up and the exchange sends busy tone
    assert sink.wait(HungUp, timeout=10)[0].cause is HangupCause.BUSY


def dominant_hz(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    return float(np.argmax(spectrum[1:]) + 1) * 8000 / pcm.size


def test_a_7200_hz_adpcm_only_modem_carries_audio_both_ways_resampled(emulated) -> None:
    """IMA ADPCM at 7,200 Hz (3,600 bytes/s on the line): the caller's 500 Hz reaches the box at 8 kHz and the
    box's 440 Hz reaches the caller."""
    drv, far, sink = emulated("emu-adpcm7200")
    [line] = drv.open()
    assert drv.status()["modem"]["format"] == "IMA ADPCM (129) at 7200 Hz"
    got: list[np.ndarray] = []
    lines = [line.name]
    in_call(drv, far, sink)
    far.speak((8000 * np.sin(2 * np.pi * 500 * np.arange(24000) / 8000)).astype(np.int16))
    out = np.zeros((1, 160), np.int16)
    voice = (6000 * np.sin(2 * np.pi * 400 * np.arange(160) / 8000)).astype(np.int16)[None, :]  # 8 whole cycles
    t0, n = time.monotonic(), 0
    bytes0 = drv.status()["bytes_out"]
    while time.monotonic() - t0 < 2.5:
        drv.tick()
        drv.read_frames(lines, out)
        drv.write_frames(lines, voice)
        got.append(out[0].copy())
        n += 1
        time.sleep(max(0.0, t0 + n * 0.02 - time.monotonic()))
    rate = (drv.status()["bytes_out"] - bytes0) / (time.monotonic() - t0)
    assert 3000 < rate < 4200, rate  # 4-bit samples at 7,200 Hz, not 8,000 bytes/s
    heard_by_box = np.concatenate(got)[-8000:]
    assert np.abs(heard_by_box).max() > 3000 and abs(dominant_hz(heard_by_box) - 500) < 10
    heard_by_caller = far.heard()[-8000:]
    assert np.abs(heard_by_caller).max() > 2000 and abs(dominant_hz(heard_by_caller) - 400) < 5


@pytest.mark.parametrize("profile", ["conexant", "usr", "agere", "zoom", "default", "emu-half", "emu-adpcm7200"])
def test_every_chipset_answers_with_caller_id_takes_a_key_and_learns_the_hang_up(emulated, profile) -> None:
    """Each profile's spelling (caller ID command, format, DTMF bracketing, how the far end's hang-up shows:
    NO CARRIER, DLE l loop break, or only busy tone) works against the emulator's chipset of that name."""
    drv, far, sink = emulated(profile)
    [line] = drv.open()
    assert drv.status()["modem"]["profile"] == profile
    far.ring("13800138000", "LI NA", rings=8, period=1.0)
    ring, _ = sink.wait(Ringing)
    assert (ring.caller_id, ring.caller_name, ring.dialed) == ("13800138000", "LI NA", "8001")
    line.answer()
    sink.wait(AnswerConfirmed)
    assert far.wait_for(virtual.CallState.CONNECTED, 5)
    time.sleep(0.3)  # the modem entered +VTX/+VTR
    far.send_dtmf("7")
    assert sink.wait(DigitReceived, timeout=5)[0].digit == "7"
    far.hangup()
    hung, _ = sink.wait(HungUp, timeout=10)
    assert hung.cause in (HangupCause.NORMAL, HangupCause.BUSY)
    deadline = time.monotonic() + 10
    while drv.status()["state"] != "idle" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert drv.status()["state"] == "idle"


@pytest.mark.parametrize("withheld, reason", [("P", "private"), ("O", "unavailable")])
def test_caller_id_reasons_for_no_number(emulated, withheld, reason) -> None:
    drv, far, sink = emulated("conexant")
    drv.open()
    far.ring(withheld, None, rings=8, period=1.0)
    ring, _ = sink.wait(Ringing)
    assert ring.caller_id in ("", None) and reason in (ring.caller_name or "").lower(), ring


def test_fax_calling_tone_and_hook_flash(emulated) -> None:
    drv, far, sink = emulated("conexant")
    drv.open()
    line = in_call(drv, far, sink)
    far.cng()
    assert sink.wait(ToneDetected, timeout=8)[0].kind is ToneKind.FAX_CNG
    far.silence()
    line.flash()
    deadline = time.monotonic() + 8
    while far.flashes == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert far.flashes == 1
    while drv.status()["state"] != "duplex" and time.monotonic() < deadline:  # audio resumes after the flash
        time.sleep(0.05)
    assert drv.status()["state"] == "duplex"


def test_a_modem_that_stops_answering_while_idle_is_found_and_reset(emulated, monkeypatch) -> None:
    """No call, no command: the idle check (AT after KEEPALIVE seconds of quiet; 1 s here) finds the deaf
    modem and the in-band reset brings it back before the next caller."""
    from hotline.drivers.modem import state
    monkeypatch.setattr(state, "KEEPALIVE", 1.0)
    drv, far, sink = emulated()
    drv.open()
    far.stall(4.0)
    deadline = time.monotonic() + 15
    while drv.status()["resets"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert drv.status()["resets"] == 1
    while (drv.status()["state"] != "idle" or drv.status()["faults"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert drv.status()["state"] == "idle" and drv.status()["faults"] == [], (drv.status(), sink.items)
    assert not [e for _, e in sink.items if isinstance(e, DeviceFailed)]
    in_call(drv, far, sink)


def test_pty_unplug_looks_like_usb_to_the_driver_on_the_pty_path(tmp_path) -> None:
    """The pty runner's unplug closes the pty (the driver reads EIO; the pty and its stable link vanish) and replug
    makes a new one behind the same link: the real driver, opened on the link path, is down within 2 s and up
    within 10 s of the replug, and answers the next call without a restart."""
    from hotline.drivers.modem.virtual.ptyrun import PtyModem
    link = str(tmp_path / "ttyVM0")   # the stable name, as /dev/serial/by-id gives a USB modem
    pty = PtyModem("emu-half", name=f"pty-unplug-{os.getpid()}", link=link)
    sink = Sink()
    drv = ModemDriver("modem0", {"port": link, "number": "8001"}, sink)
    try:
        [line] = drv.open()
        t_unplug = time.monotonic()
        pty.unplug()   # (the /dev/pts number itself may be reused at once by another program)
        assert not os.path.exists(link) and pty.master < 0
        _, t_down = sink.wait(LineDown, timeout=5)
        assert t_down - t_unplug < 2.0
        time.sleep(0.6)   # at least one re-open attempt finds nothing there
        assert "cannot open" in drv.status()["last_error"]
        t_replug = time.monotonic()
        pty.replug()
        assert os.path.realpath(link) == pty.path
        _, t_up = sink.wait(LineUp, timeout=12)
        assert t_up - t_replug < 10.0
        assert drv.status()["reopens"] == 1
        in_call(drv, pty.far, sink, after=t_up)
    finally:
        drv.close()
        pty.close()
