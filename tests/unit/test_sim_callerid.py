"""The simulated card's caller ID as real audio (callerid_audio: true): the box rings with what the receiver decoded."""
from __future__ import annotations

import numpy as np
import pytest

from hotline.drivers.base import HungUp, Ringing, Seized
from hotline.drivers.sim import callerid as sim_callerid
from hotline.drivers.sim.card import FarState
from hotline.drivers.sim.driver import SimDriver


def _card(standard: str = "cn", trunks: int = 2) -> tuple[SimDriver, list]:
    events: list = []
    card = SimDriver("sim0", {"trunks": trunks, "stations": [], "callerid_audio": True, "callerid": standard},
                     events.append)
    card.open()
    return card, events


def _tick_until_ringing(card: SimDriver, events: list, limit: int = 200) -> int:
    for n in range(1, limit + 1):
        card.tick()
        if any(isinstance(e, Ringing) for e in events):
            return n
    return limit


@pytest.mark.parametrize("standard, name", [("cn", "王小明"), ("bell", "Li Wei"), ("etsi", "Zoë"), ("dtmf-a", ""),
                                            ("dtmf-d", "")])
def test_incoming_call_rings_with_the_decoded_caller(standard: str, name: str) -> None:
    """Seized at once, Ringing once the receiver decoded the audio: well under 2 s of media time for FSK."""
    card, events = _card(standard)
    line = card.lines["sim0-t1"]
    card.far_call(line, "13812345678", name, "8001")
    assert [type(e) for e in events] == [Seized]
    ticks = _tick_until_ringing(card, events)
    ringing = events[-1]
    assert isinstance(ringing, Ringing) and (ringing.caller_id, ringing.caller_name, ringing.dialed) == (
        "13812345678", name, "8001")
    assert ticks * 0.02 < (2.4 if standard.startswith("dtmf") else 1.0)
    assert card.status()["callerid"] == {"standard": standard, "in_flight": 0, "decoded": 1, "missed": 0}


def test_what_the_line_garbles_the_box_does_not_see(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller comes from the detector: audio too weak to read rings without a caller (and counts as missed)."""
    weak = sim_callerid.callerid_audio
    monkeypatch.setattr(sim_callerid, "callerid_audio", lambda n, m, s: (weak(n, m, s) * 0.001).astype(np.int16))
    card, events = _card()
    card.far_call(card.lines["sim0-t1"], "13812345678", "", "8001")
    _tick_until_ringing(card, events)
    assert isinstance(events[-1], Ringing) and events[-1].caller_id == "" and card.callerid.missed == 1


def test_many_calls_at_once_and_a_caller_who_gives_up() -> None:
    """20 calls ring in together (more than the receiver's slots): each rings with its own caller; one that hangs
    up while its caller ID is on the line gets HungUp and never rings."""
    card, events = _card(trunks=20)
    lines = list(card.lines.values())
    for i, line in enumerate(lines):
        card.far_call(line, f"1390000{i:04d}", "", "8001")
    card.far_hangup(lines[-1])
    for _ in range(150):
        card.tick()
    rung = {e.line: e.caller_id for e in events if isinstance(e, Ringing)}
    assert rung == {line.name: f"1390000{i:04d}" for i, line in enumerate(lines[:-1])}
    assert [e.line for e in events if isinstance(e, HungUp)] == [lines[-1].name]


def test_a_caller_the_standard_cannot_carry_is_refused_before_the_line_moves() -> None:
    card, events = _card("dtmf-a")
    with pytest.raises(ValueError, match="cannot be sent as dtmf-a caller ID"):
        card.far_call(card.lines["sim0-t1"], "+86 138", "", "8001")
    assert events == [] and card.lines["sim0-t1"].far.state is FarState.IDLE
