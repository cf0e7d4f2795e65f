"""Per-day rollups of the hourly agent and IVR summaries, in the box's zone: the agents report reads one row per
agent and local day instead of one per agent and hour (a 90-day, 98-agent history: 9 k rows instead of 120 k),
the IVR funnel and menu choices one row per node (or key) and day.

The day tables (``stat_*_day``) hold the same sums and maxima as their hourly
tables, keyed by the local day number (days since 1970-01-01 in the zone named by the ``stat_day_zone``
setting). They are kept in step by ``write_deltas`` (summary.py) as deltas are folded, and rebuilt from the
hourly tables when the box's zone is not the one they were made in (``ensure``). Reports read them only for
whole local days in that zone; anything else (hour buckets, another zone) reads the hourly tables.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache

import peewee

from ..box import localtime
from ..store.db import proxy
from .aggregate import TABLES

DAY_TABLES = {"stat_agent": "stat_agent_day", "stat_agent_reason": "stat_agent_reason_day",
              "stat_ivr_node": "stat_ivr_node_day", "stat_ivr_choice": "stat_ivr_choice_day"}
SETTING = "stat_day_zone"
EPOCH = dt.date(1970, 1, 1)


def _db() -> peewee.Database:
    return proxy.obj if hasattr(proxy, "obj") else proxy


def _ph() -> str:
    return "%s" if isinstance(_db(), peewee.PostgresqlDatabase) else "?"


@lru_cache(maxsize=65536)
def day_of_hour(hour: int, tz: str) -> int:
    """The local day number (days since 1970-01-01 in ``tz``) an epoch hour falls in."""
    return (localtime.local_date(hour * 3600, tz) - EPOCH).days


def day_of(ts: float, tz: str) -> int:
    """The local day number of a moment."""
    return (localtime.local_date(ts, tz) - EPOCH).days


def date_of(day: int) -> dt.date:
    """The calendar date of a local day number."""
    return EPOCH + dt.timedelta(days=day)


def zone() -> str | None:
    """The zone the day tables are kept in (None: not built yet)."""
    row = _db().execute_sql(f"SELECT value FROM settings WHERE name = {_ph()}", (SETTING,)).fetchone()
    return row[0] if row else None


def upsert(table: str, key: tuple, sums: dict, maxes: dict, tz: str) -> None:
    """Add one hourly delta of ``table`` to its day table (writer thread)."""
    day_table = DAY_TABLES[table]
    keys, _, _ = TABLES[table]
    day_keys = ("day", *keys[1:])
    cols = [*day_keys, *sums, *maxes]
    values = [day_of_hour(int(key[0]), tz), *key[1:], *sums.values(), *maxes.values()]
    updates = [f"{c} = {day_table}.{c} + excluded.{c}" for c in sums]
    updates += [f"{c} = CASE WHEN excluded.{c} > {day_table}.{c} THEN excluded.{c} ELSE {day_table}.{c} END"
                for c in maxes]
    _db().execute_sql(f"INSERT INTO {day_table} ({', '.join(cols)}) VALUES ({', '.join([_ph()] * len(cols))}) "
                      f"ON CONFLICT ({', '.join(day_keys)}) DO UPDATE SET {', '.join(updates)}", values)


def _fixed_offset(tz: str, first_hour: int, last_hour: int) -> int | None:
    """The zone's offset in minutes when it is the same over the hours (checked weekly), else None."""
    z = localtime.zone(tz)
    hours = {first_hour, last_hour, *range(first_hour, last_hour, 24 * 7)}
    offsets = {int(dt.datetime.fromtimestamp(h * 3600, z).utcoffset().total_seconds() // 60) for h in hours}
    return offsets.pop() if len(offsets) == 1 else None


def rebuild(tz: str) -> int:
    """Remake the day tables from the hourly ones in zone ``tz`` (writer thread); day rows written."""
    db = _db()
    ph = _ph()
    written = 0
    for table, day_table in DAY_TABLES.items():
        keys, sums, maxes = TABLES[table]
        rest = list(keys[1:])
        db.execute_sql(f"DELETE FROM {day_table}")
        span = db.execute_sql(f"SELECT MIN(hour), MAX(hour) FROM {table}").fetchone()
        if span[0] is None:
            continue
        offset = _fixed_offset(tz, int(span[0]), int(span[1]))
        agg = [*(f"SUM({c})" for c in sums), *(f"MAX({c})" for c in maxes)]
        cols = ["day", *rest, *sums, *maxes]
        if offset is not None:   # one offset over the whole history: the database adds up each local day
            day = f"((hour * 60 + {offset}) / 1440)"
            db.execute_sql(f"INSERT INTO {day_table} ({', '.join(cols)}) SELECT {day}, {', '.join(rest)}, "
                           f"{', '.join(agg)} FROM {table} GROUP BY {day}, {', '.join(rest)}")
        else:                    # daylight saving time: each hour's local day, worked out here
            acc: dict[tuple, list[int]] = {}
            for r in db.execute_sql(f"SELECT {', '.join([*keys, *sums, *maxes])} FROM {table}").fetchall():
                k = (day_of_hour(int(r[0]), tz), *r[1:len(keys)])
                vals = acc.get(k)
                if vals is None:
                    acc[k] = [int(v or 0) for v in r[len(keys):]]
                    continue
                for i in range(len(sums)):
                    vals[i] += int(r[len(keys) + i] or 0)
                for i in range(len(sums), len(sums) + len(maxes)):
                    vals[i] = max(vals[i], int(r[len(keys) + i] or 0))
            db.cursor().executemany(f"INSERT INTO {day_table} ({', '.join(cols)}) "
                                    f"VALUES ({', '.join([ph] * len(cols))})", [(*k, *v) for k, v in acc.items()])
        written += db.execute_sql(f"SELECT COUNT(*) FROM {day_table}").fetchone()[0]
    db.execute_sql(f"DELETE FROM settings WHERE name = {ph}", (SETTING,))
    db.execute_sql(f"INSERT INTO settings (name, value) VALUES ({ph}, {ph})", (SETTING, tz))
    return written


def ensure(tz: str) -> bool:
    """Make sure the day tables are in zone ``tz`` (writer thread); True when they had to be rebuilt."""
    if zone() == tz:
        return False
    rebuild(tz)
    return True


def forget() -> None:
    """Empty the day tables (with the hourly ones, before a rebuild of the summaries)."""
    db = _db()
    for day_table in DAY_TABLES.values():
        db.execute_sql(f"DELETE FROM {day_table}")
    db.execute_sql(f"DELETE FROM settings WHERE name = {_ph()}", (SETTING,))
