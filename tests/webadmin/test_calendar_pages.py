"""Business hours, holidays (import all or nothing), the day/night switch and the blacklist through the panel and
its API, checked against what a simulated call's flow actually does (its `time` and `blacklist` steps)."""
from __future__ import annotations

import datetime as dt
import html
import time
import uuid
import zoneinfo
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = """
flow: hours_probe
title: {zh_CN: 营业时间测试, en_US: Hours probe}
languages: [zh_CN, en_US]
start: main
blocks:
  main:
    - answer
    - blacklist: {action: silent}
    - time: {schedule: office, open: opened, closed: shut, holiday: vacation}
  opened:
    - hangup
  shut:
    - hangup
  vacation:
    - hangup
"""


@pytest.fixture
def cal_box(prepared_box):
    """A daemon whose number 8109 runs a flow with a blacklist step and a business-hours branch."""
    return prepared_box(flows={"hours_probe": PROBE}, routes={"8109": "hours_probe"},
                        engine={"record_calls": False}, people={"admin": "admin", "sup": "supervisor"},
                        language="zh_CN")


def english_admin(client, box):
    """The admin's panel, switched to English."""
    p = client(box.url)
    p.login("admin")
    assert p.post("/language", {"language": "en_US", "back": "/"}).status == 302
    return p


def probe_call(p, caller: str = "13800138000") -> dict:
    """Call 8109 and return what the flow did: {"blacklist": reason or None, "time": state or None}."""
    r = p.api("POST", "/sim/calls", {"from": caller, "to": "8109"})
    assert r.status == 201, r.text
    call_id = r.json()["id"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st = p.api("GET", f"/sim/calls/{call_id}").json()
        if st["state"] == "ended" and any(e["kind"] == "call.ended" for e in st["events"]):
            steps = [e["data"] for e in st["events"] if e["kind"] == "ivr.step"]
            return {"blacklist": next((s["reason"] for s in steps if s["step"] == "blacklist"), None),
                    "time": next((s["state"] for s in steps if s["step"] == "time"), None)}
        time.sleep(0.1)
    raise AssertionError(f"call {call_id} did not end")


def multipart(p, fields: dict, files: dict) -> tuple[bytes, dict]:
    """A multipart/form-data body (with the XSRF field) and its headers, as a browser sends an upload."""
    boundary = "----hotline" + uuid.uuid4().hex
    out = b""
    for k, v in {**fields, "_xsrf": p.xsrf()}.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode() + v.encode() + b"\r\n"
    for k, (name, ctype, data) in files.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                f"Content-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_day_night_switch_and_hours_change_what_a_call_does(cal_box, client) -> None:
    p = english_admin(client, cal_box)
    assert probe_call(p)["time"] == "open"                    # no hours at all: always open
    r = p.api("PUT", "/calendar/hours/office", {"hours": ["00:00-24:00"] * 7})
    assert r.status == 200 and r.json()["state"] == "open" and r.json()["hours"][0] == "00:00-24:00"

    # force closed from the page's switch: the page shows it, the API reports it, the next call goes to "shut"
    r = p.post("/config/override", {"mode": "night", "back": "/config/hours"})
    assert r.status == 302 and r.headers["Location"] == "/config/hours?done=override"
    page = p.get("/config/hours").text
    assert 'data-schedule="office" data-state="closed"' in page and "Forced: hours and holidays are ignored" in page
    assert 'value="night" class="seg on"' in page
    cal = p.api("GET", "/calendar").json()
    assert cal["override"] == "night" and {s["name"]: s["state"] for s in cal["schedules"]}["office"] == "closed"
    assert probe_call(p)["time"] == "closed"

    # force open beats a holiday; automatic follows the holiday again
    today = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date().isoformat()   # the box's timezone
    assert p.api("POST", "/holidays", {"day": today, "name": "Test holiday"}).status == 201
    r = p.api("PUT", "/calendar/override", {"mode": "day"})
    assert r.status == 200 and r.json()["states"]["office"] == "open" and r.json()["before"] == "night"
    assert probe_call(p)["time"] == "open"
    assert p.post("/config/override", {"mode": "auto", "back": "/config/holidays"}).headers["Location"] == \
        "/config/holidays?done=override"
    assert 'data-state="holiday"' in p.get("/config/holidays").text
    assert probe_call(p)["time"] == "holiday"
    assert p.api("DELETE", f"/holidays/{today}").status == 200
    assert probe_call(p)["time"] == "open"
    assert p.api("PUT", "/calendar/override", {"mode": "sometimes"}).status == 400

    changes = [(e["before"], e["after"]) for e in p.api("GET", "/audit?action=calendar.override").json()["entries"]]
    assert changes == [({"mode": "day"}, {"mode": "auto"}), ({"mode": "night"}, {"mode": "day"}),
                       ({"mode": "auto"}, {"mode": "night"})]
    hours = p.api("GET", "/audit?action=calendar.hours").json()["entries"][0]
    assert hours["before"] is None and hours["after"]["Monday"] == "00:00-24:00"

    # closed hours: a week where today has no hours sends the call to "shut"
    weekday = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).weekday()
    week = {f"day{d}": ("" if d == weekday else "09:00-12:00, 13:00-18:00") for d in range(7)}
    r = p.post("/config/hours", {"schedule": "office", **week})
    assert r.status == 302 and r.headers["Location"] == "/config/hours?schedule=office&done=saved"
    assert "Business hours saved." in p.get(r.headers["Location"]).text
    assert probe_call(p)["time"] == "closed"

    # bad hours are refused with the day named, and nothing changes
    stored = p.api("GET", "/calendar").json()["schedules"]
    for fields, message in (({"day1": "18:00-09:00"}, "Tuesday: 18:00-09:00 closes before it opens"),
                            ({"day2": "9-17"}, "Wednesday: use HH:MM-HH:MM"),
                            ({"day3": "09:00-12:00, 11:00-14:00"}, "Thursday: the times overlap"),
                            ({f"day{d}": "" for d in range(7)}, "Enter hours for at least one day")):
        r = p.post("/config/hours", {"schedule": "office", **week, **fields})
        assert r.status == 400 and message in r.text, (fields, r.text[:300])
        assert 'class="alert alert-error"' in r.text and (list(fields.values())[0] in r.text)  # kept as typed
    r = p.post("/config/hours", {"schedule": "office", "new_schedule": "Night Shift", **week})
    assert r.status == 400 and "Schedule names use lower-case letters" in r.text
    assert p.api("PUT", "/calendar/hours/office", {"hours": ["25:00-26:00"] + [""] * 6}).status == 400
    assert p.api("PUT", "/calendar/hours/office", {"hours": ["09:00-17:00"]}).status == 400
    assert p.api("GET", "/calendar").json()["schedules"] == stored

    # a second schedule, then deleted
    r = p.post("/config/hours", {"schedule": "office", "new_schedule": "night_shift", **week})
    assert r.headers["Location"] == "/config/hours?schedule=night_shift&done=saved"
    assert p.post("/config/hours/delete", {"schedule": "night_shift"}).status == 302
    assert [s["name"] for s in p.api("GET", "/calendar").json()["schedules"]] == ["office"]
    assert p.get("/config/hours?schedule=Bad!").status == 400 and p.get("/config/hours?x=1").status == 400

    # supervisors may not touch the calendar
    sup = client(cal_box.url)
    sup.login("sup")
    assert sup.get("/config/hours").status == 403 and sup.api("GET", "/calendar").status == 403
    assert sup.api("PUT", "/calendar/override", {"mode": "night"}).status == 403


def test_holiday_import_is_all_or_nothing_with_line_numbers(cal_box, client) -> None:
    p = english_admin(client, cal_box)
    text = ("2026-10-01,National Day\n"
            "2026-10-02,National Day\n"
            "2026-02-30,Not a day\n"
            "# comment lines are skipped\n"
            "2026-10-11,Adjusted,maybe\n"
            "2026-10-02,Twice\n"
            "just one field\n")
    r = p.post("/config/holidays/import", {"text": text})
    assert r.status == 400
    for expected in ("Nothing was imported.", "Line 3: '2026-02-30' is not a real date",
                     "Line 5: 'maybe': write workday", "Line 6: 2026-10-02 is already on line 2",
                     "Line 7: use YYYY-MM-DD,name[,workday]"):
        assert expected in html.unescape(r.text), expected
    assert "2026-10-01,National Day" in r.text                 # the text comes back to be fixed
    assert p.api("GET", "/holidays").json()["holidays"] == []
    assert p.api("GET", "/audit?action=holiday.").json()["total"] == 0
    r = p.api("POST", "/holidays/import", {"text": text})
    assert r.status == 400 and [x["line"] for x in r.json()["problems"]] == [3, 5, 6, 7]
    assert r.json()["error"].startswith("text: Line 3:")
    assert p.api("GET", "/holidays").json()["holidays"] == []

    # an uploaded CSV in GB18030 (as Excel saves it in China), with a header line
    csv_text = "日期,名称,调休\n2026-10-01,国庆节,\n2026-10-02,国庆节\n2026-10-11,国庆调休,workday\n"
    body, headers = multipart(p, {"text": ""}, {"file": ("holidays-2026.csv", "text/csv", csv_text.encode("gb18030"))})
    r = p.request("POST", "/config/holidays/import", body, headers)
    assert r.status == 302 and r.headers["Location"] == "/config/holidays?done=imported&n=3"
    assert "Imported 3 lines." in p.get(r.headers["Location"]).text
    days = p.api("GET", "/holidays?year=2026").json()["holidays"]
    assert [(h["day"], h["name"], h["workday"]) for h in days] == [
        ("2026-10-01", "国庆节", False), ("2026-10-02", "国庆节", False), ("2026-10-11", "国庆调休", True)]
    entry = p.api("GET", "/audit?action=holiday.import").json()["entries"][0]
    assert entry["before"] is None and entry["after"]["2026-10-11"] == "国庆调休 (working day)"

    # wrong file types and sizes are refused with a message
    for name, ctype, data, message in (("logo.png", "image/png", b"\x89PNG\r\n", "Upload a text or CSV file"),
                                       ("big.csv", "text/csv", b"2026-01-01,x\n" * 30000, "larger than 256 KB")):
        body, headers = multipart(p, {}, {"file": (name, ctype, data)})
        r = p.request("POST", "/config/holidays/import", body, headers)
        assert r.status == 400 and message in r.text
    assert len(p.api("GET", "/holidays").json()["holidays"]) == 3

    # one day by hand; replace; delete
    r = p.post("/config/holidays", {"day": "2026-13-01", "name": "x"})
    assert r.status == 400 and "is not a real date" in r.text
    assert p.post("/config/holidays", {"day": "2026-12-25", "name": ""}).status == 400
    assert p.post("/config/holidays", {"day": "2026-12-25", "name": "Christmas"}).status == 302
    r = p.api("POST", "/holidays", {"day": "2026-12-25", "name": "Christmas Day", "workday": False})
    assert r.status == 201 and r.json()["replaced"] == 1
    assert p.post("/config/holidays/delete", {"day": "2026-12-25"}).status == 302
    assert "2026-12-25" not in [h["day"] for h in p.api("GET", "/holidays").json()["holidays"]]
    entry = p.api("GET", "/audit?action=holiday.delete").json()["entries"][0]
    assert entry["before"] == {"2026-12-25": "Christmas Day"} and entry["after"] is None
    assert p.api("GET", "/holidays?year=26").status == 400 and p.get("/config/holidays?sort=x").status == 400
    assert p.api("DELETE", "/holidays/2026-12-25").status == 404


def test_blacklist_refuses_garbage_and_blocks_callers(cal_box, client) -> None:
    p = english_admin(client, cal_box)
    for number in ("abc", "12", "*", "1*", "13800138000x", "", "138 0013 8000 1234 5678 90", "+*", "0755**"):
        r = p.api("POST", "/blacklist", {"number": number, "reason": "x"})
        assert r.status == 400 and r.json()["error"].startswith("number:"), (number, r.text)
    r = p.api("POST", "/blacklist", {"number": "13800138000", "reason": "x" * 201})
    assert r.status == 400 and r.json()["error"].startswith("reason:")
    r = p.post("/config/blacklist", {"number": "call me", "reason": "spam"})
    assert r.status == 400 and "is not a phone number" in r.text and 'value="call me"' in r.text
    assert p.api("GET", "/blacklist").json()["entries"] == []

    assert probe_call(p, "07551234567") == {"blacklist": None, "time": "open"}
    r = p.api("POST", "/blacklist", {"number": "0755*", "reason": "test prefix"})
    assert r.status == 201 and r.json()["number"] == "0755*"
    assert p.api("POST", "/blacklist", {"number": "0755*"}).status == 409
    assert p.post("/config/blacklist", {"number": "138-0013-8000", "reason": "nuisance"}).status == 302
    assert probe_call(p, "07551234567") == {"blacklist": "test prefix", "time": None}   # hung up before the hours
    assert probe_call(p, "13800138000") == {"blacklist": "nuisance", "time": None}
    assert probe_call(p, "13900139000") == {"blacklist": None, "time": "open"}
    entry = p.api("GET", "/audit?action=blacklist.add").json()["entries"][0]
    assert entry["target"] == "13800138000" and entry["after"] == {"13800138000": "nuisance"}
    page = p.get("/config/blacklist").text
    assert "0755*" in page and "prefix" in page and "nuisance" in page

    # import: any bad line and nothing is stored
    r = p.post("/config/blacklist/import", {"text": "4001234567,ads\nnot-a-number,x\n4007654321"})
    assert r.status == 400 and "Line 2: 'not-a-number' is not a phone number" in html.unescape(r.text)
    assert len(p.api("GET", "/blacklist").json()["entries"]) == 2
    r = p.post("/config/blacklist/import", {"text": "number,reason\n4001234567,ads\n4007654321\n0755*,new reason"})
    assert r.status == 302 and r.headers["Location"] == "/config/blacklist?done=imported&n=3"
    entries = {e["number"]: e for e in p.api("GET", "/blacklist").json()["entries"]}
    assert set(entries) == {"0755*", "13800138000", "4001234567", "4007654321"}
    assert entries["0755*"]["reason"] == "new reason" and entries["4001234567"]["created_by"] == "admin"
    entry = p.api("GET", "/audit?action=blacklist.import").json()["entries"][0]
    assert entry["before"] == {"0755*": "test prefix"} and entry["after"]["4001234567"] == "ads"

    # delete from the page
    assert p.post("/config/blacklist/delete", {"id": str(entries["13800138000"]["id"])}).status == 302
    assert probe_call(p, "13800138000")["blacklist"] is None
    entry = p.api("GET", "/audit?action=blacklist.delete").json()["entries"][0]
    assert entry["before"] == {"13800138000": "nuisance"}
    assert p.api("DELETE", f"/blacklist/{entries['13800138000']['id']}").status == 404
    assert p.api("GET", "/blacklist?number=1").status == 400


def test_big_imports_are_bounded_and_counted(cal_box, client) -> None:
    """A 3 MB block list or holiday list is refused at once with the limit named (10 MB ones used to freeze the
    daemon for 6 to 9 s; those are now refused with 413 before their body is read: the abuse probes and
    tests/daemon/test_loop_protection.py send them); 20,000 numbers import (checked in a thread, written a few hundred per statement); a list with
    thousands of bad lines reports the first 100 and stops."""
    p = english_admin(client, cal_box)
    r = p.api("POST", "/blacklist/import", {"text": "13800138000,spam\n" * 190_000})
    assert r.status == 400 and "At most 2097152 characters can be imported at once." in r.json()["error"], r.text
    r = p.api("POST", "/holidays/import", {"text": "2030-01-01,New year\n" * 150_000})
    assert r.status == 400 and "At most 2097152 characters" in r.json()["error"], r.text
    r = p.post("/config/blacklist/import", {"text": "1\n" * 1_100_000})
    assert r.status == 400 and "At most 2097152 characters" in html.unescape(r.text)
    numbers = "".join(f"1390000{i:04d},import test\n" for i in range(20000))
    r = p.api("POST", "/blacklist/import", {"text": numbers})
    assert r.status == 200 and r.json() == {"imported": 20000, "added": 20000, "updated": 0}, r.text[:300]
    r = p.api("POST", "/blacklist/import", {"text": "13900000007,changed reason\n13900000008,import test\n"})
    assert r.json() == {"imported": 2, "added": 0, "updated": 2}
    assert len(p.api("GET", "/blacklist?q=1390000").json()["entries"]) == 20000
    assert probe_call(p, "13900000007")["blacklist"] == "changed reason"
    r = p.api("POST", "/blacklist/import", {"text": "x\n" * 5000})
    problems = r.json()["problems"]
    assert r.status == 400 and len(problems) == 101 and problems[-1]["message"] == "Checking stopped after 100 problems."
