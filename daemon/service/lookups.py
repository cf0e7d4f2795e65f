"""The IVR's window on the service data: allow-listed lookups, caller id, member PINs, new tickets and tasks.

Every function here runs inside a database thread: ``store.read`` for lookups and ``verify_member_pin``
(scrypt takes tens of milliseconds: keep it off the writer), ``store.write`` for the ``create_*`` helpers. Queries are peewee expressions over allow-listed
columns only; a caller's digits are never spliced into SQL.
"""
from __future__ import annotations

import difflib
import enum
import hashlib
import re
import secrets
import time
from typing import Any, Callable, Iterable

import peewee
from playhouse.shortcuts import model_to_dict

from ..errors import HotlineError
from ..store.models import Base
from ..store.service_models import (
    Callback, CallbackStatus, Customer, CustomerPhone, Dealer, FaxJob, FaxStatus, Faq, Order, Product,
    RepairCenter, Ticket, TicketHistory, TicketPriority, TicketStatus, TicketType, Voicemail, Warranty,
    WaterAccount)
from ..box.users import verify_password
from ..box import localtime
from ..errors import HotlineError
from ..store.models import Base
from ..store.service_models import (
    Callback, CallbackStatus, Customer, CustomerPhone, Dealer, FaxJob, FaxStatus, Faq, Order, Product,
    RepairCenter, Ticket, TicketHistory, TicketPriority, TicketStatus, TicketType, Voicemail, Warranty,
    WaterAccount)
from ..box.users import verify_password


class ServiceDataError(HotlineError):
    """A lookup or service-data request names something that does not exist or is malformed."""


# ------------------------------------------------------------------ geography (real codes, short names)

REGIONS: dict[str, tuple[str, str]] = {  # Chinese name -> (key a flow may use, English name)
    "华北": ("north", "North China"), "东北": ("northeast", "Northeast China"),
    "华东": ("east", "East China"), "华中": ("central", "Central China"), "华南": ("south", "South China"),
    "西南": ("southwest", "Southwest China"), "西北": ("northwest", "Northwest China")}

PROVINCES: dict[str, tuple[str, str]] = {  # short Chinese name -> (English name, region)
    "北京": ("Beijing", "华北"), "天津": ("Tianjin", "华北"), "河北": ("Hebei", "华北"),
    "山西": ("Shanxi", "华北"), "内蒙古": ("Inner Mongolia", "华北"), "辽宁": ("Liaoning", "东北"),
    "吉林": ("Jilin", "东北"), "黑龙江": ("Heilongjiang", "东北"), "上海": ("Shanghai", "华东"),
    "江苏": ("Jiangsu", "华东"), "浙江": ("Zhejiang", "华东"), "安徽": ("Anhui", "华东"),
    "福建": ("Fujian", "华东"), "江西": ("Jiangxi", "华东"), "山东": ("Shandong", "华东"),
    "台湾": ("Taiwan", "华东"), "河南": ("Henan", "华中"), "湖北": ("Hubei", "华中"),
    "湖南": ("Hunan", "华中"), "广东": ("Guangdong", "华南"), "广西": ("Guangxi", "华南"),
    "海南": ("Hainan", "华南"), "香港": ("Hong Kong", "华南"), "澳门": ("Macau", "华南"),
    "重庆": ("Chongqing", "西南"), "四川": ("Sichuan", "西南"), "贵州": ("Guizhou", "西南"),
    "云南": ("Yunnan", "西南"), "西藏": ("Tibet", "西南"), "陕西": ("Shaanxi", "西北"),
    "甘肃": ("Gansu", "西北"), "青海": ("Qinghai", "西北"), "宁夏": ("Ningxia", "西北"),
    "新疆": ("Xinjiang", "西北")}

AREA_CODES: dict[str, tuple[str, str]] = {  # long-distance code -> (province, city)
    "010": ("北京", "北京"), "022": ("天津", "天津"), "021": ("上海", "上海"), "023": ("重庆", "重庆"),
    "020": ("广东", "广州"), "0755": ("广东", "深圳"), "0769": ("广东", "东莞"), "0757": ("广东", "佛山"),
    "028": ("四川", "成都"), "027": ("湖北", "武汉"), "029": ("陕西", "西安"), "025": ("江苏", "南京"),
    "0512": ("江苏", "苏州"), "0510": ("江苏", "无锡"), "0571": ("浙江", "杭州"), "0574": ("浙江", "宁波"),
    "0532": ("山东", "青岛"), "0531": ("山东", "济南"), "024": ("辽宁", "沈阳"), "0411": ("辽宁", "大连"),
    "0731": ("湖南", "长沙"), "0591": ("福建", "福州"), "0592": ("福建", "厦门"), "0371": ("河南", "郑州"),
    "0311": ("河北", "石家庄"), "0351": ("山西", "太原"), "0471": ("内蒙古", "呼和浩特"),
    "0431": ("吉林", "长春"), "0451": ("黑龙江", "哈尔滨"), "0551": ("安徽", "合肥"),
    "0791": ("江西", "南昌"), "0771": ("广西", "南宁"), "0898": ("海南", "海口"), "0851": ("贵州", "贵阳"),
    "0871": ("云南", "昆明"), "0891": ("西藏", "拉萨"), "0931": ("甘肃", "兰州"), "0971": ("青海", "西宁"),
    "0951": ("宁夏", "银川"), "0991": ("新疆", "乌鲁木齐")}

_PROVINCE_BY_EN = {en.replace(" ", "").casefold(): zh for zh, (en, _) in PROVINCES.items()}
_REGION_BY_KEY = {k: zh for zh, (key, en) in REGIONS.items() for k in (key, en.replace(" ", "").casefold())}

# ------------------------------------------------------------------ normalizers: caller input -> stored form

Normalizer = Callable[[str], "str | None"]


def _digits(value: str) -> str | None:
    digits = re.sub(r"\D", "", value)
    return digits or None


def _code(value: str) -> str | None:
    code = re.sub(r"[\s\-_./]", "", value).upper()
    return code or None


def _area_code(value: str) -> str | None:
    digits = re.sub(r"^(0086|86)(?=\d{2,3}$)", "", _digits(value) or "")  # +86 755: international form
    return None if not digits else digits if digits.startswith("0") else "0" + digits


def _ticket_no(value: str) -> str | None:
    """T20261122-0001 from itself or from the digits a caller keys (2026112201 or 202611220001)."""
    digits = _digits(value)
    if not digits or len(digits) < 9:
        return None
    return f"T{digits[:8]}-{int(digits[8:]):04d}"


def _province(value: str) -> str | None:
    name = re.sub(r"\s", "", value)
    name = re.sub(r"(壮族自治区|回族自治区|维吾尔自治区|自治区|特别行政区|省|市)$", "", name)
    return _PROVINCE_BY_EN.get(name.casefold(), name) or None


def _region(value: str) -> str | None:
    name = re.sub(r"\s", "", value)
    name = re.sub(r"地区$", "", name)
    return _REGION_BY_KEY.get(name.casefold(), name) or None


def _district(value: str) -> str | None:
    name = re.sub(r"\s", "", value)
    return re.sub(r"(区|县)$", "", name) or None


def normalize_number(number: str) -> str | None:
    """A phone number in the form customer records keep: 13800138000, 01062345678, or local digits.

    Accepts the caller-id variants a line delivers: +86/0086/86 prefixes, a trunk 0 before a mobile
    number, spaces and dashes.
    """
    raw = str(number).strip()
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return None
    international = False
    if digits.startswith("0086"):
        digits, international = digits[4:], True
    elif raw.startswith("+86") or (digits.startswith("86") and len(digits) == 13 and digits[2] == "1"):
        digits, international = digits[2:], True
    if re.fullmatch(r"01[3-9]\d{9}", digits):  # trunk prefix in front of a mobile number
        return digits[1:]
    if re.fullmatch(r"1[3-9]\d{9}", digits):
        return digits
    if international and not digits.startswith("0"):
        return "0" + digits  # +86 10 62345678 -> 01062345678
    return digits


# ------------------------------------------------------------------ money, dates, rows

def money(cents: int | None) -> str | None:
    """Integer cents as an exact decimal string: 1205 -> '12.05', -50 -> '-0.50'."""
    if cents is None:
        return None
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _date(ts: float | None) -> str | None:
    return None if ts is None else localtime.fmt(ts, localtime.current(), "date")


def customer_dict(c: Customer) -> dict[str, Any]:
    """The exposed fields of a customer (never the PIN hash)."""
    phone = (CustomerPhone.select(CustomerPhone.number).where(CustomerPhone.customer == c.id)
             .order_by(CustomerPhone.id).first())
    return {"customer_id": c.id, "name": c.name, "member_no": c.member_no, "vip": bool(c.vip),
            "phone": phone.number if phone else None, "district": c.district, "region": c.region,
            "province": c.province, "area_code": c.area_code, "address": c.address, "language": c.language}


def _product(p: Product) -> dict[str, Any]:
    return {"model": p.model, "category": p.category, "name_zh": p.name_zh, "name_en": p.name_en,
            "specs_zh": p.specs_zh, "specs_en": p.specs_en, "price_cents": p.price_cents,
            "price": money(p.price_cents), "stock": p.stock, "active": bool(p.active)}


def _place(row: Dealer | RepairCenter, match: str) -> dict[str, Any]:
    out = {"name": row.name, "area_code": row.area_code, "address": row.address, "phone": row.phone,
           "match": match}
    if isinstance(row, Dealer):
        out.update(province=row.province, province_en=PROVINCES.get(row.province, (None,))[0], city=row.city)
    else:
        out.update(region=row.region, region_en=REGIONS.get(row.region or "", (None, None))[1],
                   district=row.district, authorized=bool(row.authorized))
    return out


def _warranty(w: Warranty) -> dict[str, Any]:
    product = Product.get_or_none(Product.model == w.product_model)
    return {"serial_no": w.serial_no, "card_no": w.card_no, "product_model": w.product_model,
            "product_name_zh": product.name_zh if product else None,
            "product_name_en": product.name_en if product else None, "purchased_on": w.purchased_on,
            "warranty_until": w.warranty_until,
            "in_warranty": w.warranty_until >= localtime.fmt(time.time(), localtime.current(), "date"), "customer_id": w.customer_id}


def _order(o: Order) -> dict[str, Any]:
    return {"order_no": o.order_no, "status": o.status, "amount_cents": o.amount_cents,
            "amount": money(o.amount_cents), "description": o.description, "customer_id": o.customer_id,
            "created_date": _date(o.created_at), "updated_date": _date(o.updated_at)}


def _water(a: WaterAccount) -> dict[str, Any]:
    name = a.customer.name if a.customer_id else None
    return {"account_no": a.account_no, "customer_id": a.customer_id, "customer_name": name,
            "district": a.district, "address": a.address, "meter_no": a.meter_no,
            "balance_cents": a.balance_cents, "balance": money(a.balance_cents),
            "last_bill_cents": a.last_bill_cents, "last_bill": money(a.last_bill_cents),
            "last_bill_month": a.last_bill_month}


def ticket_dict(t: Ticket) -> dict[str, Any]:
    """The exposed fields of a ticket, with its repair center's name and phone."""
    rc = RepairCenter.get_or_none(RepairCenter.id == t.repair_center_id) if t.repair_center_id else None
    return {"ticket_no": t.ticket_no, "type": t.type, "status": t.status, "priority": t.priority,
            "customer_id": t.customer_id, "caller_number": t.caller_number, "district": t.district,
            "repair_center_id": t.repair_center_id, "repair_center_name": rc.name if rc else None,
            "repair_center_phone": rc.phone if rc else None, "call_uuid": t.call_uuid, "summary": t.summary,
            "created_at": t.created_at, "due_at": t.due_at, "updated_at": t.updated_at,
            "created_date": _date(t.created_at), "due_date": _date(t.due_at)}


# ------------------------------------------------------------------ finders: (by, normalized key) -> dict

def _first(query: peewee.ModelSelect) -> Any:
    return query.limit(1).first()


def _best_place(model: type[Dealer] | type[RepairCenter], by: str, key: str) -> dict | None:
    """Exact area code first; else the area code's province (dealers) or region (repair centers)."""
    order = (model.id,) if model is Dealer else (model.authorized.desc(), model.id)
    if by != "area_code":
        row = _first(model.select().where(getattr(model, by) == key).order_by(*order))
        return _place(row, by) if row else None
    row = _first(model.select().where(model.area_code == key).order_by(*order))
    if row:
        return _place(row, "area_code")
    province = AREA_CODES.get(key, (None,))[0]
    if province is None:
        return None
    if model is Dealer:
        row = _first(Dealer.select().where(Dealer.province == province).order_by(*order))
        return _place(row, "province") if row else None
    region = PROVINCES[province][1]
    row = _first(RepairCenter.select().where(RepairCenter.region == region).order_by(*order))
    return _place(row, "region") if row else None


def _by_phone(number: str) -> peewee.ModelSelect:
    return CustomerPhone.select(CustomerPhone.customer).where(CustomerPhone.number == number)


def _find_customer(by: str, key: str) -> dict | None:
    where = Customer.id.in_(_by_phone(key)) if by == "phone" else Customer.member_no == key
    row = _first(Customer.select().where(where).order_by(Customer.id))
    return customer_dict(row) if row else None


def _find_water(by: str, key: str) -> dict | None:
    where = WaterAccount.customer.in_(_by_phone(key)) if by == "phone" else getattr(WaterAccount, by) == key
    row = _first(WaterAccount.select().where(where).order_by(WaterAccount.id))
    return _water(row) if row else None


def _find_ticket(by: str, key: str) -> dict | None:
    order = (Ticket.created_at.desc(), Ticket.id.desc())  # by caller: their latest ticket
    row = _first(Ticket.select().where(getattr(Ticket, by) == key).order_by(*order))
    return ticket_dict(row) if row else None


def _simple(model: type[Base], to_dict: Callable[[Any], dict]) -> Callable[[str, str], dict | None]:
    def find(by: str, key: str) -> dict | None:
        row = _first(model.select().where(getattr(model, by) == key).order_by(model.id))
        return to_dict(row) if row else None
    return find


_FAQ_FIELDS = ["code", "question_zh", "question_en", "answer_zh", "answer_en", "product_model"]
_PLACE = ["name", "area_code", "address", "phone", "match"]

TABLES: dict[str, dict[str, Any]] = {
    "products": {"by": {"model": _code}, "fields": [
        "model", "category", "name_zh", "name_en", "specs_zh", "specs_en", "price_cents", "price",
        "stock", "active"], "find": _simple(Product, _product)},
    "dealers": {"by": {"area_code": _area_code, "province": _province},
                "fields": _PLACE + ["province", "province_en", "city"],
                "find": lambda by, key: _best_place(Dealer, by, key)},
    "repair_centers": {"by": {"area_code": _area_code, "region": _region, "district": _district},
                       "fields": _PLACE + ["region", "region_en", "district", "authorized"],
                       "find": lambda by, key: _best_place(RepairCenter, by, key)},
    "faq": {"by": {"code": _digits, "product_model": _code}, "fields": _FAQ_FIELDS,
            "find": _simple(Faq, lambda f: {k: getattr(f, k) for k in _FAQ_FIELDS})},
    "warranties": {"by": {"serial_no": _code, "card_no": _code}, "fields": [
        "serial_no", "card_no", "product_model", "product_name_zh", "product_name_en", "purchased_on",
        "warranty_until", "in_warranty", "customer_id"], "find": _simple(Warranty, _warranty)},
    "orders": {"by": {"order_no": _code}, "fields": [
        "order_no", "status", "amount_cents", "amount", "description", "customer_id", "created_date",
        "updated_date"], "find": _simple(Order, _order)},
    "water_accounts": {"by": {"account_no": _code, "meter_no": _code, "phone": normalize_number}, "fields": [
        "account_no", "customer_id", "customer_name", "district", "address", "meter_no", "balance_cents",
        "balance", "last_bill_cents", "last_bill", "last_bill_month"], "find": _find_water},
    "tickets": {"by": {"ticket_no": _ticket_no, "caller_number": normalize_number}, "fields": [
        "ticket_no", "type", "status", "priority", "customer_id", "caller_number", "district",
        "repair_center_id", "repair_center_name", "repair_center_phone", "call_uuid", "summary",
        "created_at", "due_at", "updated_at", "created_date", "due_date"], "find": _find_ticket},
    "customers": {"by": {"phone": normalize_number, "member_no": _code}, "fields": [
        "customer_id", "name", "member_no", "vip", "phone", "district", "region", "province", "area_code",
        "address", "language"], "find": _find_customer},
}


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def validate_lookup(table: str, by: str, fields: Iterable[str] = ()) -> str | None:
    """Why a flow's lookup cannot work (unknown table, key or field, with a suggestion), or None."""
    if table not in TABLES:
        return f"lookup: unknown table {table!r}{_did_you_mean(table, TABLES)}; " \
               f"known tables: {', '.join(sorted(TABLES))}"
    spec = TABLES[table]
    if by not in spec["by"]:
        return f"lookup: table {table!r} cannot be searched by {by!r}{_did_you_mean(by, spec['by'])}; " \
               f"it can be searched by: {', '.join(spec['by'])}"
    for field in fields:
        if field not in spec["fields"]:
            return f"lookup: table {table!r} has no field {field!r}{_did_you_mean(field, spec['fields'])}"
    return None


def lookup(table: str, by: str, value: Any) -> dict[str, Any] | None:
    """The row of ``table`` whose ``by`` field matches the caller's ``value`` as a flat dict, or None."""
    problem = validate_lookup(table, by)
    if problem:
        raise ServiceDataError(problem)
    spec = TABLES[table]
    key = spec["by"][by](str(value)) if value is not None else None
    if key is None or len(key) > 64:
        return None
    return spec["find"](by, key)


def customer_by_caller_id(number: str | None) -> dict[str, Any] | None:
    """The customer owning this caller id in any of its +86/0086/0 forms, or None."""
    key = normalize_number(number) if number else None
    return _find_customer("phone", key) if key else None


# ------------------------------------------------------------------ member PINs

PIN_SCRYPT_N = 2**14
_DUMMY_HASH: list[str] = []  # verified against when the member is unknown, so both take as long


def hash_pin(pin: str, cost: int = PIN_SCRYPT_N) -> str:
    """scrypt hash of a 4-8 digit PIN, in the self-describing form users.hash_password writes."""
    if not re.fullmatch(r"\d{4,8}", pin or ""):
        raise ServiceDataError("a member PIN is 4 to 8 digits")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, dklen=32, n=cost, r=8, p=1)
    return f"scrypt${cost}$8$1${salt.hex()}${digest.hex()}"


def verify_member_pin(member_no: str | None, pin: str | None) -> dict[str, Any] | None:
    """The member's customer dict when the PIN is right, else None (constant time, unknown or not)."""
    key = _code(str(member_no)) if member_no else None
    row = Customer.get_or_none(Customer.member_no == key) if key else None
    stored = row.pin_hash if row is not None else None
    if not stored:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(hash_pin(f"{secrets.randbelow(10**6):06d}"))
        stored = _DUMMY_HASH[0]
    ok = verify_password(str(pin or ""), stored)  # hmac.compare_digest inside
    return customer_dict(row) if ok and row is not None and row.pin_hash else None


# ------------------------------------------------------------------ new tickets and tasks (write thread)

DUE_HOURS = {TicketPriority.URGENT: 4, TicketPriority.HIGH: 24, TicketPriority.NORMAL: 72, TicketPriority.LOW: 168}


def _enum(kind: type[enum.Enum], value: Any, what: str) -> Any:
    try:
        return kind(value.value if isinstance(value, enum.Enum) else value)
    except ValueError:
        names = [m.value for m in kind]
        raise ServiceDataError(f"{what} {value!r}: expected one of {', '.join(names)}"
                               f"{_did_you_mean(str(value), names)}") from None


def next_ticket_no(now: float) -> str:
    """The next free ticket number of the local day of ``now``: T20261122-0001, -0002, ..."""
    prefix = "T" + localtime.fmt(now, localtime.current(), "compact") + "-"
    last = _first(Ticket.select(Ticket.ticket_no).where(Ticket.ticket_no.startswith(prefix))
                  .order_by(peewee.fn.LENGTH(Ticket.ticket_no).desc(), Ticket.ticket_no.desc()))
    return f"{prefix}{int(last.ticket_no[len(prefix):]) + 1 if last else 1:04d}"


def create_ticket(type: TicketType | str, summary: str = "", *, caller_number: str | None = None,
                  customer_id: int | None = None, district: str | None = None,
                  repair_center_id: int | None = None, call_uuid: str | None = None,
                  priority: TicketPriority | str = TicketPriority.NORMAL, actor: str = "ivr",
                  now: float | None = None) -> dict[str, Any]:
    """Open a ticket; the customer comes from the caller id and the repair station from the district."""
    kind, prio = _enum(TicketType, type, "ticket type"), _enum(TicketPriority, priority, "ticket priority")
    now = time.time() if now is None else now
    number = normalize_number(caller_number) if caller_number else None
    customer = None
    if customer_id is not None:
        customer = Customer.get_or_none(Customer.id == customer_id)
        if customer is None:
            raise ServiceDataError(f"ticket: no customer with id {customer_id}")
    elif number:
        customer = _first(Customer.select().where(Customer.id.in_(_by_phone(number))).order_by(Customer.id))
    if district is None and customer is not None:
        acct = _first(WaterAccount.select(WaterAccount.district).where(
            WaterAccount.customer == customer.id, WaterAccount.district.is_null(False)).order_by(WaterAccount.id))
        district = customer.district or (acct.district if acct else None)
    district = _district(district) if district else None
    if repair_center_id is not None and RepairCenter.get_or_none(RepairCenter.id == repair_center_id) is None:
        raise ServiceDataError(f"ticket: no repair center with id {repair_center_id}")
    if repair_center_id is None and district:
        rc = _first(RepairCenter.select(RepairCenter.id).where(RepairCenter.district == district)
                    .order_by(RepairCenter.authorized.desc(), RepairCenter.id))
        repair_center_id = rc.id if rc else None
    status = TicketStatus.ASSIGNED if repair_center_id else TicketStatus.OPEN
    for attempt in range(5):  # another process (the CLI, a second daemon) may take the same number
        try:
            with Ticket._meta.database.atomic():
                ticket = Ticket.create(
                    ticket_no=next_ticket_no(now), type=kind.value, status=status.value, priority=prio.value,
                    customer=customer.id if customer else None, caller_number=number, district=district,
                    repair_center=repair_center_id, call_uuid=call_uuid, summary=summary or "",
                    created_at=now, due_at=now + DUE_HOURS[prio] * 3600, updated_at=now)
            break
        except peewee.IntegrityError:
            if attempt == 4:
                raise ServiceDataError("ticket: could not allocate a ticket number") from None
    TicketHistory.create(ticket=ticket.id, ts=now, actor=actor, action="opened", note=summary or "")
    return ticket_dict(ticket)


def create_callback(number: str, queue: str, *, call_uuid: str | None = None, joined_at: float | None = None,
                    language: str | None = None, note: str = "", now: float | None = None) -> dict[str, Any]:
    """Queue a callback; asking again while one is pending returns that one (keeping its place)."""
    key = normalize_number(number) if number else None
    if not key:
        raise ServiceDataError(f"callback: number {number!r} has no digits")
    if not queue:
        raise ServiceDataError("callback: no queue named")
    now = time.time() if now is None else now
    live = (CallbackStatus.PENDING.value, CallbackStatus.DIALING.value)
    row = _first(Callback.select().where(Callback.number == key, Callback.queue == queue,
                                         Callback.status.in_(live)).order_by(Callback.id))
    if row is None:
        row = Callback.create(number=key, call_uuid=call_uuid, queue=queue, status=CallbackStatus.PENDING.value,
                              attempts=0, language=language, created_at=now, updated_at=now,
                              next_attempt_at=now, joined_at=now if joined_at is None else joined_at, note=note)
    return model_to_dict(row)


def create_fax_job(document: str, number: str | None = None, *, call_uuid: str | None = None,
                   now: float | None = None, requested_by: str | None = None) -> dict[str, Any]:
    """Queue a fax of ``document`` to ``number``, or back on the same call when number is None (status queued:
    the fax queue sends it, or marks it "no fax engine" while none is plugged in)."""
    from ..fax.jobs import FaxError, create_out
    key = normalize_number(number) if number else None
    if number and not key:
        raise ServiceDataError(f"fax: number {number!r} has no digits")
    try:
        return create_out(document, key, call_uuid=call_uuid, requested_by=requested_by, now=now)
    except FaxError as exc:
        raise ServiceDataError(str(exc)) from None


def create_voicemail(mailbox: str, path: str, *, call_uuid: str | None = None, caller_number: str | None = None,
                     seconds: float = 0.0, now: float | None = None) -> dict[str, Any]:
    """Record a new (unread) message whose audio file is ``path``."""
    if not mailbox or not path:
        raise ServiceDataError("voicemail: mailbox and path are required")
    row = Voicemail.create(mailbox=mailbox, call_uuid=call_uuid, path=str(path), seconds=float(seconds),
                           caller_number=normalize_number(caller_number) if caller_number else None,
                           created_at=time.time() if now is None else now, unread=True)
    return model_to_dict(row)
