"""The outbound fax queue: picks queued jobs, dials them through a free trunk, hands the answered call to the
sender, and retries with backoff until the job is sent, out of attempts or past its kill time.

Every status change goes through jobs.transition (only allowed moves), is journaled as ``fax.<status>`` with
the job id, attempt, pages and reason, and counted in Prometheus (hotline_fax_transitions_total,
hotline_fax_failures_total, hotline_fax_pages_total). A job an agent asked for ends with a message to that
agent (agent_messages, kind "fax": the desk's inbox, pushed live by the panel). With the ``none`` sender
(no engine plugged in) nothing is dialled: queued jobs stay queued with reason ``no_engine``.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any, Callable

from hotline.drivers.base import FaxMode, HangupCause, Line, LineKind, ToneKind

from ..aio import cancel_and_wait
from ..calls.linecaps import bridgeable
from ..calls.manager import Call, CallState, Leg, LegGone
from ..store.service_models import FaxStatus
from . import jobs
from .jobs import FaxReason
from .library import FaxLibrary, page_count
from .samecall import SameCall
from .sender import FaxDocument, FaxLine, FaxSender, Transmission

log = logging.getLogger("hotline.fax")
DIRECTION = "fax_out"        # the direction of the box's fax calls in the journal and CDRs
RETRYABLE = {FaxReason.NO_ANSWER, FaxReason.BUSY, FaxReason.NOT_A_FAX, FaxReason.TRANSMISSION,
             FaxReason.SHUTDOWN, FaxReason.ERROR}
DEFAULTS = {"max_attempts": 4, "retry_seconds": 120.0, "retry_max_seconds": 1800.0, "kill_hours": 24.0,
            "dial_timeout": 60.0, "transmit_timeout": 900.0, "concurrent": 2, "poll_seconds": 2.0}
ANSWER_TONE_SECONDS = 10.0   # the far machine's answer tone (CED) is looked for this long after the answer


def notify_row(recipient: str, job: dict) -> dict:
    """The agent's message about a job that ended (writer thread): sent, or failed and why."""
    from ..store.service_models import AgentMessage
    target = job["number"] or "the caller's line"
    if job["status"] == FaxStatus.SENT.value:
        text = f"Fax #{job['id']} ({job['document']}) to {target}: sent, {job['pages']} of {job['pages_total']} pages."
    else:
        text = (f"Fax #{job['id']} ({job['document']}) to {target}: failed after {job['attempts']} attempt(s): "
                f"{job.get('reason_text') or job.get('reason')}.")
    m = AgentMessage.create(ts=time.time(), sender="fax", recipient=recipient, kind="fax", text=text)
    return {"id": m.id, "ts": m.ts, "from": "fax", "to": recipient, "kind": "fax", "text": text, "ticket": None,
            "acked_at": None, "acked_by": None, "fax_job": job["id"]}


class FaxQueue:
    """The daemon component that sends queued outgoing faxes."""

    def __init__(self, store: Any, journal: Any, calls: Any, devices: Any, engine: Any, sender: FaxSender,
                 library: FaxLibrary, spool: Path, settings: dict | None = None, metrics: Any = None):
        self.store, self.journal, self.calls, self.devices, self.engine = store, journal, calls, devices, engine
        self.sender, self.library, self.spool, self.metrics = sender, library, spool, metrics
        self.settings = {**DEFAULTS, **(settings or {})}
        self.active: dict[int, asyncio.Task] = {}
        self.reserved: set[str] = set()     # trunks picked for an attempt that has not dialled yet
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self.waiting: dict[str, int] = {}   # reason -> queued jobs waiting for it (status())
        self.same_call = SameCall(self)     # fax-back on the caller's own call (samecall.py)
        self.last_error: str | None = None

    # ---- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Jobs a stop or crash left dialling/sending go back to the queue; then the loop starts."""
        for job in await self.store.read(jobs.interrupted_jobs):
            await self._move(job, FaxStatus.QUEUED, FaxReason.SHUTDOWN, next_attempt_at=self.engine.now())
        for job in await self.store.read(jobs.same_call_left):   # their call is gone: no second chance
            await self._move(job, FaxStatus.FAILED, FaxReason.SHUTDOWN, detail="the call ended when the box stopped")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fax-queue")

    async def stop(self) -> None:
        """Stop picking jobs; attempts in progress end (their jobs go back to queued, reason shutdown)."""
        await cancel_and_wait(self._task)
        self._task = None
        for task in list(self.active.values()):
            await cancel_and_wait(task)

    def status(self) -> dict:
        """Sender, why nothing is sent (if so), attempts in progress, queued jobs by waiting reason."""
        why = self.sender.unavailable()
        out = {"state": "up" if why is None else "no_engine", "sender": self.sender.name, "active": len(self.active),
               "waiting": dict(self.waiting)}
        if why is not None:
            out["reason"] = why
        if self.last_error:
            out["error"] = self.last_error
        return out

    def poke(self) -> None:
        """A job was queued: look now instead of at the next poll."""
        self._wake.set()

    # ---- the loop -------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self.pass_once()
                self.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = str(exc)
                log.exception("event=fax_queue_failed")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings["poll_seconds"])
            except asyncio.TimeoutError:
                pass

    async def pass_once(self) -> int:
        """One look at the queue: fail what is past its kill time, start what is due and can go; returns how
        many attempts started."""
        now = self.engine.now()
        started = 0
        waiting: dict[FaxReason, list[int]] = {}
        why_not = self.sender.unavailable()
        for job in await self.store.read(jobs.queued_jobs):
            if job["id"] in self.active:
                continue
            if now > job["created_at"] + self.settings["kill_hours"] * 3600:
                last = job.get("reason")
                await self._move(job, FaxStatus.FAILED, FaxReason.KILL_TIME,
                                 detail=f"last: {last}" if last else "")
                self._count_failure(FaxReason.KILL_TIME)
                continue
            if why_not is not None:
                waiting.setdefault(FaxReason.NO_ENGINE, []).append(job["id"])
                continue
            if (job["next_attempt_at"] or 0) > now:
                continue
            if len(self.active) >= self.settings["concurrent"]:
                break
            doc = await self.store.read(self.library.get, job["document"])
            if doc is None:
                await self._move(job, FaxStatus.FAILED, FaxReason.DOCUMENT_MISSING)
                self._count_failure(FaxReason.DOCUMENT_MISSING)
                continue
            if getattr(self.sender, "dials", False):   # a fax modem dials on its own line: no trunk
                if len(self.active) >= getattr(self.sender, "lines", 1):
                    break
                self._start(job, None, doc.path)
                started += 1
                continue
            trunk = self.free_trunk()
            if trunk is None:
                waiting.setdefault(FaxReason.NO_TRUNK, []).append(job["id"])
                continue
            self._start(job, trunk, doc.path)
            started += 1
        for reason, ids in waiting.items():
            await self.store.write(jobs.note_waiting, ids, reason)
        self.waiting = {r.value: len(ids) for r, ids in waiting.items()}
        return started

    def free_trunk(self) -> Line | None:
        """A free trunk that can dial, carries fax as audio, and that the sender takes."""
        for name, line in self.devices.lines.items():
            if line.kind is not LineKind.TRUNK or not line.up or name in self.devices.busy \
                    or name in self.reserved or name in self.devices.seized or not bridgeable(line) \
                    or line.traits.fax is not FaxMode.AUDIO or not line.traits.dial_out:
                continue
            if self.sender.accepts(self._probe(line)):
                return line
        return None

    def _probe(self, line: Line) -> FaxLine:
        loop = asyncio.get_running_loop()
        return FaxLine("", line.name, "", self._simulated(line), self.engine, None, asyncio.Queue(),
                       loop.create_future())

    def _simulated(self, line: Line) -> bool:
        from hotline.drivers.sim.card import SimCard
        return isinstance(self.devices.device_of(line.name), SimCard)

    def _start(self, job: dict, trunk: Line | None, source: Path) -> None:
        if trunk is not None:   # taken now: the attempt marks it busy only after a store write, and the next job of
            self.reserved.add(trunk.name)   # this pass (or the next pass) must not pick it meanwhile
        task = asyncio.get_running_loop().create_task(self.attempt(job, trunk, source), name=f"fax-{job['id']}")
        self.active[job["id"]] = task
        task.add_done_callback(lambda t, jid=job["id"]: self.active.pop(jid, None))
        if trunk is not None:   # (a task cancelled before it ran never reaches attempt's finally)
            task.add_done_callback(lambda t, name=trunk.name: self.reserved.discard(name))

    # ---- one attempt ------------------------------------------------------------------------------------
    async def attempt(self, job: dict, trunk: Line | None, source: Path) -> dict | None:
        """Dial (or, with no trunk, let a dialling sender dial), hand over the call, then sent / retry later /
        failed."""
        attempt = job["attempts"] + 1
        refused: Transmission | None = None
        try:
            moved = await self._move(job, FaxStatus.DIALLING, None, attempts=attempt)
            if moved is None:
                return None
            job = moved
            ready = getattr(self.sender, "ready", None)
            if trunk is not None and ready is not None:   # converted before dialling: T.30 starts at the answer
                try:
                    refused = await ready(FaxDocument(job["document"], source, jobs.job_dir(self.spool, job["id"])))
                except asyncio.CancelledError:
                    await self._move(job, FaxStatus.QUEUED, FaxReason.SHUTDOWN, next_attempt_at=self.engine.now())
                    raise
            if refused is not None:                       # a document that cannot be faxed: no call is made
                call_uuid, work = None, None
            elif trunk is None:
                call_uuid = str(uuidlib.uuid4())
                work = self._modem_call(job, source, call_uuid)
            else:
                call = self._new_call(job, trunk)   # the trunk is the call's (busy) from here
                call_uuid, work = call.uuid, self._call(call, job, source)
        finally:
            if trunk is not None:
                self.reserved.discard(trunk.name)
        if refused is not None:
            return await self._after(job, refused, None)
        task = asyncio.get_running_loop().create_task(work, name=f"fax-call-{call_uuid}")
        if trunk is not None:
            call.task = task
        try:
            result: Transmission = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():  # the box is stopping: end the call, the job goes back to the queue
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await self._move(job, FaxStatus.QUEUED, FaxReason.SHUTDOWN, next_attempt_at=self.engine.now())
            raise
        except Exception as exc:
            log.exception("event=fax_attempt_failed job=%s", job["id"])
            result = Transmission(0, None, FaxReason.ERROR, str(exc)[:200])
        return await self._after(job, result, call_uuid)

    def _new_call(self, job: dict, trunk: Line) -> Call:
        m = self.calls
        call = Call(uuid=str(uuidlib.uuid4()), direction=DIRECTION, caller_id="", dialed=job["number"],
                    offered_at=self.engine.now())
        call.caller = Leg(uuid=call.uuid, line=trunk, role="caller", call=call)
        call.legs.append(call.caller)
        call.vars["fax_job"] = job["id"]
        m.journal.emit("call.offered", call.uuid, trunk.name, ts=call.offered_at, direction=DIRECTION,
                       caller_id="", dialed=job["number"], fax_job=job["id"])
        m.calls[call.uuid] = call
        m.owner[trunk.name] = call.caller
        m.devices.busy.add(trunk.name)
        return call

    async def _call(self, call: Call, job: dict, source: Path) -> Transmission:
        """The fax call's own task: dial, wait for the answer, transmit; always ends the call (and its CDR)."""
        m, leg = self.calls, call.caller
        cause, result = HangupCause.NORMAL, Transmission(0, None, FaxReason.NO_ANSWER)
        progress = [0, None]  # pages confirmed, pages total: kept if the far end hangs up mid-document
        try:
            m.journal.emit("call.dialing", call.uuid, leg.line.name, ts=self.engine.now(), number=job["number"])
            leg.line.dial(job["number"])
            try:
                await self.engine.wait_for(asyncio.shield(leg.answered), self.settings["dial_timeout"])
            except asyncio.TimeoutError:
                cause = HangupCause.NO_ANSWER
                return result
            except LegGone as exc:
                cause = exc.cause
                reason = FaxReason.BUSY if exc.cause is HangupCause.BUSY else FaxReason.NO_ANSWER
                return Transmission(0, None, reason, exc.cause.value)
            call.state, call.answered_at = CallState.ANSWERED, self.engine.now()
            channel = m.open_media(leg)
            m.journal.emit("call.answered", call.uuid, leg.line.name, ts=call.answered_at, fax_job=job["id"])
            ced = self._answer_tone(channel, job, call.uuid)
            pages = await asyncio.get_running_loop().run_in_executor(None, page_count, source)
            progress[1] = pages
            await self._move(job, FaxStatus.SENDING, None, pages=0, pages_total=pages)
            line = FaxLine(call.uuid, leg.line.name, job["number"], self._simulated(leg.line), self.engine,
                           channel, leg.digits, leg.gone)
            document = FaxDocument(job["document"], source, jobs.job_dir(self.spool, job["id"]), pages)
            on_page = self._on_page(job, call.uuid, progress)
            try:
                result = await self.engine.wait_for(self.sender.transmit(line, document, on_page),
                                                    self.settings["transmit_timeout"])
            except asyncio.TimeoutError:
                result = Transmission(0, pages, FaxReason.TRANSMISSION, "transmission took too long")
            finally:
                line.release()
            if leg.gone.done() and not result.ok and result.reason is None:
                result = Transmission(result.pages_sent, result.pages_total, FaxReason.TRANSMISSION, "far end hung up")
            if result.reason is FaxReason.NOT_A_FAX and ced:   # its answer tone says a fax machine did answer
                result = Transmission(result.pages_sent, result.pages_total, FaxReason.TRANSMISSION,
                                      f"a fax machine answered (answer tone), then: {result.detail}", result.retry)
            return result
        except asyncio.CancelledError:  # the far end hung up (the call manager cancels the call's task) or stop
            cause = call.cause or HangupCause.NORMAL
            if cause is HangupCause.SHUTDOWN:
                reason = FaxReason.SHUTDOWN
            elif call.answered_at is None:  # busy or gone while it rang
                reason = FaxReason.BUSY if cause is HangupCause.BUSY else FaxReason.NO_ANSWER
            else:
                reason = FaxReason.TRANSMISSION
            return Transmission(progress[0], progress[1], reason,
                                "far end hung up" if leg.gone.done() and call.answered_at else cause.value)
        finally:
            await m.finish(call, cause)

    def _answer_tone(self, channel: Any, job: dict, call_uuid: str) -> list[bool]:
        """Look for the far machine's answer tone (CED, 2100 Hz) on the answered call: when heard (in the first
        ANSWER_TONE_SECONDS) a fax machine answered, journaled as ``fax.answered`` (T.30 already runs: the sender
        started at the answer). Returns a list that holds True once it was heard."""
        heard: list[bool] = []
        until = self.engine.now() + ANSWER_TONE_SECONDS

        def tone(kind: ToneKind) -> None:       # in the tick
            if heard or self.engine.now() > until:
                return
            heard.append(True)
            self.engine.unwatch_tones(channel)
            self.journal.emit("fax.answered", call_uuid, ts=self.engine.now(), id=job["id"], direction="out",
                              tone="ced")
            log.info("event=fax_answer_tone job=%s call=%s", job["id"], call_uuid)
        self.engine.watch_tones(channel, tone, (ToneKind.FAX_CED,))
        return heard

    def _on_page(self, job: dict, call_uuid: str, progress: list) -> Callable[[int, int | None], None]:
        """The sender's page callback: progress kept, the job's pages written, journaled and counted."""
        def on_page(sent: int, total: int | None) -> None:
            progress[0] = sent
            if total:   # the sender's count of the converted document beats the library's guess
                progress[1] = total
            self.store.submit_write(lambda: jobs.transition(job["id"], FaxStatus.SENDING, pages=sent))
            self.journal.emit("fax.page", call_uuid, ts=self.engine.now(), id=job["id"], page=sent, pages=total)
            if self.metrics is not None:
                self.metrics.fax_pages.labels("out").inc()
        return on_page

    async def _modem_call(self, job: dict, source: Path, call_uuid: str) -> Transmission:
        """An attempt through a sender that dials on its own line (a class 2 fax modem): the job is sending once
        a fax machine answered; bounded by transmit_timeout like a trunk's call."""
        pages = await asyncio.get_running_loop().run_in_executor(None, page_count, source)
        progress: list = [0, pages]
        document = FaxDocument(job["document"], source, jobs.job_dir(self.spool, job["id"]), pages)

        def on_connected(total: int) -> None:
            progress[1] = total
            asyncio.get_running_loop().create_task(self._move(job, FaxStatus.SENDING, None, pages=0,
                                                              pages_total=total))
        try:
            return await self.engine.wait_for(self.sender.send(job["number"], document,
                                                               self._on_page(job, call_uuid, progress), on_connected),
                                              self.settings["transmit_timeout"] + self.settings["dial_timeout"])
        except asyncio.TimeoutError:
            return Transmission(progress[0], progress[1], FaxReason.TRANSMISSION, "transmission took too long")

    async def _after(self, job: dict, result: Transmission, call_uuid: str | None) -> dict | None:
        """Sent; or back to the queue with a backoff; or failed (no more attempts, past kill time, not retryable)."""
        fields = {"pages": result.pages_sent, "pages_total": result.pages_total}
        if not job.get("call_uuid"):  # a fax asked for on a call keeps that call (the fax call has fax_job=<id>)
            fields["call_uuid"] = call_uuid
        if result.ok:
            return await self._move(job, FaxStatus.SENT, None, **fields)
        reason = result.reason or FaxReason.TRANSMISSION
        self._count_failure(reason)
        attempts = job["attempts"]
        delay = min(self.settings["retry_max_seconds"], self.settings["retry_seconds"] * 2 ** (attempts - 1))
        next_at = self.engine.now() + delay
        kill_at = job["created_at"] + self.settings["kill_hours"] * 3600
        detail = result.detail[:200]
        if reason not in RETRYABLE or not result.retry:
            return await self._move(job, FaxStatus.FAILED, reason, detail=detail, **fields)
        if attempts >= self.settings["max_attempts"]:
            return await self._move(job, FaxStatus.FAILED, FaxReason.ATTEMPTS,
                                    detail=f"last: {reason.value}" + (f" ({detail})" if detail else ""), **fields)
        if next_at > kill_at:
            return await self._move(job, FaxStatus.FAILED, FaxReason.KILL_TIME,
                                    detail=f"last: {reason.value}" + (f" ({detail})" if detail else ""), **fields)
        return await self._move(job, FaxStatus.QUEUED, reason, next_attempt_at=next_at, detail=detail, **fields)

    def _count_failure(self, reason: FaxReason) -> None:
        if self.metrics is not None:
            self.metrics.fax_failures.labels("out", reason.value).inc()

    async def _move(self, job: dict, status: FaxStatus, reason: FaxReason | None, **fields: Any) -> dict | None:
        """Change a job's status (allowed moves only), journal and count it; a final status of a job someone
        asked for sends them a message."""
        now = self.engine.now()
        requester = job.get("requested_by")
        final = status in jobs.FINAL

        def write() -> tuple[dict | None, dict | None]:
            row = jobs.transition(job["id"], status, reason=reason, now=now, **fields)
            note = notify_row(requester, row) if row is not None and final and requester else None
            return row, note
        row, note = await self.store.write(write)
        if row is None:
            log.warning("event=fax_transition_refused job=%s to=%s", job["id"], status.value)
            return None
        self.journal.emit(f"fax.{status.value}", row.get("call_uuid"), ts=now, id=row["id"], direction="out",
                          document=row["document"], number=row["number"], attempt=row["attempts"],
                          pages=row["pages"], pages_total=row["pages_total"], reason=row["reason"],
                          requested_by=requester, next_attempt_at=row["next_attempt_at"],
                          **({"message": note} if note else {}))
        if self.metrics is not None:
            self.metrics.fax_transitions.labels("out", status.value).inc()
        log.info("event=fax_%s job=%s number=%s attempt=%s pages=%s reason=%s", status.value, row["id"],
                 row["number"], row["attempts"], row["pages"], row["reason"])
        return row
