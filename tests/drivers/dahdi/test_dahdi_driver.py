"""The real DAHDI driver over the fake kernel: settings checked with clear errors, opening failures named, the
minimal signalling mapping (FXO ring/answer/loop drop/dial, FXS off hook/flash/ring), ELAST and EAGAIN on the audio
path, garbage events logged not fatal, span alarms as lines down with the reason, and discovery for probe."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from hotline.drivers import base
from hotline.drivers.analog.signals import LineSignal
from hotline.drivers.dahdi import abi, config, discover
from hotline.drivers.dahdi.driver import DahdiDriver
from hotline.drivers.dahdi.fakekernel import FakeDahdi


def test_settings_errors_name_the_device_and_key_all_at_once() -> None:
    """Bad ranges, overlaps, wrong extension counts, unknown countries: every problem reported, nothing opened."""
    plan = config.check("card0", {"fxo": "1-4,x", "fxs": "4-6", "extensions": ["1001", "1001"], "country": "zz",
                                  "echo_cancel": 7})
    text = "\n".join(plan.problems)
    assert "card0: fxo: 'x' is not a channel or range (like 1-4,6)" in text
    assert "card0: fxs: channels 4 are also listed under fxo" not in text  # fxo did not parse: no false overlap
    assert "card0: extensions: 2 given for 3 fxs channels (4-6)" in text
    assert "card0: extensions: 1001 listed twice" in text
    assert "card0: country: unknown 'zz'" in text and "card0: echo_cancel: 7" in text
    assert "channels 4 are also listed under fxo" in "\n".join(config.check("c", {"fxo": "1-4", "fxs": "4"}).problems)
    assert config.check("c", {}).problems == ['c: fxo: no channels configured: give fxo: and/or fxs: (like fxo: "1-4" '
                                              'and fxs: "5-8")']
    assert config.parse_ranges("1-3, 5") == [1, 2, 3, 5] and config.format_ranges([5, 1, 2, 3]) == "1-3,5"
    with pytest.raises(ValueError, match="low to high"):
        config.parse_ranges("4-1")
    drv = DahdiDriver("card0", {"fxo": "9-", "fxs": ""}, lambda e: None, sys=FakeDahdi.analog())
    assert drv.validate_environment() == ["card0: fxo: '9-' is not a channel or range (like 1-4,6)"]
    with pytest.raises(base.DriverNotReady, match="card0: fxo"):
        drv.open()


def test_opening_failures_are_named_per_channel() -> None:
    """Module not loaded, a channel the card lacks, a port configured as the wrong kind: DriverNotReady says which
    channel and why; nothing stays open."""
    k = FakeDahdi.analog(fxo=2, fxs=2)
    k.loaded = False
    with pytest.raises(base.DriverNotReady, match=r"channel 1: cannot open /dev/dahdi/channel.*kernel module loaded"):
        DahdiDriver("card0", {"fxo": "1"}, lambda e: None, sys=k).open()
    k.loaded = True
    with pytest.raises(base.DriverNotReady) as err:
        DahdiDriver("card0", {"fxo": "1-3", "fxs": "4-5"}, lambda e: None, sys=k).open()
    msg = str(err.value)
    assert "channel 3: configured as fxo here but the card has fxoks signalling" in msg
    assert "channel 5: cannot select the channel (DAHDI_SPECIFY): No such device or address" in msg
    assert all(ch.fd is None for ch in k.channels.values()), "a failed open left channels open"


def test_fxo_call_ring_answer_audio_and_loop_drop(card) -> None:
    """The exchange rings: Seized and Ringing once (repeat bursts ignored); answer is off hook; the caller's audio
    arrives through the elastic buffer and the box's reaches the caller; loop drop is HungUp."""
    k = FakeDahdi.analog(fxo=2, fxs=0)
    drv, events = card(k, fxo="1-2", number="8001", rx_gain=3.0)
    assert k.channels[1].rxgain != bytes(range(256)) and k.channels[1].txgain == bytes(range(256))
    line = next(ln for ln in drv.lines if ln.name == "card0-1")
    k.co_ring(1)
    ringing = events.wait_for(lambda e: isinstance(e, base.Ringing), kernel=k)
    assert ringing.dialed == "8001"
    k.advance(300)  # two more bursts
    k.settle()
    assert [type(e).__name__ for e in events.items] == ["Seized", "Ringing"]
    line.answer()
    k.settle()   # the command runs on the span's poller thread
    assert k.channels[1].offhook and not k.channels[1].co_ringing
    events.wait_for(lambda e: isinstance(e, base.AnswerConfirmed))
    k.far_loop(1, (6000 * np.sin(2 * np.pi * 697 * np.arange(800) / 8000)).astype(np.int16))
    out = np.zeros((1, 160), np.int16)
    names = ["card0-1"]
    for _ in range(40):
        k.advance(1)
        k.settle()
        drv.tick()
        drv.read_frames(names, out)
        drv.write_frames(names, np.full((1, 160), 1000, np.int16))
    assert np.abs(out).max() > 5000, "the caller's audio did not reach the box"
    heard = k.heard(1)
    assert len(heard) > 160 * 20 and np.median(heard[-800:]) == pytest.approx(1000, rel=0.05)
    k.co_hangup(1)
    hung = events.wait_for(lambda e: isinstance(e, base.HungUp), kernel=k)
    assert hung.cause is base.HangupCause.NORMAL and not k.channels[1].offhook


def test_dial_out_answers_after_inband_digits_and_ringing_caller_who_gives_up(card) -> None:
    """dial() seizes and the analog machine dials DTMF audio the exchange hears (answer: immediate posts Answered
    once the digits are out); a caller whose rings stop before the box answers is HungUp after the ring timeout."""
    from hotline.drivers.common.dtmf import DtmfDetector
    k = FakeDahdi.analog(fxo=2, fxs=0)
    drv, events = card(k, fxo="1-2", answer="immediate")
    drv.lines[0].dial("95511")
    events.wait_for(lambda e: isinstance(e, base.Answered), kernel=k)
    heard = k.heard(1)
    det = DtmfDetector(1)
    digits = "".join(h.digit for i in range(0, len(heard) // 160 * 160, 160)
                     for h in det.process(heard[i:i + 160][None, :]))
    assert digits == "95511"
    with pytest.raises(ValueError):
        drv.lines[0].dial("9;rm")
    k.co_ring(2, rings=1)
    events.wait_for(lambda e: isinstance(e, base.Ringing) and e.line == "card0-2", timeout=8, kernel=k)
    gone = events.wait_for(lambda e: isinstance(e, base.HungUp) and e.line == "card0-2", timeout=8, kernel=k)
    assert gone.cause is base.HangupCause.NORMAL


def test_fxs_station_offhook_flash_hangup_and_ring(card) -> None:
    """A phone lifted is OffHook, its flash Flashed, hanging up HungUp; ring() rings it until it is lifted."""
    k = FakeDahdi.analog(fxo=0, fxs=2)
    drv, events = card(k, fxs="1-2", extensions=["1001", "1002"])
    assert [(ln.kind, ln.extension) for ln in drv.lines] == [(base.LineKind.STATION, "1001"),
                                                            (base.LineKind.STATION, "1002")]
    k.phone_offhook(1)
    events.wait_for(lambda e: isinstance(e, base.OffHook) and e.line == "card0-1")
    k.phone_flash(1)
    events.wait_for(lambda e: isinstance(e, base.Flashed))
    k.phone_onhook(1)
    events.wait_for(lambda e: isinstance(e, base.HungUp) and e.line == "card0-1")
    drv.lines[1].ring()
    k.settle()
    k.advance(30)
    k.settle()
    assert k.ringing(2)
    k.phone_offhook(2)
    events.wait_for(lambda e: isinstance(e, base.OffHook) and e.line == "card0-2")
    assert not k.ringing(2)


class Racy:
    """The fake kernel with events that arrive between poll() and read(), or between read() and write(): the
    moments a real card's interrupt can hit."""

    def __init__(self, kernel: FakeDahdi):
        self.k = kernel
        self.before_read: list[tuple[int, int]] = []   # (channel, event) to queue just before the next read
        self.after_read: list[tuple[int, int]] = []    # ... just after it (the write that follows gets ELAST)

    def __getattr__(self, name):
        return getattr(self.k, name)

    def read(self, fd: int, n: int) -> bytes:
        while self.before_read:
            self.k.inject(*self.before_read.pop())
        data = self.k.read(fd, n)
        while self.after_read:
            self.k.inject(*self.after_read.pop())
        return data


def test_elast_on_read_and_write_and_eagain_are_handled(card) -> None:
    """An event that arrives after poll() makes the kernel refuse the read, or the write after the read, with
    ELAST: the poller reads the event (its signal still arrives) and the audio goes on; a poll wake-up with nothing
    to read (EAGAIN) is harmless."""
    k = FakeDahdi.analog(fxo=1, fxs=1)
    racy = Racy(k)
    drv, events = card(k, sys=racy, fxo="1", fxs="2")
    k.phone_offhook(2)
    events.wait_for(lambda e: isinstance(e, base.OffHook))
    names = ["card0-2"]
    out = np.zeros((1, 160), np.int16)
    k.far_loop(2, np.full(160, 3000, np.int16))
    for i in range(60):
        if i == 20:
            racy.before_read.append((2, abi.Event.WINKFLASH))
        if i == 40:
            racy.after_read.append((2, abi.Event.WINKFLASH))
        k.advance(1)
        k.settle()
        drv.tick()
        drv.read_frames(names, out)
        drv.write_frames(names, np.full((1, 160), 500, np.int16))
    span = drv.status()["spans"][0]
    assert k.elast_returned == 2 and span["elast"] == 2 and span["write_errors"] == 0, (k.elast_returned, span)
    assert sum(isinstance(e, base.Flashed) for e in events.items) == 2
    assert np.median(out) == pytest.approx(3000, rel=0.05)
    assert len(k.heard(2)) >= 160 * 45 and np.median(k.heard(2)[-800:]) == pytest.approx(500, rel=0.05)
    before = span["eagain"]
    k.channels[2].rx.clear()
    drv.spans[0]._serve([(drv.channels[1].fd, 1)], k.now())  # POLLIN reported, nothing there: EAGAIN
    assert drv.status()["spans"][0]["eagain"] == before + 1


def test_garbage_events_are_logged_and_counted_not_fatal(card, caplog) -> None:
    """Unknown event codes (and DTMF flags this driver does not use) are logged and counted; the port works on."""
    k = FakeDahdi.analog(fxo=1, fxs=0)
    drv, events = card(k, fxo="1")
    with caplog.at_level(logging.WARNING, logger="hotline.drivers.dahdi"):
        for code in (0x7777, -3, abi.Event.BITSCHANGED, (1 << 17) | ord("5")):
            k.inject(1, code)
        k.co_ring(1)
        events.wait_for(lambda e: isinstance(e, base.Ringing), kernel=k)
    assert drv.status()["spans"][0]["unknown_events"] == 3
    assert "event=dahdi_unknown_event device=card0 channel=1 code=0x7777" in caplog.text
    assert drv.spans[0].thread.is_alive()


def test_span_alarm_takes_lines_down_with_the_reason_and_noalarm_brings_them_up(card) -> None:
    """A red alarm with loss of signal: every line of the span is LineDown with the reason in words (the panel shows
    it) and a call on it is dropped on hook; NOALARM brings them back; a span already in alarm opens down."""
    k = FakeDahdi.analog(fxo=2, fxs=1)
    drv, events = card(k, fxo="1-2", fxs="3")
    k.co_ring(1)
    events.wait_for(lambda e: isinstance(e, base.Ringing), kernel=k)
    drv.lines[0].answer()
    k.alarm(1, abi.Alarm.RED | abi.Alarm.LOS)
    down = events.wait_for(lambda e: isinstance(e, base.LineDown) and e.line == "card0-3")
    assert down.reason == "span 1: red alarm, loss of signal"
    assert {e.line for e in events.items if isinstance(e, base.LineDown)} == {"card0-1", "card0-2", "card0-3"}
    assert not k.channels[1].offhook, "the line in the call was not released"
    assert drv.status()["alarms"] == ["span 1: red alarm, loss of signal"]
    k.alarm(1, 0)
    events.wait_for(lambda e: isinstance(e, base.LineUp) and e.line == "card0-3")
    assert drv.status()["alarms"] == []
    k.alarm(1, abi.Alarm.BLUE)
    k.advance(1)
    drv2 = DahdiDriver("card1", {"fxo": "4-5"}, lambda e: None, sys=FakeDahdi.analog(fxo=5, fxs=0))
    drv2.sys.span_alarms[1] = int(abi.Alarm.BLUE)
    lines = drv2.open()
    try:
        assert [(ln.up, ln.down_reason) for ln in lines] == [(False, "span 1: blue alarm (all ones: the upstream "
                                                                     "line is down)")] * 2
    finally:
        drv2.close()


def test_channel_signals_per_port_kind() -> None:
    """RINGOFFHOOK is a ring's end on an FXO port and a lifted handset on an FXS port."""
    from hotline.drivers.dahdi.channel import DahdiChannel, Role
    k = FakeDahdi.analog(fxo=1, fxs=1)
    fxo, fxs = DahdiChannel(k, 1, Role.FXO), DahdiChannel(k, 2, Role.FXS)
    assert fxo.signal(abi.Event.RINGOFFHOOK) is LineSignal.RING_END
    assert fxs.signal(abi.Event.RINGOFFHOOK) is LineSignal.OFFHOOK
    assert fxo.signal(abi.Event.RINGBEGIN) is LineSignal.RING_BEGIN and fxo.signal(999) is None
    assert {fxo.signal(c) for c in (abi.Event.ALARM, abi.Event.NOALARM, abi.Event.DIALCOMPLETE,
                                    abi.Event.HOOKCOMPLETE, abi.Event.POLARITY)} == \
        {LineSignal.ALARM, LineSignal.NOALARM, LineSignal.DIALCOMPLETE, LineSignal.HOOKCOMPLETE, LineSignal.POLARITY}


def test_discovery_reads_proc_and_system_conf(tmp_path) -> None:
    """/proc/dahdi and system.conf as the kernel and dahdi_genconf write them become a ready device section (FXO
    ports are fxsks channels, FXS ports fxoks), with spans and alarms; no DAHDI gives nothing."""
    k = FakeDahdi.analog(fxo=4, fxs=4)
    k.write_proc(tmp_path / "proc")
    (tmp_path / "system.conf").write_text(k.system_conf())
    found = discover.probe(tmp_path / "proc", tmp_path / "system.conf")
    assert len(found) == 1
    dev = found[0]
    assert (dev["driver"], dev["fxo"], dev["fxs"], dev["country"], dev["card"]) == ("dahdi", "1-4", "5-8", "cn",
                                                                                   "wctdm")
    assert dev["spans"] == "1 WCTDM/0 (8 channels)" and dev["alarms"] == "" and dev["in_use"] == ""
    assert config.check("card0", dev).problems == []
    assert discover.yaml_entry(dev) == '  - name: card0\n    driver: dahdi\n    fxo: "1-4"\n    fxs: "5-8"\n' \
                                       "    country: cn\n"
    text = (tmp_path / "proc" / "1").read_text().replace("(MASTER) ", "(MASTER) RED ")
    (tmp_path / "proc" / "1").write_text(text + "\tBPV count: 3\n")
    assert discover.probe(tmp_path / "proc", tmp_path / "system.conf")[0]["alarms"] == "span 1: RED"
    assert discover.probe(tmp_path / "none", tmp_path / "none.conf") == []


def test_devices_probe_lists_the_card_with_a_config_snippet(tmp_path, monkeypatch, capsys) -> None:
    """``hotline devices probe`` shows the DAHDI card found in /proc/dahdi and system.conf and what to paste."""
    import argparse
    from hotline.daemon.cli.devices import cmd_probe
    k = FakeDahdi.analog(fxo=2, fxs=2)
    k.write_proc(tmp_path / "proc")
    (tmp_path / "system.conf").write_text(k.system_conf())
    monkeypatch.setenv("HOTLINE_DAHDI_PROC", str(tmp_path / "proc"))
    monkeypatch.setenv("HOTLINE_DAHDI_CONF", str(tmp_path / "system.conf"))
    monkeypatch.setenv("HOTLINE_SYS_ROOT", str(tmp_path / "nosys"))
    assert cmd_probe(argparse.Namespace(port=None, timeout=1.0, json=False)) == 0
    out = capsys.readouterr().out
    assert "wctdm: fxo 1-2  fxs 3-4  zone cn  spans 1 WCTDM/0 (4 channels)" in out
    assert '  - name: card0\n    driver: dahdi\n    fxo: "1-2"\n    fxs: "3-4"\n    country: cn\n' in out
    assert DahdiDriver.probe()[0]["fxs"] == "3-4"  # the panel's "add device" asks the driver the same


def test_a_card_that_disappears_is_a_device_failure(card) -> None:
    """POLLERR / ENODEV on the channels (the card is gone): DeviceFailed names the span, so the daemon closes the
    device and re-opens it with backoff."""
    k = FakeDahdi.analog(fxo=1, fxs=1)
    drv, events = card(k, fxo="1", fxs="2")
    k.unplug()
    failed = events.wait_for(lambda e: isinstance(e, base.DeviceFailed))
    assert failed.line == "card0" and failed.reason.startswith("span 1: ")


def test_check_config_reports_card_problems_at_their_lines() -> None:
    """hotline check-config: a bad range and an extension already used by another device, at file:line."""
    from hotline.daemon.box.config import parse_config
    from hotline.daemon.errors import ConfigError
    text = ("devices:\n"
            "  - {name: sim0, driver: sim, trunks: 1, stations: ['1001']}\n"
            "  - name: card0\n"
            "    driver: dahdi\n"
            "    fxo: '1-4'\n"
            "    fxs: '4-5'\n"
            "    extensions: ['1001', '1002']\n")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "hotline.yaml", env={})
    msg = str(err.value)
    assert "hotline.yaml:6:10: devices[1].fxs: channels 4 are also listed under fxo" in msg, msg
    assert "hotline.yaml:7:18: devices[1].extensions[0]: extension 1001 is already used by device 'sim0'" in msg, msg
