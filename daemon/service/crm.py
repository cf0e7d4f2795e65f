"""Service CRM data: customers with their contact numbers, the catalogue (products, consumables, network
accessories, spare parts), dealers, repair centers and the employee directory.

Validation, search with allow-listed sort and filter parameters, create/update/delete with an audit entry
(before -> after) in the same transaction, and a customer's history (calls, tickets, faxes). Field checks live
in crm_fields.py, the customer CSV import/export in crm_csv.py. No Tornado here: every function runs in a store
thread (``store.read`` for queries, ``store.write`` for changes) and raises ``CrmError`` naming the field or
parameter that is wrong. Stored forms stay those the IVR lookups (``lookups.py``) search.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import peewee

from ..box import audit
from .crm_fields import (CATEGORIES, LANGUAGES, MAX_PER_PAGE, MESSAGES, PHONE_KINDS, CrmError,  # noqa: F401
                         Field, _phone, parse_money)                                    # (re-exported for the panel)
from .lookups import AREA_CODES, PROVINCES, _code, money, normalize_number
from ..store.models import Base, Cdr
from ..store.service_models import (
    Customer, CustomerPhone, Dealer, Employee, FaxJob, Product, RepairCenter, SparePart, SparePartFit,
    Ticket)


@dataclass(frozen=True)
class Resource:
    """A CRM table as the panel and the API see it."""

    key: str                                   # URL segment and API name: "repair-centers"
    noun: str                                  # audit action prefix and messages: "repair_center"
    model: type[Base]
    fields: tuple[Field, ...]
    search: tuple[str, ...]                    # columns the free-text ``q`` searches
    sorts: tuple[str, ...]                     # allowed ``sort`` keys (a leading '-' sorts descending)
    default_sort: str
    filters: tuple[Field, ...] = ()            # exact-match filters (cleaned like fields)
    unique: tuple[str, ...] = ()
    timestamps: bool = True
    extra: dict = field(default_factory=dict)

    def field(self, name: str) -> Field:
        """The field named ``name``."""
        return next(f for f in self.fields if f.name == name)


CUSTOMERS = Resource(
    "customers", "customer", Customer,
    (Field("name", required=True), Field("member_no", "model", max_len=32), Field("vip", "bool", default=False),
     Field("province", "province"), Field("region", "region"), Field("area_code", "area_code"),
     Field("district", "district", max_len=64), Field("address", max_len=255), Field("email", "email", max_len=255),
     Field("language", "language", default="zh_CN"), Field("notes", max_len=4000, default="")),
    search=("name", "member_no", "address"),
    sorts=("name", "member_no", "vip", "area_code", "district", "created_at", "updated_at"),
    default_sort="-updated_at",
    filters=(Field("vip", "bool"), Field("area_code", "area_code"), Field("district", "district", max_len=64),
             Field("province", "province"), Field("region", "region")),
    unique=("member_no",))

PRODUCTS = Resource(
    "products", "product", Product,
    (Field("model", "model", required=True, max_len=32), Field("category", "choice", required=True,
                                                              choices=CATEGORIES),
     Field("name_zh", max_len=128), Field("name_en", max_len=128), Field("specs_zh", max_len=4000, default=""),
     Field("specs_en", max_len=4000, default=""), Field("price_cents", "int", required=True),
     Field("stock", "int", default=0), Field("active", "bool", default=True)),
    search=("model", "name_zh", "name_en", "specs_zh", "specs_en"),
    sorts=("model", "category", "name_zh", "name_en", "price_cents", "stock"),
    default_sort="model", filters=(Field("category", "choice", choices=CATEGORIES), Field("active", "bool")),
    unique=("model",), timestamps=False)

PARTS = Resource(
    "parts", "part", SparePart,
    (Field("part_no", "part_no", required=True, max_len=32), Field("name_zh", max_len=128),
     Field("name_en", max_len=128), Field("fits", "models", default=()), Field("specs_zh", max_len=4000, default=""),
     Field("specs_en", max_len=4000, default=""), Field("price_cents", "int", required=True),
     Field("stock", "int", default=0), Field("active", "bool", default=True)),
    search=("part_no", "name_zh", "name_en", "specs_zh", "specs_en"),
    sorts=("part_no", "name_zh", "name_en", "price_cents", "stock", "updated_at"),
    default_sort="part_no", filters=(Field("fits", "model", max_len=32), Field("active", "bool")),
    unique=("part_no",))

DEALERS = Resource(
    "dealers", "dealer", Dealer,
    (Field("name", required=True), Field("province", "province"), Field("city", max_len=64),
     Field("area_code", "area_code"), Field("address", max_len=255), Field("phone", "phone_text", max_len=32)),
    search=("name", "city", "address", "phone", "area_code"),
    sorts=("name", "province", "city", "area_code"), default_sort="area_code",
    filters=(Field("province", "province"), Field("area_code", "area_code")), timestamps=False)

REPAIR_CENTERS = Resource(
    "repair-centers", "repair_center", RepairCenter,
    (Field("name", required=True), Field("region", "region"), Field("district", "district", max_len=64),
     Field("area_code", "area_code"), Field("address", max_len=255),
     Field("phone", "phone_text", max_len=32), Field("authorized", "bool", default=True)),
    search=("name", "district", "address", "phone", "area_code"),
    sorts=("name", "region", "district", "area_code", "authorized"), default_sort="region",
    filters=(Field("region", "region"), Field("district", "district", max_len=64), Field("area_code", "area_code"),
             Field("authorized", "bool")), timestamps=False)

EMPLOYEES = Resource(
    "employees", "employee", Employee,
    (Field("name", required=True), Field("department", max_len=64, default=""), Field("title", max_len=64, default=""),
     Field("extension", "extension", max_len=16), Field("mobile", "phone"), Field("email", "email", max_len=255),
     Field("notes", max_len=4000, default="")),
    search=("name", "department", "title", "extension", "mobile", "email"),
    sorts=("name", "department", "title", "extension"), default_sort="department",
    filters=(Field("department", max_len=64),))

RESOURCES: dict[str, Resource] = {r.key: r for r in (CUSTOMERS, PRODUCTS, PARTS, DEALERS, REPAIR_CENTERS, EMPLOYEES)}


# ------------------------------------------------------------------ rows as dicts

def _phones_of(ids: Iterable[int]) -> dict[int, list[dict]]:
    ids = list(ids)
    out: dict[int, list[dict]] = {i: [] for i in ids}
    if ids:
        for p in CustomerPhone.select().where(CustomerPhone.customer.in_(ids)).order_by(CustomerPhone.id):
            out[p.customer_id].append({"number": p.number, "kind": p.kind})
    return out


def _fits_of(ids: Iterable[int]) -> dict[int, list[str]]:
    ids = list(ids)
    out: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for f in SparePartFit.select().where(SparePartFit.part.in_(ids)).order_by(SparePartFit.id):
            out[f.part_id].append(f.product_model)
    return out


def _row(res: Resource, row: Any, extra: dict | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id}
    for f in res.fields:
        if f.name in ("fits",):
            continue
        value = getattr(row, f.name)
        out[f.name] = bool(value) if f.kind == "bool" else value
    if res is CUSTOMERS or res is PARTS or res is EMPLOYEES:
        out["created_at"], out["updated_at"] = row.created_at, row.updated_at
    if "price_cents" in out:
        out["price"] = money(out["price_cents"])
    if extra:
        out.update(extra)
    return out


def to_dicts(res: Resource, rows: list) -> list[dict[str, Any]]:
    """Rows as API dicts (customers with ``phones``, parts with ``fits``), fetched in one query each."""
    ids = [r.id for r in rows]
    if res is CUSTOMERS:
        phones = _phones_of(ids)
        return [_row(res, r, {"phones": phones[r.id]}) for r in rows]
    if res is PARTS:
        fits = _fits_of(ids)
        return [_row(res, r, {"fits": fits[r.id]}) for r in rows]
    return [_row(res, r) for r in rows]


def snapshot(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the audit log keeps of a row: flat values (phones and fitted models as one text each)."""
    if item is None:
        return None
    out = {k: v for k, v in item.items() if k not in ("created_at", "updated_at", "price", "id")}
    if "phones" in out:
        out["phones"] = "; ".join(f"{p['kind']}:{p['number']}" for p in out["phones"])
    if "fits" in out:
        out["fits"] = ", ".join(out["fits"])
    return out


# ------------------------------------------------------------------ search

@dataclass
class Query:
    """A checked list request."""

    q: str = ""
    sort: str = ""
    page: int = 1
    per_page: int = 50
    filters: dict[str, Any] = field(default_factory=dict)


def parse_query(res: Resource, args: dict[str, str], per_page: int = 50) -> Query:
    """Check a list request's parameters: q, sort, page, per_page and the resource's filters; anything else
    (or a sort key not in the allow-list) is a CrmError naming it."""
    known = {"q", "sort", "page", "per_page", *(f.name for f in res.filters)}
    for name in args:
        if name not in known:
            raise CrmError(str(name)[:40], "unknown parameter")
    query = Query(q=str(args.get("q", "")).strip()[:100], per_page=per_page)
    sort = str(args.get("sort", "") or "").strip()
    if sort:
        if sort.lstrip("-") not in res.sorts:
            allowed = ", ".join(res.sorts)
            raise CrmError("sort", "unknown value %(value)s (allowed: %(allowed)s)", value=repr(sort[:40]),
                           allowed=allowed)
        query.sort = sort
    for name in ("page", "per_page"):
        raw = str(args.get(name, "") or "").strip()
        if raw:
            if not re.fullmatch(r"\d{1,6}", raw) or int(raw) < 1:
                raise CrmError(name, "must be a page number")
            setattr(query, name, int(raw))
    query.per_page = min(query.per_page, MAX_PER_PAGE)
    for f in res.filters:
        raw = args.get(f.name)
        if raw is not None and str(raw).strip() != "":
            query.filters[f.name] = f.clean(raw)
    return query


def _select(res: Resource, query: Query) -> peewee.ModelSelect:
    m = res.model
    sel = m.select()
    q = query.q
    if q:
        cond = None
        for col in res.search:
            part = getattr(m, col).contains(q)
            cond = part if cond is None else cond | part
        if res is CUSTOMERS:
            code = _code(q)
            if code:
                cond = cond | (Customer.member_no == code)
            digits = re.sub(r"\D", "", q)
            if len(digits) >= 3 and re.fullmatch(r"[\d\s+()\-.]+", q):
                number = normalize_number(q) or digits
                cond = cond | Customer.id.in_(CustomerPhone.select(CustomerPhone.customer).where(
                    CustomerPhone.number.contains(number)))
        elif res is PRODUCTS or res is PARTS:
            code = _code(q)
            if res is PRODUCTS and code:
                cond = cond | (Product.model == code)
            if res is PARTS and code:
                cond = cond | SparePart.id.in_(SparePartFit.select(SparePartFit.part).where(
                    SparePartFit.product_model == code))
        sel = sel.where(cond)
    for name, value in query.filters.items():
        if res is PARTS and name == "fits":
            sel = sel.where(SparePart.id.in_(SparePartFit.select(SparePartFit.part).where(
                SparePartFit.product_model == value)))
        else:
            sel = sel.where(getattr(m, name) == value)
    return sel


def search(res: Resource, query: Query) -> dict[str, Any]:
    """One page of matching rows: {total, page, per_page, pages, sort, items}."""
    sel = _select(res, query)
    total = sel.count()
    sort = query.sort or res.default_sort
    col = getattr(res.model, sort.lstrip("-"))
    order = [col.desc() if sort.startswith("-") else col.asc(), res.model.id.desc() if sort.startswith("-")
             else res.model.id.asc()]
    pages = max(1, -(-total // query.per_page))
    rows = list(sel.order_by(*order).limit(query.per_page).offset((query.page - 1) * query.per_page))
    return {"total": total, "page": query.page, "per_page": query.per_page, "pages": pages, "sort": sort,
            "items": to_dicts(res, rows)}


def get(res: Resource, item_id: int) -> dict[str, Any]:
    """One row as a dict (CrmError 404 when there is none)."""
    row = res.model.get_or_none(res.model.id == item_id)
    if row is None:
        raise CrmError(None, "no such record (id %(id)s)", 404, id=item_id)
    return to_dicts(res, [row])[0]


def distinct(res: Resource, column: str) -> list[str]:
    """The values a column has (for filter lists such as departments)."""
    col = getattr(res.model, column)
    return [r[0] for r in res.model.select(col).where(col.is_null(False), col != "").distinct().order_by(col).tuples()]


# ------------------------------------------------------------------ create, update, delete

def clean(res: Resource, data: dict[str, Any], before: dict[str, Any] | None = None) -> dict[str, Any]:
    """Checked values for a create (every field, defaults filled) or an update (``before`` given: only the
    fields present change). Raises the first problem as CrmError naming the field."""
    values, problems = clean_all(res, data, before)
    if problems:
        raise problems[0]
    return values


def clean_all(res: Resource, data: dict[str, Any],
              before: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[CrmError]]:
    """Like clean(), but every problem at once (forms mark each field; the import lists each of a row)."""
    if not isinstance(data, dict):
        return {}, [CrmError(None, "must be a JSON object")]
    data = dict(data)
    out: dict[str, Any] = {}
    problems: list[CrmError] = []
    if "price" in data:  # a decimal amount in yuan (forms, people) instead of integer cents (scripts)
        price = data.pop("price")
        if "price_cents" not in data and any(f.name == "price_cents" for f in res.fields):
            try:
                data["price_cents"] = parse_money(price, "price")
            except CrmError as exc:
                problems.append(exc)
                data["price_cents"] = 0
    for f in res.fields:
        if f.kind in ("language", "choice") and f.default is not None and data.get(f.name) in ("", None):
            data.pop(f.name, None)  # an empty cell or field keeps the stored value (or the default)
        try:
            if f.name in data:
                out[f.name] = f.clean(data[f.name])
            elif before is None:
                if f.required:
                    raise CrmError(f.name, "is required")
                out[f.name] = list(f.default) if isinstance(f.default, tuple) else f.default
        except CrmError as exc:
            problems.append(exc)
    merged = {**(before or {}), **out}
    if res is CUSTOMERS:
        try:
            out["phones"] = _clean_phones(data["phones"]) if "phones" in data else (None if before else [])
        except CrmError as exc:
            problems.append(exc)
        # the area code tells the province, the province the region (as the IVR's dealer lookup does)
        if merged.get("area_code") and not merged.get("province") and merged["area_code"] in AREA_CODES:
            out["province"] = merged["province"] = AREA_CODES[merged["area_code"]][0]
        if merged.get("province") and not merged.get("region"):
            out["region"] = PROVINCES[merged["province"]][1]
    if res is DEALERS:
        if not merged.get("province") and merged.get("area_code") in AREA_CODES:
            out["province"] = AREA_CODES[merged["area_code"]][0]
        elif not merged.get("province") and not any(p.field == "province" for p in problems):
            problems.append(CrmError("province", "is required"))
        if not merged.get("city") and merged.get("area_code") in AREA_CODES:
            out["city"] = AREA_CODES[merged["area_code"]][1]
    if res is REPAIR_CENTERS:
        code = merged.get("area_code")
        if not merged.get("region") and code in AREA_CODES:
            out["region"] = PROVINCES[AREA_CODES[code][0]][1]
    if res is PRODUCTS or res is PARTS:
        if not merged.get("name_zh") and not merged.get("name_en"):
            if not any(p.field in ("name_zh", "name_en") for p in problems):
                problems.append(CrmError("name_zh", "give the name in Chinese or in English"))
        # both languages are spoken by the IVR: one name serves both when only one is given
        elif not merged.get("name_zh"):
            out["name_zh"] = merged["name_en"]
        elif not merged.get("name_en"):
            out["name_en"] = merged["name_zh"]
    if res is PARTS and out.get("fits"):
        known = {p.model for p in Product.select(Product.model).where(Product.model.in_(out["fits"]))}
        missing = [m for m in out["fits"] if m not in known]
        if missing:
            problems.append(CrmError("fits", "no product with model %(model)s", model=", ".join(missing)))
    return out, problems


def _clean_phones(value: Any) -> list[dict[str, str]]:
    """[{"number", "kind"}] from a list of dicts or strings ("13800138000", "landline:01062345678")."""
    if isinstance(value, str):
        value = [v for v in re.split(r"[;；\n]+", value) if v.strip()]
    if not isinstance(value, list):
        raise CrmError("phones", "must be a list of numbers")
    out: list[dict[str, str]] = []
    for item in value:
        if isinstance(item, dict):
            number, kind = item.get("number"), item.get("kind") or ""
        elif isinstance(item, str):
            kind, _, number = item.rpartition(":")
        else:
            raise CrmError("phones", "must be a list of numbers")
        if number is None or not str(number).strip():
            continue
        normalized = _phone(number, Field("phones"))
        kind = str(kind).strip().casefold()
        kind = {"手机": "mobile", "电话": "landline", "座机": "landline", "传真": "fax", "单位": "work"}.get(kind, kind)
        if not kind:
            kind = "mobile" if re.fullmatch(r"1[3-9]\d{9}", normalized or "") else "landline"
        if kind not in PHONE_KINDS:
            raise CrmError("phones", "unknown kind %(value)s", value=repr(kind[:20]))
        if any(p["number"] == normalized for p in out):
            raise CrmError("phones", "listed twice")
        out.append({"number": normalized, "kind": kind})
    if len(out) > 20:
        raise CrmError("phones", "at most %(max)d numbers", max=20)
    return out


def _check_unique(res: Resource, values: dict[str, Any], item_id: int | None) -> None:
    m = res.model
    for name in res.unique:
        value = values.get(name)
        if value in (None, ""):
            continue
        other = m.get_or_none((getattr(m, name) == value) & (m.id != (item_id or 0)))
        if other is not None:
            label = getattr(other, "name", None) or getattr(other, "name_zh", None) or ""
            raise CrmError(name, "is already used by %(other)s", 409, other=f"{label} (#{other.id})".strip())


def _save(res: Resource, values: dict[str, Any], row: Any | None, now: float) -> Any:
    cols = {k: v for k, v in values.items() if k not in ("phones", "fits")}
    if res.timestamps:
        cols["updated_at"] = now
    m = res.model
    if row is None:
        if res.timestamps:
            cols["created_at"] = now
        try:
            with m._meta.database.atomic():
                row = m.create(**cols)
        except peewee.IntegrityError:
            _check_unique(res, values, None)
            raise
    elif cols:
        try:
            with m._meta.database.atomic():
                m.update(**cols).where(m.id == row.id).execute()
        except peewee.IntegrityError:
            _check_unique(res, values, row.id)
            raise
    if res is CUSTOMERS and values.get("phones") is not None:
        CustomerPhone.delete().where(CustomerPhone.customer == row.id).execute()
        if values["phones"]:
            CustomerPhone.insert_many([{"customer": row.id, **p} for p in values["phones"]]).execute()
    if res is PARTS and values.get("fits") is not None:
        SparePartFit.delete().where(SparePartFit.part == row.id).execute()
        if values["fits"]:
            SparePartFit.insert_many([{"part": row.id, "product_model": mdl} for mdl in values["fits"]]).execute()
    return row


def target(res: Resource, item: dict[str, Any]) -> str:
    """The audit log's target for a row: "customers/12 张伟"."""
    label = item.get("name") or item.get("name_zh") or item.get("model") or item.get("part_no") or ""
    return f"{res.key}/{item['id']} {label}".strip()[:255]


def create(res: Resource, data: dict[str, Any], actor: str, address: str, now: float | None = None) -> dict:
    """Add a row (write thread); audited as <noun>.create."""
    values = clean(res, data)
    _check_unique(res, values, None)
    row = _save(res, values, None, time.time() if now is None else now)
    item = get(res, row.id)
    audit.record(actor, address, f"{res.noun}.create", target(res, item), None, snapshot(item))
    return item


def update(res: Resource, item_id: int, data: dict[str, Any], actor: str, address: str,
           now: float | None = None) -> dict:
    """Change the fields given (write thread); audited as <noun>.update with before and after."""
    before = get(res, item_id)
    values = clean(res, data, before)
    _check_unique(res, values, item_id)
    row = res.model.get_by_id(item_id)
    _save(res, values, row, time.time() if now is None else now)
    after = get(res, item_id)
    b, a = snapshot(before), snapshot(after)
    if b != a:
        audit.record(actor, address, f"{res.noun}.update", target(res, after),
                     {k: v for k, v in b.items() if a.get(k) != v}, {k: v for k, v in a.items() if b.get(k) != v})
    return after


def delete(res: Resource, item_id: int, actor: str, address: str) -> dict:
    """Remove a row (write thread); audited as <noun>.delete with what it held."""
    before = get(res, item_id)
    res.model.delete().where(res.model.id == item_id).execute()
    audit.record(actor, address, f"{res.noun}.delete", target(res, before), snapshot(before), None)
    return before


# ------------------------------------------------------------------ a customer's history

def number_variants(numbers: Iterable[str]) -> list[str]:
    """The forms a stored number may have as a caller id on a line (+86, 0086, 86, trunk 0)."""
    out: list[str] = []
    for n in numbers:
        forms = [n, f"+86{n.lstrip('0') if n.startswith('0') else n}", f"0086{n.lstrip('0') if n.startswith('0') else n}"]
        if re.fullmatch(r"1[3-9]\d{9}", n):
            forms += [f"0{n}", f"86{n}"]
        out += [f for f in forms if f not in out]
    return out


def history(customer_id: int, limit: int = 50) -> dict[str, Any]:
    """The customer with calls (by their numbers, newest first), tickets (theirs or from their numbers) and
    fax jobs (to their numbers or on their calls)."""
    customer = get(CUSTOMERS, customer_id)
    numbers = [p["number"] for p in customer["phones"]]
    variants = number_variants(numbers)
    calls = []
    if variants:
        q = (Cdr.select().where(((Cdr.caller_id.in_(variants)) | (Cdr.dialed.in_(variants)))
                                & Cdr.parent_uuid.is_null())
             .order_by(Cdr.offered_at.desc()).limit(limit))
        for c in q:
            calls.append({"call_uuid": c.call_uuid, "direction": c.direction, "caller_id": c.caller_id,
                          "dialed": c.dialed, "offered_at": c.offered_at, "duration": round(c.duration, 1),
                          "talk_seconds": round(c.talk_seconds, 1), "disposition": c.disposition, "peer": c.peer,
                          "recording": bool(c.recording)})
    cond = Ticket.customer == customer_id
    if numbers:
        cond = cond | Ticket.caller_number.in_(numbers)
    tickets = [{"id": t.id, "ticket_no": t.ticket_no, "type": t.type, "status": t.status, "priority": t.priority,
                "summary": t.summary, "owner": t.owner, "created_at": t.created_at, "due_at": t.due_at,
                "updated_at": t.updated_at}
               for t in Ticket.select().where(cond).order_by(Ticket.created_at.desc()).limit(limit)]
    uuids = [c["call_uuid"] for c in calls]
    fcond = None
    if numbers:
        fcond = FaxJob.number.in_(numbers)
    if uuids:
        fcond = FaxJob.call_uuid.in_(uuids) if fcond is None else fcond | FaxJob.call_uuid.in_(uuids)
    faxes = [] if fcond is None else [
        {"id": f.id, "document": f.document, "number": f.number, "status": f.status, "pages": f.pages,
         "attempts": f.attempts, "created_at": f.created_at, "call_uuid": f.call_uuid}
        for f in FaxJob.select().where(fcond).order_by(FaxJob.created_at.desc()).limit(limit)]
    return {"customer": customer, "calls": calls, "tickets": tickets, "faxes": faxes}
