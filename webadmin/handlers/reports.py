"""Reports: the page (charts, tables, print) and the API with CSV and XLSX export.

Every figure comes from daemon/stats/reports.py (definitions: docs/metrics.md). Before answering, the stats
component folds whatever the journal holds, so a report includes the call that ended a second ago.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import tornado.web

from hotline.daemon.service.crm_csv import FORMULA_STARTS, safe_cell
from hotline.daemon.box import localtime
from hotline.daemon.stats import reports, rollup

from ..i18n import N_
from .inputs import id_param, page_param
from .base import BaseHandler, PageHandler

ROLES = ("supervisor",)
MAX_DAYS = 400

# report name -> (title, columns as (key, label)); nested values are flattened for tables and exports
REPORTS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "volume": (N_("Call volume"), [
        ("bucket", N_("Period")), ("direction", N_("Direction")), ("calls", N_("Calls")),
        ("answered", N_("Answered by the box")), ("queued", N_("Queued")), ("contained", N_("Finished in the IVR")),
        ("containment", N_("IVR containment")), ("refused", N_("Refused")),
        ("avg_duration_seconds", N_("Average duration (s)")), ("voicemails", N_("Voicemails")),
        ("faxes", N_("Faxes"))]),
    "queues": (N_("Queues and service level"), [
        ("bucket", N_("Period")), ("queue", N_("Queue")), ("offered", N_("Offered")), ("answered", N_("Answered")),
        ("abandoned", N_("Abandoned")), ("short_abandoned", N_("Short abandons")), ("callbacks", N_("Callbacks")),
        ("service_level", N_("Service level")), ("abandon_rate", N_("Abandon rate")),
        ("asa_seconds", N_("ASA (s)")), ("longest_wait_seconds", N_("Longest wait (s)")),
        ("avg_abandon_seconds", N_("Average abandon time (s)")), ("survey_score", N_("Survey score")),
        ("survey_count", N_("Surveys"))]),
    "agents": (N_("Agents"), [
        ("bucket", N_("Period")), ("name", N_("Agent")), ("display_name", N_("Name")), ("calls", N_("Calls")),
        ("avg_talk_seconds", N_("Average talk (s)")), ("longest_talk_seconds", N_("Longest talk (s)")),
        ("aht_seconds", N_("AHT (s)")), ("hold_seconds", N_("Hold (s)")),
        ("logged_in_seconds", N_("Logged in (s)")), ("ready_seconds", N_("Ready (s)")),
        ("not_ready_seconds", N_("Not ready (s)")), ("wrap_up_seconds", N_("Wrap-up (s)")),
        ("occupancy", N_("Occupancy")), ("missed", N_("Missed offers")), ("survey_score", N_("Survey score"))]),
    "lines": (N_("Line utilization"), [
        ("bucket", N_("Period")), ("busy_hours", N_("Busy trunk hours")), ("peak", N_("Peak simultaneous calls")),
        ("all_busy_seconds", N_("All lines busy (s)"))]),
    "ivr": (N_("IVR funnel"), [
        ("flow", N_("Flow")), ("node", N_("Menu node")), ("reached", N_("Reached")), ("left_here", N_("Left here"))]),
    "choices": (N_("Service types"), [
        ("flow", N_("Flow")), ("menu", N_("Menu")), ("key", N_("Key")), ("count", N_("Count"))]),
    "tickets": (N_("Tickets by type"), [("type", N_("Type")), ("count", N_("Count")), ("open", N_("Still open"))]),
    "faxes": (N_("Faxes"), [
        ("bucket", N_("Period")), ("direction", N_("Direction")), ("sent", N_("Faxes sent")),
        ("failed", N_("Faxes failed")), ("received", N_("Faxes received")), ("pages", N_("Pages"))]),
    "heatmap": (N_("Calls by hour of day"), []),
    "abandoned": (N_("Abandoned calls"), [
        ("ts", N_("Time")), ("queue", N_("Queue")), ("caller", N_("Caller")), ("waited_seconds", N_("Waited (s)")),
        ("short", N_("Short abandon")), ("callback", N_("Callback"))]),
    "calls": (N_("Calls"), [
        ("offered_at", N_("Time")), ("direction", N_("Direction")), ("caller_id", N_("Caller")),
        ("dialed", N_("Dialled")), ("duration", N_("Duration (s)")), ("talk_seconds", N_("Talk (s)")),
        ("disposition", N_("Outcome")), ("peer", N_("Answered by"))]),
}
GROUP_LABELS = {"hour": N_("Hour"), "day": N_("Day"), "week": N_("Week"), "month": N_("Month"),
                "total": N_("Whole period")}
VALUES = {"in": N_("Incoming"), "out": N_("Outgoing"), "inbound": N_("inbound"), "internal": N_("internal"), "outbound": N_("outbound"),
          "callback": N_("callback"), "connected": N_("connected"), "answered": N_("answered"),
          "unanswered": N_("unanswered"), "refused": N_("refused"), "interrupted": N_("interrupted")}
WEEKDAYS = [N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun")]
FORMATS = ("json", "csv", "xlsx")
LISTS = ("calls", "abandoned")           # lists paged in the table; their exports hold every matching row
TIME_COLUMNS = {"ts", "offered_at"}      # moments (epoch seconds): exported as the box's local time
EXPORT_CHUNK = 5000
ALLOWED = {"from", "to", "group", "queue", "agent", "format", "sort", "desc", "page", "caller", "outcome"}


def ticket_types() -> dict[str, str]:
    """Ticket type labels (shared with the tickets pages)."""
    from .ticket_terms import TYPES
    return TYPES


async def box_timezone(services: dict) -> str:
    """The timezone reports use: the box's (base.box_timezone: setup's choice, else the configuration's)."""
    from .base import box_timezone as box
    return await box(services)


def parse_request(handler: tornado.web.RequestHandler, tz: str) -> dict:
    """Period, grouping and filters from the query string; 400 naming any bad parameter."""
    unknown = set(handler.request.query_arguments) - ALLOWED
    if unknown:
        raise tornado.web.HTTPError(400, reason=f"unknown parameter {sorted(unknown)[0]!r}")
    zone = ZoneInfo(tz)
    today = dt.datetime.now(zone).date()
    try:
        first = dt.date.fromisoformat(handler.get_query_argument("from", (today - dt.timedelta(days=6)).isoformat()))
        last = dt.date.fromisoformat(handler.get_query_argument("to", today.isoformat()))
    except ValueError:
        raise tornado.web.HTTPError(400, reason="from/to: use YYYY-MM-DD") from None
    if last < first:
        raise tornado.web.HTTPError(400, reason="to: must not be before from")
    if (last - first).days >= MAX_DAYS:
        raise tornado.web.HTTPError(400, reason=f"from/to: at most {MAX_DAYS} days")
    group = handler.get_query_argument("group", "day")
    if group not in reports.GROUPS:
        raise tornado.web.HTTPError(400, reason=f"group: one of {', '.join(reports.GROUPS)}")
    fmt = handler.get_query_argument("format", "json")
    if fmt not in FORMATS:
        raise tornado.web.HTTPError(400, reason=f"format: one of {', '.join(FORMATS)}")
    agents = [id_param(a, "agent") for a in handler.get_query_arguments("agent")]
    page = page_param(handler.get_query_argument("page", None))
    start = dt.datetime.combine(first, dt.time(), zone).timestamp()
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).timestamp()
    return {"first": first, "last": last, "start": start, "end": end, "group": group, "format": fmt,
            "queues": [q[:64] for q in handler.get_query_arguments("queue")], "agents": agents, "page": page,
            "sort": handler.get_query_argument("sort", "offered_at"), "desc": handler.get_query_argument("desc", "1") != "0",
            "caller": handler.get_query_argument("caller", "").strip()[:32] or None,
            "outcome": handler.get_query_argument("outcome", "").strip()[:16] or None, "tz": tz}


def run_report(name: str, p: dict) -> dict:
    """One report's data (runs in a store read)."""
    tz = p["tz"]
    if name == "volume":
        return reports.volume(p["start"], p["end"], p["group"], tz)
    if name == "queues":
        return reports.queues(p["start"], p["end"], p["group"], p["queues"], tz)
    if name == "agents":
        return reports.agents(p["start"], p["end"], p["group"], p["agents"], tz)
    if name == "lines":
        return reports.lines(p["start"], p["end"], p["group"], tz)
    if name in ("ivr", "choices"):
        part = "funnel" if name == "ivr" else "choices"
        return {"rows": reports.ivr(p["start"], p["end"], tz, (part,))[part]}
    if name == "faxes":
        return reports.faxes(p["start"], p["end"], p["group"], tz)
    if name == "heatmap":
        return reports.heatmap(p["start"], p["end"], tz)
    if name == "tickets":
        return reports.tickets(p["start"], p["end"])
    limit, after, count = p.get("limit", 200), p.get("after"), p.get("count", True)
    if name == "abandoned":
        return reports.abandoned_list(p["start"], p["end"], p["queues"], limit=limit,
                                      offset=(p["page"] - 1) * limit, after=after, count=count)
    if name == "calls":
        return reports.calls_list(p["start"], p["end"], caller=p["caller"], disposition=p["outcome"],
                                  sort=p["sort"], desc=p["desc"], limit=limit, offset=(p["page"] - 1) * limit,
                                  after=after, count=count)
    raise tornado.web.HTTPError(404, reason="no such report")


def export_cell(value: Any) -> Any:
    """The one door every exported value goes through (CSV and XLSX, downloads and mailed reports): nested
    values as JSON, text that a spreadsheet would run as a formula (=, +, -, @ ...) neutralised."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False)
    return safe_cell(value) if isinstance(value, str) else value


_NUMBERS = {int, float, type(None)}
_TEXTS = {str, type(None)}
_FORMULA_AFTER_NUL = re.compile("\x00[" + re.escape("".join(FORMULA_STARTS)) + "]")


def export_columns(columns: list) -> list:
    """``export_cell`` of every value, a column at a time: columns of numbers pass as they are, columns of text
    are checked in one pass (an export of 9,000 rows x 24 columns without a call per cell)."""
    out = []
    for column in columns:
        kinds = set(map(type, column))
        if kinds <= _NUMBERS:
            out.append(column)
        elif kinds <= _TEXTS and not _FORMULA_AFTER_NUL.search("\x00" + "\x00".join(map(str, column))):
            out.append(column)   # no text starts a formula (one search of the whole column)
        elif kinds <= _TEXTS:   # safe_cell of each text (None stays None, as export_cell leaves it)
            out.append([t if t is None or not t.startswith(FORMULA_STARTS) else "'" + t for t in column])
        else:
            out.append(list(map(export_cell, column)))
    return out


def export_lines(lines: list) -> list:
    """``export_cell`` of every value of these lines (``export_columns`` when they are all as wide)."""
    if not lines:
        return []
    width = len(lines[0])
    if any(len(line) != width for line in lines):
        return [[export_cell(v) for v in line] for line in lines]
    return list(zip(*export_columns(list(zip(*lines)))))


def _reasons(rows: list[dict]) -> list[str]:
    """The not-ready reasons found in agent rows (one export column each)."""
    return sorted({r for row in rows for r in row.get("not_ready_by_reason", {})})


def header(name: str, rows: list[dict], locale: Any) -> list[str]:
    """Column titles of a table or an export (the agents' not-ready reasons found in ``rows`` among them)."""
    if name == "heatmap":
        return [locale.translate("Day")] + [f"{h:02d}" for h in range(24)]
    titles = [locale.translate(label) for _, label in REPORTS[name][1]]
    if name == "queues":
        titles += [f"{locale.translate('Wait')} {b}" for b in reports.WAIT_LABELS]
    if name == "agents":
        titles += [f"{locale.translate('Not ready (s)')}: {r}" for r in _reasons(rows)]
    return titles


def flat_columns(name: str, rows: list[dict], locale: Any, tz: str) -> list[list]:
    """The values of a table or an export column by column in ``header``'s order, each as long as ``rows``
    (lists and maps become their own columns; moments become the box's local time in zone ``tz``)."""
    if not rows:
        return []
    if name == "heatmap":
        return [list(c) for c in zip(*([locale.translate(WEEKDAYS[i])] + row for i, row in enumerate(rows)))]
    keys = [k for k, _ in REPORTS[name][1]]
    try:   # every row has every column (the report functions make them so): fetched in C
        columns = [list(map(itemgetter(k), rows)) for k in keys]
    except KeyError:
        columns = [[row.get(k) for row in rows] for k in keys]
    for i, k in enumerate(keys):
        if k in TIME_COLUMNS:
            columns[i] = list(map(localtime.formatter(tz, "second"), columns[i]))
    if name == "queues":
        waits = [row.get("wait_distribution") or [] for row in rows]
        columns += [[w[j] if j < len(w) else None for w in waits] for j in range(len(reports.WAIT_LABELS))]
    if name == "agents":
        by_reason = [row.get("not_ready_by_reason", {}) for row in rows]
        columns += [[d.get(r, 0) for d in by_reason] for r in _reasons(rows)]
    return columns


def flatten(name: str, rows: list[dict], locale: Any, tz: str) -> tuple[list[str], list]:
    """Header and rows (lines of values) for a table or an export (``header`` and ``flat_columns``)."""
    return header(name, rows, locale), list(zip(*flat_columns(name, rows, locale, tz)))


class ReportApi(BaseHandler):
    """GET /api/v1/reports/{name}: JSON, or a CSV / XLSX download with ?format=."""

    roles = ROLES

    async def get(self, name: str) -> None:
        """Fold the newest events, compute, send."""
        if name not in REPORTS:
            raise tornado.web.HTTPError(404, reason="no such report")
        p = parse_request(self, await box_timezone(self.services))
        await prepare_report(self.services, name, p["tz"])
        if p["format"] != "json":
            return await self.export(name, p)

        def answer() -> bytes:   # read and encoded in one database thread (4 MB for 9,000 agent-days)
            data = run_report(name, p)
            return json.dumps({"report": name, "from": p["first"].isoformat(), "to": p["last"].isoformat(),
                               "timezone": p["tz"], **data}, ensure_ascii=False, default=str).encode("utf-8")
        try:
            body = await self.services["store"].read(answer)
        except reports.ReportError as exc:
            raise tornado.web.HTTPError(400, reason=str(exc)) from None
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(body)

    async def export(self, name: str, p: dict) -> None:
        """Stream a CSV or XLSX download: every row matching the filter, a chunk at a time (lists are read
        EXPORT_CHUNK rows at a time, each chunk continuing after the last row of the one before), so memory and
        the time to the first byte do not grow with the rows. Each chunk is read, formatted and compressed in
        one database thread (one hand-over per chunk: on a busy machine each one waits for a core)."""
        filename = f"hotline-{name}-{p['first']}-{p['last']}"
        csv_out = p["format"] == "csv"
        if csv_out:
            self.set_header("Content-Type", "text/csv; charset=utf-8")
            self.set_header("Content-Disposition", f'attachment; filename="{filename}.csv"')
        else:
            self.set_header("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            self.set_header("Content-Disposition", f'attachment; filename="{filename}.xlsx"')
        sinks: list[Any] = []

        def chunk(q: dict) -> tuple[bytes, Any, bool]:
            """One chunk's bytes, where the next starts, and whether it was the last (the sink's end added)."""
            data = run_report(name, q)
            rows = data["rows"]
            if not sinks:   # the first chunk names the columns (the agents' not-ready reasons among them)
                titles = header(name, rows, self.locale)
                if csv_out:
                    sinks.append(CsvSink(titles))
                else:
                    from ..xlsx import StreamingSheet
                    sinks.append(StreamingSheet(self.locale.translate(REPORTS[name][0]),
                                                f"{p['first']} – {p['last']} ({p['tz']})", titles))
            sink = sinks[0]
            body = sink.columns(export_columns(flat_columns(name, rows, self.locale, p["tz"]))) if rows else b""
            last = name not in LISTS or len(rows) < EXPORT_CHUNK
            return (body + sink.close() if last else body), data.get("next"), last
        q = {**p, "page": 1, "limit": EXPORT_CHUNK, "count": False, "after": None} if name in LISTS else p
        store = self.services["store"]
        while True:
            try:
                body, after, last = await store.read(chunk, q)
            except reports.ReportError as exc:
                raise tornado.web.HTTPError(400, reason=str(exc)) from None
            if last:
                self.finish(body)
                return
            self.write(body)
            await self.flush()   # raises when the browser went away mid-download: nothing more is read
            q = {**q, "after": after}


class CsvSink:
    """CSV bytes, a chunk of rows at a time (UTF-8 with a BOM: Excel opens Chinese correctly)."""

    def __init__(self, header: list[str]):
        self.started = False
        self.header = header

    def rows(self, rows: list) -> bytes:
        """The CSV lines of these rows (the BOM and the header before the first)."""
        buf = io.StringIO()
        w = csv.writer(buf)
        if not self.started:
            buf.write("\ufeff")
            w.writerow(self.header)
            self.started = True
        w.writerows(rows)
        return buf.getvalue().encode("utf-8")

    def columns(self, columns: list) -> bytes:
        """``rows`` of the rows given column by column."""
        return self.rows(zip(*columns))

    def close(self) -> bytes:
        """Nothing more (the header alone when there were no rows)."""
        return b"" if self.started else self.rows([])


async def prepare_report(services: dict, name: str, tz: str) -> None:
    """Fold the newest events in; for the agents and IVR reports keep the per-day rollup in the box's zone."""
    stats = services.get("stats")
    if stats is not None:
        await stats.catch_up()
    if name in ("agents", "ivr", "choices"):
        await services["store"].write(rollup.ensure, tz)


class ReportsPage(PageHandler):
    """/reports: choose a period, group and filters; charts and tables; export; print."""

    roles = ROLES
    title = N_("Reports")

    async def get(self) -> None:
        """The page; data is loaded by the script from the API (the same numbers as the exports)."""
        tz = await box_timezone(self.services)
        p = parse_request(self, tz)

        def names() -> tuple[list, list]:
            from hotline.daemon.store.models import AgentRow, QueueRow
            return ([q.name for q in QueueRow.select().order_by(QueueRow.name)],
                    [(a.id, a.display_name or a.name) for a in AgentRow.select().order_by(AgentRow.name)])
        queue_names, agent_names = await self.services["store"].read(names)
        labels = {name: {"title": self.locale.translate(title),
                         "columns": [[k, self.locale.translate(label)] for k, label in cols]}
                  for name, (title, cols) in REPORTS.items()}
        self.render("reports.html", p=p, queue_names=queue_names, agent_names=agent_names,
                    groups=[(g, self.locale.translate(GROUP_LABELS[g])) for g in reports.GROUPS],
                    labels_json=json.dumps({"reports": labels, "weekdays": [self.locale.translate(d) for d in WEEKDAYS],
                                            "values": {k: self.locale.translate(v)
                                                       for k, v in {**VALUES, **ticket_types()}.items()},
                                            "wait_buckets": reports.WAIT_LABELS}, ensure_ascii=False),
                    report_names=list(REPORTS))


PAGE_ROUTES = [(r"/reports", ReportsPage)]
ROUTES = [(r"/api/v1/reports/([a-z]+)", ReportApi)]
