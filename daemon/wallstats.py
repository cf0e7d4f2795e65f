"""Today's queue and agent figures for the supervisor wallboard, counted from the event journal.

The ACD's own counters (``QueueRuntime.answered`` ...) start at zero whenever the daemon starts. The wallboard
shows figures for the whole day instead: at start they are seeded from today's events in the journal, then kept
up to date from the journal's listener, so a restart changes nothing a supervisor sees.

Definitions (kept in this one place; issue 7 will move every definition into one metrics module):

- **today**: the box's local calendar day of the event's timestamp (timezone: the ``timezone`` setting chosen
  at first-run setup, else ``locale.timezone`` of the configuration); at midnight every figure starts again.
- **joined**: ``queue.joined`` events of the queue (a caller overflowing to another queue joins that one too).
- **answered**: ``queue.answered``; **answered within service level**: its ``within_sl`` flag (the caller
  waited at most the queue's ``service_level_seconds``).
- **abandoned**: ``queue.abandoned`` with ``short`` false. **Short abandons** (``short`` true: the caller hung
  up within the queue's ``short_abandon_seconds``) are counted apart and left out of *offered*.
- **callbacks**: ``queue.callback_requested`` (the caller left the line and keeps their place).
- **offered** = answered + abandoned (short abandons excluded; callers still waiting are not offered yet).
- **service level** = answered within service level / offered, or ``None`` while nothing was offered.
- **agent's calls today**: ``queue.answered`` events naming the agent's id.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import zoneinfo
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

log = logging.getLogger("hotline.wallstats")

KINDS = ("queue.joined", "queue.answered", "queue.abandoned", "queue.callback_requested")


@dataclass
class QueueDay:
    """One queue's figures for today."""

    joined: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    callbacks: int = 0
    answer_wait_total: float = 0.0   # seconds waited by answered callers (average speed of answer)

    @property
    def offered(self) -> int:
        """Answered + abandoned (short abandons are not offered)."""
        return self.answered + self.abandoned

    def summary(self) -> dict:
        """The figures with the derived ones (offered, service level, average wait of answered calls)."""
        out = asdict(self)
        out.pop("answer_wait_total")
        out["offered"] = self.offered
        out["service_level"] = round(self.answered_in_sl / self.offered, 4) if self.offered else None
        out["avg_answer_s"] = round(self.answer_wait_total / self.answered, 1) if self.answered else None
        return out


def event_key(event: dict) -> tuple:
    """Identifies one event both as the listener saw it and as the journal stored it."""
    return (event["kind"], event.get("call_uuid"), float(event["ts"]))


class WallStats:
    """Today's figures per queue and per agent; ``apply`` every journal event, ``seed`` once at start."""

    def __init__(self, tz: str = "UTC", clock: Callable[[], float] | None = None):
        import time
        self.tz = zoneinfo.ZoneInfo(tz)
        self.clock = clock or time.time
        self.day: dt.date = self._date(self.clock())
        self.queues: dict[str, QueueDay] = {}
        self.agent_calls: dict[int, int] = {}
        self.call_queue: dict[str, str] = {}   # calls in progress -> the queue they are (or were) in
        self.seeded = False
        self._pending: list[dict] | None = []  # events seen while the seed query runs (None once seeded)

    def _date(self, ts: float) -> dt.date:
        return dt.datetime.fromtimestamp(ts, self.tz).date()

    def day_start(self) -> float:
        """Timestamp of today's local midnight."""
        return dt.datetime.combine(self.day, dt.time(0), self.tz).timestamp()

    def set_timezone(self, tz: str) -> None:
        """Use another timezone (before seeding)."""
        self.tz = zoneinfo.ZoneInfo(tz)
        self.day = self._date(self.clock())

    def _roll(self, ts: float) -> bool:
        """Start a new day when ``ts`` is past midnight; False for events of an earlier day."""
        day = self._date(ts)
        if day > self.day:
            self.day = day
            self.queues.clear()
            self.agent_calls.clear()
        return day == self.day

    def queue(self, name: str) -> QueueDay:
        """A queue's figures (zero when nothing happened today)."""
        self._roll(self.clock())
        return self.queues.get(name) or QueueDay()

    def agent(self, agent_id: int) -> int:
        """Calls an agent answered today."""
        self._roll(self.clock())
        return self.agent_calls.get(agent_id, 0)

    # ---- events ----------------------------------------------------------------------------------
    def listener(self, event: dict) -> None:
        """The journal listener: count now, or keep the event until the seed query has returned."""
        kind = event["kind"]
        if kind == "queue.joined" and event.get("call_uuid"):
            self.call_queue[event["call_uuid"]] = event["data"].get("queue", "")
        elif kind == "call.ended":
            self.call_queue.pop(event.get("call_uuid"), None)
        if kind not in KINDS:
            return
        if self._pending is not None:
            self._pending.append(event)
        else:
            self.apply(event)

    def apply(self, event: dict) -> None:
        """Count one queue event (events of an earlier day are ignored)."""
        if event["kind"] not in KINDS or not self._roll(float(event["ts"])):
            return
        data = event.get("data") or {}
        q = self.queues.setdefault(str(data.get("queue", "")), QueueDay())
        kind = event["kind"]
        if kind == "queue.joined":
            q.joined += 1
        elif kind == "queue.answered":
            q.answered += 1
            q.answered_in_sl += 1 if data.get("within_sl") else 0
            q.answer_wait_total += float(data.get("waited") or 0.0)
            if data.get("agent") is not None:
                self.agent_calls[int(data["agent"])] = self.agent_calls.get(int(data["agent"]), 0) + 1
        elif kind == "queue.abandoned":
            if data.get("short"):
                q.short_abandoned += 1
            else:
                q.abandoned += 1
        elif kind == "queue.callback_requested":
            q.callbacks += 1

    def seed(self, stored: Iterable[dict]) -> None:
        """Count today's stored events, then the ones the listener kept meanwhile (each event once)."""
        pending, self._pending = self._pending or [], None
        self.queues.clear()
        self.agent_calls.clear()
        seen = set()
        for event in stored:
            seen.add(event_key(event))
            self.apply(event)
        for event in pending:
            if event_key(event) not in seen:
                self.apply(event)
        self.seeded = True


def todays_events(since: float) -> list[dict]:
    """Queue events since a timestamp, oldest first (runs in a database thread)."""
    from .store.models import Event
    return [{"ts": e.ts, "kind": e.kind, "call_uuid": e.call_uuid, "data": json.loads(e.data or "{}")}
            for e in Event.select().where(Event.kind.in_(KINDS) & (Event.ts >= since)).order_by(Event.id)]


def box_timezone(default: str) -> str:
    """The timezone chosen at setup (settings table), else the configured one (runs in a database thread)."""
    from .store.models import Setting
    row = Setting.get_or_none(Setting.name == "timezone")
    if row is not None:
        try:
            zoneinfo.ZoneInfo(row.value)
            return row.value
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            log.warning("event=bad_timezone_setting value=%r", row.value)
    return default


async def start(stats: WallStats, journal: Any, store: Any, default_tz: str) -> WallStats:
    """Listen to the journal first, then read today's events (after committing what is buffered)."""
    if stats.listener not in journal.listeners:
        journal.listeners.append(stats.listener)
    try:
        tz = await store.read(box_timezone, default_tz)
        stats.set_timezone(tz)
        await journal.flush()
        stored = await store.read(todays_events, stats.day_start())
    except Exception:
        log.exception("event=wallstats_seed_failed")
        stored = []
    stats.seed(stored)
    log.info("event=wallstats_seeded day=%s events=%d queues=%d", stats.day, len(stored), len(stats.queues))
    return stats
