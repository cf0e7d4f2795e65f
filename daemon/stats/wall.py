"""Today's queue and agent figures for the supervisor wallboard, counted from the event journal.

The ACD's own counters (``QueueRuntime.answered`` ...) start at zero whenever the daemon starts. The wallboard
shows figures for the whole day instead: at start they are seeded from today's events in the journal, then kept
up to date from the journal's listener, so a restart changes nothing a supervisor sees.

The figures are the report figures of docs/metrics.md, computed by the same code: each event is folded by
``daemon.stats.aggregate.Aggregator`` into the summary columns of ``stat_queue``, and ``QueueDay.summary()``
is ``daemon.stats.reports.queue_figures`` on today's sums. **Today** is the box's local calendar day of the
event (the timezone chosen at first-run setup, else ``locale.timezone``); at midnight every figure starts again.
An agent's calls today are the ``queue.answered`` events naming them.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import zoneinfo
from typing import Any, Callable, Iterable

from .aggregate import TABLES, Aggregator
from .reports import queue_figures

log = logging.getLogger("hotline.wallstats")

KINDS = ("queue.joined", "queue.answered", "queue.abandoned", "queue.callback_requested")


class QueueDay(dict):
    """One queue's sums for today (the columns of stat_queue)."""

    def __init__(self) -> None:
        _, sums, maxes = TABLES["stat_queue"]
        super().__init__({c: 0 for c in (*sums, *maxes)})

    def add(self, sums: dict, maxes: dict) -> None:
        """Fold one event's deltas in."""
        for c, v in sums.items():
            self[c] += v
        for c, v in maxes.items():
            self[c] = max(self[c], v)

    def summary(self) -> dict:
        """The report figures of today (docs/metrics.md), plus the joined count the wallboard shows."""
        return {**queue_figures(self), "joined": self["offered"]}


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
        self._agg = Aggregator()               # stateless for queue events: only its deltas are used
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
        """Count one queue event through the report aggregation (events of an earlier day are ignored)."""
        if event["kind"] not in KINDS or not self._roll(float(event["ts"])):
            return
        data = event.get("data") or {}
        self._agg.apply({"ts": float(event["ts"]), "kind": event["kind"], "call_uuid": event.get("call_uuid"),
                         "line": event.get("line"), "data": data})
        for table, key, sums, maxes in self._agg.take():
            if table == "stat_queue":
                self.queues.setdefault(str(key[1]), QueueDay()).add(sums, maxes)
        self._agg.abandoned = []
        if event["kind"] == "queue.answered" and data.get("agent") is not None:
            self.agent_calls[int(data["agent"])] = self.agent_calls.get(int(data["agent"]), 0) + 1

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
    from ..store.models import Event
    return [{"ts": e.ts, "kind": e.kind, "call_uuid": e.call_uuid, "data": json.loads(e.data or "{}")}
            for e in Event.select().where(Event.kind.in_(KINDS) & (Event.ts >= since)).order_by(Event.id)]


def box_timezone(default: str) -> str:
    """The box's zone (daemon/box/localtime.py; runs in a database thread)."""
    from ..box.localtime import box_timezone as box
    return box(default)


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
