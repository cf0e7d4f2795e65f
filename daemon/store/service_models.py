"""peewee models over the hotline's service data (migration 2): customers, catalogue, tickets, tasks."""
from __future__ import annotations

import enum

import peewee

from .models import Base


class ProductCategory(enum.Enum):
    """What kind of thing a product is (the printer vendor's catalogue menus)."""

    INKJET = "inkjet"
    LASER = "laser"
    DOT_MATRIX = "dot_matrix"
    NETWORK_CARD = "network_card"
    ACCESSORY = "accessory"
    CONSUMABLE = "consumable"
    SPARE_PART = "spare_part"


class OrderStatus(enum.Enum):
    """Where a sales order is."""

    RECEIVED = "received"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class TicketType(enum.Enum):
    """What a service ticket is about (printer repair or a water utility fault category)."""

    REPAIR = "repair"
    NO_WATER = "no_water"
    LOW_PRESSURE = "low_pressure"
    LEAK = "leak"
    WATER_QUALITY = "water_quality"
    METER = "meter"
    BILLING = "billing"
    COMPLAINT = "complaint"
    ENQUIRY = "enquiry"
    OTHER = "other"


class TicketStatus(enum.Enum):
    """Life of a ticket."""

    OPEN = "open"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TicketPriority(enum.Enum):
    """How soon a ticket is due (see lookups.DUE_HOURS)."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class CallbackStatus(enum.Enum):
    """Life of a callback request."""

    PENDING = "pending"
    DIALING = "dialing"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FaxStatus(enum.Enum):
    """Life of a fax, either direction (migration 13): out queued -> dialling -> sending -> sent | failed;
    in receiving -> received | failed. ``failed`` always carries a reason (FaxReason)."""

    QUEUED = "queued"
    DIALLING = "dialling"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    RECEIVING = "receiving"
    RECEIVED = "received"


class FaxDirection(enum.Enum):
    """Which way a fax goes."""

    IN = "in"
    OUT = "out"


class Customer(Base):
    """A caller the business knows: water customer, printer owner or sales-desk member."""

    name = peewee.CharField()
    member_no = peewee.CharField(unique=True, null=True)
    pin_hash = peewee.CharField(null=True)
    vip = peewee.BooleanField(default=False)
    district = peewee.CharField(null=True)
    region = peewee.CharField(null=True)
    province = peewee.CharField(null=True)
    area_code = peewee.CharField(null=True)
    address = peewee.CharField(null=True)
    email = peewee.CharField(null=True)
    language = peewee.CharField(default="zh_CN")
    created_at = peewee.DoubleField()
    updated_at = peewee.DoubleField()
    notes = peewee.TextField(default="")

    class Meta:
        table_name = "customers"


class CustomerPhone(Base):
    """One contact number of a customer, stored normalized (see lookups.normalize_number)."""

    customer = peewee.ForeignKeyField(Customer, backref="phones", on_delete="CASCADE")
    number = peewee.CharField()
    kind = peewee.CharField(default="mobile")  # mobile | landline | fax | work

    class Meta:
        table_name = "customer_phones"


class Product(Base):
    """A catalogue item; ``model`` is digits a caller can key. Money is integer cents."""

    model = peewee.CharField(unique=True)
    category = peewee.CharField()
    name_zh = peewee.CharField()
    name_en = peewee.CharField()
    specs_zh = peewee.TextField(default="")
    specs_en = peewee.TextField(default="")
    price_cents = peewee.BigIntegerField()
    stock = peewee.IntegerField(default=0)
    active = peewee.BooleanField(default=True)

    class Meta:
        table_name = "products"


class Dealer(Base):
    """A reseller, found by area code or province."""

    name = peewee.CharField()
    province = peewee.CharField()
    area_code = peewee.CharField(null=True)
    city = peewee.CharField(null=True)
    address = peewee.CharField(null=True)
    phone = peewee.CharField(null=True)

    class Meta:
        table_name = "dealers"


class RepairCenter(Base):
    """A printer repair center (by region/area code) or a utility repair station (by district)."""

    name = peewee.CharField()
    region = peewee.CharField(null=True)
    district = peewee.CharField(null=True)
    area_code = peewee.CharField(null=True)
    address = peewee.CharField(null=True)
    phone = peewee.CharField(null=True)
    authorized = peewee.BooleanField(default=True)

    class Meta:
        table_name = "repair_centers"


class Faq(Base):
    """A spoken answer keyed by digits (usually the product model)."""

    code = peewee.CharField(unique=True)
    question_zh = peewee.TextField(default="")
    question_en = peewee.TextField(default="")
    answer_zh = peewee.TextField(default="")
    answer_en = peewee.TextField(default="")
    product_model = peewee.CharField(null=True)

    class Meta:
        table_name = "faq"


class Warranty(Base):
    """A sold unit by serial number; dates are ISO text (YYYY-MM-DD)."""

    serial_no = peewee.CharField(unique=True)
    product_model = peewee.CharField()
    customer = peewee.ForeignKeyField(Customer, null=True, backref="warranties", on_delete="SET NULL")
    purchased_on = peewee.CharField()
    warranty_until = peewee.CharField()
    card_no = peewee.CharField(unique=True, null=True)

    class Meta:
        table_name = "warranties"


class Order(Base):
    """A sales-desk order."""

    order_no = peewee.CharField(unique=True)
    customer = peewee.ForeignKeyField(Customer, null=True, backref="orders", on_delete="SET NULL")
    status = peewee.CharField()
    amount_cents = peewee.BigIntegerField()
    description = peewee.CharField(default="")
    created_at = peewee.DoubleField()
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "orders"


class WaterAccount(Base):
    """A water utility account; a negative balance is money owed."""

    account_no = peewee.CharField(unique=True)
    customer = peewee.ForeignKeyField(Customer, null=True, backref="water_accounts", on_delete="SET NULL")
    district = peewee.CharField(null=True)
    address = peewee.CharField(null=True)
    meter_no = peewee.CharField(null=True)
    balance_cents = peewee.BigIntegerField(default=0)
    last_bill_cents = peewee.BigIntegerField(null=True)
    last_bill_month = peewee.CharField(null=True)

    class Meta:
        table_name = "water_accounts"


class Ticket(Base):
    """A service record / work order, numbered like T20261122-0001."""

    ticket_no = peewee.CharField(unique=True)
    type = peewee.CharField()
    status = peewee.CharField()
    priority = peewee.CharField()
    customer = peewee.ForeignKeyField(Customer, null=True, backref="tickets", on_delete="SET NULL")
    caller_number = peewee.CharField(null=True)
    district = peewee.CharField(null=True)
    repair_center = peewee.ForeignKeyField(RepairCenter, null=True, backref="tickets", on_delete="SET NULL")
    owner = peewee.CharField(null=True)
    call_uuid = peewee.CharField(null=True)
    summary = peewee.TextField(default="")
    result = peewee.TextField(default="")
    created_at = peewee.DoubleField()
    due_at = peewee.DoubleField(null=True)
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "tickets"


class TicketHistory(Base):
    """One change of a ticket: who, when, what (opened, assigned, escalated, noted, resolved...)."""

    ticket = peewee.ForeignKeyField(Ticket, backref="history", on_delete="CASCADE")
    ts = peewee.DoubleField()
    actor = peewee.CharField()
    action = peewee.CharField()
    note = peewee.TextField(default="")

    class Meta:
        table_name = "ticket_history"


class Callback(Base):
    """A request to call a caller back; ``joined_at`` keeps their original place in the queue."""

    number = peewee.CharField()
    call_uuid = peewee.CharField(null=True)
    queue = peewee.CharField()
    status = peewee.CharField()
    attempts = peewee.IntegerField(default=0)
    language = peewee.CharField(null=True)
    created_at = peewee.DoubleField()
    updated_at = peewee.DoubleField()
    next_attempt_at = peewee.DoubleField(null=True)
    joined_at = peewee.DoubleField(null=True)
    note = peewee.TextField(default="")

    class Meta:
        table_name = "callbacks"


class Voicemail(Base):
    """A message left in a mailbox; the audio file lives under the state directory."""

    mailbox = peewee.CharField()
    call_uuid = peewee.CharField(null=True)
    caller_number = peewee.CharField(null=True)
    path = peewee.CharField(unique=True)
    seconds = peewee.DoubleField(default=0)
    created_at = peewee.DoubleField()
    unread = peewee.BooleanField(default=True)

    class Meta:
        table_name = "voicemails"


class FaxJob(Base):
    """One fax, either direction: out, a document to a number (or back on the same call when number is None);
    in, a fax received from caller_id. ``reason`` says why it failed or why a queued job waits."""

    direction = peewee.CharField(default="out")   # FaxDirection
    call_uuid = peewee.CharField(null=True)
    document = peewee.CharField(default="")
    number = peewee.CharField(null=True)
    caller_id = peewee.CharField(null=True)
    status = peewee.CharField()                   # FaxStatus
    reason = peewee.CharField(null=True)          # FaxReason code (see daemon/fax/jobs.py)
    attempts = peewee.IntegerField(default=0)
    pages = peewee.IntegerField(null=True)        # pages sent or received
    pages_total = peewee.IntegerField(null=True)  # pages of the document (out) or announced (in)
    requested_by = peewee.CharField(null=True)    # the panel user who asked (desk, knowledge base)
    created_at = peewee.DoubleField()
    updated_at = peewee.DoubleField()
    started_at = peewee.DoubleField(null=True)
    finished_at = peewee.DoubleField(null=True)
    next_attempt_at = peewee.DoubleField(null=True)
    detail = peewee.TextField(default="")
    customer_id = peewee.IntegerField(null=True)  # in: the customer the caller's number matched (migration 14)
    ticket_id = peewee.IntegerField(null=True)    # in: the ticket the fax was filed with
    filed_at = peewee.DoubleField(null=True)      # in: when it was filed and queued for mail (daemon/fax/delivery.py)

    class Meta:
        table_name = "fax_jobs"


SERVICE_MODELS: tuple[type[Base], ...] = (
    Customer, CustomerPhone, Product, Dealer, RepairCenter, Faq, Warranty, Order, WaterAccount,
    Ticket, TicketHistory, Callback, Voicemail, FaxJob)


class AgentMessage(Base):
    """A message to one panel user (migration 7): from an agent or supervisor ("message"), or a ticket's
    escalation memo to a supervisor ("escalation"); shown until the recipient acknowledges it."""

    ts = peewee.DoubleField()
    sender = peewee.CharField()
    recipient = peewee.CharField()
    kind = peewee.CharField(default="message")  # message | escalation
    text = peewee.TextField()
    ticket = peewee.ForeignKeyField(Ticket, null=True, backref="memos", on_delete="CASCADE")
    acked_at = peewee.DoubleField(null=True)
    acked_by = peewee.CharField(null=True)

    class Meta:
        table_name = "agent_messages"


# ------------------------------------------------------------------ migration 6: service CRM

class SparePart(Base):
    """A spare part (fuser, roller, board...) with the product models it fits. Money is integer cents."""

    part_no = peewee.CharField(unique=True)
    name_zh = peewee.CharField()
    name_en = peewee.CharField(default="")
    specs_zh = peewee.TextField(default="")
    specs_en = peewee.TextField(default="")
    price_cents = peewee.BigIntegerField()
    stock = peewee.IntegerField(default=0)
    active = peewee.BooleanField(default=True)
    created_at = peewee.DoubleField()
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "spare_parts"


class SparePartFit(Base):
    """A product model a spare part fits (the model string, so reloading the catalogue keeps the links)."""

    part = peewee.ForeignKeyField(SparePart, backref="fits", on_delete="CASCADE")
    product_model = peewee.CharField()

    class Meta:
        table_name = "spare_part_fits"


class Employee(Base):
    """Someone in the company directory: who to transfer to or call back (not necessarily an agent)."""

    name = peewee.CharField()
    department = peewee.CharField(default="")
    title = peewee.CharField(default="")
    extension = peewee.CharField(null=True)
    mobile = peewee.CharField(null=True)
    email = peewee.CharField(null=True)
    notes = peewee.TextField(default="")
    created_at = peewee.DoubleField()
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "employees"


CRM_MODELS: tuple[type[Base], ...] = (SparePart, SparePartFit, Employee)


# ------------------------------------------------------------------ migration 8: knowledge base, work orders

class KbCategory(Base):
    """A knowledge-base category (articles keep existing when it is deleted: they become uncategorized)."""

    name = peewee.CharField(unique=True)
    created_at = peewee.DoubleField()

    class Meta:
        table_name = "kb_categories"


class KbArticle(Base):
    """A knowledge-base article; ``tags`` is a comma-separated list."""

    category = peewee.ForeignKeyField(KbCategory, null=True, backref="articles", on_delete="SET NULL")
    title = peewee.CharField(max_length=200)
    body = peewee.TextField(default="")
    tags = peewee.CharField(max_length=400, default="")
    created_by = peewee.CharField()
    created_at = peewee.DoubleField()
    updated_by = peewee.CharField()
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "kb_articles"


class KbTerm(Base):
    """One search term of an article (a word, or a CJK character or character pair) with its weight."""

    article = peewee.ForeignKeyField(KbArticle, backref="terms", on_delete="CASCADE")
    term = peewee.CharField(max_length=32)
    weight = peewee.IntegerField()

    class Meta:
        table_name = "kb_terms"
        primary_key = peewee.CompositeKey("article", "term")


class WorkOrder(Base):
    """A repair visit dispatched to a repair center; customer contact details are copied when it is made."""

    order_no = peewee.CharField(unique=True)
    status = peewee.CharField()
    ticket = peewee.ForeignKeyField(Ticket, null=True, backref="work_orders", on_delete="SET NULL")
    customer = peewee.ForeignKeyField(Customer, null=True, backref="work_orders", on_delete="SET NULL")
    customer_name = peewee.CharField(default="")
    phone = peewee.CharField(null=True)
    address = peewee.CharField(null=True)
    district = peewee.CharField(null=True)
    area_code = peewee.CharField(null=True)
    region = peewee.CharField(null=True)
    product_model = peewee.CharField(null=True)
    serial_no = peewee.CharField(null=True)
    fault = peewee.TextField()
    repair_center = peewee.ForeignKeyField(RepairCenter, null=True, backref="work_orders", on_delete="SET NULL")
    dispatch_match = peewee.CharField(null=True)
    technician = peewee.CharField(null=True)
    visit_date = peewee.CharField(null=True)
    result = peewee.TextField(default="")
    parts_used = peewee.TextField(default="")
    created_by = peewee.CharField()
    created_at = peewee.DoubleField()
    dispatched_at = peewee.DoubleField(null=True)
    closed_at = peewee.DoubleField(null=True)
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "work_orders"


class WorkOrderHistory(Base):
    """One step of a work order: who, when, what (created, dispatched, started, result, done, cancelled)."""

    work_order = peewee.ForeignKeyField(WorkOrder, backref="history", on_delete="CASCADE")
    ts = peewee.DoubleField()
    actor = peewee.CharField()
    action = peewee.CharField()
    note = peewee.TextField(default="")

    class Meta:
        table_name = "work_order_history"


KB_WORKORDER_MODELS: tuple[type[Base], ...] = (KbCategory, KbArticle, KbTerm, WorkOrder, WorkOrderHistory)
