"""drivers/analog under random signals, commands and audio: never raises, events stay well formed, ends sane."""
from __future__ import annotations

import numpy as np
import pytest

from hotline.drivers.analog.fxo import FxoState
from hotline.drivers.analog.fxs import FxsState
from hotline.drivers.analog.profiles import AnalogSettings, AnswerMode
from hotline.drivers.analog.signals import LineSignal
from hotline.drivers.base import HangupCause, HungUp, LineDown, LineUp, Ringing, Seized, ToneKind
from hotline.drivers.common.callerid import CallerId
from hotline.drivers.common.callerid_audio import generate_callerid
from hotline.drivers.common.tones import dtmf_tone, render_tone
from tests.unit.analog_rig import Rig

SIGNALS = list(LineSignal)


def _audio(rng: np.random.Generator) -> np.ndarray:
    """A random piece of line sound: caller ID, call-progress tones, DTMF, noise or silence."""
    pick = int(rng.integers(7))
    if pick == 0:
        return generate_callerid(CallerId(number=str(rng.integers(10 ** 6, 10 ** 11))),
                                 ["cn", "bell", "etsi", "dtmf-a", "dtmf-d"][int(rng.integers(5))])
    if pick == 1:
        return render_tone(("CN", ["busy", "dial", "ringback", "congestion"][int(rng.integers(4))]),
                           float(rng.integers(200, 4000)))
    if pick == 2:
        return dtmf_tone("0123456789*#"[int(rng.integers(12))], float(rng.integers(20, 200)), -10.0)
    if pick == 3:
        return rng.normal(0, float(rng.choice([30.0, 3000.0, 20000.0])), int(rng.integers(160, 16000))).clip(
            -32768, 32767).astype(np.int16)
    return np.zeros(int(rng.integers(160, 8000)), dtype=np.int16)


def _check_events(rig: Rig, port: int) -> None:
    """Every Seized is followed by Ringing, HungUp or LineDown before the next Seized; Ringing only after Seized;
    LineDown and LineUp alternate."""
    names = [type(e).__name__ for _, e in rig.events  # HungUp(BUSY) answers a dial() on a line in use: not the call's
             if e.line == f"p{port}" and not (isinstance(e, HungUp) and e.cause is HangupCause.BUSY)]
    seized = down = False
    for k, name in enumerate(names):
        if name == "Seized":
            assert not seized, " ".join(names[max(0, k - 8):k + 1])
            seized = True
        elif name == "Ringing":
            assert seized, " ".join(names[max(0, k - 8):k + 1])
            seized = False
        elif name in ("HungUp", "LineDown") and seized:
            seized = False
        if name == "LineDown":
            assert not down, " ".join(names[max(0, k - 8):k + 1])
            down = True
        elif name == "LineUp":
            assert down, " ".join(names[max(0, k - 8):k + 1])
            down = False


def _settings(seed: int) -> AnalogSettings:
    return AnalogSettings(answer=list(AnswerMode)[seed % 3], hangup_on_polarity=bool(seed % 2),
                          station_dialtone=bool(seed % 2), mwi=True, flash_max_ms=0 if seed == 3 else 1000,
                          wait_dialtone=seed == 2)


def _command(rng: np.random.Generator, port, now: float) -> None:
    command = ["answer", "hangup", "flash", "dial", "ring", "stop_ring", "mwi"][int(rng.integers(7))]
    if command == "dial" and hasattr(port, "dial"):
        port.dial("".join(rng.choice(list("0123456789,"), int(rng.integers(0, 6)))), now)
    elif command == "ring" and hasattr(port, "ring"):
        port.ring(str(rng.integers(0, 10 ** 8)), "", now)
    elif command == "stop_ring" and hasattr(port, "stop_ring"):
        port.stop_ring(now)
    elif command == "mwi" and hasattr(port, "message_waiting"):
        port.message_waiting(bool(rng.integers(2)), now)
    elif command in ("answer", "hangup", "flash") and hasattr(port, command):
        getattr(port, command)(now)


def _settle(rig: Rig) -> None:
    """The far ends go quiet and stop ringing, phones go down, alarms clear, the box hangs up; then every port must
    be idle within 10 s (an unanswered call rings out after the ring timeout)."""
    for i, port in enumerate(rig.ports):
        rig.far[i].clear()
        rig.offsets[i] = 0
        port.on_signal(LineSignal.NOALARM, rig.now)
        port.hangup(rig.now)
        if hasattr(port, "stop_ring"):
            port.stop_ring(rig.now)
            port.on_signal(LineSignal.ONHOOK, rig.now)
        else:
            port.on_signal(LineSignal.RING_END, rig.now)  # the exchange stops ringing
    rig.run(10.0)
    for i, port in enumerate(rig.ports):
        assert port.state in (FxoState.IDLE, FxsState.IDLE), (i, port.state)
        assert not rig.hw[i].hook and not rig.hw[i].ringing and not port.owns_audio
        _check_events(rig, i)


@pytest.mark.parametrize("seed", range(4))
def test_random_signals_commands_and_findings(seed: int) -> None:
    """The machines alone, 10,000 random steps: hardware signals, commands, detector findings (caller ID, tones,
    voice, digits) and ticks at random times. Nothing raises and everything ends idle."""
    rng = np.random.default_rng(100 + seed)
    rig = Rig(["fxo"] * 3 + ["fxs"] * 2, _settings(seed))
    tones, now = list(ToneKind), 0.0
    for _ in range(10000):
        port = rig.ports[int(rng.integers(5))]
        action = int(rng.integers(12))
        now += float(rng.choice([0.0, 0.02, 0.3, 1.5, 7.0], p=[0.3, 0.4, 0.2, 0.08, 0.02]))
        rig.tick_count = int(now / 0.02)
        if action < 4:
            port.on_signal(SIGNALS[int(rng.integers(len(SIGNALS)))], rig.now)
        elif action == 4:
            _command(rng, port, rig.now)
        elif action == 5:
            port.on_callerid(CallerId(number=str(rng.integers(10 ** 8))), "bell202-mdmf", rig.now)
        elif action == 6:
            port.on_tone(tones[int(rng.integers(len(tones)))], bool(rng.integers(2)), rig.now)
        elif action == 7:
            port.on_digit("0123456789*#"[int(rng.integers(12))], 80.0, rig.now)
        elif action < 10:
            port.on_voice(bool(rng.integers(2)), rig.now)
        else:
            port.poll(rig.now)
    _settle(rig)
    assert rig.of(Seized) and rig.of(HungUp) and rig.of(LineDown) and rig.of(Ringing)


@pytest.mark.parametrize("seed", range(3))
def test_random_signals_commands_and_audio(seed: int) -> None:
    """Three FXO and two FXS ports through the bank, 400 random steps: a signal, a command, a piece of real audio
    (caller ID, tones, DTMF, noise) or time passing. Nothing raises and everything ends idle and on hook."""
    rng = np.random.default_rng(seed)
    rig = Rig(["fxo"] * 3 + ["fxs"] * 2, _settings(seed))
    for _ in range(400):
        i = int(rng.integers(5))
        action = int(rng.integers(10))
        if action < 4:
            rig.ports[i].on_signal(SIGNALS[int(rng.integers(len(SIGNALS)))], rig.now)
        elif action < 6:
            rig.play(i, _audio(rng))
        elif action < 8:
            _command(rng, rig.ports[i], rig.now)
        else:
            rig.run(float(rng.choice([0.02, 0.1, 0.5, 1.0])))
    _settle(rig)
    assert rig.of(Seized) and rig.of(LineDown) and rig.of(LineUp)
