"""Callbacks: requests that keep a caller's place in a queue, their attempts, retries, rows and opening hours.

A callback is an entry of the queue's waiting list (kind "callback"), whether the caller asked for it with
the queue's leave key, at the queue's overflow, in the IVR (the ``callback_request`` app) or a supervisor
queued it from the abandoned-call list. When an agent is free (and the queue's ``hours`` are open) the
dispatcher hands it here: the agent's phone rings first, then the customer is dialled. Every attempt is
journaled (``callback.attempted``) and logged; the row in ``callbacks`` follows (pending, dialing, done,
failed), so a restart picks pending callbacks up again.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..calls.originate import REASONS, Originated, originate
from .agents import Agent, AgentState
from .queues import Entry, QueueRuntime, new_entry

log = logging.getLogger("hotline.acd")
UNAVAILABLE_PAUSE = 5.0  # seconds before a callback is offered again when the agent's phone could not ring
RESTORE_HOURS = 72.0  # pending callbacks older than this are not dialled after a restart (a weekend's worth)


def save_row(callback_id: int, status: str, attempts: int, next_attempt_at: float | None, note: str | None) -> None:
    """Update one callback row (writer thread)."""
    from ..store.service_models import Callback
    fields: dict[str, Any] = {"status": status, "attempts": attempts, "next_attempt_at": next_attempt_at,
                              "updated_at": time.time()}
    if note is not None:
        fields["note"] = note
    Callback.update(**fields).where(Callback.id == callback_id).execute()


def pending_rows(since: float) -> list[dict]:
    """Callbacks still to be made (pending, or dialling when the box stopped), created since ``since``."""
    from ..store.service_models import Callback, CallbackStatus
    live = (CallbackStatus.PENDING.value, CallbackStatus.DIALING.value)
    return [{"id": r.id, "number": r.number, "call_uuid": r.call_uuid, "queue": r.queue, "attempts": r.attempts,
             "joined_at": r.joined_at or r.created_at, "next_attempt_at": r.next_attempt_at}
            for r in Callback.select().where(Callback.status.in_(live) & (Callback.created_at >= since))
            .order_by(Callback.id)]


class Callbacks:
    """Runs callback attempts for the ACD and keeps the waiting lists, the journal and the rows in step."""

    def __init__(self, acd: Any):
        self.acd = acd
        self.tasks: set[asyncio.Task] = set()

    # ---- joining ------------------------------------------------------------------------------------------
    def find(self, callback_id: int | None) -> Entry | None:
        """The waiting entry of a callback row."""
        if callback_id is None:
            return None
        return next((e for q in self.acd.queues.values() for e in q.waiting if e.callback_id == callback_id), None)

    def requested(self, row: dict, call_uuid: str | None, source: str, caller_id: str = "") -> Entry | None:
        """A callback row made outside the queue (the IVR's callback_request) joins its queue's callbacks.
        None when the queue is no ACD queue (the row stays for a person to handle) or it is there already."""
        q = self.acd.queues.get(row.get("queue") or "")
        if q is None:
            log.warning("event=callback_not_queued id=%s queue=%s reason=no_such_acd_queue", row.get("id"),
                        row.get("queue"))
            return None
        if self.find(row.get("id")) is not None:
            return None
        now = self.acd.engine.now()
        entry = new_entry(q.name, now, call_uuid=call_uuid, caller_id=caller_id or row.get("number") or "",
                          kind="callback", number=row.get("number"), callback_id=row.get("id"))
        q.waiting.append(entry)
        self.acd.journal.emit("queue.callback_requested", call_uuid, ts=now, queue=q.name, number=entry.number,
                              joined_at=now, position=q.position(entry), source=source,
                              **({"after_hours": True} if q.closed else {}))
        log.info("event=callback_queued id=%s queue=%s source=%s closed=%s", entry.callback_id, q.name, source,
                 q.closed)
        self.acd.dispatcher.poke()
        return entry

    async def restore(self) -> int:
        """At start: pending callbacks of the last RESTORE_HOURS go back into their queues' waiting lists."""
        rows = await self.acd.store.read(pending_rows, time.time() - RESTORE_HOURS * 3600)
        restored = 0
        for row in rows:
            q = self.acd.queues.get(row["queue"])
            if q is None or self.find(row["id"]) is not None:
                continue
            entry = new_entry(q.name, row["joined_at"], call_uuid=row["call_uuid"], caller_id=row["number"],
                              kind="callback", number=row["number"], callback_id=row["id"], attempts=row["attempts"],
                              not_before=row["next_attempt_at"] or 0.0)
            q.waiting.append(entry)
            restored += 1
        if restored:
            log.info("event=callbacks_restored count=%d", restored)
            self.acd.dispatcher.poke()
        return restored

    # ---- opening hours ----------------------------------------------------------------------------------
    async def refresh_hours(self) -> None:
        """Which queues are closed now by their ``hours`` schedule (callbacks wait for the queue to open)."""
        services = self.acd.services
        for q in list(self.acd.queues.values()):
            schedule = q.settings.get("hours")
            closed = False
            if schedule and services is not None:
                closed = await services.time_state(schedule) != "open"
            if closed != q.closed:
                q.closed = closed
                self.acd.journal.emit("queue.opened" if not closed else "queue.closed", None,
                                      ts=self.acd.engine.now(), queue=q.name, schedule=schedule)
                if not closed:
                    self.acd.dispatcher.poke()

    # ---- attempts ---------------------------------------------------------------------------------------
    def start(self, entry: Entry, agent: Agent) -> None:
        """The dispatcher reserved ``agent`` for ``entry``: make the attempt in a task of its own."""
        task = asyncio.get_running_loop().create_task(self.attempt(entry, agent), name=f"callback-{entry.key}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        """Cancel attempts in progress (the box is stopping; their rows stay pending)."""
        from ..aio import cancel_and_wait
        for task in list(self.tasks):
            await cancel_and_wait(task)

    async def attempt(self, entry: Entry, agent: Agent) -> Originated:
        """Ring the agent, dial the customer; then put the agent, the waiting list, the journal and the row
        in order whatever happened."""
        acd = self.acd
        q = acd.queues.get(entry.queue)
        settings = q.settings if q is not None else {}
        agent.wrapup_seconds = settings.get("wrapup_seconds", 0.0)
        self._save(entry, "dialing", None)
        outcome, call = Originated.FAILED, None
        try:
            outcome, call = await originate(acd.calls, agent, entry, acd,
                                            ring_timeout=settings.get("ring_timeout", 20.0))
        except asyncio.CancelledError:
            self._save(entry, "pending", None)
            self._agent_after(agent, Originated.FAILED, None, settings, entry.queue)
            raise
        except Exception:
            log.exception("event=callback_failed entry=%s", entry.key)
        if not outcome.agent_side:
            entry.attempts += 1
        data = {"queue": entry.queue, "number": entry.number, "attempt": entry.attempts, "outcome": outcome.value,
                "agent": agent.id, "call": call.uuid if call is not None else None}
        if outcome in REASONS:
            data["reason"] = REASONS[outcome]
        if call is not None and call.vars.get("ended_by"):
            data["ended_by"] = call.vars["ended_by"]
        self._agent_after(agent, outcome, call, settings, entry.queue)
        acd.journal.emit("callback.attempted", entry.call_uuid, ts=acd.engine.now(), **data)
        log.info("event=callback_attempted queue=%s number=%s attempt=%d outcome=%s agent=%s", entry.queue,
                 entry.number, entry.attempts, outcome.value, agent.name)
        self._next(entry, q, outcome)
        acd.dispatcher.poke()
        return outcome

    def _agent_after(self, agent: Agent, outcome: Originated, call: Any, settings: dict, queue: str) -> None:
        """The agent leaves the callback in a sane state: a miss counts as for offers; after a call, wrap-up."""
        acd, book = self.acd, self.acd.agents
        if outcome in (Originated.AGENT_MISSED, Originated.AGENT_REJECTED) and agent.state is AgentState.RESERVED:
            book.missed(agent, settings.get("missed_offers_limit", 2))
            acd.journal.emit("agent.missed", call.uuid if call is not None else None, ts=acd.engine.now(),
                             queue=queue, agent=agent.id,
                             in_row=agent.missed_in_row, callback=True)
            return
        if agent.state is AgentState.RESERVED:
            book.set_state(agent, AgentState.READY, by="acd", force=True)
        elif agent.state is AgentState.ON_CALL and (call is None or agent.call_uuid == call.uuid):
            wrapup = settings.get("wrapup_seconds", 0.0)
            if outcome is Originated.CONNECTED and wrapup > 0:
                book.set_state(agent, AgentState.WRAP_UP, by="acd")
                agent.wrapup_until = acd.engine.now() + wrapup
            else:
                book.set_state(agent, AgentState.READY, by="acd", force=True)
        if outcome is Originated.CONNECTED:
            agent.missed_in_row = 0
            agent.calls_today += 1
            if call is not None and call.bridged_at:
                agent.talk_today += max(0.0, (call.ended_at or acd.engine.now()) - call.bridged_at)

    def _next(self, entry: Entry, q: QueueRuntime | None, outcome: Originated) -> None:
        """Done, back in line at once (the agent's side failed), later (a retry), or given up."""
        acd = self.acd
        if outcome is Originated.CONNECTED:
            self._leave(entry, q)
            if q is not None:
                q.answered += 1
            self._save(entry, "done", None)
            return
        retries = q.settings.get("callback_retries", 3) if q is not None else 0
        if outcome.agent_side and q is not None:
            entry.busy = False
            if outcome is Originated.AGENT_UNAVAILABLE:  # the phone was taken meanwhile: no tight loop on it
                entry.not_before = acd.engine.now() + UNAVAILABLE_PAUSE
            self._save(entry, "pending", entry.not_before or None)
            return
        reason = REASONS.get(outcome)   # a fax machine at the number: calling again cannot reach a person
        if q is None or entry.attempts > retries or reason is not None:
            self._leave(entry, q)
            acd.journal.emit("callback.gave_up", entry.call_uuid, ts=acd.engine.now(), queue=entry.queue,
                             number=entry.number, attempts=entry.attempts, outcome=outcome.value,
                             **({"reason": reason} if reason else {}))
            log.warning("event=callback_gave_up queue=%s number=%s attempts=%d last=%s", entry.queue, entry.number,
                        entry.attempts, outcome.value)
            self._save(entry, "failed", None,
                       note=reason or f"gave up after {entry.attempts} attempts ({outcome.value})")
            return
        entry.busy, entry.offer = False, None
        entry.not_before = acd.engine.now() + q.settings.get("callback_retry_seconds", 300.0)
        acd.journal.emit("callback.retry_scheduled", entry.call_uuid, ts=acd.engine.now(), queue=entry.queue,
                         number=entry.number, attempt=entry.attempts + 1, at=round(entry.not_before, 3))
        self._save(entry, "pending", entry.not_before)

    @staticmethod
    def _leave(entry: Entry, q: QueueRuntime | None) -> None:
        entry.busy = False
        if q is not None and entry in q.waiting:
            q.waiting.remove(entry)

    def _save(self, entry: Entry, status: str, next_attempt_at: float | None, note: str | None = None) -> None:
        if entry.callback_id is None:
            return
        cid, attempts = entry.callback_id, entry.attempts
        self.acd.store.submit_write(lambda: save_row(cid, status, attempts, next_attempt_at, note))
