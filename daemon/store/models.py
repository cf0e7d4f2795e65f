"""peewee models over the tables the migrations create."""
from __future__ import annotations

import enum

import peewee

from .db import proxy


class Base(peewee.Model):
    """Binds every model to the configured database."""

    class Meta:
        database = proxy


class User(Base):
    """A person or script that uses the panel or the API."""

    name = peewee.CharField(unique=True)
    role = peewee.CharField()
    password_hash = peewee.CharField(null=True)
    language = peewee.CharField(default="zh_CN")
    disabled = peewee.BooleanField(default=False)
    created_at = peewee.DoubleField()

    class Meta:
        table_name = "users"


class ApiToken(Base):
    """A bearer token for scripts; only its hash is stored."""

    user = peewee.ForeignKeyField(User, backref="tokens", on_delete="CASCADE")
    token_hash = peewee.CharField(unique=True)
    created_at = peewee.DoubleField()
    last_used = peewee.DoubleField(null=True)

    class Meta:
        table_name = "api_tokens"


class Setting(Base):
    """A small named value (the cookie secret, first-run flags)."""

    name = peewee.CharField(primary_key=True)
    value = peewee.TextField()

    class Meta:
        table_name = "settings"


class Event(Base):
    """One row of the append-only event journal."""

    ts = peewee.DoubleField()
    kind = peewee.CharField()
    call_uuid = peewee.CharField(null=True)
    line = peewee.CharField(null=True)
    data = peewee.TextField(default="{}")

    class Meta:
        table_name = "events"


class Cdr(Base):
    """One call detail record per call, derived from the journal."""

    call_uuid = peewee.CharField(primary_key=True)
    parent_uuid = peewee.CharField(null=True)
    direction = peewee.CharField()
    line = peewee.CharField(null=True)
    caller_id = peewee.CharField(null=True)
    caller_name = peewee.CharField(null=True)
    dialed = peewee.CharField(null=True)
    offered_at = peewee.DoubleField()
    answered_at = peewee.DoubleField(null=True)
    bridged_at = peewee.DoubleField(null=True)
    ended_at = peewee.DoubleField()
    duration = peewee.DoubleField()
    talk_seconds = peewee.DoubleField(default=0)
    disposition = peewee.CharField()
    cause = peewee.CharField()
    peer = peewee.CharField(null=True)
    recording = peewee.CharField(null=True)

    class Meta:
        table_name = "cdrs"


class Recording(Base):
    """A recording file of a call and its state (open, closed, repaired)."""

    call_uuid = peewee.CharField()
    path = peewee.CharField(unique=True)
    started_at = peewee.DoubleField()
    ended_at = peewee.DoubleField(null=True)
    duration = peewee.DoubleField(null=True)
    bytes = peewee.BigIntegerField(null=True)
    channels = peewee.IntegerField(default=1)
    state = peewee.CharField()

    class Meta:
        table_name = "recordings"


class FlowVersion(Base):
    """One published version of a flow (the active one runs new calls)."""

    name = peewee.CharField()
    version = peewee.IntegerField()
    source = peewee.TextField()
    digest = peewee.CharField()
    author = peewee.CharField()
    created_at = peewee.DoubleField()
    active = peewee.BooleanField(default=False)

    class Meta:
        table_name = "flow_versions"


class ScheduleHours(Base):
    """Opening hours of a named schedule on one weekday (0 = Monday); several rows make split shifts."""

    name = peewee.CharField()
    weekday = peewee.IntegerField()
    opens = peewee.CharField()
    closes = peewee.CharField()

    class Meta:
        table_name = "schedule_hours"


class Holiday(Base):
    """A day off (or, with is_workday, a weekend day worked instead: China's adjusted working days)."""

    day = peewee.CharField(unique=True)
    name = peewee.CharField()
    is_workday = peewee.BooleanField(default=False)

    class Meta:
        table_name = "holidays"


class Blacklist(Base):
    """A blocked caller number (exact, or a prefix ending in *)."""

    number = peewee.CharField(unique=True)
    reason = peewee.CharField(default="")
    created_at = peewee.DoubleField()
    created_by = peewee.CharField(default="")

    class Meta:
        table_name = "blacklist"


class AgentRow(Base):
    """A person who answers calls; logs in to a station (hot desk)."""

    name = peewee.CharField(unique=True)
    display_name = peewee.CharField(default="")
    user_name = peewee.CharField(null=True)
    extension = peewee.CharField(null=True)
    skills = peewee.TextField(default="{}")
    follow_me = peewee.CharField(null=True)
    follow_me_after = peewee.DoubleField(null=True)
    grade = peewee.IntegerField(default=1)
    created_at = peewee.DoubleField()

    class Meta:
        table_name = "agents"


class QueueRow(Base):
    """A queue and its settings (JSON validated by daemon/acd/config.py)."""

    name = peewee.CharField(unique=True)
    settings = peewee.TextField()
    created_at = peewee.DoubleField()
    updated_at = peewee.DoubleField()

    class Meta:
        table_name = "queues"


class QueueMember(Base):
    """An agent serving a queue, with a penalty (higher: used only when better ones are busy) and a position."""

    queue = peewee.ForeignKeyField(QueueRow, backref="members", on_delete="CASCADE")
    agent = peewee.ForeignKeyField(AgentRow, backref="queues", on_delete="CASCADE")
    penalty = peewee.IntegerField(default=0)
    position = peewee.IntegerField(default=0)

    class Meta:
        table_name = "queue_members"


class WebSession(Base):
    """A browser login: the cookie carries a random token, only its hash is stored."""

    token_hash = peewee.CharField(unique=True)
    user = peewee.ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    created_at = peewee.DoubleField()
    last_seen = peewee.DoubleField()
    expires_at = peewee.DoubleField()
    address = peewee.CharField(default="")

    class Meta:
        table_name = "web_sessions"


class AuditEntry(Base):
    """One change made through the panel, the API or the CLI: who, when, from where, before -> after."""

    ts = peewee.DoubleField()
    user_name = peewee.CharField()
    address = peewee.CharField(default="")
    action = peewee.CharField()
    target = peewee.CharField(default="")
    before = peewee.TextField(null=True)
    after = peewee.TextField(null=True)

    class Meta:
        table_name = "audit_log"


class LoginFailure(Base):
    """Failed log-in tries counted under one key (``user:NAME``, ``addr:IP`` or ``pair:NAME IP``)."""

    key = peewee.CharField(primary_key=True, column_name="subject")
    failures = peewee.IntegerField()
    last_at = peewee.DoubleField()

    class Meta:
        table_name = "login_failures"


class MailStatus(enum.Enum):
    """Life of a queued mail: pending (waiting for its first or next try), sent, failed (every try used)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class MailOutbox(Base):
    """One mail to send (a received fax, a voicemail): built from its row ``ref`` when sent, retried with backoff;
    ``error`` says why the last try failed (daemon/mail/outbox.py)."""

    kind = peewee.CharField()               # MailKind
    ref = peewee.IntegerField()             # the fax job or voicemail id
    recipients = peewee.TextField()         # comma-separated addresses
    status = peewee.CharField()             # MailStatus
    attempts = peewee.IntegerField(default=0)
    error = peewee.TextField(null=True)
    created_at = peewee.DoubleField()
    updated_at = peewee.DoubleField()
    next_attempt_at = peewee.DoubleField(null=True)
    sent_at = peewee.DoubleField(null=True)

    class Meta:
        table_name = "mail_outbox"
