"""Times people read come from one helper each side: daemon/box/localtime.py on the server, HL.time in panel.js in
the browser. A time formatted any other way shows the process's or the browser's zone (the issue where
recordings, tickets and the audit log were 8 hours off the reports): this keeps every new one on the helpers."""
from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

from hotline.daemon.box import localtime

REPO = Path(__file__).resolve().parents[2]
SERVER = [*sorted((REPO / "daemon").rglob("*.py")), *sorted((REPO / "webadmin").rglob("*.py"))]
SCRIPTS = sorted((REPO / "webadmin" / "static" / "js").glob("*.js"))

# Moments formatted in the process's zone on purpose: storage layout, not read as times by anyone.
ALLOWED = {
    ("daemon/calls/call_recording.py", "time.localtime"),  # recordings/<Y/m/d>/ directory of a recording file
    ("daemon/calls/call_recording.py", "time.strftime"),
    ("daemon/calls/flows.py", "time.strftime"),         # voicemail/<Y/m/d>/ directory of a message
    ("daemon/box/backup.py", "time.strftime"),        # pre-restore-<stamp> directory name
    ("webadmin/handlers/config_prompts.py", "time.strftime"),   # replaced/<id>-<stamp>.wav file name
    ("daemon/service/demodata.py", "time.mktime"),        # the demo data's clock (whole days, then offsets)
    ("daemon/service/demodata.py", "dt.date.today"),
}


def _server_calls(path: Path) -> list[tuple[str, int]]:
    """Calls that write a moment in the process's zone: time.localtime/strftime/mktime, and
    datetime.fromtimestamp / date.fromtimestamp / date.today without a zone."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        f = node.func
        owner = ast.unparse(f.value)
        name = f"{owner}.{f.attr}"
        if owner == "time" and f.attr in ("localtime", "strftime", "mktime", "ctime", "asctime"):
            found.append((name, node.lineno))
        elif f.attr == "fromtimestamp" and len(node.args) < 2 and not node.keywords:
            found.append((name, node.lineno))
        elif owner in ("dt.date", "datetime.date", "date") and f.attr == "today":
            found.append((name, node.lineno))
        elif owner in ("dt.datetime", "datetime.datetime", "datetime") and f.attr == "now" and not node.args \
                and not node.keywords:
            found.append((name, node.lineno))
    return found


def test_no_server_code_formats_a_time_in_the_process_zone() -> None:
    """Every moment a page, an export or a message shows goes through daemon/box/localtime.py."""
    bad = []
    for path in SERVER:
        rel = path.relative_to(REPO).as_posix()
        if rel in ("daemon/box/localtime.py", "daemon/stats/history.py", "daemon/stats/bench.py"):
            continue   # the helper itself; the history simulator's fallback and the benchmark take a zone
        for name, line in _server_calls(path):
            if (rel, name) not in ALLOWED:
                bad.append(f"{rel}:{line}: {name}(...) uses the process's zone; use localtime.fmt(ts, tz, style)")
    assert not bad, "\n".join(bad)


BROWSER_ZONE = re.compile(r"\.(getHours|getMinutes|getDate|getMonth|getFullYear|getDay|toLocaleString|"
                          r"toLocaleTimeString|toLocaleDateString|getTimezoneOffset)\(")


def test_no_script_formats_a_time_in_the_browser_zone() -> None:
    """Scripts show moments with HL.time (the box's zone from <html data-tz>), never the browser's zone."""
    bad = []
    for path in SCRIPTS:
        if path.name == "panel.js":
            continue   # HL.time itself
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = BROWSER_ZONE.search(line)
            if m and "HL.today" not in line and not _date_arithmetic(path.name, line):
                bad.append(f"{path.name}:{i}: {m.group(1)} reads the browser's zone: use HL.time(ts, style)")
    assert not bad, "\n".join(bad)


def _date_arithmetic(script: str, line: str) -> bool:
    """The reports page's period presets count calendar days from the box's today (HL.today) with Date
    arithmetic; no moment is shown from them."""
    return script == "reports.js" and ("setDate(" in line or "getDay()" in line or "getTimezoneOffset" in line
                                       or "new Date(now.getFullYear()" in line)


def test_the_helper_writes_the_box_zone_whatever_the_process_zone() -> None:
    """One instant, one text per zone and style; typed local times read back to the same instant."""
    ts = dt.datetime(2026, 3, 4, 1, 15, 30, tzinfo=dt.timezone.utc).timestamp()
    assert localtime.fmt(ts, "Asia/Shanghai", "second") == "2026-03-04 09:15:30"
    assert localtime.fmt(ts, "Asia/Shanghai") == "2026-03-04 09:15"
    assert localtime.fmt(ts, "Asia/Shanghai", "date") == "2026-03-04"
    assert localtime.fmt(ts, "America/New_York", "minute") == "2026-03-03 20:15"
    assert localtime.fmt(ts, "Asia/Shanghai", "input") == "2026-03-04T09:15"
    assert localtime.fmt(None, "Asia/Shanghai") == ""
    assert localtime.parse("2026-03-04 09:15:30", "Asia/Shanghai") == ts
    assert localtime.parse("2026-03-04T09:15", "Asia/Shanghai") == ts - 30
    assert localtime.local_date(ts, "America/New_York") == dt.date(2026, 3, 3)


def test_the_export_formatter_writes_what_fmt_writes_around_clock_changes() -> None:
    """Exports format many rows with ``formatter`` (one offset lookup per quarter hour): the same text as
    ``fmt`` second by second around daylight-saving changes, also a half-hour one (Lord Howe)."""
    for tz, day in (("America/New_York", dt.date(2026, 3, 8)), ("America/New_York", dt.date(2026, 11, 1)),
                    ("Australia/Lord_Howe", dt.date(2026, 4, 5)), ("Asia/Shanghai", dt.date(2026, 3, 4))):
        one = localtime.formatter(tz, "second")
        t0 = dt.datetime.combine(day, dt.time(), dt.timezone.utc).timestamp() - 86400
        for s in range(0, 3 * 86400, 13):
            assert one(t0 + s + 0.25) == localtime.fmt(t0 + s + 0.25, tz, "second"), (tz, t0 + s)
    assert localtime.formatter("Asia/Shanghai")(None) == ""


def test_the_export_formatter_agrees_with_fmt_at_the_edges_of_a_second() -> None:
    """The formatter makes each minute's text once: still ``fmt``'s text for moments a hair before a whole
    second (they round up), before 1970, in zones whose old offsets were not whole minutes, and in every
    style."""
    moments = [1772587530.0, 1772587530.9999996, 1772587589.9999999, 1772587530.4999999, -86400.25, -1.5,
               -2208988800.0 + 17.75, 1772587559.999999]
    for tz in ("Asia/Shanghai", "America/New_York", "Europe/Amsterdam", "UTC"):
        for style in localtime.STYLES:
            one = localtime.formatter(tz, style)
            for ts in moments:
                assert one(ts) == localtime.fmt(ts, tz, style), (tz, style, ts)
