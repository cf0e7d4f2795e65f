"""The modem driver's real code (port, thread, state machine, buffers) over a tiny byte-level fake: a pyserial-like
object that answers AT commands from a table and is fed scripted bytes. Nothing above the byte level is faked."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import serial

from hotline.drivers.base import (AnswerConfirmed, DeviceFailed, DigitReceived, DriverNotReady, Duplex, HangupCause,
                                  HungUp, LineDown, LineUp, Ringing, Seized)
from hotline.drivers.common import g711
from hotline.drivers.modem.driver import ModemDriver


class Events:
    """The driver's sink: every event, and waiting for one."""

    def __init__(self):
        self.items: list = []
        self.times: list[float] = []
        self.cond = threading.Condition()

    def __call__(self, event) -> None:
        with self.cond:
            self.items.append(event)
            self.times.append(time.monotonic())
            self.cond.notify_all()

    def wait(self, kind, timeout: float = 5.0, **match):
        """The first event of this type (and fields) posted so far or within ``timeout``."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, e in enumerate(self.items):
                    if isinstance(e, kind) and all(getattr(e, k) == v for k, v in match.items()):
                        return e, self.times[i]
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {kind.__name__} {match} in {timeout} s; got {self.items}")
                self.cond.wait(left)


def wait_until(pred, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def rig(scripted_modem):
    made = []

    def build(profile="conexant", settings=None, usb_reset=None):
        fake = scripted_modem(profile)
        events = Events()
        state = {"plugged": True}

        def opener(name, **kw):
            if not state["plugged"]:
                raise serial.SerialException(f"could not open port {name}: No such file or directory")
            fake.unplugged = False
            return fake
        cfg = {"port": "/dev/ttyACM0", "number": "8001", "profile": "auto", **(settings or {})}
        drv = ModemDriver("modem0", cfg, events, opener=opener, usb_reset=usb_reset)
        made.append(drv)
        return drv, fake, events, state
    yield build
    for d in made:
        d.close()


def ring_in(fake, events: Events, number="5551234", name="ZHANG WEI"):
    fake.result("RING")
    events.wait(Seized)
    fake.send(f"\r\nDATE = 1207\r\nTIME = 0712\r\nNMBR = {number}\r\nNAME = {name}\r\n")
    fake.result("RING")
    return events.wait(Ringing)[0]


def test_open_identifies_and_initialises_the_modem(rig):
    drv, fake, events, _ = rig("conexant")
    [line] = drv.open()
    assert fake.commands[:2] == ["ATZ", "ATE0V1"]
    for cmd in ("ATI", "ATI3", "ATI9", "AT+FCLASS=?", "AT+FCLASS=8", "AT+VSM=?", "AT+VSM=1,8000", "AT+VCID=1"):
        assert cmd in fake.commands
    modem = drv.status()["modem"]
    assert modem["profile"] == "conexant" and modem["model"] == "CX93001-EIS_V0.2002-V92"
    assert modem["format"] == "UNSIGNED PCM (1) at 8000 Hz" and modem["duplex"] == "full"
    assert line.name == "modem0" and line.traits.duplex is Duplex.FULL


def test_usr_gets_caller_id_through_its_own_command(rig):
    drv, fake, events, _ = rig("usr")
    [line] = drv.open()
    assert "AT#CID=1" in fake.commands and "AT+VSM=131,8000" in fake.commands
    assert drv.status()["modem"]["caller_id"] is True and line.traits.duplex is Duplex.HALF


def test_incoming_call_answer_confirmed_then_audio_paced_at_8000_bytes_per_second(rig):
    drv, fake, events, _ = rig("emu-half")
    [line] = drv.open()
    ring = ring_in(fake, events)
    assert (ring.caller_id, ring.caller_name, ring.dialed) == ("5551234", "ZHANG WEI", "8001")
    tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(160) / 8000)).astype(np.int16)[None, :]
    lines = [line.name]
    drv.tick()
    drv.read_frames(lines, np.zeros((1, 160), np.int16))
    line.answer()
    _, t_confirm = events.wait(AnswerConfirmed)
    wait_until(lambda: fake.audio_times)
    t_vtx = next(t for t, what in fake.events if what == "AT+VTX")
    t_vcon = next(t for t, what in fake.events if what == "AT+VLS=1")
    assert t_vcon <= t_vtx <= fake.audio_times[0][0]  # no audio before VCON and the +VTX CONNECT
    assert all(c.isprintable() for c in fake.commands)  # and no audio byte was ever read as a command
    t0 = time.monotonic()
    ticks = 0
    while time.monotonic() - t0 < 2.0:  # the engine's 20 ms clock
        drv.tick()
        drv.read_frames(lines, np.zeros((1, 160), np.int16))
        drv.write_frames(lines, tone)
        ticks += 1
        time.sleep(max(0.0, t0 + ticks * 0.02 - time.monotonic()))
    times = np.array(fake.audio_times, dtype=float)
    window = times[(times[:, 0] > t0 + 0.5) & (times[:, 0] < t0 + 1.5)]
    rate = window[-1, 1] - window[0, 1]
    assert 7600 <= rate <= 8400, rate
    heard = g711.ulaw_decode(np.frombuffer(bytes(fake.audio[-1600:]), np.uint8)).astype(float)
    spectrum = np.abs(np.fft.rfft(heard))
    assert abs(np.argmax(spectrum) * 8000 / len(heard) - 1000) < 20  # the caller hears the box's 1 kHz


def test_dtmf_record_and_hangup(rig):
    drv, fake, events, _ = rig("emu-half")
    [line] = drv.open()
    ring_in(fake, events)
    lines = [line.name]
    drv.tick()
    drv.read_frames(lines, np.zeros((1, 160), np.int16))
    line.answer()
    events.wait(AnswerConfirmed)
    wait_until(lambda: fake.data_mode)
    fake.send(b"\x10/\x104\x104\x10~")  # shielded DTMF: the repeat inside the bracket counts once
    digit, _ = events.wait(DigitReceived)
    assert digit.digit == "4"
    drv.capturing(line.name, True)  # the engine starts keeping what the caller says (voicemail)
    wait_until(lambda: fake.commands[-1] == "AT+VRX" and fake.data_mode)
    speech = (6000 * np.sin(2 * np.pi * 500 * np.arange(8000) / 8000)).astype(np.int16)
    raw = g711.ulaw_encode(speech).tobytes()
    got = []
    t0 = time.monotonic()
    out = np.zeros((1, 160), np.int16)
    sent = 0
    while time.monotonic() < t0 + 3 and sum(len(g) for g in got) < 6000:
        due = min(len(raw), int((time.monotonic() - t0) * 8000) + 400)
        if due > sent:  # the modem delivers at 8,000 bytes/s, DLE-shielded
            fake.send(raw[sent:due].replace(b"\x10", b"\x10\x10"))
            sent = due
        drv.tick()
        drv.read_frames(lines, out)
        if np.abs(out).max() > 1000:
            got.append(out[0].copy())
        time.sleep(0.02)
    audio = np.concatenate(got)
    assert len(audio) >= 6000 and abs(np.argmax(np.abs(np.fft.rfft(audio[:4000]))) * 8000 / 4000 - 500) < 10
    drv.capturing(line.name, False)
    wait_until(lambda: fake.commands[-1] == "AT+VTX")
    line.hangup()
    wait_until(lambda: fake.commands[-1] == "ATH0")
    assert any(e[1] == "end ETX" for e in fake.events)
    wait_until(lambda: drv.status()["state"] == "idle")


def test_far_end_busy_tone_ends_the_call(rig):
    drv, fake, events, _ = rig("emu-half")
    [line] = drv.open()
    ring_in(fake, events)
    line.answer()
    events.wait(AnswerConfirmed)
    wait_until(lambda: fake.data_mode)
    fake.send(b"\x10b")
    hung, _ = events.wait(HungUp)
    assert hung.cause is HangupCause.BUSY
    wait_until(lambda: fake.commands[-1] == "ATH0")


def test_garbage_is_logged_and_ignored(rig):
    drv, fake, events, _ = rig("conexant")
    drv.open()
    rng = np.random.default_rng(7)
    fake.send(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes().replace(b"\x10", b"") + b"\r\n")
    fake.send(b"\x10Z\x10\x7f")  # DLE codes nobody defined
    ring = ring_in(fake, events)
    assert ring.caller_id == "5551234"
    st = drv.status()
    assert st["garbage_lines"] >= 1 and st["events"]["garbage"] >= 1 and st["state"] == "ringing"


def test_unplug_means_line_down_within_2_s_and_replug_up_within_10_s(rig):
    drv, fake, events, state = rig("emu-half")
    [line] = drv.open()
    ring_in(fake, events)
    line.answer()
    events.wait(AnswerConfirmed)
    t_unplug = time.monotonic()
    state["plugged"] = False
    fake.unplugged = True
    down, t_down = events.wait(LineDown)
    assert t_down - t_unplug < 2.0
    assert events.wait(HungUp)[0].cause is HangupCause.LINE_DOWN
    assert "unplugged" in drv.status()["faults"]
    time.sleep(1.5)
    t_replug = time.monotonic()
    state["plugged"] = True
    _, t_up = events.wait(LineUp, timeout=12)
    assert t_up - t_replug < 10.0
    assert drv.status()["faults"] == [] and drv.status()["reopens"] == 1
    ring_in(fake, events, number="5550000")  # works again, no restart


def test_stalled_modem_is_reset_then_reported(rig):
    resets = []
    drv, fake, events, _ = rig("emu-half", usb_reset=lambda port: resets.append(port) or False)
    [line] = drv.open()
    ring_in(fake, events)
    fake.stalled = True  # deaf to commands from now on
    line.answer()
    failed, _ = events.wait(DeviceFailed, timeout=20)
    assert "stopped answering" in failed.reason and failed.line == "modem0"
    assert resets == ["/dev/ttyACM0"]  # the USB reset was asked for; it said no, so the device failed
    assert b"\x10!\x10\x03" in fake.written and b"+++" in fake.written  # the in-band reset was tried first
    st = drv.status()
    assert "stalled" in st["faults"] and st["resets"] == 1 and st["usb_resets"] == 1


def test_stalled_modem_that_comes_back_after_the_in_band_reset(rig):
    drv, fake, events, _ = rig("emu-half")
    [line] = drv.open()
    ring_in(fake, events)
    fake.stalled = True
    line.answer()
    wait_until(lambda: drv.status()["resets"] == 1, timeout=10)
    fake.stalled = False
    wait_until(lambda: drv.status()["state"] == "idle" and "stalled" not in drv.status()["faults"], timeout=15)
    assert events.wait(HungUp)[0].cause is HangupCause.LINE_DOWN


def test_echoing_modem_is_reported(rig):
    drv, fake, events, _ = rig("conexant")
    fake.echo = True
    drv.open()
    assert "echo" in drv.status()["faults"]


def test_bad_settings_name_the_device_and_key(rig):
    drv, *_ = rig("conexant", settings={"number": "80x1", "profile": "nokia"})
    problems = drv.validate_environment()
    assert "modem0: number: '80x1' is not a phone number (digits, * # +)" in problems
    assert any(p.startswith("modem0: profile: unknown 'nokia'") for p in problems)
    with pytest.raises(DriverNotReady, match="modem0: number"):
        drv.open()
    missing = ModemDriver("modem1", {"port": "/dev/nonexistent-modem", "profile": "auto"}, Events())
    assert missing.validate_environment() == [
        "modem1: port: /dev/nonexistent-modem does not exist (unplugged? see ls /dev/serial/by-id)"]


def test_unplugged_at_open_is_not_ready_naming_the_port(rig):
    drv, fake, events, state = rig("conexant")
    state["plugged"] = False
    with pytest.raises(DriverNotReady, match="modem0: cannot open /dev/ttyACM0"):
        drv.open()


def test_a_modem_without_a_format_the_driver_carries_is_refused_clearly(rig):
    drv, fake, *_ = rig("conexant")
    fake.answers["AT+VSM=?"] = '129,"ADPCM",2,0,(7200),(0),(0)'  # 2-bit vendor ADPCM only
    with pytest.raises(DriverNotReady, match="no usable voice format: the modem offers 129 ADPCM"):
        drv.open()


def test_drivers_usb_gives_probe_and_the_usb_reset_when_installed(monkeypatch, rig, caplog):
    """With drivers/usb installed (its two entry points, stood in for here), probe() lists its modems and a
    stalled modem on a device node gets reset_for_tty; an outcome of re-enumeration re-opens the port."""
    import sys
    import types
    from hotline.drivers.modem import driver as modem_driver
    calls = []
    reset_mod = types.ModuleType("hotline.drivers.usb.reset")
    reset_mod.reset_for_tty = lambda path, settle_s=0.0: calls.append((path, settle_s)) or types.SimpleNamespace(
        ok=False, outcome=types.SimpleNamespace(value="reenumerated"), reason="the device re-enumerated")
    discover_mod = types.ModuleType("hotline.drivers.usb.discover")
    discover_mod.probe = lambda: [{"driver": "modem", "port": "usb-Conexant_USB_Modem-if00", "profile": "conexant"},
                                  {"driver": "other", "port": "/dev/ttyUSB9"}]
    monkeypatch.setitem(sys.modules, "hotline.drivers.usb", types.ModuleType("hotline.drivers.usb"))
    monkeypatch.setitem(sys.modules, "hotline.drivers.usb.reset", reset_mod)
    monkeypatch.setitem(sys.modules, "hotline.drivers.usb.discover", discover_mod)
    assert ModemDriver.probe() == [{"driver": "modem", "port": "usb-Conexant_USB_Modem-if00", "profile": "conexant"}]
    assert modem_driver._usb_reset("virtualmodem://conexant") is None  # a URL has no USB device behind it
    drv, fake, events, _ = rig("emu-half", usb_reset=modem_driver._usb_reset("/dev/ttyACM0"))
    [line] = drv.open()
    ring_in(fake, events)
    fake.stalled = True
    line.answer()
    wait_until(lambda: calls, timeout=20)
    assert calls == [("/dev/ttyACM0", 5.0)]
    fake.stalled = False  # the USB reset brought it back
    events.wait(LineUp, timeout=10)
    st = drv.status()
    assert st["usb_resets"] == 1 and st["faults"] == [] and st["state"] == "idle"
    # the technician's log line (reset_for_tty itself logs nothing): which device, port, outcome and why
    assert "event=usb_reset device=modem0 port=/dev/ttyACM0 outcome=reenumerated tty_after=- " \
           "reason='the device re-enumerated'" in caplog.text


def test_fax_settings_are_checked_and_the_fax_class_comes_from_fclass(rig):
    """``mode``/``fax`` typos name the device and key; ``fax: auto`` takes the class from AT+FCLASS=? (conexant: 2),
    ``fax: class2.0`` on a modem without 2.0 leaves the line without fax and says why; a ``mode: fax`` line on
    such a modem does not come up."""
    from hotline.drivers.base import FaxMode

    drv, *_ = rig("conexant", settings={"mode": "faxx", "fax": "class3"})
    problems = drv.validate_environment()
    assert "modem0: mode: 'faxx': use voice or fax" in problems
    assert any(p.startswith("modem0: fax: 'class3': use one of auto, none") for p in problems)
    drv, *_ = rig("conexant")
    (line,) = drv.open()
    assert (line.fax_class, line.traits.fax, line.answers_fax) == ("2", FaxMode.CLASS2, False)
    assert drv.status()["fax"]["class"] == "2"
    drv, *_ = rig("conexant", settings={"fax": "class2.0"})
    (line,) = drv.open()
    assert line.fax_class is None and line.traits.fax is FaxMode.NONE
    assert "fax: class2.0, but the modem offers classes 0,1,1.0,2,8 (AT+FCLASS=?)" == line.fax_unavailable
    drv, *_ = rig("conexant", settings={"mode": "fax", "fax": "class2.0"})
    with pytest.raises(DriverNotReady, match="modem0: mode: fax, but fax: class2.0"):
        drv.open()


def test_a_fax_only_modem_opens_as_a_fax_line_but_not_as_a_voice_line(rig):
    """A class 2 fax modem without voice class (AT+FCLASS=? 0,1,2): ``mode: fax`` opens it with caller ID and no
    voice set-up (+FCLASS=8 and +VSM never sent); as a voice line it is refused, saying why."""
    from hotline.drivers.base import FaxMode

    drv, fake, *_ = rig("conexant", settings={"mode": "fax"})
    fake.answers["AT+FCLASS=?"] = "0,1,2"
    (line,) = drv.open()
    assert (line.fax_class, line.traits.fax, line.answers_fax) == ("2", FaxMode.CLASS2, True)
    assert drv.status()["modem"]["format"] == "none (fax only)"
    assert "AT+FCLASS=8" not in fake.commands and not any(c.startswith("AT+VSM") for c in fake.commands)
    assert "AT+VCID=1" in fake.commands
    drv, fake, *_ = rig("conexant")
    fake.answers["AT+FCLASS=?"] = "0,1,2"
    with pytest.raises(DriverNotReady, match="the modem offers no voice class"):
        drv.open()
