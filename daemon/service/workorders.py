"""Work orders: a repair visit for a customer's product, dispatched to the authorized repair center that
serves the customer's district or area, and the field result entered back.

Life: new -> dispatched -> in_progress -> done, or cancelled from any open state. Entering a field result
moves a dispatched order to in_progress, or to done when the result closes it.

Dispatch picks, among *authorized* repair centers only (unauthorized workshops are never chosen; among
several that fit, the oldest row), by the same keys the IVR's repair-center lookup uses:

1. a center whose ``district`` is the order's district (utility repair stations, city service points);
2. else a center whose ``area_code`` is the customer's area code (printer repair centers per city);
3. else a center in the region of that area code's province, or in the customer's own region.

The chosen rule is kept as ``dispatch_match`` (district / area_code / region / manual). A person may also
dispatch to a center of their choice (it must be authorized).

Every function runs inside a database thread; the write helpers record the order's history and the audit
entry (before -> after) in the same transaction as the change.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import peewee

from ..box import audit
from ..errors import HotlineError
from ..box import audit, localtime
from ..errors import HotlineError
from .lookups import AREA_CODES, PROVINCES, normalize_number
from ..store.service_models import (
    Customer, CustomerPhone, Product, RepairCenter, Ticket, TicketHistory, Warranty, WorkOrder,
    WorkOrderHistory)

STATUSES = ("new", "dispatched", "in_progress", "done", "cancelled")
OPEN = ("new", "dispatched", "in_progress")
MATCHES = ("district", "area_code", "region", "manual")
FAULT_MAX, RESULT_MAX, PARTS_MAX, NOTE_MAX = 2000, 2000, 1000, 500


class WorkOrderError(HotlineError):
    """A work-order request that cannot be carried out; ``field`` names the input at fault (if any)."""

    def __init__(self, code: str, field: str | None = None, status: int = 400, **params: Any):
        self.code, self.field, self.status, self.params = code, field, status, params
        super().__init__(MESSAGES[code] % params)


# English messages (the panel shows them translated: webadmin/handlers/workorders.py lists the same texts).
MESSAGES = {
    "customer": "Customer: no customer with this phone number, member number or id.",
    "customer_missing": "Customer: give a ticket with a customer, or a customer.",
    "ticket": "Ticket: no ticket %(ref)s.",
    "product": "Product: no product with model %(model)s.",
    "serial": "Serial number: use 1 to 32 letters, digits or dashes.",
    "fault": "Fault description: enter 1 to 2000 characters.",
    "district": "District: at most 64 characters.",
    "technician": "Technician: enter 1 to 64 characters.",
    "visit_date": "Visit date: use YYYY-MM-DD, not later than today.",
    "result": "Result: enter what was done (at most 2000 characters).",
    "parts": "Parts used: at most 1000 characters.",
    "note": "Note: at most 500 characters.",
    "center": "Repair center: no authorized repair center %(id)s.",
    "no_center": "No authorized repair center serves district %(district)s, area code %(area_code)s or "
                 "region %(region)s: choose one.",
    "no_order": "No work order %(id)s.",
    "state": "The work order is %(state)s: it cannot be %(action)s.",
    "address": "Address: at most 255 characters.",
    "status": "Status: use in_progress or cancelled.",
    "filter_status": "Status: use one of new, dispatched, in_progress, done, cancelled.",
    "filter_center": "Repair center: no repair center %(id)s.",
}


# ------------------------------------------------------------------ helpers

def _text(value: Any, limit: int, code: str, field: str, required: bool = False) -> str:
    text = str(value or "").replace("\r\n", "\n").strip()
    if len(text) > limit or (required and not text):
        raise WorkOrderError(code, field)
    return text


def _date(ts: float | None) -> str | None:
    return None if ts is None else localtime.fmt(ts, localtime.current(), "date")


def next_order_no(now: float) -> str:
    """The next free work-order number of the local day: W20261122-0001, -0002, ..."""
    prefix = "W" + localtime.fmt(now, localtime.current(), "compact") + "-"
    last = (WorkOrder.select(WorkOrder.order_no).where(WorkOrder.order_no.startswith(prefix))
            .order_by(peewee.fn.LENGTH(WorkOrder.order_no).desc(), WorkOrder.order_no.desc()).first())
    return f"{prefix}{int(last.order_no[len(prefix):]) + 1 if last else 1:04d}"


def center_dict(rc: RepairCenter | None) -> dict[str, Any] | None:
    """A repair center as shown on a work order."""
    if rc is None:
        return None
    return {"id": rc.id, "name": rc.name, "region": rc.region, "district": rc.district, "area_code": rc.area_code,
            "address": rc.address, "phone": rc.phone, "authorized": bool(rc.authorized)}


def order_dict(w: WorkOrder, history: bool = False) -> dict[str, Any]:
    """The exposed fields of a work order (with its history when asked)."""
    rc = RepairCenter.get_or_none(RepairCenter.id == w.repair_center_id) if w.repair_center_id else None
    ticket = Ticket.get_or_none(Ticket.id == w.ticket_id) if w.ticket_id else None
    product = Product.get_or_none(Product.model == w.product_model) if w.product_model else None
    warranty = Warranty.get_or_none(Warranty.serial_no == w.serial_no) if w.serial_no else None
    out = {"id": w.id, "order_no": w.order_no, "status": w.status,
           "ticket_id": w.ticket_id, "ticket_no": ticket.ticket_no if ticket else None,
           "customer_id": w.customer_id, "customer_name": w.customer_name, "phone": w.phone, "address": w.address,
           "district": w.district, "area_code": w.area_code, "region": w.region,
           "product_model": w.product_model, "product_name_zh": product.name_zh if product else None,
           "product_name_en": product.name_en if product else None, "serial_no": w.serial_no,
           "warranty_until": warranty.warranty_until if warranty else None,
           "in_warranty": (warranty.warranty_until >= localtime.fmt(time.time(), localtime.current(), "date")) if warranty else None,
           "fault": w.fault, "repair_center_id": w.repair_center_id, "repair_center": center_dict(rc),
           "dispatch_match": w.dispatch_match, "technician": w.technician, "visit_date": w.visit_date,
           "result": w.result, "parts_used": w.parts_used, "created_by": w.created_by, "created_at": w.created_at,
           "dispatched_at": w.dispatched_at, "closed_at": w.closed_at, "updated_at": w.updated_at}
    if history:
        out["history"] = [{"ts": h.ts, "actor": h.actor, "action": h.action, "note": h.note}
                          for h in WorkOrderHistory.select().where(WorkOrderHistory.work_order == w.id)
                          .order_by(WorkOrderHistory.ts, WorkOrderHistory.id)]
    return out


def _audit_view(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("status", "customer_name", "phone", "address", "district", "product_model", "serial_no", "fault",
            "technician", "visit_date", "result", "parts_used")
    out = {k: d.get(k) for k in keys}
    rc = d.get("repair_center")
    out["repair_center"] = f"{rc['name']} (#{rc['id']})" if rc else None
    out["dispatch_match"] = d.get("dispatch_match")
    return out


def _load(order_id: int) -> WorkOrder:
    w = WorkOrder.get_or_none(WorkOrder.id == order_id)
    if w is None:
        raise WorkOrderError("no_order", status=404, id=order_id)
    return w


def _history(order_id: int, actor: str, action: str, note: str = "", now: float | None = None) -> None:
    WorkOrderHistory.create(work_order=order_id, ts=time.time() if now is None else now, actor=actor,
                            action=action, note=note)


def _ticket_note(w: WorkOrder, actor: str, note: str, now: float) -> None:
    """Keep the ticket's own history in step with the work order made from it."""
    if w.ticket_id:
        TicketHistory.create(ticket=w.ticket_id, ts=now, actor=actor, action="work_order", note=note)


# ------------------------------------------------------------------ finding things

def find_customer(ref: Any) -> int:
    """A customer's id from a phone number, a member number or "#<id>" (WorkOrderError otherwise)."""
    text = str(ref or "").strip()
    if not text:
        raise WorkOrderError("customer_missing", "customer")
    if text.startswith("#") and text[1:].isdigit():
        c = Customer.get_or_none(Customer.id == int(text[1:]))
        if c is not None:
            return c.id
        raise WorkOrderError("customer", "customer")
    c = Customer.select(Customer.id).where(Customer.member_no == text.upper()).first()
    if c is None:
        number = normalize_number(text)
        if number:
            c = (Customer.select(Customer.id).join(CustomerPhone).where(CustomerPhone.number == number)
                 .order_by(Customer.id).first())
    if c is None:
        raise WorkOrderError("customer", "customer")
    return c.id


def find_ticket(ref: Any) -> int:
    """A ticket's id from its number (T20261122-0001) or id."""
    text = str(ref or "").strip()
    t = None
    if text.isdigit():
        t = Ticket.get_or_none(Ticket.id == int(text))
    if t is None and text:
        t = Ticket.get_or_none(Ticket.ticket_no == text.upper())
    if t is None:
        raise WorkOrderError("ticket", "ticket", ref=text or "?")
    return t.id


def authorized_centers() -> list[dict[str, Any]]:
    """Every authorized repair center, by region, district and name (for a person choosing one)."""
    q = RepairCenter.select().where(RepairCenter.authorized == True).order_by(  # noqa: E712 - SQL
        RepairCenter.region, RepairCenter.district, RepairCenter.name, RepairCenter.id)
    return [center_dict(rc) for rc in q]


def all_centers() -> list[dict[str, Any]]:
    """Every repair center (filters of the list)."""
    return [center_dict(rc) for rc in RepairCenter.select().order_by(RepairCenter.name, RepairCenter.id)]


def products() -> list[dict[str, str]]:
    """Active products (model and names) for a person filling in a work order."""
    return [{"model": p.model, "name_zh": p.name_zh, "name_en": p.name_en}
            for p in Product.select().where(Product.active == True).order_by(Product.model)]  # noqa: E712 - SQL


def choose_center(district: str | None, area_code: str | None, region: str | None) -> tuple[RepairCenter, str] | None:
    """The authorized repair center for a district / area code / region, with the rule that found it."""
    base = RepairCenter.select().where(RepairCenter.authorized == True)  # noqa: E712 - SQL
    order = (RepairCenter.id,)
    if district:
        rc = base.where(RepairCenter.district == district).order_by(*order).first()
        if rc:
            return rc, "district"
    if area_code:
        rc = base.where(RepairCenter.area_code == area_code).order_by(*order).first()
        if rc:
            return rc, "area_code"
    regions = []
    province = AREA_CODES.get(area_code or "", (None,))[0]
    if province:
        regions.append(PROVINCES[province][1])
    if region and region not in regions:
        regions.append(region)
    for r in regions:
        rc = base.where(RepairCenter.region == r).order_by(*order).first()
        if rc:
            return rc, "region"
    return None


# ------------------------------------------------------------------ listing

def query(status: str | None = None, center_id: int | None = None, district: str | None = None,
          limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """Work orders newest first, filtered by status, repair center and district."""
    q = WorkOrder.select()
    if status:
        if status not in STATUSES:
            raise WorkOrderError("filter_status", "status")
        q = q.where(WorkOrder.status == status)
    if center_id is not None:
        if RepairCenter.get_or_none(RepairCenter.id == center_id) is None:
            raise WorkOrderError("filter_center", "center", id=center_id)
        q = q.where(WorkOrder.repair_center == center_id)
    if district:
        q = q.where(WorkOrder.district == _district(district))
    total = q.count()
    rows = q.order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc()).limit(max(1, min(limit, 200))).offset(offset)
    return {"total": total, "work_orders": [order_dict(w) for w in rows]}


def _district(value: str) -> str:
    return re.sub(r"(区|县)$", "", "".join(str(value).split()))


def get(order_id: int) -> dict[str, Any]:
    """One work order with its history."""
    return order_dict(_load(order_id), history=True)


# ------------------------------------------------------------------ changing

def create(*, ticket_id: int | None = None, customer_id: int | None = None, product_model: Any = None,
           serial_no: Any = None, fault: Any = None, district: Any = None, dispatch: bool = False,
           actor: str, address: str = "", now: float | None = None) -> dict[str, Any]:
    """Make a work order from a ticket (its customer, district and summary) or a customer; optionally
    dispatch it at once (when no center serves the customer the order stays new)."""
    now = time.time() if now is None else now
    ticket = None
    if ticket_id is not None:
        ticket = Ticket.get_or_none(Ticket.id == ticket_id)
        if ticket is None:
            raise WorkOrderError("ticket", "ticket_id", ref=ticket_id)
        if customer_id is None:
            customer_id = ticket.customer_id
    if customer_id is None:
        raise WorkOrderError("customer_missing", "customer_id")
    customer = Customer.get_or_none(Customer.id == customer_id)
    if customer is None:
        raise WorkOrderError("customer", "customer_id")
    fault_text = str(fault or "").strip() or (ticket.summary if ticket else "")
    fault_text = _text(fault_text, FAULT_MAX, "fault", "fault", required=True)
    model = re.sub(r"\s", "", str(product_model or "")).upper() or None
    serial = re.sub(r"\s", "", str(serial_no or "")).upper() or None
    if serial and not re.fullmatch(r"[A-Z0-9\-]{1,32}", serial):
        raise WorkOrderError("serial", "serial_no")
    if serial and not model:
        unit = Warranty.get_or_none(Warranty.serial_no == serial)
        model = unit.product_model if unit else None
    if model and Product.get_or_none(Product.model == model) is None:
        raise WorkOrderError("product", "product_model", model=model)
    dist = _text(district, 64, "district", "district")
    dist = _district(dist) if dist else ((ticket.district if ticket else None) or customer.district)
    phone = (CustomerPhone.select(CustomerPhone.number).where(CustomerPhone.customer == customer.id)
             .order_by(CustomerPhone.id).first())
    for attempt in range(5):   # another writer (the CLI, a second daemon) may take the same number
        try:
            with WorkOrder._meta.database.atomic():
                w = WorkOrder.create(
                    order_no=next_order_no(now), status="new", ticket=ticket.id if ticket else None,
                    customer=customer.id, customer_name=customer.name,
                    phone=phone.number if phone else (ticket.caller_number if ticket else None),
                    address=customer.address, district=dist, area_code=customer.area_code, region=customer.region,
                    product_model=model, serial_no=serial, fault=fault_text, created_by=actor, created_at=now,
                    updated_at=now)
            break
        except peewee.IntegrityError:
            if attempt == 4:
                raise
    _history(w.id, actor, "created", "", now)
    _ticket_note(w, actor, f"work order {w.order_no} created", now)
    after = order_dict(w)
    audit.record(actor, address, "workorder.created", f"workorder:{w.order_no}", None, _audit_view(after))
    if dispatch:
        try:
            return dispatch_order(w.id, None, actor, address, now)
        except WorkOrderError as exc:
            if exc.code != "no_center":
                raise
            after = get(w.id)
            after["dispatch_error"] = str(exc)
            return after
    return get(w.id)


def dispatch_order(order_id: int, center_id: int | None, actor: str, address: str = "",
                   now: float | None = None) -> dict[str, Any]:
    """Send an open (new or dispatched) order to a repair center: the given one, else the one that serves
    the customer's district / area code / region."""
    now = time.time() if now is None else now
    w = _load(order_id)
    if w.status not in ("new", "dispatched"):
        raise WorkOrderError("state", status=409, state=w.status, action="dispatched")
    before = order_dict(w)
    if center_id is not None:
        rc = RepairCenter.get_or_none(RepairCenter.id == center_id, RepairCenter.authorized == True)  # noqa: E712
        if rc is None:
            raise WorkOrderError("center", "repair_center_id", id=center_id)
        match = "manual"
    else:
        found = choose_center(w.district, w.area_code, w.region)
        if found is None:
            raise WorkOrderError("no_center", "repair_center_id", 409, district=w.district or "-",
                                 area_code=w.area_code or "-", region=w.region or "-")
        rc, match = found
    WorkOrder.update(status="dispatched", repair_center=rc.id, dispatch_match=match, dispatched_at=now,
                     updated_at=now).where(WorkOrder.id == w.id).execute()
    _history(w.id, actor, "dispatched", rc.name, now)
    _ticket_note(w, actor, f"work order {w.order_no} dispatched to {rc.name}", now)
    after = get(w.id)
    audit.record(actor, address, "workorder.dispatched", f"workorder:{w.order_no}", _audit_view(before),
                 _audit_view(after))
    return after


def set_status(order_id: int, status: str, note: Any, actor: str, address: str = "",
               now: float | None = None) -> dict[str, Any]:
    """Start work on a dispatched order (in_progress) or cancel an open one, with an optional note."""
    now = time.time() if now is None else now
    if status not in ("in_progress", "cancelled"):
        raise WorkOrderError("status", "status")
    note_text = _text(note, NOTE_MAX, "note", "note")
    w = _load(order_id)
    allowed = ("dispatched",) if status == "in_progress" else OPEN
    if w.status not in allowed:
        raise WorkOrderError("state", status=409, state=w.status,
                             action="started" if status == "in_progress" else "cancelled")
    before = order_dict(w)
    WorkOrder.update(status=status, updated_at=now, closed_at=now if status == "cancelled" else None) \
        .where(WorkOrder.id == w.id).execute()
    _history(w.id, actor, "started" if status == "in_progress" else "cancelled", note_text, now)
    if status == "cancelled":
        _ticket_note(w, actor, f"work order {w.order_no} cancelled" + (f": {note_text}" if note_text else ""), now)
    after = get(w.id)
    audit.record(actor, address, f"workorder.{'started' if status == 'in_progress' else 'cancelled'}",
                 f"workorder:{w.order_no}", _audit_view(before), {**_audit_view(after), "note": note_text or None})
    return after


def record_result(order_id: int, *, technician: Any, visit_date: Any, result: Any, parts_used: Any = "",
                  close: bool = False, actor: str, address: str = "", now: float | None = None) -> dict[str, Any]:
    """Enter the field result of a dispatched or in-progress order; ``close`` makes it done."""
    now = time.time() if now is None else now
    tech = " ".join(str(technician or "").split())
    if not 1 <= len(tech) <= 64:
        raise WorkOrderError("technician", "technician")
    day = str(visit_date or "").strip()
    try:
        parsed = dt.date.fromisoformat(day) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed > localtime.local_date(now, localtime.current()):
        raise WorkOrderError("visit_date", "visit_date")
    result_text = _text(result, RESULT_MAX, "result", "result", required=True)
    parts = _text(parts_used, PARTS_MAX, "parts", "parts_used")
    w = _load(order_id)
    if w.status not in ("dispatched", "in_progress"):
        raise WorkOrderError("state", status=409, state=w.status, action="given a result")
    before = order_dict(w)
    status = "done" if close else "in_progress"
    WorkOrder.update(status=status, technician=tech, visit_date=parsed.isoformat(), result=result_text,
                     parts_used=parts, updated_at=now, closed_at=now if close else None) \
        .where(WorkOrder.id == w.id).execute()
    _history(w.id, actor, "done" if close else "result", result_text, now)
    if close:
        _ticket_note(w, actor, f"work order {w.order_no} done: {result_text}", now)
    after = get(w.id)
    audit.record(actor, address, "workorder.closed" if close else "workorder.result", f"workorder:{w.order_no}",
                 _audit_view(before), _audit_view(after))
    return after


def update(order_id: int, fields: dict[str, Any], actor: str, address: str = "",
           now: float | None = None) -> dict[str, Any]:
    """Correct an open order's product, serial number, fault, district, phone or address."""
    now = time.time() if now is None else now
    w = _load(order_id)
    if w.status not in OPEN:
        raise WorkOrderError("state", status=409, state=w.status, action="changed")
    before = order_dict(w)
    changes: dict[str, Any] = {}
    if "product_model" in fields:
        model = re.sub(r"\s", "", str(fields["product_model"] or "")).upper() or None
        if model and Product.get_or_none(Product.model == model) is None:
            raise WorkOrderError("product", "product_model", model=model)
        changes["product_model"] = model
    if "serial_no" in fields:
        serial = re.sub(r"\s", "", str(fields["serial_no"] or "")).upper() or None
        if serial and not re.fullmatch(r"[A-Z0-9\-]{1,32}", serial):
            raise WorkOrderError("serial", "serial_no")
        changes["serial_no"] = serial
    if "fault" in fields:
        changes["fault"] = _text(fields["fault"], FAULT_MAX, "fault", "fault", required=True)
    if "district" in fields:
        dist = _text(fields["district"], 64, "district", "district")
        changes["district"] = _district(dist) if dist else None
    if "phone" in fields:
        changes["phone"] = normalize_number(str(fields["phone"] or "")) or None
    if "address" in fields:
        changes["address"] = _text(fields["address"], 255, "address", "address") or None
    if changes:
        WorkOrder.update(**changes, updated_at=now).where(WorkOrder.id == w.id).execute()
        _history(w.id, actor, "changed", "", now)   # the audit log keeps what changed
    after = get(w.id)
    if changes:
        audit.record(actor, address, "workorder.changed", f"workorder:{w.order_no}", _audit_view(before),
                     _audit_view(after))
    return after
