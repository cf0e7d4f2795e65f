"""drivers/analog transition tables: from each state, one hardware signal gives the next state and these events."""
from __future__ import annotations

import pytest

from hotline.drivers.analog.fxo import FxoState
from hotline.drivers.analog.fxs import FxsState
from hotline.drivers.analog.profiles import AnalogSettings, AnswerMode, CidMode
from hotline.drivers.analog.signals import LineSignal as S
from tests.unit.analog_rig import Rig


def _fxo(state: str) -> Rig:
    """An FXO port brought to ``state`` through its public API (answer by polarity, no caller ID)."""
    rig = Rig(["fxo"], AnalogSettings(callerid=CidMode.NONE if state in ("ringing", "connected", "refused") else CidMode.AUTO,
                                      answer=AnswerMode.POLARITY))
    port = rig.ports[0]
    if state in ("seized", "ringing", "connected", "refused"):
        port.on_signal(S.RING_BEGIN, rig.now)
        if state == "connected":
            port.answer(rig.now)
        if state == "refused":
            port.hangup(rig.now)
    elif state in ("dialing", "awaiting_answer"):
        port.dial("12345678" if state == "dialing" else "1", rig.now)
        rig.run(1.5 if state == "dialing" else 2.0)
    elif state == "down":
        port.on_signal(S.ALARM, rig.now)
    rig.run(0.1)
    assert port.state.value == state
    rig.events.clear()
    return rig


FXO_TABLE = [
    ("idle", S.RING_BEGIN, "seized", ["Seized"]),
    ("idle", S.POLARITY, "seized", ["Seized"]),
    ("idle", S.ONHOOK, "idle", []),
    ("idle", S.RING_END, "idle", []),
    ("idle", S.ALARM, "down", ["LineDown"]),
    ("seized", S.RING_BEGIN, "ringing", ["Ringing"]),  # the second ring: no caller ID came
    ("seized", S.ONHOOK, "seized", []),
    ("ringing", S.RING_BEGIN, "ringing", []),
    ("ringing", S.POLARITY, "ringing", []),
    ("refused", S.RING_BEGIN, "refused", []),
    ("connected", S.ONHOOK, "idle", ["HungUp"]),  # loop current dropped
    ("connected", S.POLARITY, "connected", []),  # hangup_on_polarity is off
    ("connected", S.RING_BEGIN, "connected", []),
    ("connected", S.ALARM, "down", ["LineDown"]),
    ("dialing", S.POLARITY, "dialing", []),
    ("dialing", S.ONHOOK, "idle", ["HungUp"]),
    ("awaiting_answer", S.POLARITY, "connected", ["Answered"]),
    ("awaiting_answer", S.ONHOOK, "idle", ["HungUp"]),
    ("awaiting_answer", S.DIALCOMPLETE, "awaiting_answer", []),
    ("down", S.RING_BEGIN, "down", []),
    ("down", S.NOALARM, "idle", ["LineUp"]),
]


@pytest.mark.parametrize("start, signal, end, events", FXO_TABLE,
                         ids=[f"{a}-{s.name}" for a, s, _, _ in FXO_TABLE])
def test_fxo_transitions(start: str, signal: S, end: str, events: list[str]) -> None:
    rig = _fxo(start)
    rig.ports[0].on_signal(signal, rig.now)
    assert (rig.ports[0].state, rig.kinds(0)) == (FxoState(end), events)


def _fxs(state: str) -> Rig:
    """An FXS port brought to ``state`` through its public API."""
    rig = Rig(["fxs"])
    port = rig.ports[0]
    if state == "ringing":
        port.ring("1001", "", rig.now)
    elif state in ("offhook", "released", "hook_pending"):
        port.on_signal(S.OFFHOOK, rig.now)
        if state == "released":
            port.hangup(rig.now)
        if state == "hook_pending":
            rig.run(1.0)
            port.on_signal(S.ONHOOK, rig.now)
            rig.run(0.2)
    elif state == "down":
        port.on_signal(S.ALARM, rig.now)
    rig.run(0.2)
    assert port.state.value == state
    rig.events.clear()
    return rig


FXS_TABLE = [
    ("idle", S.OFFHOOK, "offhook", ["OffHook"]),
    ("idle", S.ONHOOK, "idle", []),
    ("idle", S.WINKFLASH, "idle", []),
    ("idle", S.RING_BEGIN, "idle", []),
    ("ringing", S.OFFHOOK, "offhook", ["OffHook"]),
    ("ringing", S.ALARM, "down", ["LineDown"]),
    ("offhook", S.WINKFLASH, "offhook", ["Flashed"]),
    ("offhook", S.ONHOOK, "hook_pending", []),
    ("offhook", S.OFFHOOK, "offhook", []),
    ("hook_pending", S.OFFHOOK, "offhook", ["Flashed"]),
    ("released", S.ONHOOK, "hook_pending", []),
    ("released", S.WINKFLASH, "released", []),
    ("down", S.OFFHOOK, "down", []),
    ("down", S.NOALARM, "idle", ["LineUp"]),
]


@pytest.mark.parametrize("start, signal, end, events", FXS_TABLE,
                         ids=[f"{a}-{s.name}" for a, s, _, _ in FXS_TABLE])
def test_fxs_transitions(start: str, signal: S, end: str, events: list[str]) -> None:
    rig = _fxs(start)
    rig.ports[0].on_signal(signal, rig.now)
    assert (rig.ports[0].state, rig.kinds(0)) == (FxsState(end), events)
