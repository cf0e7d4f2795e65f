"""Incoming faxes: a caller's fax calling tone (CNG) turns the call into a fax receive, stored for the inbox.

The media tick (or a modem's ``DLE c``) reports CNG on an inbound call's line; when the route and the flow allow it
(``fax_detect``, on by default) and the call is still in its IVR (not with an agent), the flow stops and the call
task runs an answering spandsp T.30 terminal (``fax/session.py``) on the call's audio, on the fax threads, fed from
the tick like the sender. The job row (direction ``in``) goes receiving -> received | failed with the reason; the
TIFF is kept as received in the job's folder with ``document.pdf`` and ``page-<n>.png`` beside it (made off the
loop), each change journaled (``fax.receiving``, ``fax.page``, ``fax.received``, ``fax.failed``) and counted. After
a fax is stored as received, every coroutine in ``on_received`` is awaited with the job id (mail, tickets).
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

from hotline.drivers.base import FaxMode
from hotline.drivers.common import spandsp
from hotline.fax.incoming import publish_pages
from hotline.fax.pool import FaxPool
from hotline.fax.session import ALL_MODEMS, FaxDirection, FaxResult, FaxSession, FaxSettings
from hotline.fax.tools import DocumentError

from ..calls.linecaps import bridgeable, traits
from ..calls.manager import Call, CallState
from ..store.service_models import FaxStatus
from . import jobs
from .engine import SenderSettings, SessionPlayer
from .jobs import RECEIVED_TIFF, FaxReason

log = logging.getLogger("hotline.fax")

__all__ = ["FaxReceiver", "RECEIVED_TIFF"]

_NOT_A_FAX = (spandsp.T30_ERR_T0_EXPIRED, spandsp.T30_ERR_T1_EXPIRED)


class FaxReceiver:
    """The daemon component that takes incoming faxes on calls whose caller's machine sent CNG."""

    def __init__(self, store: Any, journal: Any, calls: Any, engine: Any, spool: Path, settings: dict,
                 metrics: Any = None, pool: Callable[[], FaxPool] | None = None):
        self.store, self.journal, self.calls, self.engine = store, journal, calls, engine
        self.spool, self.metrics = spool, metrics
        self.settings = SenderSettings.from_settings(settings)
        self._pool_of = pool
        self._pool: FaxPool | None = None
        self.on_received: list[Callable[[int], Awaitable[None]]] = []
        self.receiving: dict[str, int] = {}     # call uuid -> job id, while a fax comes in
        self.received = 0
        self.failed = 0
        self._delivering: set[asyncio.Task] = set()
        from .modemrx import ModemFaxIn
        self.modem = ModemFaxIn(self)
        # how a line takes a fax, by its fax mode: the box's own T.30 on audio, the modem's receive on fax modems
        # (drivers/modem/faxreceive.py picks the function for the modem's class: 2, 2.0, and 1 when registered)
        self.receivers: dict[FaxMode, Callable[[Call], Awaitable[None]]] = {
            FaxMode.AUDIO: self.receive, FaxMode.CLASS2: self.modem.receive, FaxMode.CLASS1: self.modem.receive}

    @property
    def pool(self) -> FaxPool:
        """The fax threads (the sender's when it has them, else our own, started at the first fax)."""
        if self._pool_of is not None:
            return self._pool_of()
        if self._pool is None:
            self._pool = FaxPool(threads=self.settings.threads, name="fax-in")
        return self._pool

    def unavailable(self) -> str | None:
        """Why no fax can be received (libspandsp missing), or None."""
        try:
            spandsp.library()
        except spandsp.SpandspError as exc:
            return f"no fax engine: {exc}"
        return None

    # ---- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen for CNG; faxes a stop or crash left ``receiving`` are failed (reason shutdown)."""
        now = self.engine.now()
        left = await self.store.write(_fail_interrupted, now)
        for row in left:
            self._journal_final(row)
        self.calls.on_fax_tone = self.detected
        self.calls.on_fax_line = self.modem.receive

    async def stop(self) -> None:
        """Stop listening (calls still receiving end with the calls), wait for deliveries, free our threads."""
        if self.calls.on_fax_tone == self.detected:
            self.calls.on_fax_tone = None
        if self.calls.on_fax_line == self.modem.receive:
            self.calls.on_fax_line = None
        if self._delivering:
            await asyncio.wait(set(self._delivering), timeout=10)
        if self._pool is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._pool.close)
            self._pool = None

    def status(self) -> dict:
        """Faxes coming in now and since the start."""
        why = self.unavailable()
        out = {"state": "up" if why is None else "no_engine", "receiving": len(self.receiving),
               "received": self.received, "failed": self.failed}
        if why is not None:
            out["reason"] = why
        return out

    # ---- detection -------------------------------------------------------------------------------------
    def detected(self, call: Call) -> None:
        """CNG on the caller's line: take the call over for a fax receive when allowed (logged either way)."""
        why = self._why_not(call)
        line = call.caller.line
        detail = getattr(line, "fax_unavailable", "") if why == "modem_no_fax_class" else ""
        mode = traits(line).fax
        extra = {"fax_class": getattr(line, "fax_class", None)} if mode in (FaxMode.CLASS1, FaxMode.CLASS2) else {}
        self.journal.emit("fax.detected", call.uuid, ts=self.engine.now(), taken=why is None, reason=why,
                          **({"detail": detail} if detail else {}), **extra)
        log.info("event=fax_detected call=%s taken=%s reason=%s detail=%r", call.uuid, why is None, why, detail)
        if why is None and not self.calls.take_over(call, self.receivers[mode]):
            log.info("event=fax_not_taken call=%s reason=call_ending", call.uuid)

    def _why_not(self, call: Call) -> str | None:
        if call.uuid in self.receiving or call.takeover is not None:
            return "already_receiving"
        if call.direction != "inbound" or call.state is not CallState.ANSWERED:
            return "not_in_ivr"           # with an agent (bridged), ringing or ending: left alone
        if not call.vars.get("fax_detect", True):
            return "fax_detect_off"
        line = call.caller.line
        mode = traits(line).fax
        if mode in (FaxMode.CLASS1, FaxMode.CLASS2) and hasattr(line, "receive_fax"):
            return None                   # a fax modem line: the modem takes the fax on the same call
        if getattr(line, "fax_unavailable", ""):
            return "modem_no_fax_class"   # a voice modem without a fax class (or fax: none): the call stays voice
        if mode is not FaxMode.AUDIO or not bridgeable(line) or call.caller.channel is None:
            return "line_not_audio_fax"   # half duplex, or no audio to run T.30 on
        if self.unavailable() is not None:
            return "no_engine"
        return None

    # ---- one fax -----------------------------------------------------------------------------------------
    async def receive(self, call: Call) -> None:
        """The call's task after CNG: run the receiving T.30 session until it ends or the caller hangs up, then
        store what arrived (received, or failed with the reason)."""
        leg = call.caller
        channel = leg.channel
        if leg.gone.done() or channel is None:
            return
        self.engine.unwatch_tones(channel)
        now = self.engine.now()
        write = asyncio.ensure_future(self.store.write(self._create, call.caller_id or None, call.uuid, now))
        try:
            job = await asyncio.shield(write)
        except asyncio.CancelledError:   # hung up while the row was written: the row says so, never "receiving"
            job = await write
            await self._move(job, FaxStatus.FAILED, FaxReason.TRANSMISSION, pages=0, detail="the caller hung up")
            self.failed += 1
            raise
        self.receiving[call.uuid] = job["id"]
        self.journal.emit("fax.receiving", call.uuid, ts=now, id=job["id"], direction="in",
                          caller_id=job["caller_id"])
        self._count("receiving")
        folder = jobs.job_dir(self.spool, job["id"])
        loop = asyncio.get_running_loop()

        def page_done(pages: int) -> None:        # fax thread -> event loop
            loop.call_soon_threadsafe(self._page, call.uuid, job["id"], pages)
        s = self.settings
        session = FaxSession(FaxSettings(FaxDirection.RECEIVE, folder / RECEIVED_TIFF, calling=False,
                                         modems=ALL_MODEMS, ecm=s.ecm, ident=s.ident, time_limit=s.session_seconds),
                             name=f"fax-in-{call.uuid[:8]}", on_page=page_done)
        capture = self.engine.start_capture(channel)
        player = SessionPlayer(session, capture)
        self.engine.pacers.append(player.caught_up)
        try:
            self.pool.start(session)
            self.engine.play(channel, player)
            result_future = asyncio.wrap_future(session.future)
            try:
                await asyncio.wait({result_future, leg.gone}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:   # the caller hung up (the manager cancels the task) or the box stops
                pass
            if not result_future.done():
                session.cancel("the caller hung up" if leg.gone.done() else "the call ended")
            result = await asyncio.shield(result_future)
            log.info("event=fax_receive_ended call=%s outcome=%s pages=%s rate=%s ecm=%s remote=%r reason=%r seconds=%.1f lost=%s",
                     call.uuid, result.outcome.value, result.pages, result.bit_rate, result.ecm, result.remote_ident,
                     result.reason, result.seconds, session.rx.stats.overflows)
            if not result.ok:   # what T.30 last said, for the technician (the whole log stays in the result)
                log.warning("event=fax_receive_log call=%s lines=%r", call.uuid, result.log[-12:])
            await asyncio.shield(self._store(call, job, result))
        finally:
            self.engine.pacers.remove(player.caught_up)
            self.engine.stop_capture(capture)
            self.receiving.pop(call.uuid, None)

    def _create(self, caller_id: str | None, call_uuid: str, now: float) -> dict:
        """The job row and its folder (DB thread)."""
        job = jobs.create_in(caller_id, call_uuid, now)
        jobs.job_dir(self.spool, job["id"]).mkdir(parents=True, exist_ok=True)
        return job

    def _page(self, call_uuid: str, job_id: int, pages: int) -> None:
        self.store.submit_write(lambda: jobs.transition(job_id, FaxStatus.RECEIVING, pages=pages))
        self.journal.emit("fax.page", call_uuid, ts=self.engine.now(), id=job_id, direction="in", page=pages)
        if self.metrics is not None:
            self.metrics.fax_pages.labels("in").inc()

    async def _store(self, call: Call, job: dict, result: FaxResult) -> None:
        """Received (the pages with their PDF and images) or failed with the reason; then the delivery hooks."""
        complete = result.ok or result.code == spandsp.T30_ERR_OK
        not_a_fax = result.code in _NOT_A_FAX and not result.remote_ident
        await self.store_outcome(job, complete, result.pages, result.tiff, result.reason, result.remote_ident,
                                 not_a_fax)

    async def store_outcome(self, job: dict, complete: bool, pages: int, tiff: Path | None, reason: str,
                            remote_ident: str, not_a_fax: bool) -> None:
        """Store a receive's outcome, whoever ran T.30 (the box, or a fax modem): received with the pages' PDF and
        images when pages came, else failed with the reason (not_a_fax: nothing answered as a fax machine)."""
        detail = "; ".join(([] if complete else [reason]) +
                           ([f"sender's fax ident: {remote_ident}"] if remote_ident else []))[:200]
        row: dict | None = None
        if pages > 0 and tiff is not None:
            folder = jobs.job_dir(self.spool, job["id"])
            try:
                pages = await asyncio.get_running_loop().run_in_executor(None, publish_pages, tiff, folder)
                row = await self._move(job, FaxStatus.RECEIVED, None, pages=pages, pages_total=pages, detail=detail)
            except (DocumentError, OSError) as exc:
                log.error("event=fax_render_failed job=%s error=%r", job["id"], str(exc))
                row = await self._move(job, FaxStatus.FAILED, FaxReason.ERROR, pages=pages,
                                       detail=f"the received fax could not be rendered: {exc}"[:200])
        else:
            why = FaxReason.NOT_A_FAX if not_a_fax else FaxReason.TRANSMISSION
            row = await self._move(job, FaxStatus.FAILED, why, pages=0, detail=detail or reason[:200])
        if row is None:
            return
        if row["status"] == FaxStatus.RECEIVED.value:
            self.received += 1
            task = asyncio.get_running_loop().create_task(self._deliver(row["id"]), name=f"fax-deliver-{row['id']}")
            self._delivering.add(task)
            task.add_done_callback(self._delivering.discard)
        else:
            self.failed += 1

    async def _deliver(self, job_id: int) -> None:
        """Every delivery hook, one after the other; one that fails is logged and the others still run."""
        for hook in list(self.on_received):
            try:
                await hook(job_id)
            except Exception:
                log.exception("event=fax_delivery_failed job=%s hook=%s", job_id, getattr(hook, "__name__", hook))

    async def _move(self, job: dict, status: FaxStatus, reason: FaxReason | None, **fields: Any) -> dict | None:
        now = self.engine.now()
        row = await self.store.write(lambda: jobs.transition(job["id"], status, reason=reason, now=now, **fields))
        if row is None:
            log.warning("event=fax_transition_refused job=%s to=%s", job["id"], status.value)
            return None
        self._journal_final(row)
        return row

    def _journal_final(self, row: dict) -> None:
        self.journal.emit(f"fax.{row['status']}", row.get("call_uuid"), ts=row["updated_at"], id=row["id"],
                          direction="in", caller_id=row["caller_id"], number=row["number"], pages=row["pages"],
                          reason=row["reason"], detail=row["detail"] or None)
        self._count(row["status"], row["reason"])
        log.info("event=fax_%s job=%s direction=in caller=%s pages=%s reason=%s", row["status"], row["id"],
                 row["caller_id"], row["pages"], row["reason"])

    def _count(self, status: str, reason: str | None = None) -> None:
        if self.metrics is None:
            return
        self.metrics.fax_transitions.labels("in", status).inc()
        if status == FaxStatus.FAILED.value and reason:
            self.metrics.fax_failures.labels("in", reason).inc()


def _fail_interrupted(now: float) -> list[dict]:
    """Incoming faxes a stop or crash cut off (still ``receiving``) become failed, reason shutdown (DB thread)."""
    from ..store.service_models import FaxJob
    rows = FaxJob.select(FaxJob.id).where(FaxJob.direction == "in", FaxJob.status == FaxStatus.RECEIVING.value)
    out = []
    for r in rows:
        row = jobs.transition(r.id, FaxStatus.FAILED, reason=FaxReason.SHUTDOWN, now=now,
                              detail="the box stopped while the fax came in")
        if row is not None:
            out.append(row)
    return out
