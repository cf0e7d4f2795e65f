"""Incoming faxes on fax modem lines: the modem runs T.30 (class 2/2.0; class 1 when its driver registers), the box
asks the line to take the call as fax and stores what came into the same inbox as software-received faxes.

Two ways in: a ``mode: fax`` line's every call (CallManager.on_fax_line runs ``receive`` instead of a flow), and a
voice modem line whose caller's machine sent CNG (the modem's ``DLE c``; FaxReceiver.detected takes the call over
with ``receive``). The line's thread leaves voice mode, sends AT+FCLASS=2 (or 2.0) and ATA and takes the pages;
the job row, journal (``fax.receiving``, ``fax.page``, ``fax.received`` / ``fax.failed``), counters, PDF/PNG
pages and delivery (filing, mail) are the receiver's, as for a fax the box decoded itself."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from hotline.drivers.modem.faxreceive import FaxReceiveRequest, FaxReceiveResult

from ..calls.manager import Call, CallState
from ..store.service_models import FaxStatus
from . import jobs
from .jobs import RECEIVED_TIFF, FaxReason

if TYPE_CHECKING:
    from .receiver import FaxReceiver

log = logging.getLogger("hotline.fax")

__all__ = ["ModemFaxIn"]


class ModemFaxIn:
    """Runs one fax receive on a modem line for the FaxReceiver (its rows, journal and delivery)."""

    def __init__(self, receiver: "FaxReceiver"):
        self.rx = receiver

    async def receive(self, call: Call) -> None:
        """The call's task: the line's modem takes the fax (answering a ringing call, or switching a voice call),
        then the outcome is stored as received or failed with the reason."""
        rx, leg = self.rx, call.caller
        line = leg.line
        if leg.gone.done() or not hasattr(line, "receive_fax"):
            return
        if leg.channel is not None:
            rx.engine.unwatch_tones(leg.channel)
        now = rx.engine.now()
        write = asyncio.ensure_future(rx.store.write(rx._create, call.caller_id or None, call.uuid, now))
        try:
            job = await asyncio.shield(write)
        except asyncio.CancelledError:
            job = await write
            await rx._move(job, FaxStatus.FAILED, FaxReason.TRANSMISSION, pages=0, detail="the caller hung up")
            rx.failed += 1
            raise
        rx.receiving[call.uuid] = job["id"]
        fclass = getattr(line, "fax_class", None)
        rx.journal.emit("fax.receiving", call.uuid, ts=now, id=job["id"], direction="in", caller_id=job["caller_id"],
                        line=line.name, fax_class=fclass, switched=call.state is CallState.ANSWERED)
        rx._count("receiving")
        loop = asyncio.get_running_loop()

        def page_done(pages: int) -> None:        # modem thread -> event loop
            loop.call_soon_threadsafe(rx._page, call.uuid, job["id"], pages)
        s = rx.settings
        request = FaxReceiveRequest(jobs.job_dir(rx.spool, job["id"]) / RECEIVED_TIFF, ident=s.ident,
                                    page_timeout=min(180.0, float(s.session_seconds)), on_page=page_done)
        if call.state is CallState.RINGING:       # a fax line: the modem's ATA answers the call
            rx.calls.answered_by_line(call)
        line.receive_fax(request)
        done = asyncio.wrap_future(request.future)
        try:
            try:
                await asyncio.wait({done, leg.gone}, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:         # the box stops or the call is ended
                pass
            if not done.done():
                request.abort.set()                # the modem's thread sends +FK and ATH, then answers
            try:
                result: FaxReceiveResult = await asyncio.wait_for(asyncio.shield(done), 30)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                result = FaxReceiveResult(fclass or "", reason="the fax modem did not finish")
            log.info("event=fax_receive_ended call=%s line=%s class=%s pages=%s hangup=%s remote=%r reason=%r",
                     call.uuid, line.name, result.fclass, result.pages, result.hangup, result.remote_ident,
                     result.reason)
            if not result.ok:
                log.warning("event=fax_receive_log call=%s lines=%r", call.uuid, result.transcript[-12:])
            await asyncio.shield(rx.store_outcome(job, result.ok, result.pages, result.tiff, result.reason,
                                                  result.remote_ident, not_a_fax=not result.connected))
        finally:
            rx.receiving.pop(call.uuid, None)
