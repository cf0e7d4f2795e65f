"""Supervision of calls in progress: listen, whisper, barge (mix edges), force hang-up, force transfer."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from hotline.drivers.base import HangupCause

from .manager import CallState, Leg, LegGone

log = logging.getLogger("hotline.supervise")
MODES = ("listen", "whisper", "barge")


class SuperviseError(Exception):
    """A supervision request cannot be carried out; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


@dataclass(eq=False)
class Session:
    """One supervisor's phone attached to one call."""

    call_uuid: str
    leg: Leg
    mode: str
    by: str
    edges: list = field(default_factory=list)
    kind: str = "supervise"  # or "conference": a third party the agent brought in


class Supervisor:
    """Attaches supervisors' phones to calls and wires who hears whom."""

    def __init__(self, calls: Any, engine: Any, devices: Any, journal: Any):
        self.calls, self.engine, self.devices, self.journal = calls, engine, devices, journal
        self.sessions: dict[str, Session] = {}

    def _bridged_call(self, uuid: str) -> Any:
        call = self.calls.calls.get(uuid)
        if call is None:
            raise SuperviseError(f"no call {uuid} in progress", 404)
        if call.state is not CallState.BRIDGED or call.peer is None:
            raise SuperviseError("the call is not connected to an agent")
        return call

    async def attach(self, uuid: str, mode: str, station: str, by: str, ring_timeout: float = 20.0,
                     kind: str = "supervise") -> dict:
        """Ring the supervisor's station (or re-wire an attached one) and join the call in a mode.
        kind="conference" brings a third party into a three-way call (the barge wiring)."""
        if mode not in MODES:
            raise SuperviseError(f"mode must be one of {', '.join(MODES)}", 400)
        call = self._bridged_call(uuid)
        current = self.sessions.get(uuid)
        if current is not None:
            self._wire(call, current, mode)
            self._emit(f"{current.kind}.changed", call, current)
            return {"call": uuid, "mode": mode, "station": current.leg.line.extension}
        line = self.devices.station(station) if station else None
        if line is None or not line.up:
            raise SuperviseError(f"no station {station!r}", 400)
        if line.name in self.calls.owner:
            raise SuperviseError(f"station {station} is busy")
        leg = self.calls.new_leg(call, line, "supervisor")
        line.ring("", "supervisor")
        try:
            await self.engine.wait_for(asyncio.shield(leg.answered), ring_timeout)
        except (asyncio.TimeoutError, LegGone):
            leg.lost(HangupCause.NO_ANSWER)
            self.calls.end_leg(leg, HangupCause.NO_ANSWER)
            raise SuperviseError(f"the supervisor's station {station} did not answer") from None
        self.calls.open_media(leg)
        session = Session(uuid, leg, mode, by, kind=kind)
        self.sessions[uuid] = session
        self._wire(call, session, mode)
        self._emit(f"{kind}.started", call, session)
        asyncio.get_running_loop().create_task(self._watch(call, session))
        return {"call": uuid, "mode": mode, "station": station}

    def _wire(self, call: Any, s: Session, mode: str) -> None:
        """listen: hears both sides; whisper: also talks to the agent; barge: talks to both (three-way)."""
        e = self.engine
        e.disconnect(*s.edges)
        caller, agent, sup = call.caller.channel, call.peer.channel, s.leg.channel
        s.edges = [e.connect(caller, sup), e.connect(agent, sup)]
        if mode in ("whisper", "barge"):
            s.edges.append(e.connect(sup, agent))
        if mode == "barge":
            s.edges.append(e.connect(sup, caller))
        s.mode = mode

    def _emit(self, kind: str, call: Any, s: Session) -> None:
        self.journal.emit(kind, call.uuid, ts=self.engine.now(), mode=s.mode, by=s.by,
                          station=s.leg.line.extension, agent=call.peer.line.extension)

    async def _watch(self, call: Any, s: Session) -> None:
        """Detach when the supervisor hangs up, the agent leaves the call, or the call ends."""
        peer = call.peer
        while not s.leg.gone.done() and call.state is CallState.BRIDGED and call.peer is peer:
            await asyncio.sleep(0.1)
        self.engine.disconnect(*s.edges)
        self.sessions.pop(call.uuid, None)
        self.calls.end_leg(s.leg)
        self.journal.emit(f"{s.kind}.ended", call.uuid, ts=self.engine.now(), by=s.by)

    async def force_hangup(self, uuid: str, by: str) -> dict:
        """End a call now."""
        call = self.calls.calls.get(uuid)
        if call is None:
            raise SuperviseError(f"no call {uuid} in progress", 404)
        self.journal.emit("call.force_hangup", uuid, ts=self.engine.now(), by=by)
        await self.calls.end(call, HangupCause.NORMAL)
        return {"call": uuid, "ended": True}

    def force_transfer(self, uuid: str, target: str, by: str, forced: bool = True) -> dict:
        """Move the caller from their agent (released) to a station, "number:<digits>" or "queue:<name>"."""
        call = self._bridged_call(uuid)
        kind, _, value = target.partition(":") if ":" in target else ("extension", "", target)
        if kind == "extension" and self.devices.station(value) is None:
            raise SuperviseError(f"no station {value!r}", 400)
        if kind == "number" and not (value.isdigit() and 3 <= len(value) <= 20):
            raise SuperviseError(f"number {value!r}: 3-20 digits", 400)
        if kind == "queue" and value not in getattr(getattr(self.calls, "acd", None), "queues", {}):
            raise SuperviseError(f"no queue {value!r}", 400)
        if kind not in ("extension", "number", "queue"):
            raise SuperviseError("target: an extension, number:<digits> or queue:<name>", 400)
        if forced:
            self.journal.emit("call.force_transfer", uuid, ts=self.engine.now(), by=by, target=target)
        call.peer.flashes.put_nowait(("transfer", target, by))
        return {"call": uuid, "target": target}


def hold_request(calls: Any, uuid: str, action: str, by: str, extension: str | None = None) -> dict:
    """Agent call handling on a connected call: hold / resume (music for the caller), consult a colleague
    while the caller holds, complete the attended transfer."""
    call = calls.calls.get(uuid)
    if call is None:
        raise SuperviseError(f"no call {uuid} in progress", 404)
    if call.peer is None:
        raise SuperviseError("the call is not connected to an agent")
    held = bool(call.vars.get("held"))
    if action == "hold" and held or action in ("resume", "consult", "complete") and not held:
        raise SuperviseError(f"the call is {'already' if held else 'not'} on hold")
    request = (action, extension, by) if action == "consult" else (action, by)
    call.peer.flashes.put_nowait(request)
    return {"call": uuid, "action": action, "held": action != "resume" and action != "complete"}
