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


def test_a_received_fax_is_stored_then_handed_to_every_delivery_hook(tmp_path: Path) -> None:
    """A fax whose T.30 finished: its PDF and page images are made beside it, the job moves to received, then each
    on_received hook gets the job id in order (one that raises does not stop the next). A fax with no page moves to
    failed and no hook runs."""
    from hotline.daemon.store.service_models import FaxStatus
    from hotline.fax.session import FaxDirection, FaxOutcome, FaxResult
    from tests.webadmin.test_fax_receive_e2e import ghostscript_fax

    tiff = ghostscript_fax(tmp_path)
    moves: list = []
    calls: list = []

    async def run() -> None:
        receiver = FaxReceiver(None, None, SimpleNamespace(calls={}), None, tmp_path / "spool", {})

        async def move(job, status, reason, **fields):
            moves.append((status, reason, fields.get("pages")))
            return {"id": job["id"], "status": status.value}
        receiver._move = move

        async def broken(job_id: int) -> None:
            calls.append(("broken", job_id))
            raise RuntimeError("mail server down")

        async def ticket(job_id: int) -> None:
            calls.append(("ticket", job_id))
        receiver.on_received += [broken, ticket]
        ok = FaxResult(FaxOutcome.SUCCESS, FaxDirection.RECEIVE, 2, 14400, True, "555 0100", "OK", 0, tiff, 20, 0.1)
        nothing = FaxResult(FaxOutcome.FAILED, FaxDirection.RECEIVE, 0, 0, False, "", "no", 2, None, 35, 0.1)
        (tmp_path / "spool" / "fax" / "jobs" / "7").mkdir(parents=True)
        await receiver._store(SimpleNamespace(uuid="c"), {"id": 7}, ok)
        await receiver._store(SimpleNamespace(uuid="d"), {"id": 8}, nothing)
        await asyncio.gather(*receiver._delivering)
    asyncio.run(run())
    assert moves[0] == (FaxStatus.RECEIVED, None, 2) and moves[1][0] is FaxStatus.FAILED
    assert calls == [("broken", 7), ("ticket", 7)]
    folder = tmp_path / "spool" / "fax" / "jobs" / "7"
    assert (folder / "document.pdf").is_file() and (folder / "page-2.png").is_file()
