"""The mail outbox: mails about a row (a received fax, a voicemail) are queued in ``mail_outbox``, built from that
row when they are sent, and retried with backoff when the SMTP server does not take them.

A queued mail survives a restart (the rows are the queue). Every try is journaled (``mail.sent``,
``mail.failed`` with the error and whether another try comes); the last error stays on the row, so the panel and
the API show why a mail has not gone. After ``mail.max_attempts`` tries the mail is marked failed; what it is
about (the fax, the message) stays where it is.
"""
from __future__ import annotations

import asyncio
import enum
import logging
import smtplib
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

from playhouse.shortcuts import model_to_dict

from ..store.models import MailOutbox, MailStatus
from .smtp import send_mail

log = logging.getLogger("hotline.mail")
IDLE_SECONDS = 60.0     # look at the queue at least this often (a row written by another process)


class MailKind(enum.Enum):
    """What a queued mail is about (the row ``ref`` points to)."""

    FAX = "fax"                # fax_jobs.id, a received fax
    VOICEMAIL = "voicemail"    # voicemails.id


@dataclass(frozen=True)
class Mail:
    """One message, built when it is sent."""

    subject: str
    body: str
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)   # (filename, MIME type, bytes)


Builder = Callable[[int], Awaitable["Mail | None"]]   # None: the row is gone (the mail is dropped as failed)


# ---- rows (database thread) ---------------------------------------------------------------------------------
def enqueue(kind: MailKind, ref: int, to: Sequence[str], now: float) -> dict[str, Any]:
    """Queue a mail about ``ref`` (due at once); the existing row when one about it is already queued or sent."""
    row = (MailOutbox.select().where(MailOutbox.kind == kind.value, MailOutbox.ref == ref,
                                     MailOutbox.status != MailStatus.FAILED.value).first())
    if row is None:
        row = MailOutbox.create(kind=kind.value, ref=int(ref), recipients=", ".join(to),
                                status=MailStatus.PENDING.value, attempts=0, created_at=now, updated_at=now,
                                next_attempt_at=now)
    return model_to_dict(row)


def due_rows(now: float, limit: int = 20) -> list[dict[str, Any]]:
    """Pending mails whose time has come, oldest first."""
    q = (MailOutbox.select().where(MailOutbox.status == MailStatus.PENDING.value,
                                   MailOutbox.next_attempt_at <= now)
         .order_by(MailOutbox.next_attempt_at, MailOutbox.id).limit(limit))
    return [model_to_dict(r) for r in q]


def next_due() -> float | None:
    """When the next pending mail is due (None: nothing pending)."""
    row = (MailOutbox.select(MailOutbox.next_attempt_at).where(MailOutbox.status == MailStatus.PENDING.value)
           .order_by(MailOutbox.next_attempt_at).first())
    return row.next_attempt_at if row is not None else None


def record_try(row_id: int, error: str | None, now: float, retry_at: float | None) -> dict[str, Any]:
    """Write one try's outcome: sent (error None), pending again until ``retry_at``, or failed (retry_at None)."""
    row = MailOutbox.get_by_id(row_id)
    values: dict[str, Any] = {"attempts": row.attempts + 1, "updated_at": now, "error": error}
    if error is None:
        values.update(status=MailStatus.SENT.value, sent_at=now, next_attempt_at=None)
    elif retry_at is not None:
        values.update(status=MailStatus.PENDING.value, next_attempt_at=retry_at)
    else:
        values.update(status=MailStatus.FAILED.value, next_attempt_at=None)
    MailOutbox.update(**values).where(MailOutbox.id == row_id).execute()
    return model_to_dict(MailOutbox.get_by_id(row_id))


def mail_state(kind: MailKind, refs: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The latest queued mail of each ref: {ref: {status, attempts, error, next_attempt_at, sent_at, to}}."""
    out: dict[int, dict[str, Any]] = {}
    if not refs:
        return out
    q = MailOutbox.select().where(MailOutbox.kind == kind.value, MailOutbox.ref.in_(list(refs))).order_by(MailOutbox.id)
    for r in q:
        out[r.ref] = {"status": r.status, "attempts": r.attempts, "error": r.error, "to": r.recipients,
                      "next_attempt_at": r.next_attempt_at, "sent_at": r.sent_at}
    return out


# ---- the sender -------------------------------------------------------------------------------------------------
def backoff(attempts: int, first: float, most: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: first, doubling, at most ``most``."""
    return min(most, first * 2 ** max(0, attempts - 1))


class Outbox:
    """Sends queued mails through the ``mail:`` SMTP server, one at a time off the event loop; retries failures."""

    def __init__(self, store: Any, mail: dict, journal: Any = None, clock: Callable[[], float] = time.time,
                 send: Callable[..., None] = send_mail):
        self.store = store
        self.mail = mail
        self.journal = journal
        self.clock = clock
        self.send = send                       # blocking; runs in a worker thread
        self.builders: dict[MailKind, Builder] = {}
        self.task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self.sent = 0
        self.failed = 0
        self.last_error: str | None = None

    @property
    def enabled(self) -> bool:
        """Whether an SMTP server is configured."""
        return bool(self.mail.get("smtp_host"))

    def register(self, kind: MailKind, builder: Builder) -> None:
        """Say how to build the mails of one kind."""
        self.builders[kind] = builder

    async def submit(self, kind: MailKind, ref: int, to: Sequence[str]) -> dict[str, Any]:
        """Queue a mail about ``ref`` to ``to`` and wake the sender."""
        row = await self.store.write(enqueue, kind, ref, list(to), self.clock())
        self._wake.set()
        return row

    async def start(self) -> None:
        """Begin sending (nothing runs without an SMTP server: queued rows wait for one)."""
        if self.enabled and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop sending (a mail being sent finishes in its thread; its row is written at the next start)."""
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None

    def status(self) -> dict:
        """Up (sending, or nothing to send with: no SMTP server), mails sent and failed tries since start, the last
        error."""
        running = self.task is not None and not self.task.done()
        return {"state": "up" if running or not self.enabled else "down", "enabled": self.enabled, "running": running,
                "sent": self.sent, "failed_tries": self.failed, "last_error": self.last_error}

    async def _run(self) -> None:
        while True:
            try:
                await self.run_due()
                nxt = await self.store.read(next_due)
            except Exception:
                log.exception("event=mail_outbox_failed")
                nxt = None
            wait = IDLE_SECONDS if nxt is None else min(IDLE_SECONDS, max(0.05, nxt - self.clock()))
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def run_due(self) -> int:
        """Try every due mail once; how many were tried."""
        rows = await self.store.read(due_rows, self.clock())
        for row in rows:
            await self.try_one(row)
        return len(rows)

    async def try_one(self, row: dict[str, Any]) -> dict[str, Any]:
        """Build and send one queued mail, and write the outcome (with the next try's time when it failed)."""
        kind = MailKind(row["kind"])
        to = [a.strip() for a in row["recipients"].split(",") if a.strip()]
        error: str | None = None
        final = False
        try:
            builder = self.builders.get(kind)
            message = await builder(row["ref"]) if builder is not None else None
            if message is None:
                error, final = f"the {kind.value} {row['ref']} to mail is gone", True
            else:
                await asyncio.get_running_loop().run_in_executor(
                    None, self.send, self.mail, to, message.subject, message.body, message.attachments)
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:   # a bug building the mail: recorded on it like any failure, tries bounded
            log.exception("event=mail_build_failed kind=%s ref=%s", kind.value, row["ref"])
            error = f"internal error ({type(exc).__name__}; see the log)"
        now = self.clock()
        attempts = row["attempts"] + 1
        retry_at = None
        if error is not None and not final and attempts < self.mail["max_attempts"]:
            retry_at = now + backoff(attempts, self.mail["retry_seconds"], self.mail["retry_max_seconds"])
        out = await self.store.write(record_try, row["id"], error, now, retry_at)
        data = {"mail": row["id"], "kind": kind.value, "ref": row["ref"], "attempt": attempts, "to": len(to)}
        if error is None:
            self.sent += 1
            log.info("event=mail_sent kind=%s ref=%s attempt=%d", kind.value, row["ref"], attempts)
            self._emit("mail.sent", **data)
        else:
            self.failed += 1
            self.last_error = error
            log.warning("event=mail_failed kind=%s ref=%s attempt=%d retry_at=%s error=%r", kind.value, row["ref"],
                        attempts, retry_at, error)
            self._emit("mail.failed", **data, error=error, next_attempt_at=retry_at)
        return out

    def _emit(self, event: str, **data: Any) -> None:
        if self.journal is not None:
            self.journal.emit(event, None, **data)
