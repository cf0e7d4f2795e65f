"""Reports on a small known day built through the simulator: every figure is checked exactly against what the
test did (and the journal's own wait times); exports carry the same numbers; bad parameters are refused."""
from __future__ import annotations

import csv
import io
import time

FLOW = """
flow: rep_test
blocks:
  main:
    - answer
    - menu: {prompt: printer_main_menu, options: {"1": agent, "2": info}, fallback: info, timeout: 8}
  agent:
    - queue: {name: support, no_agent: info}
    - hangup
  info:
    - play: printer_help
    - hangup
"""
QUEUES = """
agents:
  - {name: ann, display_name: Ann Lee, extension: "1001"}
queues:
  support:
    join_empty: true
    service_level_seconds: 60
    short_abandon_seconds: 1
    announce_position: false
    announce_estimate: false
    leave_key: null
    wrapup_seconds: 0
    ring_timeout: 60
    members: [{agent: ann}]
"""


def events(q, cid: str) -> list[dict]:
    return q.api("GET", f"/sim/calls/{cid}", expect=200)["events"]


def has(q, cid: str, kind: str) -> dict | None:
    return next((e for e in events(q, cid) if e["kind"] == kind), None)


def test_a_known_day_in_every_report(queue_box, qa, client) -> None:
    box = queue_box({"rep_test": FLOW}, {"7000": "rep_test"}, QUEUES)
    q = qa(box)
    sup = client(box.url)
    sup.login("sup")
    admin = client(box.url)
    admin.login("admin")
    assert admin.api("POST", "/agents/ann/login", {"station": "1001"}).status == 200

    # A: presses 1, waits, ann answers, they talk, ann hangs up
    a = q.api("POST", "/sim/calls", {"from": "13800000001", "to": "7000"}, expect=201)["id"]
    q.wait(lambda: has(q, a, "ivr.step"), what="A in the menu")
    q.api("POST", f"/sim/calls/{a}/dtmf", {"digits": "1"}, expect=202)
    q.wait(lambda: any(s["extension"] == "1001" and s["state"] == "ringing"
                       for s in q.api("GET", "/sim/stations")["stations"]), what="ann's phone rings")
    time.sleep(0.5)
    q.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    q.wait(lambda: has(q, a, "call.bridged"), what="A bridged")
    time.sleep(2.0)   # talk time is media time: on a busy machine the clock can lag the wall clock a little
    q.api("POST", "/sim/stations/1001/hangup", {}, expect=200)
    q.wait(lambda: q.api("GET", f"/sim/calls/{a}")["state"] == "ended", what="A ended")
    # B: ann logs out; B presses 1, waits in the queue and gives up after a while (not a short abandon)
    assert admin.api("POST", "/agents/ann/logout", {}).status == 200
    b = q.api("POST", "/sim/calls", {"from": "13800000002", "to": "7000"}, expect=201)["id"]
    q.wait(lambda: has(q, b, "ivr.step"), what="B in the menu")
    q.api("POST", f"/sim/calls/{b}/dtmf", {"digits": "1"}, expect=202)
    q.wait(lambda: has(q, b, "queue.joined"), what="B queued")
    time.sleep(1.5)
    q.api("DELETE", f"/sim/calls/{b}", expect=200)
    q.wait(lambda: has(q, b, "queue.abandoned"), what="B abandoned")
    # C: presses 2, hears the help and is done without a person
    c = q.api("POST", "/sim/calls", {"from": "13800000003", "to": "7000"}, expect=201)["id"]
    q.wait(lambda: has(q, c, "ivr.step"), what="C in the menu")
    q.api("POST", f"/sim/calls/{c}/dtmf", {"digits": "2"}, expect=202)
    q.wait(lambda: q.api("GET", f"/sim/calls/{c}")["state"] == "ended", timeout=30, what="C ended")
    q.wait(lambda: q.api("GET", f"/sim/calls/{b}")["state"] == "ended", what="B ended")

    waited_a = has(q, a, "queue.answered")["data"]["waited"]
    waited_b = has(q, b, "queue.abandoned")["data"]["waited"]
    assert waited_b > 1

    queues = sup.api("GET", "/reports/queues?group=total").json()
    (row,) = queues["rows"]
    assert (row["queue"], row["offered"], row["answered"], row["abandoned"], row["short_abandoned"]) == \
        ("support", 2, 1, 1, 0)
    assert row["service_level"] == 0.5 and row["abandon_rate"] == 0.5
    assert row["asa_seconds"] == round(waited_a, 1) and row["longest_wait_seconds"] == round(waited_a, 1)
    assert row["avg_abandon_seconds"] == round(waited_b, 1)
    assert sum(row["wait_distribution"]) == 1

    volume = sup.api("GET", "/reports/volume?group=total").json()["rows"]
    inbound = next(r for r in volume if r["direction"] == "inbound")
    assert (inbound["calls"], inbound["answered"], inbound["queued"], inbound["contained"]) == (3, 3, 2, 1)
    assert inbound["containment"] == round(1 / 3, 4)

    agents = sup.api("GET", "/reports/agents?group=total").json()["rows"]
    (ann,) = agents
    assert ann["name"] == "ann" and ann["calls"] == 1 and 0.8 < ann["talk_seconds"] < 10
    assert ann["logged_in_seconds"] >= ann["talk_seconds"] and ann["occupancy"] is not None

    choices = {(r["menu"], r["key"]): r["count"] for r in sup.api("GET", "/reports/choices").json()["rows"]}
    assert choices == {("main", "1"): 2, ("main", "2"): 1}
    funnel = {r["node"]: r for r in sup.api("GET", "/reports/ivr").json()["rows"]}
    assert funnel["main"]["reached"] == 3 and funnel["info"]["reached"] == 1 and funnel["info"]["left_here"] == 1

    abandoned = sup.api("GET", "/reports/abandoned").json()
    assert abandoned["total"] == 1 and abandoned["rows"][0]["caller"] == "13800000002"
    calls = sup.api("GET", "/reports/calls?sort=duration").json()
    assert calls["total"] == 3 and {r["caller_id"] for r in calls["rows"]} == {"13800000001", "13800000002",
                                                                              "13800000003"}
    sup.api("POST", "/tickets", {"type": "repair", "summary": "printer jams", "caller_number": "13800000001"})
    sup.api("POST", "/tickets", {"type": "billing", "summary": "a question about the bill"})
    types = {r["type"]: (r["count"], r["open"]) for r in sup.api("GET", "/reports/tickets").json()["rows"]}
    assert types == {"repair": (1, 1), "billing": (1, 1)}
    heat = sup.api("GET", "/reports/heatmap").json()["rows"]
    assert sum(map(sum, heat)) == 3

    # the wallboard tells the same truth for today
    wall = sup.api("GET", "/wallboard").json()
    support = next(x for x in wall["queues"] if x["name"] == "support")
    today = support["today"]
    assert (today["answered"], today["abandoned"], today["service_level"]) == (1, 1, row["service_level"])

    # exports: the same numbers, column titles in the user's language, Excel-friendly
    r = sup.api("GET", "/reports/queues?group=total&format=csv")
    assert r.status == 200 and r.body.startswith("\ufeff".encode()) and "attachment" in r.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(r.body.decode("utf-8-sig"))))
    assert table[0][:4] == ["Period", "Queue", "Offered", "Answered"] and table[1][1:4] == ["support", "2", "1"]
    r = sup.api("GET", "/reports/agents?group=total&format=xlsx")
    from openpyxl import load_workbook
    ws = load_workbook(io.BytesIO(r.body)).active
    assert ws["A1"].value == "Agents" and ws.cell(4, 2).value == "Agent" and ws.cell(5, 2).value == "ann"
    assert ws.cell(5, 4).value == 1


def test_report_parameters_are_checked_and_roles_enforced(panel_box, client) -> None:
    sup = client(panel_box.url)
    sup.login("sup")
    for query, needle in (("?order=calls", "unknown parameter"), ("?from=yesterday", "from/to"),
                          ("?from=2026-01-10&to=2026-01-01", "before"), ("?group=decade", "group"),
                          ("?format=pdf", "format"), ("?from=2020-01-01&to=2026-01-01", "at most"),
                          ("?agent=x", "agent: must be an integer")):
        r = sup.api("GET", "/reports/queues" + query)
        assert r.status == 400 and needle in r.json()["error"], (query, r.text)
    assert sup.api("GET", "/reports/calls?sort=password").status == 400
    for fmt in ("csv", "xlsx"):   # an export refused before its first byte: a plain error, not half a file
        r = sup.api("GET", f"/reports/calls?sort=password&format={fmt}")
        assert r.status == 400 and "sort" in r.json()["error"] and "attachment" not in r.headers.get(
            "Content-Disposition", ""), r.text
    assert sup.api("GET", "/reports/nosuch").status == 404
    agent = client(panel_box.url)
    agent.login("agent1")
    assert agent.api("GET", "/reports/queues").status == 403
    assert agent.get("/reports").status == 403
    page = sup.get("/reports")
    assert page.status == 200 and "/static/vendor/chart.umd.js" in page.text
    assert sup.get("/static/vendor/chart.umd.js").status == 200
