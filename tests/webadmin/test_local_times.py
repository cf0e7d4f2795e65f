"""One moment reads the same everywhere: the audit log, recordings, tickets, the reports' JSON, CSV and XLSX
exports all show it in the box's zone (Asia/Shanghai), while the daemon's own process runs in UTC; and the
exports of the paged lists hold every row matching the filter, not the page on screen."""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import time
import uuid
import zipfile
from zoneinfo import ZoneInfo

BOX = ZoneInfo("Asia/Shanghai")
CALLS = 10_250            # more than two export chunks (5,000 rows each) and than any page


def _seed(state, moment: float) -> dict:
    """Rows stamped with ``moment``: an audit entry, a recording, a ticket, CDRs (some sharing a second) and an
    abandoned call, written straight into the box's database before it starts."""
    from hotline.daemon.store.db import Store
    from hotline.daemon.store.models import AuditEntry, Cdr, Recording
    from hotline.daemon.store.service_models import Ticket
    store = Store(f"sqlite:///{state / 'hotline.db'}")
    store.open()
    first = str(uuid.UUID(int=1))

    def insert() -> int:
        AuditEntry.create(ts=moment, user_name="admin", address="127.0.0.1", action="config.test", target="clock")
        Recording.create(call_uuid=first, path=str(state / "rec" / "first.wav"), started_at=moment,
                         ended_at=moment + 60, duration=60.0, bytes=960000, channels=1, state="closed")
        t = Ticket.create(ticket_no="T-CLOCK-1", type="repair", status="open", priority="normal",
                          summary="clock check", created_at=moment, updated_at=moment, due_at=moment + 86400)
        rows = []
        for i in range(CALLS):
            at = moment - (i // 3) * 7.0     # three calls in each second: the export must not lose or repeat any
            rows.append({"call_uuid": str(uuid.UUID(int=i + 1)), "parent_uuid": None, "direction": "inbound",
                         "line": "sim0-t1", "caller_id": f"138{i:08d}", "caller_name": "", "dialed": "8001",
                         "offered_at": at, "answered_at": at + 3, "bridged_at": at + 5, "ended_at": at + 65,
                         "duration": 65.0, "talk_seconds": 60.0, "disposition": "connected", "cause": "normal",
                         "peer": "1001", "recording": None})
        for k in range(0, len(rows), 500):
            Cdr.insert_many(rows[k:k + 500]).execute()
        store.db.execute_sql("INSERT INTO stat_abandoned (call_uuid, ts, hour, queue, caller, waited_ms, short) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)",
                             ("abandoned-1", moment, int(moment // 3600), "printers", "13912345678", 45000, 0))
        return t.id
    try:
        return {"ticket": store.write_sync(insert)}
    finally:
        store.close()


def test_one_moment_reads_the_same_on_every_page_and_export(prepared_box, client) -> None:
    # yesterday at 09:15:30 in Shanghai: 01:15:30 in UTC, the daemon process's own zone
    today = dt.datetime.now(BOX).date()
    local = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(9, 15, 30), BOX)
    moment = local.timestamp()
    want_s, want_m = local.strftime("%Y-%m-%d %H:%M:%S"), local.strftime("%Y-%m-%d %H:%M")
    utc_m = dt.datetime.fromtimestamp(moment, dt.timezone.utc).strftime("%Y-%m-%d %H:%M")
    d = prepared_box(start=False)
    d.env["TZ"] = "UTC"
    seeded = _seed(d.state, moment)
    d.start()
    admin = client(d.url)
    admin.login("admin")

    pages = {"/audit": want_s, "/recordings": want_s, "/tickets": want_m, f"/tickets/{seeded['ticket']}": want_m}
    for path, want in pages.items():
        r = admin.get(path)
        assert r.status == 200, (path, r.status)
        assert want in r.text, f"{path} does not show {want} (the box's time)"
        assert utc_m not in r.text, f"{path} shows {utc_m}: UTC, not the box's zone"
    day = local.date().isoformat()
    period = f"from={day}&to={day}"

    # the calls list: a page on screen, every row in the exports, each with the box's local time
    data = admin.api("GET", f"/reports/calls?{period}").json()
    assert data["total"] == CALLS and len(data["rows"]) == 200 and data["timezone"] == "Asia/Shanghai"
    r = admin.get(f"/api/v1/reports/calls?{period}&format=csv")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(r.body.decode("utf-8-sig"))))
    header, rows = table[0], table[1:]
    assert header[0] == "Time" and len(rows) == CALLS, f"the CSV holds {len(rows)} of {CALLS} calls"
    assert len({row[2] for row in rows}) == CALLS, "a call is missing or repeated in the CSV"
    assert rows[0][0] == want_s, rows[0]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", row[0]) for row in rows), "a raw epoch time"
    r = admin.get(f"/api/v1/reports/calls?{period}&format=xlsx")
    sheet = zipfile.ZipFile(io.BytesIO(r.body)).read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert sheet.count("<row ") == 3 + CALLS, "title, period, header and every call"
    assert f">{want_s}<" in sheet and "Asia/Shanghai" in sheet

    r = admin.get(f"/api/v1/reports/abandoned?{period}&format=csv")
    rows = list(csv.reader(io.StringIO(r.body.decode("utf-8-sig"))))
    assert rows[1][0] == want_s and rows[1][2] == "13912345678", rows


def test_status_pages_say_durations_and_moments_one_way(panel_box, client) -> None:
    """Overview and System status give the uptime in the same words; the stats component's last run is a local
    time, not an epoch number."""
    admin = client(panel_box.url)
    admin.login("admin")
    time.sleep(1.2)   # the stats component has folded at least once
    overview = admin.get("/").text
    system = admin.get("/config/system").text
    up_overview = re.search(r'id="overview-uptime">([^<]+)<', overview).group(1).strip()
    up_system = re.search(r'id="sys-uptime">([^<]+)<', system).group(1).strip()
    assert re.fullmatch(r"\d+ min \d+ s", up_system), up_system
    assert re.fullmatch(r"\d+ min \d+ s", up_overview), up_overview
    assert "hours" not in overview.split('id="overview-uptime"')[1][:80]
    last_run = re.search(r"last_run: ([^,<]+)", system)
    assert last_run, "the stats component's last run is not on the page"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}|–", last_run.group(1).strip()), last_run.group(1)
