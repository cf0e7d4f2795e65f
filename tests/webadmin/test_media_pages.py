"""Recordings, voicemail and faxes through the panel and its API, against a real daemon whose simulated calls
were recorded: search filters, agents limited to the calls they took, playback files, deletion like retention
(file gone, row deleted, audited), and every file route refusing path traversal with 404."""
from __future__ import annotations

import datetime as dt
import io
import sqlite3
import time
import wave
import zoneinfo
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
FLOWS = {
    "rec_queue": """
flow: rec_queue
title: {zh_CN: 录音测试, en_US: Recording test}
languages: [zh_CN, en_US]
start: main
blocks:
  main:
    - answer
    - ticket: {type: repair, summary: printer jams}
    - queue: printers
    - hangup
""",
    "rec_direct": """
flow: rec_direct
title: {zh_CN: 直拨, en_US: Direct}
languages: [zh_CN, en_US]
start: main
blocks:
  main:
    - answer
    - transfer: {extension: "1002"}
    - hangup
""",
    "rec_vm": """
flow: rec_vm
title: {zh_CN: 留言, en_US: Voicemail}
languages: [zh_CN, en_US]
start: main
blocks:
  main:
    - answer
    - voicemail: {mailbox: printers, max_seconds: 8, silence_seconds: 2}
    - fax: {document: catalog, number: "021-1234 5678"}
    - hangup
""",
}
ACD = """
agents:
  - {name: agent1, display_name: Wang Fang, user: agent1, extension: "1001"}
  - {name: li_na, display_name: Li Na, extension: "1002"}
queues:
  printers:
    title: {zh_CN: 打印机, en_US: Printers}
    announce_position: false
    announce_estimate: false
    leave_key: null
    wrapup_seconds: 0
    members: [{agent: agent1}]
"""


def speech(seconds: float = 1.6, hz: float = 440.0) -> bytes:
    """A WAV of a tone whose loudness rises and falls (a waveform with a shape)."""
    t = np.arange(int(8000 * seconds)) / 8000.0
    envelope = 0.2 + 0.8 * np.abs(np.sin(np.pi * t / seconds * 3))
    samples = (9000 * envelope * np.sin(2 * np.pi * hz * t)).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


@pytest.fixture
def media_box(prepared_box):
    """A daemon with three test flows (queue, direct extension, voicemail), agent1 linked to panel user agent1,
    and users admin, sup, agent1, qa1."""
    return prepared_box(flows=FLOWS, routes={"8101": "rec_queue", "8102": "rec_direct", "8103": "rec_vm"}, acd=ACD,
                        language="zh_CN", config={"fax": {"sender": "none"}})   # the box without a fax engine


def wait_for(what, check, timeout: float = 20.0, every: float = 0.1):
    """Poll until check() returns something truthy."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout}s (last: {value!r})")


class Phones:
    """What QA does with the simulated card, through the API (as the admin)."""

    def __init__(self, panel):
        self.p = panel

    def station(self, ext: str) -> str:
        return next(s["state"] for s in self.p.api("GET", "/sim/stations").json()["stations"] if s["extension"] == ext)

    def call_state(self, call_id: str) -> str:
        return self.p.api("GET", f"/sim/calls/{call_id}").json()["state"]

    def speak(self, call_id: str, wav: bytes) -> None:
        r = self.p.request("POST", f"/api/v1/sim/calls/{call_id}/audio", wav,
                           {"Content-Type": "audio/wav", "X-XSRFToken": self.p.xsrf()})
        assert r.status == 202, r.text

    def talk_to(self, caller: str, dialed: str, station: str) -> str:
        """A caller rings, the station answers, the caller speaks, then hangs up; the call's uuid."""
        r = self.p.api("POST", "/sim/calls", {"from": caller, "to": dialed})
        assert r.status == 201, r.text
        call_id = r.json()["id"]
        wait_for(f"{station} ringing", lambda: self.station(station) == "ringing")
        assert self.p.api("POST", f"/sim/stations/{station}/answer", {}).status == 200
        wait_for("bridged", lambda: self.call_state(call_id) == "bridged")
        self.speak(call_id, speech())
        time.sleep(2.0)
        assert self.p.api("DELETE", f"/sim/calls/{call_id}").status == 200
        wait_for("ended", lambda: self.call_state(call_id) == "ended")
        return call_id


def recordings(p, query: str = "") -> dict:
    r = p.api("GET", "/recordings" + query)
    assert r.status == 200, r.text
    return r.json()


def closed(p, caller: str) -> dict:
    """The caller's recording once its file is closed."""
    def find():
        rows = [x for x in recordings(p, f"?caller={caller}")["recordings"] if x["state"] == "closed"]
        return rows[0] if rows else None
    return wait_for(f"closed recording of {caller}", find)


def test_recordings_search_roles_playback_and_delete(media_box, client) -> None:
    admin = client(media_box.url)
    admin.login("admin")
    for path, body in (("/agents/agent1/login", {"station": "1001"}), ("/agents/agent1/state", {"state": "ready"})):
        r = admin.api("POST", path, body)
        assert r.status == 200, r.text
    phones = Phones(admin)
    queued = phones.talk_to("13900001111", "8101", "1001")       # through the ACD to agent1
    direct = phones.talk_to("13700002222", "8102", "1002")       # straight to Li Na's station
    rec_q, rec_d = closed(admin, "13900001111"), closed(admin, "13700002222")
    assert rec_q["call_uuid"] == queued and rec_d["call_uuid"] == direct
    assert rec_q["agent"] == "agent1" and rec_q["queue"] == "printers" and rec_q["peer"] == "1001"
    assert rec_d["agent"] == "li_na" and rec_d["queue"] is None and rec_d["duration"] > 1.5
    assert len(rec_q["tickets"]) == 1

    # --- search filters (supervisor) ---
    sup = client(media_box.url)
    sup.login("sup")
    ids = lambda q: [x["id"] for x in recordings(sup, q)["recordings"]]  # noqa: E731
    now = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai"))   # the box's days (locale.timezone), not this host's
    today, yesterday = now.strftime("%Y-%m-%d"), (now - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    assert set(ids("")) == {rec_q["id"], rec_d["id"]}
    assert ids("?caller=139000") == [rec_q["id"]]
    assert ids("?agent=agent1") == [rec_q["id"]] and ids("?agent=li_na") == [rec_d["id"]]
    assert ids("?queue=printers") == [rec_q["id"]]
    assert ids(f"?ticket={rec_q['tickets'][0]}") == [rec_q["id"]] and ids("?ticket=T19990101-0001") == []
    assert set(ids(f"?since={today}&until={today}")) == {rec_q["id"], rec_d["id"]}
    assert ids(f"?until={yesterday}") == []
    assert ids("?sort=started_at") == [rec_q["id"], rec_d["id"]] and ids("?sort=-started_at")[0] == rec_d["id"]
    page = recordings(sup, "?per_page=10&page=2")
    assert page["total"] == 2 and page["recordings"] == []
    for bad, field in (("?sort=path", "sort"), ("?order=1", "order"), ("?since=yesterday", "since"),
                       ("?caller=1;drop", "caller"), ("?per_page=1000", "per_page"), ("?agent=nobody", "agent"),
                       ("?state=gone", "state")):
        r = sup.api("GET", "/recordings" + bad)
        assert r.status == 400 and field in r.json()["error"], (bad, r.text)
    html = sup.get("/recordings?caller=1390").text
    assert "13900001111" in html and "13700002222" not in html and "Wang Fang" in html
    bad_page = sup.get("/recordings?sort=path")
    assert bad_page.status == 400 and "sort: use one of" in bad_page.text

    # --- agents see only the calls they took ---
    agent = client(media_box.url)
    agent.login("agent1")
    assert ids_of(recordings(agent)) == [rec_q["id"]]
    assert recordings(agent, "?agent=li_na")["recordings"] == []
    mine = agent.get(f"/api/v1/recordings/{rec_q['id']}/audio")
    assert mine.status == 200 and mine.headers["Content-Type"] == "audio/wav" and mine.body[:4] == b"RIFF"
    assert agent.get(f"/api/v1/recordings/{rec_d['id']}/audio").status == 404
    assert agent.get(f"/api/v1/recordings/{rec_d['id']}/peaks").status == 404
    assert agent.api("DELETE", f"/recordings/{rec_q['id']}").status == 403
    page = agent.get("/recordings").text
    assert "13900001111" in page and "13700002222" not in page and "data-delete" not in page
    qa = client(media_box.url)
    qa.login("qa1")
    assert qa.get("/recordings").status == 403 and qa.api("GET", "/recordings").status == 403

    # --- playback: byte ranges (seeking) and waveform peaks ---
    full = sup.get(f"/api/v1/recordings/{rec_d['id']}/audio")
    assert full.status == 200 and int(full.headers["Content-Length"]) == len(full.body) > 8000 * 2 * 1.5
    assert "attachment" in full.headers["Content-Disposition"] and full.headers["Accept-Ranges"] == "bytes"
    part = sup.request("GET", f"/api/v1/recordings/{rec_d['id']}/audio", headers={"Range": "bytes=100-199"})
    assert part.status == 206 and part.body == full.body[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(full.body)}"
    beyond = sup.request("GET", f"/api/v1/recordings/{rec_d['id']}/audio",
                         headers={"Range": f"bytes={len(full.body) + 10}-"})
    assert beyond.status == 416
    peaks = sup.api("GET", f"/recordings/{rec_d['id']}/peaks").json()
    assert len(peaks["peaks"]) == 800 and abs(peaks["duration"] - rec_d["duration"]) < 0.1
    assert max(peaks["peaks"]) > 100                             # the caller's tone is in the file

    # --- delete: file gone, row kept as deleted, journaled and audited ---
    path = Path(sqlite_one(media_box, "SELECT path FROM recordings WHERE id = ?", rec_d["id"]))
    assert path.exists() and path.is_relative_to(media_box.state / "recordings")
    r = sup.api("DELETE", f"/recordings/{rec_d['id']}")
    assert r.status == 200 and r.json()["state"] == "deleted"
    assert not path.exists()
    assert sqlite_one(media_box, "SELECT state FROM recordings WHERE id = ?", rec_d["id"]) == "deleted"
    assert sup.get(f"/api/v1/recordings/{rec_d['id']}/audio").status == 404
    assert sup.api("DELETE", f"/recordings/{rec_d['id']}").status == 404
    assert ids_of(recordings(sup)) == [rec_q["id"]]
    assert ids_of(recordings(sup, "?state=deleted")) == [rec_d["id"]]
    entry = admin.api("GET", "/audit?action=recording.delete").json()["entries"][0]
    assert entry["user"] == "sup" and entry["target"] == direct
    assert entry["before"]["state"] == "closed" and entry["after"]["state"] == "deleted"
    events = sup.api("GET", f"/calls/{direct}/events").json()["events"]
    assert any(e["kind"] == "recording.deleted" and e["data"]["by"] == "sup" for e in events)


def ids_of(result: dict) -> list[int]:
    return [x["id"] for x in result["recordings"]]


def sqlite_one(box, sql: str, *args):
    with sqlite3.connect(box.state / "hotline.db", timeout=10) as con:
        row = con.execute(sql, args).fetchone()
    return row[0] if row else None


def sqlite_run(box, sql: str, *args) -> int:
    with sqlite3.connect(box.state / "hotline.db", timeout=10) as con:
        cur = con.execute(sql, args)
        return cur.lastrowid


TRAVERSAL = ["../../../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e%2f%2e%2e%2fhotline.db",
             "%2e%2e/%2e%2e/hotline.db", "..%5c..%5chotline.db", "..\\..\\hotline.db", "%2fetc%2fpasswd",
             "/etc/passwd", "1%00", "1%00.wav", "..%00/etc/passwd", "%252e%252e%252fhotline.db", "....//....//etc/passwd",
             "1/../../../etc/passwd", "C:%5cwindows%5cwin.ini", "%c0%ae%c0%ae%c0%afetc%c0%afpasswd"]


def test_every_file_route_refuses_traversal_with_404(panel_box, client) -> None:
    """Vectors in the URL never reach a file; rows whose stored path leads outside their folder (directly, with
    "..", or through a symlink) answer 404 too, while the genuine file next to them is served."""
    state = panel_box.state
    sup = client(panel_box.url)
    sup.login("sup")
    day = state / "recordings" / "2026" / "01" / "02"
    day.mkdir(parents=True)
    good = day / "0b6f2c1e-5d3a-4c47-9a51-2f1d8e6b7c90.wav"
    good.write_bytes(speech(0.5))
    (day / "escape.wav").symlink_to(state / "hotline.db")
    (state / "outside.wav").write_bytes(speech(0.5))
    rows = {}
    for name, path in (("good", good), ("dotdot", day / ".." / ".." / ".." / ".." / "outside.wav"),
                       ("absolute", state / "outside.wav"), ("symlink", day / "escape.wav"),
                       ("etc", Path("/etc/passwd"))):
        rows[name] = sqlite_run(panel_box, "INSERT INTO recordings (call_uuid, path, started_at, duration, state) "
                                "VALUES (?, ?, ?, 0.5, 'closed')", f"{name:0<36}"[:36], str(path), time.time())
    vm_dir = state / "spool" / "voicemail" / "2026" / "01" / "02"
    vm_dir.mkdir(parents=True)
    (vm_dir / "msg.wav").write_bytes(speech(0.5))
    vm_good = sqlite_run(panel_box, "INSERT INTO voicemails (mailbox, path, seconds, created_at, unread) VALUES "
                         "('general', ?, 0.5, ?, 1)", str(vm_dir / "msg.wav"), time.time())
    vm_bad = sqlite_run(panel_box, "INSERT INTO voicemails (mailbox, path, seconds, created_at, unread) VALUES "
                        "('general', ?, 0.5, ?, 1)", str(state / "outside.wav"), time.time())
    fax_dir = state / "spool" / "fax" / "library"   # the fax library's uploads
    fax_dir.mkdir(parents=True)
    (fax_dir / "catalog.pdf").write_bytes(b"%PDF-1.4\n% catalog\n")
    (fax_dir / "evil.pdf").symlink_to("/etc/passwd")
    job_dir = state / "spool" / "fax" / "jobs"
    job_dir.mkdir(parents=True)
    fax = {doc: sqlite_run(panel_box, "INSERT INTO fax_jobs (document, number, status, attempts, created_at, "
                           "updated_at) VALUES (?, '02112345678', 'queued', 0, ?, ?)", doc, time.time(), time.time())
           for doc in ("catalog", "evil", "../hotline", "..", "nofile")}
    (job_dir / str(fax["evil"])).symlink_to("/etc")   # a job folder that leads outside

    # the genuine files are served
    assert sup.get(f"/api/v1/recordings/{rows['good']}/audio").body == good.read_bytes()
    assert sup.get(f"/api/v1/recordings/{rows['good']}/peaks").status == 200
    assert sup.get(f"/api/v1/voicemail/{vm_good}/audio").status == 200
    doc = sup.get(f"/api/v1/faxes/{fax['catalog']}/document")
    assert doc.status == 200 and doc.headers["Content-Type"] == "application/pdf" and doc.body.startswith(b"%PDF")
    listed = {f["document"]: f["document_url"] for f in sup.api("GET", "/faxes").json()["faxes"]}
    assert listed["catalog"] and listed["evil"] is None and listed["nofile"] is None

    # stored paths that lead outside the folder
    for name in ("dotdot", "absolute", "symlink", "etc"):
        for suffix in ("audio", "peaks"):
            r = sup.get(f"/api/v1/recordings/{rows[name]}/{suffix}")
            assert r.status == 404, (name, suffix, r.status)
    assert sup.get(f"/api/v1/voicemail/{vm_bad}/audio").status == 404
    assert sup.get(f"/api/v1/voicemail/{vm_bad}/peaks").status == 404
    for doc in ("evil", "../hotline", "..", "nofile"):
        assert sup.get(f"/api/v1/faxes/{fax[doc]}/document").status == 404, doc
        assert sup.get(f"/api/v1/faxes/{fax[doc]}/document.pdf").status == 404, doc
        assert sup.get(f"/api/v1/faxes/{fax[doc]}/pages/1.png").status == 404, doc
    assert sup.get("/api/v1/fax-documents/evil").status == 404
    r = sup.api("DELETE", f"/recordings/{rows['symlink']}")
    assert r.status == 409 and (state / "hotline.db").exists()  # never deletes through a symlink

    # vectors in the URL, on every file route
    routes = [("/api/v1/recordings/", "/audio"), ("/api/v1/recordings/", "/peaks"), ("/api/v1/voicemail/", "/audio"),
              ("/api/v1/voicemail/", "/peaks"), ("/api/v1/faxes/", "/document"), ("/api/v1/faxes/", "/document.pdf"),
              ("/api/v1/faxes/", "/pages/1.png"), ("/api/v1/fax-documents/", "")]
    checked = 0
    for prefix, suffix in routes:
        for vector in TRAVERSAL:
            for path in (prefix + vector + suffix, prefix + vector, prefix + f"{rows['good']}/{vector}"):
                r = sup.request("GET", path)
                assert r.status == 404, (path, r.status, r.text[:200])
                assert b"root:" not in r.body and b"SQLite format" not in r.body
                checked += 1
    assert checked == len(routes) * len(TRAVERSAL) * 3


def test_voicemail_and_faxes(media_box, client) -> None:
    admin = client(media_box.url)
    admin.login("admin")
    phones = Phones(admin)
    r = admin.api("POST", "/sim/calls", {"from": "13600003333", "to": "8103"})
    assert r.status == 201
    call_id = r.json()["id"]
    wait_for("answered", lambda: phones.call_state(call_id) in ("answered", "bridged"))
    phones.speak(call_id, speech(3.0, 660.0))        # over the beep, then into the mailbox
    wait_for("ended", lambda: phones.call_state(call_id) == "ended", timeout=30)

    sup = client(media_box.url)
    sup.login("sup")
    vm = wait_for("a message", lambda: sup.api("GET", "/voicemail").json()["messages"])[0]
    assert vm["mailbox"] == "printers" and vm["caller_number"] == "13600003333" and vm["unread"]
    assert vm["seconds"] >= 1.5
    listing = sup.api("GET", "/voicemail?unread=yes").json()
    assert listing["total"] == 1 and listing["unread"] == 1 and listing["mailboxes"] == ["printers"]
    assert sup.api("GET", "/voicemail?unread=maybe").status == 400
    assert sup.api("GET", "/voicemail?sort=path").status == 400
    audio = sup.get(vm["audio_url"])
    assert audio.status == 200 and audio.body[:4] == b"RIFF"
    assert max(sup.get(vm["peaks_url"]).json()["peaks"]) > 100

    # agent1 serves the printers queue: the queue's mailbox is theirs; a user who is no agent sees none
    agent = client(media_box.url)
    agent.login("agent1")
    assert [m["id"] for m in agent.api("GET", "/voicemail").json()["messages"]] == [vm["id"]]
    r = agent.api("POST", f"/voicemail/{vm['id']}/read", {"unread": False})
    assert r.status == 200 and r.json()["unread"] is False
    assert sup.api("GET", "/voicemail?unread=yes").json()["total"] == 0
    assert agent.api("POST", f"/voicemail/{vm['id']}/read", {"unread": "no"}).status == 400
    assert agent.api("DELETE", f"/voicemail/{vm['id']}").status == 403
    entry = admin.api("GET", "/audit?action=voicemail.read").json()["entries"][0]
    assert entry["user"] == "agent1" and entry["before"] == {"unread": True} and entry["after"] == {"unread": False}
    page = agent.get("/voicemail").text
    assert "13600003333" in page and "标为未读" in page               # agent1 reads Chinese (the box default)

    # the fax the flow asked for: no fax engine on this box, so it failed at once with that reason (the caller
    # heard "fax is not available"), never "queued" for nothing to send
    faxes = sup.api("GET", "/faxes").json()
    assert faxes["total"] == 1 and faxes["engine"]["state"] == "no_engine"
    job = faxes["faxes"][0]
    assert job["document"] == "catalog" and job["number"] == "02112345678" and job["direction"] == "out"
    assert job["status"] == "failed" and job["reason"] == "no_engine" and job["finished_at"]
    assert job["caller_id"] == "13600003333" and job["call_uuid"] == call_id
    shipped = sup.get(job["document_url"])   # the shipped catalog (text)
    assert shipped.status == 200 and shipped.headers["Content-Type"].startswith("text/plain")
    assert sup.get(job["pdf_url"]).status == 404   # nothing converted: nothing was sent
    spool = media_box.state / "spool" / "fax" / "library"
    spool.mkdir(parents=True, exist_ok=True)
    (spool / "catalog.tif").write_bytes(b"II*\x00" + bytes(100))  # an upload replaces the shipped one
    job = sup.api("GET", "/faxes?status=failed&number=021&direction=out").json()["faxes"][0]
    doc = sup.get(job["document_url"])
    assert doc.status == 200 and doc.headers["Content-Type"] == "image/tiff" and doc.body[:4] == b"II*\x00"
    assert sup.api("GET", "/faxes?status=lost").status == 400
    assert sup.api("GET", "/faxes?direction=sideways").status == 400
    assert sup.api("GET", "/faxes?status=queued").json()["total"] == 0
    assert sup.api("GET", "/faxes?direction=in").json()["total"] == 0
    html = sup.get("/faxes").text
    assert "02112345678" in html and "catalog" in html and f"/api/v1/faxes/{job['id']}/document" in html
    assert "没有传真引擎" in html   # sup reads Chinese: the page says no engine sends faxes

    # delete the message: file and row gone, audited
    path = Path(sqlite_one(media_box, "SELECT path FROM voicemails WHERE id = ?", vm["id"]))
    assert path.exists()
    assert sup.api("DELETE", f"/voicemail/{vm['id']}").status == 200
    assert not path.exists() and sup.api("GET", "/voicemail").json()["total"] == 0
    entry = admin.api("GET", "/audit?action=voicemail.delete").json()["entries"][0]
    assert entry["user"] == "sup" and entry["before"]["caller"] == "13600003333"
