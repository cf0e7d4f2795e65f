"""Who may fax on a call: the receiver takes a call on CNG only in its IVR, on an audio line, with fax_detect on
and an engine; fax-back on the same call needs an engine and a line that carries fax as audio (else the caller
hears that fax is not available)."""
from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from hotline.daemon.calls.manager import Call, CallState, Leg
from hotline.daemon.fax.receiver import FaxReceiver
from hotline.daemon.fax.samecall import SameCall
from hotline.daemon.fax.sender import NoEngine
from hotline.drivers.base import Duplex, FaxMode, LineTraits


class Ready:
    """A sender that could send now."""

    name = "ready"

    def unavailable(self):
        return None

    def accepts(self, line):
        return True


def _call(traits: LineTraits, state: CallState = CallState.ANSWERED, channel: object = "ch", **vars: object) -> Call:
    call = Call(uuid="c1", direction="inbound", state=state, vars=dict(vars))
    line = SimpleNamespace(name="t1", traits=traits)
    call.caller = Leg(uuid="c1", line=line, role="caller", call=call, channel=channel)
    return call


def test_the_receiver_takes_only_ivr_calls_on_audio_lines_with_fax_detect_on(tmp_path: Path) -> None:
    """Each reason a CNG is not taken, and the one case it is."""
    async def run() -> list:
        receiver = FaxReceiver(None, None, SimpleNamespace(calls={}), None, tmp_path, {})
        receiver.unavailable = lambda: None
        audio, modem = LineTraits(), LineTraits(duplex=Duplex.HALF, fax=FaxMode.NONE)
        half = LineTraits(duplex=Duplex.HALF)
        return [receiver._why_not(_call(audio)), receiver._why_not(_call(audio, fax_detect=False)),
                receiver._why_not(_call(audio, CallState.BRIDGED)), receiver._why_not(_call(modem)),
                receiver._why_not(_call(half))]
    assert asyncio.run(run()) == [None, "fax_detect_off", "not_in_ivr", "line_not_audio_fax", "line_not_audio_fax"]


def test_fax_back_on_the_same_call_needs_an_engine_and_an_audio_line() -> None:
    """No engine, a half-duplex voice modem line, a call without audio: each says why; a full-duplex audio line
    with a ready sender can."""
    async def run() -> list:
        calls = {"ok": _call(LineTraits()), "modem": _call(LineTraits(duplex=Duplex.HALF)),
                 "mute": _call(LineTraits(), channel=None)}
        queue = SimpleNamespace(sender=Ready(), calls=SimpleNamespace(calls=calls), engine=None,
                                _simulated=lambda line: True)
        same = SameCall(queue)
        out = [same.unavailable(c) for c in ("ok", "modem", "mute", "gone")]
        queue.sender = NoEngine()
        return out + [same.unavailable("ok")]
    ok, modem, mute, gone, no_engine = asyncio.run(run())
    assert ok is None
    assert modem == "line t1 cannot carry a fax as audio"
    assert mute == gone == "the call has no audio to send a fax on"
    assert no_engine == "no fax engine"
