"""Fax jobs in both directions: reasons, the allowed status changes, and the rows (database-thread functions).

A job only moves along TRANSITIONS; every change is written here with its reason, and the queue journals it
(``fax.<status>`` events) and counts it. Pages and document files of a job live under ``<spool>/fax/jobs/<id>/``
(``document.pdf``, ``page-<n>.png``): the document conversion writes them, the panel and API serve them.
"""
from __future__ import annotations

import enum
import re
import time
from pathlib import Path
from typing import Any

from playhouse.shortcuts import model_to_dict

from ..errors import HotlineError
from ..store.service_models import FaxDirection, FaxJob, FaxStatus


class FaxError(HotlineError):
    """A fax request names something malformed (a document id, a number) or a change that is not allowed."""


class FaxReason(enum.Enum):
    """Why a job failed, or why a queued job is waiting (shown with the status; a metrics label)."""

    NO_ENGINE = "no_engine"                # no fax engine is plugged in: nothing can be sent
    NO_TRUNK = "no_trunk"                  # every line that can dial out is busy or down
    BUSY = "busy"                          # the number was busy
    NO_ANSWER = "no_answer"                # nobody answered
    NOT_A_FAX = "not_a_fax"                # answered, but no fax machine answered the handshake
    TRANSMISSION = "transmission"          # the line or the far machine broke off during pages
    DOCUMENT_MISSING = "document_missing"  # the document is not in the fax library
    KILL_TIME = "kill_time"                # not sent before the job's kill time
    ATTEMPTS = "attempts"                  # every attempt used
    NEVER_SENT = "never_sent"              # a row from a version that had no fax sender
    CANCELLED = "cancelled"                # a person cancelled it
    SHUTDOWN = "shutdown"                  # the box stopped during the attempt (retried at the next start)
    ERROR = "error"                        # something broke (logged)


REASON_TEXT = {
    FaxReason.NO_ENGINE: "no fax engine: nothing can send a fax on this box yet",
    FaxReason.NO_TRUNK: "no free line that can dial out",
    FaxReason.BUSY: "the number was busy",
    FaxReason.NO_ANSWER: "no answer",
    FaxReason.NOT_A_FAX: "no fax machine answered",
    FaxReason.TRANSMISSION: "the transmission broke off",
    FaxReason.DOCUMENT_MISSING: "the document is not in the fax library",
    FaxReason.KILL_TIME: "not sent before its kill time",
    FaxReason.ATTEMPTS: "every attempt failed",
    FaxReason.NEVER_SENT: "never sent: no fax sender in this version",
    FaxReason.CANCELLED: "cancelled",
    FaxReason.SHUTDOWN: "the box stopped during the attempt",
    FaxReason.ERROR: "internal error (see the log)",
}

# status -> statuses it may move to
TRANSITIONS: dict[FaxStatus, frozenset[FaxStatus]] = {
    FaxStatus.QUEUED: frozenset({FaxStatus.DIALLING, FaxStatus.SENDING, FaxStatus.FAILED, FaxStatus.QUEUED}),
    FaxStatus.DIALLING: frozenset({FaxStatus.SENDING, FaxStatus.QUEUED, FaxStatus.FAILED}),
    FaxStatus.SENDING: frozenset({FaxStatus.SENDING, FaxStatus.SENT, FaxStatus.QUEUED, FaxStatus.FAILED}),
    FaxStatus.RECEIVING: frozenset({FaxStatus.RECEIVING, FaxStatus.RECEIVED, FaxStatus.FAILED}),
    FaxStatus.SENT: frozenset(), FaxStatus.RECEIVED: frozenset(), FaxStatus.FAILED: frozenset(),
}
FINAL = (FaxStatus.SENT, FaxStatus.RECEIVED, FaxStatus.FAILED)
RECEIVED_TIFF = "received.tif"   # a received fax as the sender's machine sent it, in the job's folder
DOCUMENT_RE = re.compile(r"[A-Za-z0-9][\w.\-]{0,63}")


def job_dir(spool: Path, job_id: int) -> Path:
    """Where a job's files live: document.pdf and page-<n>.png (written by the document conversion)."""
    return spool / "fax" / "jobs" / str(int(job_id))


def check_document(document: str) -> str:
    """A document id as flows and the library name it; FaxError otherwise."""
    if not isinstance(document, str) or not DOCUMENT_RE.fullmatch(document):
        raise FaxError(f"fax: document id {document!r}: use 1-64 letters, digits, '.', '-' or '_'")
    return document


def job_dict(row: FaxJob) -> dict[str, Any]:
    """A job as the API, the panel and the journal see it (reason with its text)."""
    d = model_to_dict(row)
    reason = d.get("reason")
    try:
        d["reason_text"] = REASON_TEXT[FaxReason(reason)] if reason else None
    except ValueError:
        d["reason_text"] = reason
    return d


def create_out(document: str, number: str | None, *, call_uuid: str | None = None, caller_id: str | None = None,
               requested_by: str | None = None, status: FaxStatus = FaxStatus.QUEUED,
               reason: FaxReason | None = None, detail: str = "",
               now: float | None = None) -> dict[str, Any]:
    """A new outgoing job: to ``number`` (already normalised by the caller: lookups.normalize_number), or back
    on call ``call_uuid`` when number is None. ``status`` may be FAILED with a reason when it is known at once
    that it cannot go (the caller was told)."""
    check_document(document)
    key = number or None
    if key is not None and not re.fullmatch(r"[0-9]{3,20}", key):
        raise FaxError(f"fax: number {number!r}: 3 to 20 digits")
    if key is None and not call_uuid:
        raise FaxError("fax: give a fax number or the call to send the fax back on")
    now = time.time() if now is None else now
    final = status in FINAL
    row = FaxJob.create(direction=FaxDirection.OUT.value, call_uuid=call_uuid, document=document, number=key,
                        caller_id=caller_id, status=status.value, reason=reason.value if reason else None,
                        attempts=0, requested_by=requested_by, created_at=now, updated_at=now,
                        finished_at=now if final else None, next_attempt_at=None if final else now,
                        detail=detail)
    return job_dict(row)


def create_in(caller_id: str | None, call_uuid: str | None, now: float | None = None) -> dict[str, Any]:
    """A fax coming in on a call (status receiving)."""
    now = time.time() if now is None else now
    row = FaxJob.create(direction=FaxDirection.IN.value, call_uuid=call_uuid, document="", caller_id=caller_id,
                        status=FaxStatus.RECEIVING.value, attempts=1, created_at=now, updated_at=now,
                        started_at=now)
    return job_dict(row)


def transition(job_id: int, status: FaxStatus, *, reason: FaxReason | None = None, now: float | None = None,
               **fields: Any) -> dict[str, Any] | None:
    """Move a job to ``status`` if TRANSITIONS allows it (None when it does not, or the job is gone); other
    columns (pages, attempts, next_attempt_at, ...) change with it. A final status stamps finished_at."""
    row = FaxJob.get_or_none(FaxJob.id == job_id)
    if row is None:
        return None
    current = FaxStatus(row.status)
    if status not in TRANSITIONS[current]:
        return None
    now = time.time() if now is None else now
    values: dict[str, Any] = {"status": status.value, "updated_at": now,
                              "reason": reason.value if reason is not None else None, **fields}
    if status in FINAL:
        values.setdefault("finished_at", now)
        values.setdefault("next_attempt_at", None)
    if status in (FaxStatus.DIALLING, FaxStatus.RECEIVING) and row.started_at is None:
        values.setdefault("started_at", now)
    FaxJob.update(**values).where(FaxJob.id == job_id, FaxJob.status == current.value).execute()
    return job_dict(FaxJob.get_by_id(job_id))


def note_waiting(job_ids: list[int], reason: FaxReason, now: float | None = None) -> int:
    """Queued jobs that cannot go now say why (status stays queued); returns how many changed."""
    if not job_ids:
        return 0
    now = time.time() if now is None else now
    return (FaxJob.update(reason=reason.value, updated_at=now)
            .where(FaxJob.id.in_(job_ids), FaxJob.status == FaxStatus.QUEUED.value,
                   (FaxJob.reason.is_null()) | (FaxJob.reason != reason.value)).execute())


def queued_jobs(limit: int = 200) -> list[dict[str, Any]]:
    """Outgoing jobs waiting to be dialled (to a number), oldest due first."""
    q = (FaxJob.select().where(FaxJob.direction == FaxDirection.OUT.value, FaxJob.status == FaxStatus.QUEUED.value,
                               FaxJob.number.is_null(False))
         .order_by(FaxJob.next_attempt_at.asc(nulls="FIRST"), FaxJob.id).limit(limit))
    return [job_dict(r) for r in q]


def job_row(job_id: int) -> dict[str, Any] | None:
    """One job by id, or None (DB thread)."""
    row = FaxJob.get_or_none(FaxJob.id == job_id)
    return job_dict(row) if row is not None else None


def same_call_left() -> list[dict[str, Any]]:
    """Fax-back jobs for a call (no number) that a stop or crash left unfinished: their call is gone."""
    q = FaxJob.select().where(FaxJob.direction == FaxDirection.OUT.value, FaxJob.number.is_null(True),
                              FaxJob.status.in_([FaxStatus.QUEUED.value, FaxStatus.DIALLING.value,
                                                 FaxStatus.SENDING.value]))
    return [job_dict(r) for r in q]


def interrupted_jobs() -> list[dict[str, Any]]:
    """Outgoing jobs to a number a stop or crash left dialling or sending (they go back to the queue at start)."""
    q = FaxJob.select().where(FaxJob.direction == FaxDirection.OUT.value, FaxJob.number.is_null(False),
                              FaxJob.status.in_([FaxStatus.DIALLING.value, FaxStatus.SENDING.value]))
    return [job_dict(r) for r in q]


def counts() -> dict[str, int]:
    """Jobs by status (both directions), for metrics."""
    import peewee
    return {status: int(n) for status, n in
            FaxJob.select(FaxJob.status, peewee.fn.COUNT(FaxJob.id)).group_by(FaxJob.status).tuples()}
