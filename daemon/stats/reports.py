"""Reports: figures for a period from the hourly summary tables (definitions: docs/metrics.md).

Every function runs inside a store read (``await store.read(fn, ...)``). A period is [start, end) in epoch
seconds; ``group`` buckets hours into local hours, days, weeks (Monday first) or months of ``tz``. The
ratios (service level, ASA, AHT, occupancy, containment, abandon rate) are computed here and only here.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import peewee

from ..store.db import proxy
from . import rollup
from .aggregate import TABLES, WAIT_EDGES
from .memo import Memo

GROUPS = ("hour", "day", "week", "month", "total")
WAIT_LABELS = [f"<{WAIT_EDGES[0]}s"] + [f"{a}-{b}s" for a, b in zip(WAIT_EDGES, WAIT_EDGES[1:])] + \
    [f"≥{WAIT_EDGES[-1]}s"]


class ReportError(ValueError):
    """A report request that cannot be answered (the message names the parameter)."""


def _db() -> peewee.Database:
    return proxy.obj


def _ph() -> str:
    return "%s" if isinstance(_db(), peewee.PostgresqlDatabase) else "?"


def bucket(hour: int, group: str, tz: ZoneInfo) -> str:
    """The label of the bucket an epoch hour falls in."""
    if group == "total":
        return "total"
    local = dt.datetime.fromtimestamp(hour * 3600, tz)
    if group == "hour":
        return local.strftime("%Y-%m-%d %H:00")
    if group == "day":
        return local.strftime("%Y-%m-%d")
    if group == "week":
        monday = local.date() - dt.timedelta(days=local.weekday())
        return monday.isoformat()
    if group == "month":
        return local.strftime("%Y-%m")
    raise ReportError(f"group must be one of {', '.join(GROUPS)}")


def _where(start: float, end: float, where: dict[str, Iterable] | None) -> tuple[str, list[Any]]:
    ph = _ph()
    cond = [f"hour >= {ph}", f"hour < {ph}"]
    args: list[Any] = [int(start // 3600), int(-(-end // 3600))]
    for col, values in (where or {}).items():
        values = list(values)
        if values:
            cond.append(f"{col} IN ({', '.join([ph] * len(values))})")
            args += values
    return " AND ".join(cond), args


def _rows(table: str, start: float, end: float, where: dict[str, Iterable] | None = None) -> list[dict]:
    """Hourly rows of a summary table in [start, end), optionally filtered by key columns."""
    keys, sums, maxes = TABLES[table]
    cond, args = _where(start, end, where)
    cols = [*keys, *sums, *maxes]
    return [dict(zip(cols, r)) for r in _db().execute_sql(
        f"SELECT {', '.join(cols)} FROM {table} WHERE {cond}", args).fetchall()]


def _fixed_offset_minutes(start: float, end: float, tz: ZoneInfo) -> int | None:
    """The zone's UTC offset in minutes when it is the same over the whole period (no DST change)."""
    offsets = {int(dt.datetime.fromtimestamp(t, tz).utcoffset().total_seconds() // 60)
               for t in (start, end - 1, *range(int(start), int(end), 86400 * 7))}
    return offsets.pop() if len(offsets) == 1 else None


def _grouped(table: str, start: float, end: float, by: tuple[str, ...], group: str, tz: ZoneInfo,
             where: dict[str, Iterable] | None = None) -> dict[tuple, dict]:
    """Sums (and maxima) per (bucket, *by). The database adds up the hours of each local day (or of the whole
    period) when the zone keeps one offset over the period; otherwise hours are bucketed here."""
    keys, sums, maxes = TABLES[table]
    if group not in GROUPS:
        raise ReportError(f"group must be one of {', '.join(GROUPS)}")
    offset = _fixed_offset_minutes(start, end, tz)
    if group == "hour" or offset is None:
        out: dict[tuple, dict] = {}
        for r in _rows(table, start, end, where):
            key = (bucket(r["hour"], group, tz), *(r[b] for b in by))
            acc = out.setdefault(key, {**{c: 0 for c in sums}, **{c: 0 for c in maxes}})
            for c in sums:
                acc[c] += r[c]
            for c in maxes:
                acc[c] = max(acc[c], r[c])
        return out
    cond, args = _where(start, end, where)
    day = f"((hour * 60 + {offset}) / 1440)" if group != "total" else "0"
    select = [f"{day} AS d", *by, *(f"SUM({c})" for c in sums), *(f"MAX({c})" for c in maxes)]
    sql = (f"SELECT {', '.join(select)} FROM {table} WHERE {cond} GROUP BY {', '.join(['d', *by])}")
    out = {}
    labels: dict[int, str] = {}
    cols = [*sums, *maxes]
    for r in _db().execute_sql(sql, args).fetchall():
        d, rest = int(r[0]), r[1:]
        label = labels.get(d)
        if label is None:
            label = labels[d] = "total" if group == "total" else bucket(int((d * 1440 - offset) // 60) + 12,
                                                                         group, tz)
        key = (label, *rest[:len(by)])
        vals = dict(zip(cols, (int(v or 0) for v in rest[len(by):])))
        acc = out.get(key)
        if acc is None:
            out[key] = vals
        else:   # several days in one week or month
            for c in sums:
                acc[c] += vals[c]
            for c in maxes:
                acc[c] = max(acc[c], vals[c])
    return out


def _day_bucket(group: str) -> str:
    """SQL for the bucket of a local day number: the day, its week (Monday first: day 0, 1970-01-01, was a
    Thursday), its month as YYYYMM, or 0 for the whole period."""
    if group == "week":
        return "((day + 3) / 7)"
    if group == "month":
        if isinstance(_db(), peewee.PostgresqlDatabase):
            return "CAST(to_char(to_timestamp(day * 86400) AT TIME ZONE 'UTC', 'YYYYMM') AS INTEGER)"
        return "CAST(strftime('%Y%m', day * 86400, 'unixepoch') AS INTEGER)"
    return "day" if group == "day" else "0"


def _day_label(key: int, group: str) -> str:
    """The label of a bucket from ``_day_bucket`` (the same labels as ``bucket``)."""
    if group == "total":
        return "total"
    if group == "week":
        return rollup.date_of(key * 7 - 3).isoformat()
    if group == "month":
        return f"{key // 100:04d}-{key % 100:02d}"
    return rollup.date_of(key).isoformat()


def _grouped_days(table: str, start: float, end: float, by: tuple[str, ...], group: str, tz: str,
                  where: dict[str, Iterable] | None = None, raw: bool = False) -> dict[tuple, Any] | None:
    """Like ``_grouped`` from the per-day rollup (one row per local day and key); None when the rollup cannot
    answer (hour buckets, or it is kept in another zone). ``raw``: each bucket's sums and maxima as a tuple in
    the table's column order instead of a dict."""
    day_table = rollup.DAY_TABLES.get(table)
    if day_table is None or group == "hour" or rollup.zone() != tz:
        return None
    keys, sums, maxes = TABLES[table]
    ph = _ph()
    cond = [f"day >= {ph}", f"day < {ph}"]
    args: list[Any] = [rollup.day_of(start, tz), rollup.day_of(end, tz)]
    for col, values in (where or {}).items():
        values = list(values)
        if values:
            cond.append(f"{col} IN ({', '.join([ph] * len(values))})")
            args += values
    cols = [*sums, *maxes]
    where_sql = " AND ".join(cond)
    if group == "day":   # one row per day and key already
        sql = f"SELECT day, {', '.join(by)}, {', '.join(cols)} FROM {day_table} WHERE {where_sql}"
    else:                # the database adds up the days of each week, month or the whole period
        b = _day_bucket(group)
        agg = ", ".join([*(f"SUM({c})" for c in sums), *(f"MAX({c})" for c in maxes)])
        group_by = ", ".join(by if group == "total" else (b, *by))   # (GROUP BY 0 would name a column)
        sql = f"SELECT {b}, {', '.join(by)}, {agg} FROM {day_table} WHERE {where_sql} GROUP BY {group_by}"
    out: dict[tuple, dict] = {}
    labels: dict[int, str] = {}
    n = 1 + len(by)
    for r in _db().execute_sql(sql, args).fetchall():
        d = int(r[0])
        label = labels.get(d)
        if label is None:
            label = labels[d] = _day_label(d, group)
        # SUM is a Decimal on PostgreSQL: whole numbers either way
        vals = r[n:] if group == "day" else tuple(int(v or 0) for v in r[n:])
        out[(label, *r[1:n])] = tuple(vals) if raw else dict(zip(cols, vals))
    return out


def _ratio(a: float, b: float, digits: int = 4) -> float | None:
    return round(a / b, digits) if b else None


def _s(ms: float) -> float:
    """Milliseconds as seconds with one decimal: exactly round(ms / 1000.0, 1), without its slow decimal
    conversion for whole milliseconds off a tie (99 in 100; a report of 9,000 agent-days calls this 80,000
    times)."""
    if type(ms) is int and ms >= 0 and ms % 100 != 50:
        return ((ms + 50) // 100) / 10
    return round(ms / 1000.0, 1)


# ---- queue figures ---------------------------------------------------------------------------------
def queue_figures(acc: dict) -> dict:
    """Figures of one queue bucket from its sums (the definitions of docs/metrics.md)."""
    counted = acc["offered"] - acc["short_abandoned"]
    return {
        "offered": acc["offered"], "answered": acc["answered"], "abandoned": acc["abandoned"],
        "short_abandoned": acc["short_abandoned"], "callbacks": acc["callbacks"], "timeouts": acc["timeouts"],
        "left_queue": acc["left_queue"], "answered_in_sl": acc["answered_in_sl"],
        "service_level": _ratio(acc["answered_in_sl"], counted),
        "abandon_rate": _ratio(acc["abandoned"] - acc["short_abandoned"], counted),
        "asa_seconds": _ratio(acc["wait_answered_ms"] / 1000.0, acc["answered"], 1),
        "longest_wait_seconds": _s(acc["wait_answered_max_ms"]),
        "avg_abandon_seconds": _ratio(acc["wait_abandoned_ms"] / 1000.0, acc["abandoned"], 1),
        "wait_distribution": [acc[f"wait_bucket_{i}"] for i in range(len(WAIT_EDGES) + 1)],
        "survey_count": acc["survey_count"], "survey_score": _ratio(acc["survey_sum"], acc["survey_count"], 2),
    }


def queues(start: float, end: float, group: str = "total", names: Iterable[str] = (), tz: str = "UTC") -> dict:
    """Per queue and bucket: offered, answered, abandoned, service level, ASA, waits, callbacks, survey."""
    zone = ZoneInfo(tz)
    folded = _grouped("stat_queue", start, end, ("queue",), group, zone, {"queue": names})
    rows = [{"bucket": b, "queue": q, **queue_figures(acc)} for (b, q), acc in sorted(folded.items())]
    return {"group": group, "wait_buckets": WAIT_LABELS, "rows": rows}


# ---- agent figures ---------------------------------------------------------------------------------
def agent_figures(acc: dict) -> dict:
    """Figures of one agent bucket."""
    busy = acc["on_call_ms"] + acc["wrap_up_ms"] + acc["reserved_ms"]
    return {
        "calls": acc["calls"], "talk_seconds": _s(acc["talk_ms"]),
        "avg_talk_seconds": _ratio(acc["talk_ms"] / 1000.0, acc["calls"], 1),
        "longest_talk_seconds": _s(acc["talk_max_ms"]), "hold_seconds": _s(acc["hold_ms"]),
        "aht_seconds": _ratio((acc["on_call_ms"] + acc["wrap_up_ms"]) / 1000.0, acc["calls"], 1),
        "logged_in_seconds": _s(acc["logged_in_ms"]), "ready_seconds": _s(acc["ready_ms"]),
        "not_ready_seconds": _s(acc["not_ready_ms"]), "wrap_up_seconds": _s(acc["wrap_up_ms"]),
        "on_call_seconds": _s(acc["on_call_ms"]), "occupancy": _ratio(busy, busy + acc["ready_ms"]),
        "missed": acc["missed"], "survey_count": acc["survey_count"],
        "survey_score": _ratio(acc["survey_sum"], acc["survey_count"], 2),
    }


AGENT_SUMS = (*TABLES["stat_agent"][1], *TABLES["stat_agent"][2])
AGENT_ROWS = Memo(12_000)   # finished agent rows (about 1 kB each): 90 days of 130 agents, 25 MB at most


def agents(start: float, end: float, group: str = "total", ids: Iterable[int] = (), tz: str = "UTC") -> dict:
    """Per agent and bucket: calls, talk (average, longest), AHT, logged-in / ready / not-ready (by reason)
    / wrap-up time, occupancy, missed offers, survey. Each row is made once for its sums and names (``Memo``):
    a period's closed days cost a look-up each. The rows are shared with later answers: read only."""
    zone = ZoneInfo(tz)
    ids = [int(i) for i in ids]
    folded = _grouped_days("stat_agent", start, end, ("agent",), group, tz, {"agent": ids}, raw=True)
    if folded is None:
        folded = {k: tuple(acc[c] for c in AGENT_SUMS)
                  for k, acc in _grouped("stat_agent", start, end, ("agent",), group, zone, {"agent": ids}).items()}
    reasons = _grouped_days("stat_agent_reason", start, end, ("agent", "reason"), group, tz, {"agent": ids},
                            raw=True)
    if reasons is None:
        reasons = {k: (v["ms"],) for k, v in
                   _grouped("stat_agent_reason", start, end, ("agent", "reason"), group, zone, {"agent": ids}).items()}
    names = {r[0]: (r[1], r[2]) for r in _db().execute_sql("SELECT id, name, display_name FROM agents").fetchall()}
    by_agent: dict[tuple, list] = {}
    for (b, agent, reason), (ms_,) in reasons.items():
        by_agent.setdefault((b, agent), []).append((reason, ms_))
    rows = []
    no_reasons: list = []
    for (b, agent), sums in sorted(folded.items()):
        by_reason = tuple(by_agent.get((b, agent), no_reasons))
        name, display = names.get(agent, (f"#{agent}", ""))
        key = (b, agent, name, display, sums, by_reason)
        row = AGENT_ROWS.find(key)
        if row is None:
            row = {"bucket": b, "agent": agent, "name": name, "display_name": display,
                   **agent_figures(dict(zip(AGENT_SUMS, sums))), "not_ready_by_reason": {r: _s(v) for r, v in by_reason}}
            AGENT_ROWS.keep(key, row)
        rows.append(row)
    return {"group": group, "rows": rows}


# ---- calls, lines, IVR ------------------------------------------------------------------------------
def volume(start: float, end: float, group: str = "day", tz: str = "UTC") -> dict:
    """Call volume per bucket and direction, with answered, queued, contained (IVR containment), refused,
    voicemails and faxes."""
    zone = ZoneInfo(tz)
    folded = _grouped("stat_calls", start, end, ("direction",), group, zone)
    rows = []
    for (b, direction), acc in sorted(folded.items()):
        rows.append({"bucket": b, "direction": direction, "calls": acc["calls"], "answered": acc["answered"],
                     "refused": acc["refused"], "queued": acc["queued"], "contained": acc["contained"],
                     "containment": _ratio(acc["contained"], acc["answered"]) if direction == "inbound" else None,
                     "avg_duration_seconds": _ratio(acc["duration_ms"] / 1000.0, acc["calls"], 1),
                     "voicemails": acc["voicemails"], "faxes": acc["faxes"]})
    return {"group": group, "rows": rows}


def faxes(start: float, end: float, group: str = "day", tz: str = "UTC") -> dict:
    """Faxes per bucket and direction: sent, failed (no more tries) and received, with their pages."""
    zone = ZoneInfo(tz)
    folded = _grouped("stat_fax", start, end, ("direction",), group, zone)
    rows = [{"bucket": b, "direction": direction, "sent": acc["sent"], "failed": acc["failed"],
             "received": acc["received"], "pages": acc["pages"]} for (b, direction), acc in sorted(folded.items())]
    return {"group": group, "rows": rows}


def heatmap(start: float, end: float, tz: str = "UTC") -> dict:
    """Inbound calls by local weekday (0 = Monday) and hour of day."""
    zone = ZoneInfo(tz)
    grid = [[0] * 24 for _ in range(7)]
    for r in _rows("stat_calls", start, end, {"direction": ["inbound"]}):
        local = dt.datetime.fromtimestamp(r["hour"] * 3600, zone)
        grid[local.weekday()][local.hour] += r["calls"]
    return {"rows": grid}


def lines(start: float, end: float, group: str = "day", tz: str = "UTC") -> dict:
    """Trunk utilization per bucket: busy trunk-hours, peak simultaneous, all-lines-busy time."""
    zone = ZoneInfo(tz)
    folded = _grouped("stat_lines", start, end, (), group, zone)
    return {"group": group, "rows": [{"bucket": b, "busy_hours": round(acc["busy_ms"] / 3.6e6, 2),
                                      "peak": acc["peak"], "all_busy_seconds": _s(acc["all_busy_ms"])}
                                     for (b,), acc in sorted(folded.items())]}


def ivr(start: float, end: float, tz: str = "UTC", parts: tuple[str, ...] = ("funnel", "choices")) -> dict:
    """The IVR funnel (per flow and block: reached, left here) and choices per menu key (``parts``: which)."""
    out: dict[str, list] = {}
    if "funnel" in parts:
        nodes = _grouped_days("stat_ivr_node", start, end, ("flow", "node"), "total", tz)
        if nodes is None:
            nodes = _grouped("stat_ivr_node", start, end, ("flow", "node"), "total", ZoneInfo(tz))
        out["funnel"] = [{"flow": f, "node": n, "reached": v["reached"], "left_here": v["left_here"]}
                         for (_, f, n), v in sorted(nodes.items(), key=lambda x: (x[0][1], -x[1]["reached"],
                                                                                     x[0][2]))]
    if "choices" in parts:
        keys = _grouped_days("stat_ivr_choice", start, end, ("flow", "menu", "choice"), "total", tz)
        if keys is None:
            keys = _grouped("stat_ivr_choice", start, end, ("flow", "menu", "choice"), "total", ZoneInfo(tz))
        out["choices"] = [{"flow": f, "menu": m, "key": k, "count": v["count"]}
                          for (_, f, m, k), v in sorted(keys.items())]
    return out


def tickets(start: float, end: float) -> dict:
    """Service types from the tickets opened in the period: count per type, with how many are still open."""
    ph = _ph()
    rows = _db().execute_sql(
        f"SELECT type, COUNT(*), SUM(CASE WHEN status IN ('closed', 'resolved') THEN 0 ELSE 1 END) "
        f"FROM tickets WHERE created_at >= {ph} AND created_at < {ph} GROUP BY type ORDER BY COUNT(*) DESC, type",
        [start, end]).fetchall()
    return {"rows": [{"type": t, "count": int(n), "open": int(o or 0)} for t, n, o in rows]}


# ---- lists from the CDRs and the journal ---------------------------------------------------------------
CALL_SORTS = {"offered_at": "offered_at", "duration": "duration", "talk": "talk_seconds",
              "caller": "COALESCE(caller_id, '')"}
MAX_PAGE = 10000   # rows per query: a page of the table, or one chunk of an export
COUNT_CAP = 100_000   # lists count their rows up to here ("100000+"): a count must not grow with the calls stored


def _count(table: str, where: str, args: list) -> tuple[int, bool]:
    """(rows matching, whether there are more than COUNT_CAP)."""
    n = _db().execute_sql(f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {where} LIMIT {COUNT_CAP + 1}) t",
                          args).fetchone()[0]
    return min(n, COUNT_CAP), n > COUNT_CAP


def calls_list(start: float, end: float, *, caller: str | None = None, disposition: str | None = None,
               min_duration: float | None = None, sort: str = "offered_at", desc: bool = True, limit: int = 100,
               offset: int = 0, after: tuple | None = None, count: bool = True) -> dict:
    """Each call with its duration (CDRs), filtered; ``sort`` is allow-listed (CALL_SORTS). ``after`` (the
    ``next`` of the previous answer) continues after a row without counting rows again (exports read every
    row in chunks this way: the cost of a chunk does not grow with how far into the list it is)."""
    if sort not in CALL_SORTS:
        raise ReportError(f"sort must be one of {', '.join(CALL_SORTS)}")
    ph = _ph()
    cond = [f"offered_at >= {ph}", f"offered_at < {ph}", "direction NOT IN ('agent_leg', 'outbound_leg')"]
    args: list[Any] = [start, end]
    if caller:
        cond.append(f"caller_id = {ph}")
        args.append(caller)
    if disposition:
        cond.append(f"disposition = {ph}")
        args.append(disposition)
    if min_duration is not None:
        cond.append(f"duration >= {ph}")
        args.append(min_duration)
    where = " AND ".join(cond)
    total, capped = _count("cdrs", where, list(args)) if count else (None, False)
    key = CALL_SORTS[sort]
    if after is not None:
        if key == "offered_at":   # the index range starts where the previous chunk ended (one bound per side)
            args[1 if desc else 0] = after[0]
            cond[1 if desc else 0] = f"offered_at {'<=' if desc else '>='} {ph}"
            where = " AND ".join(cond)
        where += f" AND ({key} {'<' if desc else '>'} {ph} OR ({key} = {ph} AND call_uuid {'<' if desc else '>'} {ph}))"
        args += [after[0], after[0], after[1]]
        offset = 0
    cols = ("call_uuid", "direction", "caller_id", "dialed", "offered_at", "answered_at", "ended_at", "duration",
            "talk_seconds", "disposition", "peer")
    order = "DESC" if desc else "ASC"
    size = int(max(1, min(limit, MAX_PAGE)))
    found = None
    if key == "offered_at" and offset <= 0:
        # The index alone orders by time; the tie-break on call_uuid costs a sort of every row read. When the
        # rows read (and the one after them) are all at different moments, they are the same rows in the same
        # order as with the tie-break; otherwise ask again with it.
        found = _db().execute_sql(f"SELECT {', '.join(cols)}, {key} FROM cdrs WHERE {where} ORDER BY {key} {order} "
                                  f"LIMIT {size + 1}", args).fetchall()
        found = found[:size] if len({r[-1] for r in found}) == len(found) else None
    if found is None:
        sql = (f"SELECT {', '.join(cols)}, {key} FROM cdrs WHERE {where} ORDER BY {key} {order}, call_uuid {order} "
               f"LIMIT {size} OFFSET {int(max(0, offset))}")
        found = _db().execute_sql(sql, args).fetchall()
    return {"total": total, "total_capped": capped, "rows": [dict(zip(cols, r)) for r in found],
            "next": (found[-1][-1], found[-1][0]) if found else None}


def abandoned_list(start: float, end: float, queues_: Iterable[str] = (), limit: int = 200,
                   offset: int = 0, after: tuple | None = None, count: bool = True) -> dict:
    """Abandoned callers in the period (newest first) with the queue, wait, and the callback made, if any;
    ``after`` continues after a row (as in calls_list)."""
    ph = _ph()
    cond, args = [f"a.ts >= {ph}", f"a.ts < {ph}"], [start, end]
    names = list(queues_)
    if names:
        cond.append(f"a.queue IN ({', '.join([ph] * len(names))})")
        args += names
    where = " AND ".join(cond)
    total, capped = _count("stat_abandoned a", where, list(args)) if count else (None, False)
    if after is not None:   # the index range starts where the previous chunk ended
        cond[1], args[1] = f"a.ts <= {ph}", after[0]
        where = " AND ".join(cond) + f" AND (a.ts < {ph} OR (a.ts = {ph} AND a.call_uuid < {ph}))"
        args += [after[0], after[0], after[1]]
        offset = 0
    rows = _db().execute_sql(
        f"SELECT a.ts, a.call_uuid, a.queue, a.caller, a.waited_ms, a.short, c.status FROM stat_abandoned a "
        f"LEFT JOIN callbacks c ON c.call_uuid = a.call_uuid WHERE {where} ORDER BY a.ts DESC, a.call_uuid DESC "
        f"LIMIT {int(max(1, min(limit, MAX_PAGE)))} OFFSET {int(max(0, offset))}", args).fetchall()
    return {"total": total, "total_capped": capped,
            "rows": [{"ts": r[0], "call_uuid": r[1], "queue": r[2], "caller": r[3],
                      "waited_seconds": round(r[4] / 1000.0, 1), "short": bool(r[5]), "callback": r[6]}
                     for r in rows],
            "next": (rows[-1][0], rows[-1][1]) if rows else None}
