"""Fax-back on the caller's own call: the box becomes the calling, transmitting fax machine on the line the caller
rang in on (the flow told them to press their fax machine's Start).

The job (queued by ``requests.request`` with no number) goes sending -> sent | failed with the reason, journaled and
counted like the outbound queue's jobs, never retried (the call is the only chance). The configured sender's
``transmit`` runs on the call's audio: the spandsp sender sends CNG and waits for the caller's machine to answer
for T.30's T1 (35 s, at least the 30 s the caller needs to reach the Start button), then the pages. A caller who
hangs up ends it as failed, with the pages their machine had confirmed.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from hotline.drivers.base import FaxMode

from ..calls.linecaps import bridgeable, traits
from ..store.service_models import FaxStatus
from . import jobs
from .jobs import FaxReason
from .library import page_count
from .sender import FaxDocument, FaxLine, Transmission

log = logging.getLogger("hotline.fax")

__all__ = ["SameCall"]


class SameCall:
    """Sends queued same-call jobs on their call, for the outbound queue that owns the jobs."""

    def __init__(self, queue: Any):
        self.queue = queue

    def unavailable(self, call_uuid: str | None) -> str | None:
        """Why a fax cannot go back on this call (no engine, a line without fax as audio), or None."""
        q = self.queue
        why = q.sender.unavailable()
        if why is not None:
            return why
        call = q.calls.calls.get(call_uuid or "")
        if call is None or call.caller is None or call.caller.channel is None:
            return "the call has no audio to send a fax on"
        line = call.caller.line
        if traits(line).fax is not FaxMode.AUDIO or not bridgeable(line) or not q.sender.accepts(self._line(call)):
            return f"line {line.name} cannot carry a fax as audio"
        return None

    def _line(self, call: Any) -> FaxLine:
        q, leg = self.queue, call.caller
        return FaxLine(call.uuid, leg.line.name, "", q._simulated(leg.line), q.engine, leg.channel, leg.digits,
                       leg.gone)

    async def send(self, job_id: int, call_uuid: str) -> dict | None:
        """Send job ``job_id`` on call ``call_uuid`` now; the job's final row (sent, or failed with the reason)."""
        q = self.queue
        job = await q.store.read(jobs.job_row, job_id)
        if job is None:
            return None
        why = self.unavailable(call_uuid)
        if why is not None:
            return await self._end(job, Transmission(0, None, FaxReason.NO_ENGINE, why[:200], retry=False))
        doc = await q.store.read(q.library.get, job["document"])
        if doc is None:
            return await self._end(job, Transmission(0, None, FaxReason.DOCUMENT_MISSING, job["document"]))
        call = q.calls.calls[call_uuid]
        pages = await asyncio.get_running_loop().run_in_executor(None, page_count, doc.path)
        job = await q._move(job, FaxStatus.SENDING, None, attempts=1, pages=0, pages_total=pages)
        if job is None:
            return None
        progress = [0, pages]
        q.engine.unwatch_tones(call.caller.channel)   # from now on the line is ours to fax on

        def on_page(sent: int, total: int | None) -> None:
            progress[0], progress[1] = sent, total or progress[1]
            q.store.submit_write(lambda: jobs.transition(job_id, FaxStatus.SENDING, pages=sent))
            q.journal.emit("fax.page", call_uuid, ts=q.engine.now(), id=job_id, page=sent, pages=total)
            if q.metrics is not None:
                q.metrics.fax_pages.labels("out").inc()
        line = self._line(call)
        document = FaxDocument(job["document"], doc.path, jobs.job_dir(q.spool, job_id), pages)
        # its own task: a caller who hangs up cancels the flow, but the sender still sees the line go and reports what
        # T.30 achieved (a fax machine hangs up right after the last page's confirmation and DCN: that fax was sent)
        task = asyncio.ensure_future(q.engine.wait_for(q.sender.transmit(line, document, on_page),
                                                       q.settings["transmit_timeout"]))
        try:
            result = await asyncio.shield(task)
        except asyncio.TimeoutError:
            result = Transmission(progress[0], progress[1], FaxReason.TRANSMISSION, "transmission took too long")
        except asyncio.CancelledError:     # the caller hung up (the flow is cancelled) or the box stops
            if not line.gone.done():
                task.cancel()
            done = await asyncio.gather(task, return_exceptions=True)
            result = done[0] if isinstance(done[0], Transmission) else Transmission(
                progress[0], progress[1], FaxReason.TRANSMISSION, "the caller hung up")
            await asyncio.shield(self._end(job, result))
            raise
        finally:
            line.release()
        if line.gone.done() and not result.ok and result.reason is None:
            result = Transmission(result.pages_sent, result.pages_total, FaxReason.TRANSMISSION, "the caller hung up")
        return await self._end(job, result)

    async def _end(self, job: dict, result: Transmission) -> dict | None:
        """Sent, or failed with the reason (never retried)."""
        q = self.queue
        fields = {"pages": result.pages_sent, "pages_total": result.pages_total}
        if result.ok:
            return await q._move(job, FaxStatus.SENT, None, **fields)
        reason = result.reason or FaxReason.TRANSMISSION
        q._count_failure(reason)
        return await q._move(job, FaxStatus.FAILED, reason, detail=result.detail[:200], **fields)
