"""What happens to a received fax once it is stored: filed with the customer whose number sent it and their open
ticket (a new ticket when ``fax.inbox.new_ticket``), and mailed with its PDF to ``fax.inbox.mail_to``.

The receive path calls ``FaxDelivery.deliver(job_id)`` (or ``deliver_received_fax``) for a fax stored as
``received`` with ``jobs/<id>/document.pdf``. Filing is one transaction and happens once (``filed_at``); the mail
goes through the outbox (daemon/mail/outbox.py), which retries it with backoff: the fax stays in the inbox
whatever the mail server does, and the reason a mail has not gone is shown with the fax. A fax received while
the box stopped before it was filed is filed at the next start.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import tornado.locale

from ..mail.outbox import Mail, MailKind, Outbox
from ..store.service_models import (Customer, FaxDirection, FaxJob, FaxStatus, Ticket, TicketHistory,
                                    TicketStatus)
from .jobs import job_dir

log = logging.getLogger("hotline.fax")
OPEN_TICKET = tuple(s.value for s in TicketStatus if s not in (TicketStatus.RESOLVED, TicketStatus.CLOSED))
REFILE_DAYS = 7          # at start, received faxes this recent that were never filed are filed


@dataclass(frozen=True)
class InboxSettings:
    """``fax.inbox`` of hotline.yaml, with the box's language and time zone."""

    mail_to: tuple[str, ...] = ()
    language: str = "zh_CN"
    new_ticket: bool = False
    ticket_type: str = "other"
    timezone: str = "Asia/Shanghai"

    @classmethod
    def from_config(cls, cfg: Any) -> "InboxSettings":
        """From the loaded configuration."""
        inbox = cfg["fax"]["inbox"]
        return cls(tuple(inbox["mail_to"]), inbox["language"] or cfg["locale"]["language"], inbox["new_ticket"],
                   inbox["ticket_type"], cfg["locale"]["timezone"])


def received_pdf(spool: Path, job_id: int) -> Path:
    """Where a received fax's PDF is (the receive path writes it; the panel serves it)."""
    return job_dir(spool, job_id) / "document.pdf"


# ---- filing (database thread) -----------------------------------------------------------------------------------
def file_fax(job_id: int, new_ticket: bool, ticket_type: str = "other", now: float | None = None) -> dict | None:
    """File a received fax once: the customer its caller id matches, their newest open ticket (or the caller
    number's, without a customer), a new ticket when none is open and ``new_ticket``; a history entry on the
    ticket links the fax. Returns {id, customer_id, customer, ticket_id, ticket_no, opened, already}; None when
    the job is not a received fax."""
    from ..service import lookups
    now = time.time() if now is None else now
    with FaxJob._meta.database.atomic():
        job = FaxJob.get_or_none(FaxJob.id == job_id)
        if job is None or job.direction != FaxDirection.IN.value or job.status != FaxStatus.RECEIVED.value:
            return None
        if job.filed_at is not None:
            return _filed(job, opened=False, already=True)
        number = lookups.normalize_number(job.caller_id) if job.caller_id else None
        customer = lookups.customer_by_caller_id(job.caller_id) if number else None
        customer_id = customer["customer_id"] if customer else None
        q = Ticket.select().where(Ticket.status.in_(OPEN_TICKET))
        if customer_id is not None:
            q = q.where(Ticket.customer == customer_id)
        elif number:
            q = q.where(Ticket.caller_number == number)
        ticket = q.order_by(Ticket.updated_at.desc(), Ticket.id.desc()).first() if (customer_id or number) else None
        opened = False
        who = job.caller_id or "unknown"
        pages = job.pages or 0
        if ticket is None and new_ticket:
            made = lookups.create_ticket(ticket_type, f"Fax from {who}, {pages} pages (fax #{job.id})",
                                         caller_number=number, customer_id=customer_id, call_uuid=job.call_uuid,
                                         actor="fax", now=now)
            ticket = Ticket.get(Ticket.ticket_no == made["ticket_no"])
            opened = True
        if ticket is not None:
            TicketHistory.create(ticket=ticket.id, ts=now, actor="fax", action="fax",
                                 note=f"fax #{job.id} from {who}, {pages} pages: /api/v1/faxes/{job.id}/document.pdf")
            Ticket.update(updated_at=now).where(Ticket.id == ticket.id).execute()
        FaxJob.update(customer_id=customer_id, ticket_id=ticket.id if ticket else None, filed_at=now).where(
            FaxJob.id == job.id).execute()
        return _filed(FaxJob.get_by_id(job.id), opened=opened, already=False)


def _filed(job: FaxJob, opened: bool, already: bool) -> dict:
    customer = Customer.get_or_none(Customer.id == job.customer_id) if job.customer_id else None
    ticket = Ticket.get_or_none(Ticket.id == job.ticket_id) if job.ticket_id else None
    return {"id": job.id, "caller_id": job.caller_id, "pages": job.pages, "created_at": job.created_at,
            "finished_at": job.finished_at, "customer_id": job.customer_id,
            "customer": customer.name if customer else None, "ticket_id": job.ticket_id,
            "ticket_no": ticket.ticket_no if ticket else None, "opened": opened, "already": already}


def unfiled_received(since: float) -> list[int]:
    """Received faxes never filed (the box stopped first), newest last."""
    q = (FaxJob.select(FaxJob.id).where(FaxJob.direction == FaxDirection.IN.value,
                                        FaxJob.status == FaxStatus.RECEIVED.value, FaxJob.filed_at.is_null(),
                                        FaxJob.created_at >= since).order_by(FaxJob.id))
    return [r.id for r in q]


def filed_fax(job_id: int) -> dict | None:
    """A received fax as filed (for its mail)."""
    job = FaxJob.get_or_none(FaxJob.id == job_id)
    return _filed(job, opened=False, already=True) if job is not None else None


# ---- the mail -------------------------------------------------------------------------------------------------
def fax_mail(fax: dict, pdf: Path, language: str, timezone: str) -> Mail:
    """The mail of a received fax, in the box's language, with its PDF attached (blocking: reads the PDF)."""
    t = tornado.locale.get(language).translate
    caller = fax["caller_id"] or t("unknown caller")
    pages = fax["pages"] or 0
    at = dt.datetime.fromtimestamp(fax["finished_at"] or fax["created_at"], ZoneInfo(timezone))
    when = at.strftime("%Y-%m-%d %H:%M:%S")
    lines = [t("A fax was received."), "",
             t("From: %(caller)s") % {"caller": caller},
             t("Pages: %(pages)s") % {"pages": pages},
             t("Received: %(time)s") % {"time": f"{when} ({timezone})"}]
    if fax["customer"]:
        lines.append(t("Customer: %(customer)s") % {"customer": fax["customer"]})
    if fax["ticket_no"]:
        lines.append(t("Ticket: %(ticket)s") % {"ticket": fax["ticket_no"]})
    lines += ["", t("The fax is attached as a PDF; it is also in the panel's fax inbox (fax #%(id)s).")
              % {"id": fax["id"]}]
    subject = t("Fax from %(caller)s, %(pages)s pages") % {"caller": caller, "pages": pages}
    data = pdf.read_bytes()
    stamp = at.strftime("%Y%m%d-%H%M%S")
    return Mail(subject, "\n".join(lines) + "\n", [(f"fax-{stamp}-{fax['id']}.pdf", "application/pdf", data)])


async def deliver_received_fax(job_id: int, *, store: Any, settings: InboxSettings, outbox: Outbox | None,
                               journal: Any = None) -> dict | None:
    """File a received fax with its customer and ticket and queue its mail; the filing (None: not a received
    fax). The mail itself goes out from the outbox, retried until the server takes it."""
    filed = await store.write(file_fax, job_id, settings.new_ticket, settings.ticket_type, time.time())
    if filed is None:
        log.warning("event=fax_not_delivered job=%s reason=not_a_received_fax", job_id)
        return None
    if not filed["already"]:
        if journal is not None:
            journal.emit("fax.filed", None, id=job_id, direction=FaxDirection.IN.value,
                         customer_id=filed["customer_id"], ticket_no=filed["ticket_no"], opened=filed["opened"])
        log.info("event=fax_filed job=%s customer=%s ticket=%s opened=%s", job_id, filed["customer_id"],
                 filed["ticket_no"], filed["opened"])
    if settings.mail_to and outbox is not None:
        await outbox.submit(MailKind.FAX, job_id, settings.mail_to)
    return filed


class FaxDelivery:
    """Files and mails received faxes: ``deliver`` is the receive path's callback; files what a stop left."""

    def __init__(self, store: Any, outbox: Outbox | None, settings: InboxSettings, spool: Path, journal: Any = None):
        self.store = store
        self.outbox = outbox
        self.settings = settings
        self.spool = Path(spool)
        self.journal = journal
        self.delivered = 0
        if outbox is not None:
            outbox.register(MailKind.FAX, self.build_mail)

    async def deliver(self, job_id: int) -> dict | None:
        """File and mail one received fax (never raises: a failure is logged and the fax stays in the inbox)."""
        try:
            filed = await deliver_received_fax(job_id, store=self.store, settings=self.settings,
                                               outbox=self.outbox, journal=self.journal)
        except Exception:
            log.exception("event=fax_delivery_failed job=%s", job_id)
            return None
        self.delivered += filed is not None
        return filed

    async def build_mail(self, job_id: int) -> Mail | None:
        """The mail of fax ``job_id`` (None when the fax is gone)."""
        fax = await self.store.read(filed_fax, job_id)
        if fax is None:
            return None
        return await asyncio.get_running_loop().run_in_executor(
            None, fax_mail, fax, received_pdf(self.spool, job_id), self.settings.language, self.settings.timezone)

    async def start(self) -> None:
        """File the received faxes a stop left unfiled."""
        for job_id in await self.store.read(unfiled_received, time.time() - REFILE_DAYS * 86400):
            await self.deliver(job_id)

    async def stop(self) -> None:
        """Nothing to stop (the outbox is its own component)."""

    def status(self) -> dict:
        """Faxes delivered since start, and where they are mailed."""
        return {"state": "up", "delivered": self.delivered, "mail_to": list(self.settings.mail_to),
                "new_ticket": self.settings.new_ticket}
