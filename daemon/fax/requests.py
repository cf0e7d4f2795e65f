"""Asking for a fax (IVR fax-back, the desk, the knowledge base, the API): one honest path for all of them.

A request becomes a job whose status tells the truth at once: ``queued`` when it will really be sent (a
sender is plugged in and the document exists), or ``failed`` with the reason when it cannot be (the caller is
told "fax is not available on this line"). Requests from the panel stay ``queued`` without an engine so an
engine plugged in later sends them; the job shows reason ``no_engine`` meanwhile (the queue marks it).
"""
from __future__ import annotations

from typing import Any

from ..store.service_models import FaxStatus
from . import jobs
from .jobs import FaxReason


def why_not(fax: Any, document: str, same_call: bool) -> FaxReason | None:
    """Why a fax of ``document`` cannot be sent now (None: it can be queued), file work: off the event loop."""
    if fax is not None and fax.library.get(document) is None:
        return FaxReason.DOCUMENT_MISSING
    if fax is None or fax.sender.unavailable() is not None:
        return FaxReason.NO_ENGINE
    if same_call and getattr(fax, "same_call", None) is None:
        return FaxReason.NO_ENGINE   # sending back on the caller's own call needs the queue's same-call sender
    return None


async def request(fax: Any, store: Any, journal: Any, clock: Any, document: str, number: str | None, *,
                  call_uuid: str | None = None, caller_id: str | None = None, requested_by: str | None = None,
                  keep_if_no_engine: bool = False) -> dict:
    """Create the job (queued, or failed with the reason), journal ``fax.created`` and wake the queue.
    ``keep_if_no_engine``: a panel request without an engine stays queued (an engine added later sends it)."""
    from ..service.lookups import normalize_number
    jobs.check_document(document)
    same_call = not number
    if number:
        key = normalize_number(number)
        if not key:
            raise jobs.FaxError(f"fax: number {number!r} has no digits")
        number = key
    reason = await store.read(why_not, fax, document, same_call)
    if reason is None and same_call and fax.same_call.unavailable(call_uuid) is not None:
        reason = FaxReason.NO_ENGINE    # no audio fax on this caller's line: they hear that it is not available
    if reason is FaxReason.DOCUMENT_MISSING and keep_if_no_engine:  # a person asked: tell them, keep no row
        raise jobs.FaxError(f"document: {document!r} is not in the fax library")
    if reason is FaxReason.NO_ENGINE and keep_if_no_engine and not same_call:
        reason_kept, status = FaxReason.NO_ENGINE, FaxStatus.QUEUED
    elif reason is None:
        reason_kept, status = None, FaxStatus.QUEUED
    else:
        reason_kept, status = reason, FaxStatus.FAILED
    now = clock()
    row = await store.write(lambda: jobs.create_out(document, number or None, call_uuid=call_uuid,
                                                    caller_id=caller_id, requested_by=requested_by, status=status,
                                                    reason=reason_kept, now=now))
    journal.emit("fax.created", call_uuid, ts=now, id=row["id"], direction="out", document=document,
                 number=row["number"], status=row["status"], reason=row["reason"], requested_by=requested_by)
    if status is FaxStatus.FAILED:
        journal.emit("fax.failed", call_uuid, ts=now, id=row["id"], direction="out", document=document,
                     number=row["number"], attempt=0, pages=None, pages_total=None, reason=row["reason"],
                     requested_by=requested_by)
    if fax is not None:
        if fax.metrics is not None:
            fax.metrics.fax_transitions.labels("out", status.value).inc()
            if status is FaxStatus.FAILED:
                fax.metrics.fax_failures.labels("out", row["reason"]).inc()
        if status is FaxStatus.QUEUED:
            fax.poke()
    return row
