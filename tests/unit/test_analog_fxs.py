"""drivers/analog FXS machine: the phone hears real caller-ID audio between or before the rings, off hook, dial tone,
digits dialled as real DTMF, hook flash against hang-up by timing, and message waiting."""
from __future__ import annotations

import numpy as np
import pytest

from hotline.drivers.analog.fxs import FxsState
from hotline.drivers.analog.mwi import detect_mwi
from hotline.drivers.analog.profiles import AnalogSettings
from hotline.drivers.analog.signals import LineSignal as S
from hotline.drivers.base import DigitReceived, Flashed, HangupCause, HungUp, OffHook, ToneKind
from hotline.drivers.common.callerid_audio import CidStandard, detect_callerid
from hotline.drivers.common.callprogress import detect_tones
from hotline.drivers.common.tones import dtmf_tone
from tests.unit.analog_rig import Rig


def _ring_times(hw) -> list[tuple[float, bool]]:
    return [(t, arg) for t, name, arg in hw.actions if name == "ring"]


@pytest.mark.parametrize("country, standard, fmt", [
    ("cn", None, "bell202-mdmf"), ("us", None, "bell202-mdmf"), ("cn", CidStandard.ETSI, "v23-mdmf")])
def test_phone_hears_fsk_caller_id_in_the_first_pause_then_answers(country: str, standard, fmt: str) -> None:
    """Ring on the country's cadence; FSK caller ID (number and name) in the first pause, decodable by the
    detector; the ring goes on after it; lifting the handset stops the ring and posts OffHook."""
    rig = Rig(["fxs"], AnalogSettings(country=country, callerid_send=standard))
    profile = rig.ports[0].settings.profile
    on, off = profile.ring_on_ms / 1000, profile.ring_off_ms / 1000
    rig.ports[0].ring("13812345678", "王小明" if country == "cn" and standard is None else "Li Wei", rig.now)
    rig.run(on + off + 0.5)
    rings = _ring_times(rig.hw[0])
    assert [arg for _, arg in rings] == [True, False, True]
    assert abs(rings[1][0] - on) < 0.03 and abs(rings[2][0] - (on + off)) < 0.03
    heard = rig.hw[0].audio(rings[1][0], rings[2][0])  # everything the phone heard between the rings
    found = detect_callerid(heard)
    assert [(f.format, f.callerid.number) for f in found] == [(fmt, "13812345678")]
    assert found[0].callerid.name in ("王小明", "Li Wei")
    assert rig.hw[0].sent[0][0] >= on + profile.cid_delay_ms / 1000 - 0.03
    rig.signal(0, S.OFFHOOK)
    rig.run(0.1)
    assert rig.kinds(0) == ["OffHook"] and not rig.hw[0].ringing and rig.ports[0].state is FxsState.OFFHOOK


def test_phone_hears_dtmf_caller_id_before_the_first_ring() -> None:
    """China DTMF caller ID (A...C) goes before the first ring; no audio while ringing."""
    rig = Rig(["fxs"], AnalogSettings(callerid_send=CidStandard.DTMF_A))
    rig.ports[0].ring("+86 138 1234 5678", "", rig.now)
    rig.run(3.0)
    first_ring = _ring_times(rig.hw[0])[0]
    assert first_ring[1] is True
    found = detect_callerid(rig.hw[0].audio(0, first_ring[0]))
    assert [(f.format, f.callerid.number) for f in found] == [("dtmf-a", "8613812345678")]
    assert not rig.hw[0].audio(first_ring[0]).any()
    rig.ports[0].stop_ring(rig.now)
    assert not rig.hw[0].ringing and rig.ports[0].state is FxsState.IDLE


def test_ringing_a_busy_phone_is_busy() -> None:
    rig = Rig(["fxs"])
    rig.signal(0, S.OFFHOOK)
    rig.run(0.1)
    rig.ports[0].ring("1001", "", rig.now)
    assert [e.cause for _, e in rig.of(HungUp)] == [HangupCause.BUSY]


def _keys(digits: str) -> np.ndarray:
    gap = np.zeros(640, dtype=np.int16)
    return np.concatenate([part for key in digits for part in (dtmf_tone(key, 80, -10.0), gap)])


def test_off_hook_dial_tone_digits_flash_and_hang_up() -> None:
    """With station_dialtone: dial tone until the first key, real DTMF keys become DigitReceived; a short on-hook
    is a flash (dial tone again), a bounce is nothing, a long one is the hang-up."""
    rig = Rig(["fxs"], AnalogSettings(station_dialtone=True))
    rig.signal(0, S.OFFHOOK)
    rig.run(2.0)
    assert rig.kinds(0) == ["OffHook"]
    assert [k for _, _, k in detect_tones(rig.hw[0].audio(), "cn")] == [ToneKind.DIAL]
    sent = len(rig.hw[0].sent)
    rig.play(0, _keys("1002"))
    rig.run(1.5)
    assert "".join(e.digit for _, e in rig.of(DigitReceived)) == "1002"
    assert len(rig.hw[0].sent) - sent <= 5  # the dial tone stopped at the first key
    rig.signal(0, S.ONHOOK)
    rig.signal(0, S.OFFHOOK, at=rig.now + 0.03)  # a bounce
    rig.run(0.5)
    rig.signal(0, S.ONHOOK)
    rig.signal(0, S.OFFHOOK, at=rig.now + 0.4)  # a flash
    rig.run(1.0)
    assert rig.kinds(0) == ["OffHook"] + ["DigitReceived"] * 4 + ["Flashed"]
    assert rig.ports[0].listen.name == "DIGITS" and rig.hw[0].sent[-1][0] > rig.now - 0.1  # dial tone again
    rig.signal(0, S.ONHOOK)
    rig.run(0.9)
    assert not rig.of(HungUp)  # could still be a flash
    rig.run(0.3)
    assert [e.cause for _, e in rig.of(HungUp)] == [HangupCause.NORMAL] and rig.ports[0].state is FxsState.IDLE


def test_hardware_timed_flash_and_box_hangup_busy_tone() -> None:
    """flash_max_ms 0: WINKFLASH is the flash and ONHOOK is final at once; when the box ends the call first the
    phone hears busy tone and its on-hook posts nothing."""
    rig = Rig(["fxs"], AnalogSettings(flash_max_ms=0))
    rig.signal(0, S.OFFHOOK)
    rig.signal(0, S.WINKFLASH, at=0.5)
    rig.run(1.0)
    assert rig.of(Flashed) and rig.kinds(0) == ["OffHook", "Flashed"]
    rig.ports[0].hangup(rig.now)
    rig.run(3.0)
    assert [k for _, _, k in detect_tones(rig.hw[0].audio(), "cn")] == [ToneKind.BUSY]
    rig.signal(0, S.ONHOOK)
    rig.run(0.1)
    assert rig.kinds(0) == ["OffHook", "Flashed"] and rig.ports[0].state is FxsState.IDLE
    rig.signal(0, S.OFFHOOK)
    rig.run(0.1)
    assert rig.kinds(0)[-1] == "OffHook"


def test_message_waiting_lamp_by_fsk() -> None:
    """An idle phone that supports it gets the FSK message-waiting message (on, then off); others get nothing."""
    rig = Rig(["fxs", "fxs"])
    rig.ports[0].settings = AnalogSettings(mwi=True)
    for port in rig.ports:
        port.message_waiting(True, rig.now)
    rig.run(1.0)
    assert detect_mwi(rig.hw[0].audio()) is True and not rig.hw[1].sent
    start = rig.now
    rig.ports[0].message_waiting(False, rig.now)
    rig.run(1.0)
    assert detect_mwi(rig.hw[0].audio(start)) is False
    assert not rig.of(OffHook)
