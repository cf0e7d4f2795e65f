"""Calls the box starts for an agent: ring the agent's phone first, then dial the customer and bridge them.

Used by queue callbacks and the desk's click-to-call. The call runs in a task of its own (``call.task``),
so whatever ends the call (the agent hanging up, the watchdog, a shutdown) cancels that task and never the
caller's: the caller always gets an outcome back and can put the agent and the callback in order.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import uuid as uuidlib
from typing import TYPE_CHECKING, Any

from hotline.dialplan.context import ConnectResult
from hotline.drivers.base import HangupCause

from .manager import Call, CallState, Leg, LegGone

if TYPE_CHECKING:
    from .manager import CallManager

log = logging.getLogger("hotline.calls")


class Originated(enum.Enum):
    """How a call started by the box for an agent ended."""

    CONNECTED = "connected"                  # the customer answered and talked with the agent
    AGENT_UNAVAILABLE = "agent_unavailable"  # the agent's phone was busy or down: it never rang
    AGENT_MISSED = "agent_missed"            # the agent's phone rang out
    AGENT_REJECTED = "agent_rejected"        # the agent's phone was hung up while it rang
    AGENT_HUNG_UP = "agent_hung_up"          # the agent answered, then hung up before the customer answered
    BUSY = "busy"                            # the customer's line was busy
    NO_ANSWER = "no_answer"                  # the customer did not answer
    NO_TRUNK = "no_trunk"                    # no trunk was free to dial out on
    FAX = "fax"                              # a fax machine answered the customer's number (ended at once)
    FAILED = "failed"                        # something broke (logged)

    @property
    def agent_side(self) -> bool:
        """The customer was never dialled: the agent did not (or could not) take the call."""
        return self in (Originated.AGENT_UNAVAILABLE, Originated.AGENT_MISSED, Originated.AGENT_REJECTED)


DIALLED = {ConnectResult.COMPLETED: Originated.CONNECTED, ConnectResult.TRANSFERRED: Originated.CONNECTED,
           ConnectResult.BUSY: Originated.BUSY, ConnectResult.NO_ANSWER: Originated.NO_ANSWER,
           ConnectResult.FAX: Originated.FAX}
REASONS = {Originated.FAX: "answered by a fax machine"}   # why a call the box made failed, in the journal and rows


async def originate(m: "CallManager", agent: Any, entry: Any, acd: Any, ring_timeout: float = 20.0,
                    direction: str = "callback", dial_timeout: float = 30.0) -> tuple[Originated, Call | None]:
    """Ring the agent's station; when answered, dial ``entry.number`` through a trunk and bridge.

    Returns the outcome and the call (None when the agent's phone could not ring). ``call.vars["ended_by"]``
    says who hung up a connected call ("customer" or "agent")."""
    station = m.devices.free_station(agent.station, m.owner) if agent.station else None   # busy: its next line
    if station is None:
        return Originated.AGENT_UNAVAILABLE, None
    call = Call(uuid=str(uuidlib.uuid4()), direction=direction, caller_id=entry.number or "",
                dialed=entry.number or "", offered_at=m.engine.now())
    call.caller = Leg(uuid=call.uuid, line=station, role="caller", call=call)
    call.legs.append(call.caller)
    m.journal.emit("call.offered", call.uuid, station.name, ts=call.offered_at, direction=direction,
                   caller_id=entry.number, dialed=entry.number, parent=entry.call_uuid, queue=entry.queue,
                   agent=agent.id)
    m.calls[call.uuid] = call
    m.owner[station.name] = call.caller
    m.devices.busy.add(station.name)
    station.ring(entry.number or "", direction)
    task = asyncio.get_running_loop().create_task(_run(m, call, agent, entry, acd, ring_timeout, dial_timeout),
                                                  name=f"{direction}-{call.uuid}")
    call.task = task
    try:
        return await asyncio.shield(task), call
    except asyncio.CancelledError:
        if task.cancelled():  # the call's own task was cut short while ending: still an answer for the caller
            return (Originated.CONNECTED if call.bridged_at else Originated.FAILED), call
        raise                 # our caller is being cancelled (shutdown): the call task ends the call by itself


async def _run(m: "CallManager", call: Call, agent: Any, entry: Any, acd: Any, ring_timeout: float,
               dial_timeout: float) -> Originated:
    """The call's own task: ring, answer, dial, bridge; always ends the call (and its CDR) before returning."""
    outcome, cause = Originated.AGENT_MISSED, HangupCause.NO_ANSWER
    try:
        await m.engine.wait_for(asyncio.shield(call.caller.answered), ring_timeout)
        call.state, call.answered_at = CallState.ANSWERED, m.engine.now()
        m.open_media(call.caller)
        m.journal.emit("call.answered", call.uuid, call.caller.line.name, ts=call.answered_at, agent=agent.id)
        acd.agents.set_state(agent, type(agent.state).ON_CALL, by="acd", call_uuid=call.uuid, force=True)
        outcome, cause = Originated.AGENT_HUNG_UP, HangupCause.NORMAL
        result = await m.context_factory(call, m).dial_out(entry.number, ring_timeout=dial_timeout, end_on_fax=True)
        outcome = DIALLED.get(result, Originated.NO_TRUNK)
        if outcome is Originated.CONNECTED:
            call.vars["ended_by"] = "customer"
    except asyncio.TimeoutError:  # the agent's phone rang out
        pass
    except LegGone as exc:        # the agent's phone hung up while ringing, or went away
        cause = exc.cause
        if outcome is Originated.AGENT_MISSED:
            outcome = Originated.AGENT_REJECTED
    except asyncio.CancelledError:  # the agent hung up (the call manager cancels the call's task), or shutdown
        cause = call.cause or HangupCause.NORMAL
        if outcome is Originated.AGENT_MISSED and call.caller.gone.done():
            outcome = Originated.AGENT_REJECTED
        elif cause is HangupCause.SHUTDOWN and not call.bridged_at:
            outcome = Originated.FAILED
        if call.bridged_at:
            call.vars.setdefault("ended_by", "agent")
    except Exception:
        log.exception("event=originate_failed call=%s", call.uuid)
        outcome, cause = Originated.FAILED, HangupCause.NORMAL
    await m.finish(call, cause)
    if outcome is Originated.FAX:   # (bridged for the second the answer tone took to be sure of)
        return outcome
    return Originated.CONNECTED if call.bridged_at else outcome
