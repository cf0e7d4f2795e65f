"""Service tickets: list with allow-listed filters and sort, detail and edit with history, create (also in one
click from the agent desk's screen pop), escalation to a supervisor with a memo that pops up on their screen."""
from __future__ import annotations

import re
import time
from typing import Any

import peewee
import tornado.web

from hotline.daemon.box import audit
from hotline.daemon.box import audit, localtime
from hotline.daemon.store.models import User
from hotline.daemon.store.service_models import (AgentMessage, Customer, Ticket, TicketHistory, TicketPriority,
                                                 TicketStatus, TicketType)

from ..i18n import N_
from .inputs import BadInput, id_param, page_param
from .base import BaseHandler, PageHandler
from .desk import STAFF_ROLES, desk_of, message_dict, staff_users
from .ticket_terms import PRIORITIES, STATUSES, TYPES

ROLES = ("agent", "supervisor")
PAGE_SIZE = 50
ACTIONS = {"opened": N_("opened"), "changed": N_("changed"), "noted": N_("note"), "escalated": N_("escalated"),
           "assigned": N_("assigned"), "resolved": N_("resolved"), "fax": N_("fax received")}
STATUS_BADGE = {"open": "busy", "assigned": "busy", "in_progress": "busy", "escalated": "bad", "resolved": "ok",
                "closed": ""}
PRIORITY_BADGE = {"low": "", "normal": "", "high": "warn", "urgent": "bad"}
assert set(TYPES) == {t.value for t in TicketType} and set(STATUSES) == {s.value for s in TicketStatus} \
    and set(PRIORITIES) == {p.value for p in TicketPriority}
PRIORITY_RANK = peewee.Case(Ticket.priority, (("urgent", 4), ("high", 3), ("normal", 2), ("low", 1)), 0)
SORTS = {"created": Ticket.created_at, "updated": Ticket.updated_at, "due": Ticket.due_at,
         "priority": PRIORITY_RANK, "status": Ticket.status, "ticket": Ticket.ticket_no, "type": Ticket.type,
         "owner": Ticket.owner}
FILTERS = ("status", "type", "priority", "owner", "customer", "sort", "page")
EDITABLE = ("type", "status", "priority", "owner", "due_at", "summary", "result")
CREATE_FIELDS = ("type", "priority", "owner", "due_at", "summary", "caller_number", "customer_id", "call_uuid",
                 "queue")
UUID = re.compile(r"[0-9a-f-]{36}")


FIELDS = {"type": N_("Type"), "status": N_("Status"), "priority": N_("Priority"), "owner": N_("Owner"),
          "due_at": N_("Due"), "summary": N_("Summary"), "result": N_("Resolution"), "note": N_("Note"),
          "caller_number": N_("Caller number"), "customer_id": N_("Customer"), "call_uuid": N_("Call id"),
          "queue": N_("Queue"), "memo": N_("Memo"), "to": N_("Escalate to"), "sort": N_("Sort"), "page": N_("Page"),
          "customer": N_("Customer")}


class TicketError(Exception):
    """A ticket request cannot be carried out: a message template naming the field (English in the API, the
    user's language on pages); ``status`` is the HTTP status."""

    def __init__(self, template: str, status: int = 400, **params: Any):
        self.template, self.params, self.status = template, params, status
        super().__init__(template % params)

    def shown(self, locale: Any) -> str:
        """The message in the user's language, with the field's label."""
        params = dict(self.params)
        if params.get("field") in FIELDS:
            params["field"] = locale.translate(FIELDS[params["field"]])
        return locale.translate(self.template) % params


# ---- validation (no database) -------------------------------------------------------------------------

def parse_due(value: Any, tz: str = "UTC") -> float | None:
    """Due time from Unix seconds, "YYYY-MM-DDTHH:MM[:SS]" / "YYYY-MM-DD HH:MM" (the box's zone ``tz``) or
    empty."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 946684800 <= value <= 4102444800:
            raise TicketError(N_("%(field)s: a time between 2000 and 2100"), field="due_at")
        return float(value)
    if isinstance(value, str):
        try:
            return localtime.parse(value, tz)
        except ValueError:
            pass
    raise TicketError(N_("%(field)s: use YYYY-MM-DD HH:MM"), field="due_at")


def _text(body: dict, field: str, limit: int) -> str:
    value = body.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TicketError(N_("%(field)s: must be text"), field=field)
    if len(value) > limit:
        raise TicketError(N_("%(field)s: at most %(n)d characters"), field=field, n=limit)
    return value.strip()


def _choice(body: dict, field: str, choices: dict) -> str:
    value = body.get(field)
    if not isinstance(value, str) or value not in choices:
        raise TicketError(N_("%(field)s: must be one of %(choices)s"), field=field, choices=", ".join(choices))
    return value


def check_fields(body: dict, allowed: tuple[str, ...], tz: str = "UTC") -> dict:
    """The allow-listed fields of a request, checked; TicketError (400) names the first bad one."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise TicketError(N_("unknown field %(field)s"), field=repr(unknown[0]))
    out: dict[str, Any] = {}
    for field, choices in (("type", TYPES), ("status", STATUSES), ("priority", PRIORITIES)):
        if field in body:
            out[field] = _choice(body, field, choices)
    if "owner" in body:
        owner = body["owner"]
        if owner is not None and not isinstance(owner, str):
            raise TicketError(N_("%(field)s: a user name or empty"), field="owner")
        out["owner"] = (owner or "").strip() or None
    if "due_at" in body:
        out["due_at"] = parse_due(body["due_at"], tz)
    for field, limit in (("summary", 2000), ("result", 2000), ("note", 2000)):
        if field in body:
            out[field] = _text(body, field, limit)
    if "caller_number" in body and body["caller_number"] not in (None, ""):
        raw = body["caller_number"]
        if not isinstance(raw, str) or not re.fullmatch(r"\+?[0-9][0-9 \-]{1,30}", raw.strip()):
            raise TicketError(N_("%(field)s: digits only (3 to 20)"), field="caller_number")
        out["caller_number"] = raw.strip()
    if "customer_id" in body and body["customer_id"] not in (None, ""):
        cid = body["customer_id"]
        if isinstance(cid, bool) or not isinstance(cid, (int, str)) or not str(cid).isdigit():
            raise TicketError(N_("%(field)s: a customer's number"), field="customer_id")
        out["customer_id"] = id_param(str(cid), "customer_id")
    if "call_uuid" in body and body["call_uuid"] not in (None, ""):
        if not isinstance(body["call_uuid"], str) or not UUID.fullmatch(body["call_uuid"]):
            raise TicketError(N_("%(field)s: a call's uuid"), field="call_uuid")
        out["call_uuid"] = body["call_uuid"]
    if "queue" in body and body["queue"] not in (None, ""):
        if not isinstance(body["queue"], str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,47}", body["queue"]):
            raise TicketError(N_("%(field)s: a queue name"), field="queue")
        out["queue"] = body["queue"]
    return out


def list_filters(args: dict[str, list[bytes]], get: Any) -> dict:
    """Allow-listed filters and sort of the ticket list (unknown parameter or value: TicketError)."""
    unknown = sorted(set(args) - set(FILTERS))
    if unknown:
        raise TicketError(N_("unknown filter %(field)s"), field=repr(unknown[0]))
    f: dict[str, Any] = {}
    for field, choices in (("status", STATUSES), ("type", TYPES), ("priority", PRIORITIES)):
        value = get(field, "") or ""
        if value and value not in choices and not (field == "status" and value == "active"):
            raise TicketError(N_("%(field)s: must be one of %(choices)s"), field=field, choices=", ".join(choices))
        f[field] = value or None
    f["owner"] = (get("owner", "") or "").strip()[:64] or None
    f["customer"] = (get("customer", "") or "").strip()[:64] or None
    sort = get("sort", "") or "-created"
    if sort.lstrip("-") not in SORTS:
        raise TicketError(N_("%(field)s: must be one of %(choices)s"), field="sort",
                          choices=", ".join(SORTS) + " (-: descending)")
    f["sort"] = sort
    try:
        f["page"] = page_param(get("page", None))
    except BadInput:
        raise TicketError(N_("%(field)s: must be a number"), field="page") from None
    return f


# ---- database work (store threads) --------------------------------------------------------------------

def ticket_row(t: Ticket, customers: dict[int, Customer] | None = None) -> dict:
    """A ticket for the list, the detail page and the API."""
    c = (customers or {}).get(t.customer_id) if customers is not None else \
        (Customer.get_or_none(Customer.id == t.customer_id) if t.customer_id else None)
    now = time.time()
    return {"id": t.id, "ticket_no": t.ticket_no, "type": t.type, "status": t.status, "priority": t.priority,
            "customer": {"id": c.id, "name": c.name, "vip": bool(c.vip)} if c else None,
            "caller_number": t.caller_number, "district": t.district, "owner": t.owner, "call_uuid": t.call_uuid,
            "summary": t.summary, "result": t.result, "created_at": t.created_at, "updated_at": t.updated_at,
            "due_at": t.due_at,
            "overdue": bool(t.due_at and t.due_at < now and t.status not in ("resolved", "closed"))}


def list_tickets(f: dict) -> dict:
    """One page of tickets matching the filters, and how many match."""
    q = Ticket.select()
    if f["status"] == "active":
        q = q.where(Ticket.status.not_in(("resolved", "closed")))
    elif f["status"]:
        q = q.where(Ticket.status == f["status"])
    if f["type"]:
        q = q.where(Ticket.type == f["type"])
    if f["priority"]:
        q = q.where(Ticket.priority == f["priority"])
    if f["owner"] == "-":
        q = q.where(Ticket.owner.is_null())
    elif f["owner"]:
        q = q.where(Ticket.owner == f["owner"])
    if f["customer"]:
        text = f["customer"]
        names = Customer.select(Customer.id).where(Customer.name.contains(text) | (Customer.member_no == text))
        cond = Ticket.customer.in_(names)
        digits = re.sub(r"\D", "", text)
        if digits:
            cond = cond | Ticket.caller_number.contains(digits)
        q = q.where(cond)
    total = q.count()
    column = SORTS[f["sort"].lstrip("-")]
    order = column.desc() if f["sort"].startswith("-") else column.asc()
    rows = list(q.order_by(order, Ticket.id.desc()).limit(PAGE_SIZE).offset((f["page"] - 1) * PAGE_SIZE))
    ids = {t.customer_id for t in rows if t.customer_id}
    customers = {c.id: c for c in Customer.select().where(Customer.id.in_(sorted(ids)))} if ids else {}
    return {"total": total, "page": f["page"], "page_size": PAGE_SIZE,
            "tickets": [ticket_row(t, customers) for t in rows]}


def get_ticket(ticket_id: int) -> dict:
    """A ticket with its history (oldest first) and escalation memos."""
    t = Ticket.get_or_none(Ticket.id == ticket_id)
    if t is None:
        raise TicketError(N_("No ticket %(id)s"), 404, id=ticket_id)
    out = ticket_row(t)
    out["history"] = [{"ts": h.ts, "actor": h.actor, "action": h.action, "note": h.note}
                      for h in TicketHistory.select().where(TicketHistory.ticket == t.id)
                      .order_by(TicketHistory.ts, TicketHistory.id)]
    out["memos"] = [message_dict(m) for m in AgentMessage.select().where(AgentMessage.ticket == t.id,
                                                                         AgentMessage.kind == "escalation")
                    .order_by(AgentMessage.ts, AgentMessage.id)]
    return out


def _check_owner(owner: str | None) -> None:
    if owner is None:
        return
    u = User.get_or_none(User.name == owner)
    if u is None or u.disabled or u.role not in STAFF_ROLES:
        raise TicketError(N_("%(field)s: no agent, supervisor or admin named %(name)s"), field="owner", name=owner)


def create_ticket(fields: dict, actor: str, address: str) -> dict:
    """Open a ticket (audited in the same transaction)."""
    from hotline.daemon.service import lookups
    if "type" not in fields:
        raise TicketError(N_("%(field)s: must be one of %(choices)s"), field="type", choices=", ".join(TYPES))
    _check_owner(fields.get("owner"))
    try:
        row = lookups.create_ticket(fields["type"], fields.get("summary", ""),
                                    caller_number=fields.get("caller_number"),
                                    customer_id=fields.get("customer_id"), call_uuid=fields.get("call_uuid"),
                                    priority=fields.get("priority", "normal"), actor=actor)
    except lookups.ServiceDataError:
        raise TicketError(N_("%(field)s: no customer with id %(id)s"), field="customer_id",
                          id=fields.get("customer_id")) from None
    t = Ticket.get(Ticket.ticket_no == row["ticket_no"])
    extra = {}
    if fields.get("owner"):
        extra["owner"] = fields["owner"]
    if "due_at" in fields and fields["due_at"] is not None:
        extra["due_at"] = fields["due_at"]
    if extra:
        Ticket.update(**extra).where(Ticket.id == t.id).execute()
    if fields.get("queue") or fields.get("call_uuid"):
        note = " · ".join(x for x in (f"queue {fields['queue']}" if fields.get("queue") else "",
                                      f"call {fields['call_uuid']}" if fields.get("call_uuid") else "") if x)
        TicketHistory.create(ticket=t.id, ts=time.time(), actor=actor, action="noted", note=note)
    out = ticket_row(Ticket.get_by_id(t.id))
    audit.record(actor, address, "ticket.created", out["ticket_no"], None,
                 {k: out[k] for k in ("type", "status", "priority", "owner", "caller_number", "call_uuid",
                                      "summary", "due_at")} | {"customer": (out["customer"] or {}).get("name")})
    return out


def update_ticket(ticket_id: int, fields: dict, actor: str, address: str, tz: str = "UTC") -> dict:
    """Change a ticket: one history line for the changes, one for a note; audited before -> after."""
    t = Ticket.get_or_none(Ticket.id == ticket_id)
    if t is None:
        raise TicketError(N_("No ticket %(id)s"), 404, id=ticket_id)
    if "owner" in fields and fields["owner"] != t.owner:
        _check_owner(fields["owner"])
    note = fields.pop("note", "")
    before, after = {}, {}
    for field in EDITABLE:
        if field in fields and fields[field] != getattr(t, field):
            before[field], after[field] = getattr(t, field), fields[field]
    if not after and not note:
        return get_ticket(ticket_id)
    now = time.time()
    if after:
        Ticket.update(**after, updated_at=now).where(Ticket.id == t.id).execute()
        def shown(field: str, value: Any) -> str:
            if value is None or value == "":
                return "-"
            if field == "due_at":
                return localtime.fmt(value, tz)
            return str(value)[:80]
        TicketHistory.create(ticket=t.id, ts=now, actor=actor, action="changed",
                             note="; ".join(f"{k}: {shown(k, before[k])} → {shown(k, after[k])}" for k in after))
    if note:
        if not after:
            Ticket.update(updated_at=now).where(Ticket.id == t.id).execute()
        TicketHistory.create(ticket=t.id, ts=now, actor=actor, action="noted", note=note)
        after["note"] = note
    audit.record(actor, address, "ticket.updated", t.ticket_no, before, after)
    return get_ticket(ticket_id)


def escalate_ticket(ticket_id: int, memo: str, to: str | None, actor: str, address: str) -> tuple[dict, list[dict]]:
    """Escalate to one supervisor or to every supervisor: status escalated, history, one memo each (stored
    until acknowledged), audited."""
    t = Ticket.get_or_none(Ticket.id == ticket_id)
    if t is None:
        raise TicketError(N_("No ticket %(id)s"), 404, id=ticket_id)
    if to:
        u = User.get_or_none(User.name == to)
        if u is None or u.disabled or u.role not in ("supervisor", "admin"):
            raise TicketError(N_("%(field)s: no supervisor named %(name)s"), field="to", name=to)
        recipients = [u.name]
    else:
        recipients = [u.name for u in User.select().where(User.role == "supervisor", User.disabled == False)  # noqa
                      .order_by(User.name)]
        if not recipients:
            raise TicketError(N_("There is no supervisor to escalate to."), 409)
    now = time.time()
    before = {"status": t.status}
    Ticket.update(status="escalated", updated_at=now).where(Ticket.id == t.id).execute()
    TicketHistory.create(ticket=t.id, ts=now, actor=actor, action="escalated",
                         note=f"→ {', '.join(recipients)}: {memo}")
    memos = [message_dict(AgentMessage.create(ts=now, sender=actor, recipient=r, kind="escalation", text=memo,
                                              ticket=t.id)) for r in recipients]
    audit.record(actor, address, "ticket.escalated", t.ticket_no, before,
                 {"status": "escalated", "to": recipients, "memo": memo})
    return get_ticket(ticket_id), memos


def form_choices() -> dict:
    """Users who may own tickets and supervisors to escalate to."""
    users = staff_users()
    return {"owners": [u["name"] for u in users],
            "supervisors": [u["name"] for u in users if u["role"] == "supervisor"]}


# ---- shared by pages and API ----------------------------------------------------------------------------

def deliver_memos(services: dict[str, Any], memos: list[dict]) -> int:
    """Push escalation memos to the supervisors' open panels; how many panels got one."""
    hub = services.get("hub")
    return sum(hub.send_to_user(m["to"], {"type": "memo", "message": m}) for m in memos) if hub else 0


class TicketApiBase(BaseHandler):
    """Base: ticket errors as JSON."""

    roles = ROLES

    def fail(self, exc: TicketError) -> None:
        """Answer with the error."""
        self.write_json({"error": str(exc), "status": exc.status}, exc.status)


class TicketsApi(TicketApiBase):
    """GET /api/v1/tickets (filters, sort, page), POST (create)."""

    async def get(self) -> None:
        """Tickets matching the allow-listed filters."""
        try:
            f = list_filters(self.request.query_arguments, self.get_query_argument)
        except TicketError as exc:
            return self.fail(exc)
        self.write_json(await self.services["store"].read(list_tickets, f))

    async def post(self) -> None:
        """Open a ticket (201)."""
        try:
            fields = check_fields(self.json_body(), CREATE_FIELDS, self.tz)
            out = await self.services["store"].write(create_ticket, fields, self.current_user.name, self.address)
        except TicketError as exc:
            return self.fail(exc)
        if out["call_uuid"]:  # the desk's screen pop of that call shows the ticket instead of the button
            brief = {k: out.get(k) for k in ("id", "ticket_no", "type", "status", "priority", "summary", "created_at",
                                             "due_at", "owner")}
            for pop in desk_of(self.services).pops.values():
                if pop.get("call") == out["call_uuid"]:
                    pop["created"] = {"id": out["id"], "ticket_no": out["ticket_no"]}
                    pop["open_tickets"] = [brief, *(t for t in pop.get("open_tickets") or [] if t["id"] != out["id"])]
                    history = pop.setdefault("history", {})
                    history["tickets"] = [brief, *(t for t in history.get("tickets") or []
                                                   if t["id"] != out["id"])][:5]
        self.write_json(out, 201)


class TicketApi(TicketApiBase):
    """GET /api/v1/tickets/{id} (with history), PUT (change fields, add a note)."""

    async def get(self, ticket_id: str) -> None:
        """One ticket."""
        try:
            self.write_json(await self.services["store"].read(get_ticket, id_param(ticket_id)))
        except TicketError as exc:
            self.fail(exc)

    async def put(self, ticket_id: str) -> None:
        """Change type, status, priority, owner, due time, summary, result; add a note."""
        try:
            fields = check_fields(self.json_body(), (*EDITABLE, "note"), self.tz)
            out = await self.services["store"].write(update_ticket, id_param(ticket_id), fields, self.current_user.name,
                                                     self.address, self.tz)
        except TicketError as exc:
            return self.fail(exc)
        self.write_json(out)


class TicketEscalateApi(TicketApiBase):
    """POST /api/v1/tickets/{id}/escalate {"memo", "to"?}: to one supervisor or all of them, live."""

    async def post(self, ticket_id: str) -> None:
        """Escalate and push the memo."""
        body = self.json_body()
        try:
            unknown = sorted(set(body) - {"memo", "to"})
            if unknown:
                raise TicketError(N_("unknown field %(field)s"), field=repr(unknown[0]))
            memo = _text(body, "memo", 1000)
            if not memo:
                raise TicketError(N_("%(field)s: say what the supervisor should do"), field="memo")
            to = body.get("to")
            if to is not None and not isinstance(to, str):
                raise TicketError(N_("%(field)s: a user name or empty"), field="to")
            ticket, memos = await self.services["store"].write(escalate_ticket, id_param(ticket_id), memo,
                                                               (to or "").strip() or None, self.current_user.name,
                                                               self.address)
        except TicketError as exc:
            return self.fail(exc)
        delivered = deliver_memos(self.services, memos)
        self.write_json({"ticket": ticket, "memos": memos, "delivered": delivered})


# ---- pages ---------------------------------------------------------------------------------------------

class TicketPageBase(PageHandler):
    """Base of the ticket pages: labels and formatting for the templates."""

    roles = ROLES

    def get_template_namespace(self) -> dict[str, Any]:
        """Labels of types, statuses, priorities; time formatting."""
        ns = super().get_template_namespace()
        ns.update(TYPES=TYPES, STATUSES=STATUSES, PRIORITIES=PRIORITIES, ACTIONS=ACTIONS, STATUS_BADGE=STATUS_BADGE,
                  PRIORITY_BADGE=PRIORITY_BADGE,
                  fmt=self.local_time, fmt_input=lambda ts: self.local_time(ts, "input"))
        return ns


class TicketsPage(TicketPageBase):
    """/tickets: the list with filters and sortable columns."""

    title = N_("Tickets")

    async def get(self) -> None:
        """The filtered list."""
        q = {k: self.get_query_argument(k, "") for k in ("status", "type", "priority", "owner", "customer", "sort")}
        error = None
        try:
            f = list_filters(self.request.query_arguments, self.get_query_argument)
        except TicketError as exc:
            error = exc.shown(self.locale)
            self.set_status(400)
            f = list_filters({}, lambda k, d=None: d)
            q = {k: "" for k in q}
        result = await self.services["store"].read(list_tickets, f)
        choices = await self.services["store"].read(form_choices)
        self.render("tickets.html", result=result, q=q, f=f, error=error, owners=choices["owners"])


class TicketNewPage(TicketPageBase):
    """/tickets/new: open a ticket by hand."""

    title = N_("New ticket")

    async def get(self) -> None:
        """The empty form (the query string may prefill caller and customer)."""
        form = {"type": "enquiry", "priority": "normal", "owner": self.current_user.name,
                "caller_number": self.get_query_argument("caller", ""), "summary": "", "due_at": ""}
        await self.show(form, None)

    async def show(self, form: dict, error: str | None) -> None:
        """Render the form (with the problem, if any)."""
        choices = await self.services["store"].read(form_choices)
        self.render("tickets_new.html", form=form, error=error, owners=choices["owners"])

    async def post(self) -> None:
        """Create, then show the ticket; a bad field re-renders the form with the message."""
        form = {k: self.get_body_argument(k, "") for k in ("type", "priority", "owner", "caller_number", "summary",
                                                            "due_at")}
        try:
            fields = check_fields(form, CREATE_FIELDS, self.tz)
            out = await self.services["store"].write(create_ticket, fields, self.current_user.name, self.address)
        except TicketError as exc:
            self.set_status(400)
            return await self.show(form, exc.shown(self.locale))
        self.redirect(f"/tickets/{out['id']}")


class TicketPage(TicketPageBase):
    """/tickets/{id}: the ticket, its history, the edit form and escalation."""

    title = N_("Ticket")

    async def show(self, ticket_id: int, error: str | None = None, form: dict | None = None,
                   escalate_error: str | None = None) -> None:
        """Render the page."""
        try:
            ticket = await self.services["store"].read(get_ticket, ticket_id)
        except TicketError as exc:
            raise tornado.web.HTTPError(exc.status, reason=exc.shown(self.locale)) from None
        choices = await self.services["store"].read(form_choices)
        self.render("tickets_detail.html", t=ticket, error=error, form=form, escalate_error=escalate_error,
                    owners=choices["owners"], supervisors=choices["supervisors"],
                    saved=self.get_query_argument("saved", "") == "1",
                    escalated=self.get_query_argument("escalated", "") == "1")

    async def get(self, ticket_id: str) -> None:
        """The ticket."""
        await self.show(id_param(ticket_id))

    async def post(self, ticket_id: str) -> None:
        """Save the edit form; a bad field re-renders it with the message."""
        form = {k: self.get_body_argument(k, "") for k in ("type", "status", "priority", "owner", "due_at", "summary",
                                                            "result", "note")}
        try:
            fields = check_fields(form, (*EDITABLE, "note"), self.tz)
            await self.services["store"].write(update_ticket, id_param(ticket_id), fields, self.current_user.name,
                                               self.address, self.tz)
        except TicketError as exc:
            if exc.status == 404:
                raise tornado.web.HTTPError(404, reason=exc.shown(self.locale)) from None
            self.set_status(400)
            return await self.show(id_param(ticket_id), error=exc.shown(self.locale), form=form)
        self.redirect(f"/tickets/{ticket_id}?saved=1")


class TicketEscalatePage(TicketPage):
    """/tickets/{id}/escalate (POST): escalate with a memo from the ticket page."""

    async def get(self, ticket_id: str) -> None:
        """Escalation is a form on the ticket page."""
        self.redirect(f"/tickets/{ticket_id}")

    async def post(self, ticket_id: str) -> None:
        """Escalate; a missing memo re-renders the page with the message."""
        memo = self.get_body_argument("memo", "").strip()
        to = self.get_body_argument("to", "").strip() or None
        try:
            if not memo:
                raise TicketError(N_("%(field)s: say what the supervisor should do"), field="memo")
            if len(memo) > 1000:
                raise TicketError(N_("%(field)s: at most %(n)d characters"), field="memo", n=1000)
            _, memos = await self.services["store"].write(escalate_ticket, id_param(ticket_id), memo, to,
                                                          self.current_user.name, self.address)
        except TicketError as exc:
            if exc.status == 404:
                raise tornado.web.HTTPError(404, reason=exc.shown(self.locale)) from None
            self.set_status(exc.status)
            return await self.show(id_param(ticket_id), escalate_error=exc.shown(self.locale))
        deliver_memos(self.services, memos)
        self.redirect(f"/tickets/{ticket_id}?escalated=1")


PAGE_ROUTES = [
    (r"/tickets", TicketsPage),
    (r"/tickets/new", TicketNewPage),
    (r"/tickets/([0-9]{1,12})", TicketPage),
    (r"/tickets/([0-9]{1,12})/escalate", TicketEscalatePage),
]
ROUTES = [
    (r"/api/v1/tickets", TicketsApi),
    (r"/api/v1/tickets/([0-9]{1,12})", TicketApi),
    (r"/api/v1/tickets/([0-9]{1,12})/escalate", TicketEscalateApi),
]
