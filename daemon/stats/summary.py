"""Keeping the summary tables: fold new journal events in (incrementally, in the writer), or rebuild from scratch.

Both paths run the same ``Aggregator`` over the same events in the same order, with its state saved next to
the cursor after every batch, so they give identical tables.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import peewee

from ..store.db import proxy
from ..store.models import Event
from . import rollup
from .aggregate import ABANDONED_COLUMNS, KINDS, TABLES, Aggregator

log = logging.getLogger("hotline.stats")
CURSOR = "journal"
BATCH = 20000


def _db() -> peewee.Database:
    return proxy.obj if hasattr(proxy, "obj") else proxy


def _is_pg(db: peewee.Database) -> bool:
    return isinstance(db, peewee.PostgresqlDatabase)


def load_cursor() -> tuple[int, Aggregator | None, int]:
    """(last event id folded, the aggregator with its saved state or None, trunks)."""
    row = _db().execute_sql("SELECT last_event_id, state, trunks FROM stat_cursor WHERE name = %s" % _ph(),
                            (CURSOR,)).fetchone()
    if row is None:
        return 0, None, 0
    return int(row[0]), Aggregator(json.loads(row[1]), trunks=int(row[2])), int(row[2])


def _ph() -> str:
    return "%s" if _is_pg(_db()) else "?"


def write_deltas(agg: Aggregator) -> int:
    """Upsert the aggregator's pending deltas (sums added, maxima kept); the number of rows touched."""
    db = _db()
    ph = _ph()
    n = 0
    day_zone = None
    for table, key, sums, maxes in agg.take():
        if table in rollup.DAY_TABLES:   # the per-day rollup follows its hourly table
            day_zone = day_zone or rollup.zone() or ""
            if day_zone:
                rollup.upsert(table, key, sums, maxes, day_zone)
        keys, _, _ = TABLES[table]
        cols = [*keys, *sums, *maxes]
        values = [*key, *sums.values(), *maxes.values()]
        updates = [f"{c} = {table}.{c} + excluded.{c}" for c in sums]
        updates += [f"{c} = CASE WHEN excluded.{c} > {table}.{c} THEN excluded.{c} ELSE {table}.{c} END"
                    for c in maxes]
        sql = (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([ph] * len(cols))}) "
               f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(updates)}")
        db.execute_sql(sql, values)
        n += 1
    if agg.abandoned:
        cols = ", ".join(ABANDONED_COLUMNS)
        marks = ", ".join([ph] * len(ABANDONED_COLUMNS))
        db.cursor().executemany(f"INSERT INTO stat_abandoned ({cols}) VALUES ({marks}) "
                                f"ON CONFLICT (call_uuid) DO NOTHING", agg.abandoned)
        n += len(agg.abandoned)
        agg.abandoned = []
    return n


def save_cursor(last_id: int, agg: Aggregator) -> None:
    """Remember how far the journal is folded, and the carried state."""
    db = _db()
    ph = _ph()
    db.execute_sql(f"DELETE FROM stat_cursor WHERE name = {ph}", (CURSOR,))
    db.execute_sql(f"INSERT INTO stat_cursor (name, last_event_id, state, trunks, updated_at) "
                   f"VALUES ({ph}, {ph}, {ph}, {ph}, {ph})", (CURSOR, last_id, agg.dump_state(), agg.trunks,
                                                              time.time()))


def fold_batch(trunks: int, limit: int = BATCH) -> int:
    """Fold up to ``limit`` new events (runs in the writer's transaction); how many were folded."""
    last, agg, _ = load_cursor()
    if agg is None:
        agg = Aggregator(trunks=trunks)
    # by id range only (the primary key): a filter on kind could make the database walk the kind index
    # over the whole journal; other kinds are skipped here
    rows = (Event.select(Event.id, Event.ts, Event.kind, Event.call_uuid, Event.line, Event.data)
            .where(Event.id > last).order_by(Event.id).limit(limit).tuples())
    count = 0
    kinds = set(KINDS)
    for eid, ts, kind, call_uuid, line, data in rows:
        if kind in kinds:
            agg.apply({"ts": ts, "kind": kind, "call_uuid": call_uuid, "line": line,
                       "data": json.loads(data or "{}")})
        last = eid
        count += 1
    if count:
        write_deltas(agg)
        save_cursor(last, agg)
    return count


def clear() -> None:
    """Empty the summary tables and the cursor (before a rebuild)."""
    db = _db()
    for table in (*TABLES, "stat_abandoned", "stat_cursor"):
        db.execute_sql(f"DELETE FROM {table}")
    rollup.forget()


def table_rows(table: str) -> list[tuple]:
    """Every row of a summary table in key order (for comparisons and exports)."""
    if table == "stat_abandoned":
        return [tuple(r) for r in _db().execute_sql(
            f"SELECT {', '.join(ABANDONED_COLUMNS)} FROM stat_abandoned ORDER BY call_uuid").fetchall()]
    keys, sums, maxes = TABLES[table]
    cols = [*keys, *sums, *maxes]
    return [tuple(r) for r in _db().execute_sql(
        f"SELECT {', '.join(cols)} FROM {table} ORDER BY {', '.join(keys)}").fetchall()]


class StatsComponent:
    """Folds the journal into the summary tables every few seconds while the daemon runs."""

    def __init__(self, store: Any, trunks: Any, interval: float = 2.0, timezone: str | None = None):
        self.store = store
        self.timezone = timezone          # hotline.yaml's zone: the per-day rollup is kept in the box's zone
        self.trunks = trunks              # a number, or a function giving the box's trunk count
        self.interval = interval
        self.task: asyncio.Task | None = None
        self.folded = 0
        self.last_run = 0.0

    async def start(self) -> None:
        """Catch up with what the journal holds (and have the per-day rollup in the box's zone), then keep up."""
        await self.catch_up()
        if self.timezone is not None:
            from ..box import localtime
            tz = await self.store.read(localtime.box_timezone, self.timezone)
            if await self.store.write(rollup.ensure, tz):
                log.info("event=stats_day_rollup_built zone=%s", tz)
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop the loop (the next start catches up)."""
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def catch_up(self) -> int:
        """Fold everything committed so far; events folded."""
        total = 0
        while True:
            n = await self.store.write(fold_batch, self.trunks() if callable(self.trunks) else self.trunks)
            total += n
            if n < BATCH:
                break
        self.folded += total
        self.last_run = time.time()
        return total

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.catch_up()
            except Exception:
                log.exception("event=stats_fold_failed")

    def status(self) -> dict:
        """Events folded since start."""
        return {"state": "up" if self.task else "down", "folded": self.folded, "last_run": self.last_run}
