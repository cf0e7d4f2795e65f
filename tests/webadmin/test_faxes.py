"""Faxes against a real daemon: the fax document library (shipped documents on a fresh box, uploads checked by
their bytes, preview, delete), every fax in one list in both directions with its files, asking for a fax from
the panel, and the outbound queue dialling a number that a WebSocket client answers (QA tone sender): states,
pages, retries with backoff, the agent's message, the journal and the Prometheus series."""
from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request

import numpy as np
import pytest
import tornado.httpclient
import tornado.websocket

from hotline.daemon.store.db import Store
from hotline.daemon.store.models import Event
from hotline.drivers.common.tones import dtmf_tone

from tests.webadmin.test_media_pages import wait_for

TWO_PAGE_PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
                b"2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >> endobj\n"
                b"3 0 obj << /Type /Page /Parent 2 0 R >> endobj\n4 0 obj << /Type /Page /Parent 2 0 R >> endobj\n"
                b"trailer << /Root 1 0 R >>\n%%EOF\n")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def sqlite_run(box, sql: str, *args) -> int:
    """A row written beside the running daemon (its SQLite file); the new row's id."""
    import sqlite3
    con = sqlite3.connect(box.state / "hotline.db", timeout=10)
    try:
        cur = con.execute(sql, args)
        con.commit()
        return cur.lastrowid
    finally:
        con.close()


def events(box, kind_prefix: str) -> list[dict]:
    """Journal events whose kind starts with kind_prefix, oldest first (the daemon's database)."""
    store = Store(f"sqlite:///{box.state / 'hotline.db'}")
    store.open()
    try:
        return store.write_sync(lambda: [{"kind": e.kind, "call": e.call_uuid, **json.loads(e.data)}
                                         for e in Event.select().where(Event.kind.startswith(kind_prefix))
                                         .order_by(Event.id)])
    finally:
        store.close()


def metric(box, name: str, **labels: str) -> float | None:
    """One series' value from /metrics (loopback)."""
    with urllib.request.urlopen(box.url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    m = re.search(rf"^{name}{{{re.escape(want)}}} ([0-9.e+-]+)$", text, re.M) if labels else \
        re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def put(panel, path: str, body: bytes):
    return panel.request("PUT", "/api/v1" + path, body, {"Content-Type": "application/octet-stream",
                                                         "X-XSRFToken": panel.xsrf(), "Accept": "application/json"})


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "----hotline-test-boundary"
    out = b""
    for k, v in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    for k, (name, data) in files.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_the_fax_library_ships_the_flows_documents_and_takes_checked_uploads(panel_box, client) -> None:
    sup, agent, admin = client(panel_box.url), client(panel_box.url), client(panel_box.url)
    sup.login("sup")
    agent.login("agent1")
    admin.login("admin")
    # a fresh box has the documents the shipped flows fax, with no step by hand
    docs = {d["name"]: d for d in agent.api("GET", "/fax-documents").json()["documents"]}
    assert {"catalog", "spec-1020", "faq-100", "faq-200", "faq-1020"} <= set(docs)
    assert docs["spec-1020"]["shipped"] and not docs["spec-1020"]["deletable"] and docs["spec-1020"]["kind"] == "text"
    preview = agent.get("/api/v1/fax-documents/spec-1020")
    assert preview.status == 200 and preview.headers["Content-Type"].startswith("text/plain") and b"1020" in preview.body
    assert agent.get("/api/v1/fax-documents/spec-9999").status == 404

    # uploads: supervisors only, the type from the bytes, bounded
    assert put(agent, "/fax-documents/spec-2035", TWO_PAGE_PDF).status == 403
    r = put(sup, "/fax-documents/spec-2035", TWO_PAGE_PDF)
    assert r.status == 201, r.text
    assert r.json()["kind"] == "PDF" and r.json()["pages"] == 2 and r.json()["deletable"]
    got = agent.get("/api/v1/fax-documents/spec-2035")
    assert got.body == TWO_PAGE_PDF and got.headers["Content-Type"] == "application/pdf"
    bad = put(sup, "/fax-documents/junk", b"\x00\x01\x02 not a document \xff")
    assert bad.status == 400 and "not a PDF, PostScript, text" in bad.json()["error"]
    assert put(sup, "/fax-documents/empty", b"").status == 400
    assert put(sup, "/fax-documents/big", b"%PDF-" + bytes(10 * 1024 * 1024)).status == 413
    assert put(sup, "/fax-documents/..%2Fetc", TWO_PAGE_PDF).status == 404
    names = {d["name"] for d in agent.api("GET", "/fax-documents").json()["documents"]}
    assert "junk" not in names and "empty" not in names and "big" not in names
    assert not [p.name for p in (panel_box.state / "spool" / "fax" / "library").iterdir() if p.name.startswith(".")]

    # an upload with a shipped name replaces it; deleting the upload brings the shipped one back
    r = put(sup, "/fax-documents/catalog", PNG)
    assert r.status == 201 and r.json()["overrides_shipped"] and r.json()["kind"] == "PNG"
    assert agent.get("/api/v1/fax-documents/catalog").headers["Content-Type"] == "image/png"
    assert agent.api("DELETE", "/fax-documents/catalog").status == 403
    assert sup.api("DELETE", "/fax-documents/catalog").status == 200
    assert agent.get("/api/v1/fax-documents/catalog").headers["Content-Type"].startswith("text/plain")
    r = sup.api("DELETE", "/fax-documents/spec-1020")
    assert r.status == 409 and "ships with the flows" in r.json()["error"]
    entries = admin.api("GET", "/audit?action=fax_document.uploaded").json()["entries"]
    assert {e["target"] for e in entries} >= {"spec-2035", "catalog"} and entries[0]["user"] == "sup"

    # the panel page: previews for everyone, the upload form for supervisors
    page = agent.get("/fax-documents").text
    assert "spec-2035" in page and "/api/v1/fax-documents/spec-1020" in page and 'id="fax-upload"' not in page
    body, ctype = multipart({"action": "upload", "name": "dealers", "_xsrf": sup.xsrf()},
                            {"file": ("dealers.txt", "Dealers\n\nBeijing 010-62345678\n".encode())})
    r = sup.request("POST", "/fax-documents", body, {"Content-Type": ctype})
    assert r.status == 200 and 'id="fax-upload"' in r.text and "dealers" in r.text
    body, ctype = multipart({"action": "upload", "name": "broken", "_xsrf": sup.xsrf()},
                            {"file": ("x.bin", b"\x00\xff\x00\xff")})
    r = sup.request("POST", "/fax-documents", body, {"Content-Type": ctype})
    assert r.status == 400 and "not a PDF" in r.text


def test_every_fax_in_one_list_with_its_files_and_a_panel_request_waits_for_an_engine(prepared_box, client) -> None:
    panel_box = prepared_box(config={"fax": {"sender": "none"}})   # a box without a fax engine
    sup, agent = client(panel_box.url), client(panel_box.url)
    sup.login("sup")
    agent.login("agent1")
    # asking for a fax from the panel: checked, and honest about the missing engine
    assert agent.api("POST", "/faxes", {"document": "nope", "number": "02188886666"}).status == 400
    r = agent.api("POST", "/faxes", {"document": "spec-1020", "number": "12"})
    assert r.status == 400 and "3 to 20 digits" in r.json()["error"]
    assert agent.api("POST", "/faxes", {"document": "spec-1020"}).status == 400
    r = agent.api("POST", "/faxes", {"document": "spec-1020", "number": "021-8888 6666"})
    assert r.status == 201, r.text
    out = r.json()
    assert out["status"] == "queued" and out["number"] == "02188886666" and out["requested_by"] == "agent1"
    listed = wait_for("marked no_engine", lambda: [f for f in sup.api("GET", "/faxes").json()["faxes"]
                                                   if f["id"] == out["id"] and f["reason"] == "no_engine"])[0]
    assert listed["status"] == "queued" and listed["attempts"] == 0 and listed["pages"] is None

    # a fax that came in (the engine writes the row and the converted files)
    now = time.time()
    fid = sqlite_run(panel_box, "INSERT INTO fax_jobs (direction, call_uuid, document, caller_id, status, attempts, "
                     "pages, pages_total, created_at, updated_at, started_at, finished_at, detail) VALUES ('in', "
                     "'c0ffee00-0000-4000-8000-000000000001', '', '075523456789', 'received', 1, 2, 2, ?, ?, ?, ?, '')",
                     now, now, now, now + 40)
    folder = panel_box.state / "spool" / "fax" / "jobs" / str(fid)
    folder.mkdir(parents=True)
    (folder / "document.pdf").write_bytes(TWO_PAGE_PDF)
    for n in (1, 2):
        (folder / f"page-{n}.png").write_bytes(PNG + bytes([n]))

    both = agent.api("GET", "/faxes").json()
    assert both["total"] == 2 and {f["direction"] for f in both["faxes"]} == {"in", "out"}
    assert both["engine"]["state"] == "no_engine"
    fin = agent.api("GET", "/faxes?direction=in").json()["faxes"]
    assert [f["id"] for f in fin] == [fid]
    f = fin[0]
    assert (f["status"], f["pages"], f["caller_id"], f["call_uuid"]) == \
        ("received", 2, "075523456789", "c0ffee00-0000-4000-8000-000000000001")
    assert f["pdf_ready"] and f["page_urls"] == [f"/api/v1/faxes/{fid}/pages/1.png", f"/api/v1/faxes/{fid}/pages/2.png"]
    pdf = agent.get(f["pdf_url"])
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf" and pdf.body == TWO_PAGE_PDF
    assert agent.get(f["page_urls"][1]).body == PNG + b"\x02"
    assert agent.get(f"/api/v1/faxes/{fid}/pages/3.png").status == 404
    assert agent.get(f"/api/v1/faxes/{out['id']}/document.pdf").status == 404    # not converted: nothing sent
    assert [x["id"] for x in agent.api("GET", "/faxes?number=0755").json()["faxes"]] == [fid]
    assert [x["id"] for x in agent.api("GET", "/faxes?direction=out&status=queued").json()["faxes"]] == [out["id"]]
    # its mail (daemon/mail/outbox.py) was refused once: the reason is on the fax, in the API and the page
    sqlite_run(panel_box, "INSERT INTO mail_outbox (kind, ref, recipients, status, attempts, error, created_at, "
               "updated_at, next_attempt_at) VALUES ('fax', ?, 'inbox@example.com', 'pending', 1, "
               "'SMTPDataError: (554, b''mailbox full'')', ?, ?, ?)", fid, now, now, now + 60)
    mail = agent.api("GET", "/faxes?direction=in").json()["faxes"][0]["mail"]
    assert (mail["status"], mail["attempts"], mail["to"]) == ("pending", 1, "inbox@example.com")
    assert "mailbox full" in mail["error"]
    assert agent.api("GET", "/faxes?direction=out").json()["faxes"][0]["mail"] is None
    page = sup.get("/faxes").text
    assert "Mail not sent yet (tries: 1): SMTPDataError: (554, b&#x27;mailbox full&#x27;)" in page
    assert 'id="fax-engine"' in page and "075523456789" in page and "02188886666" in page
    assert "no fax engine: nothing can send a fax on this box yet" in page
    wait_for("the gauge", lambda: metric(panel_box, "hotline_fax_jobs", status="queued") == 1.0)
    assert metric(panel_box, "hotline_fax_jobs", status="received") == 1.0
    assert metric(panel_box, "hotline_fax_transitions_total", direction="out", status="queued") == 1.0


class FarFax:
    """A far end on /api/v1/sim/numbers/{number}/media that answers, says '#' (a fax machine), and confirms
    each page burst with '1' once the burst ends."""

    def __init__(self, box, number: str):
        self.url = box.url.replace("http", "ws") + f"/api/v1/sim/numbers/{number}/media?answer=auto"
        self.token = box.qa_token
        self.log: list[dict] = []
        self.bursts = 0

    async def send(self, ws, audio: np.ndarray) -> None:
        for i in range(0, len(audio), 160):
            await ws.write_message(audio[i:i + 160].astype("<i2").tobytes(), binary=True)

    async def key(self, ws, digit: str) -> None:
        await self.send(ws, np.concatenate([dtmf_tone(digit, 100), np.zeros(800, np.int16)]))

    async def run(self, connected: asyncio.Event, timeout: float = 60.0) -> None:
        req = tornado.httpclient.HTTPRequest(self.url, headers={"Authorization": f"Bearer {self.token}"})
        ws = await tornado.websocket.websocket_connect(req)
        connected.set()
        loud = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = await asyncio.wait_for(ws.read_message(), timeout)
            if msg is None:
                break
            if isinstance(msg, str):
                doc = json.loads(msg)
                self.log.append(doc)
                if doc.get("event") == "answered":
                    await self.key(ws, "#")
                if doc.get("event") == "ended":
                    break
                continue
            level = float(np.sqrt(np.mean(np.frombuffer(msg, "<i2").astype(np.float64) ** 2)))
            if level > 2000:
                loud = True
            elif loud:   # a page burst ended: confirm it
                loud = False
                self.bursts += 1
                await self.key(ws, "1")
        ws.close()


@pytest.fixture
def fax_box(prepared_box):
    """A box whose fax sender is the QA tone sender: it really dials simulated trunks."""
    return prepared_box(config={"fax": {"sender": "qa-tones", "qa_answer_seconds": 2, "qa_ack_seconds": 4,
                                        "retry_seconds": 1, "max_attempts": 2}})


def test_the_queue_dials_sends_confirmed_pages_retries_and_tells_the_agent(fax_box, client) -> None:
    sup, agent = client(fax_box.url), client(fax_box.url)
    sup.login("sup")
    agent.login("agent1")
    assert sup.api("GET", "/faxes").json()["engine"] == {"state": "up", "sender": "qa-tones", "active": 0,
                                                         "waiting": {}}
    r = put(sup, "/fax-documents/two-pages", "Page one\n\fPage two\n".encode())
    assert r.status == 201 and r.json()["pages"] == 2
    far = FarFax(fax_box, "02188886666")

    async def scenario() -> dict:
        connected = asyncio.Event()
        task = asyncio.ensure_future(far.run(connected))
        await asyncio.wait_for(connected.wait(), 10)
        loop = asyncio.get_running_loop()
        made = await loop.run_in_executor(None, lambda: agent.api("POST", "/faxes", {"document": "two-pages",
                                                                                     "number": "021-8888 6666"}))
        assert made.status == 201, made.text
        await asyncio.wait_for(task, 90)
        return made.json()
    job = asyncio.run(scenario())
    assert [e.get("event") for e in far.log][:3] == ["claimed", "ringing", "answered"]
    assert far.log[-1] == {"event": "ended", "by": "box"} and far.bursts == 2
    done = wait_for("sent", lambda: [f for f in agent.api("GET", "/faxes").json()["faxes"]
                                     if f["id"] == job["id"] and f["status"] == "sent"])[0]
    assert (done["pages"], done["pages_total"], done["attempts"], done["reason"]) == (2, 2, 1, None)
    assert done["call_uuid"] and done["finished_at"] >= done["started_at"] >= done["created_at"]
    # journaled, step by step, with the pages
    wait_for("journaled", lambda: [e["kind"] for e in events(fax_box, "fax.") if e.get("id") == job["id"]]
             == ["fax.created", "fax.dialling", "fax.sending", "fax.page", "fax.page", "fax.sent"])
    assert [e["kind"] for e in events(fax_box, "call.") if e["call"] == done["call_uuid"]][:3] == \
        ["call.offered", "call.dialing", "call.answered"]
    # the agent who asked hears about it
    inbox = agent.api("GET", "/messages").json()["unread"]
    assert any(m["kind"] == "fax" and f"Fax #{job['id']} (two-pages) to 02188886666: sent, 2 of 2 pages" in m["text"]
               for m in inbox), inbox
    assert metric(fax_box, "hotline_fax_transitions_total", direction="out", status="sent") == 1.0
    assert metric(fax_box, "hotline_fax_pages_total", direction="out") == 2.0

    # a number nobody's fax machine answers (the simulator picks up, silent): retried after the backoff, then failed
    r = agent.api("POST", "/faxes", {"document": "spec-1020", "number": "02177776666"})
    assert r.status == 201
    jid = r.json()["id"]
    waiting = wait_for("back in the queue", lambda: [f for f in agent.api("GET", "/faxes").json()["faxes"]
                                                     if f["id"] == jid and f["status"] == "queued"
                                                     and f["attempts"] == 1], timeout=30)[0]
    assert waiting["reason"] == "not_a_fax" and waiting["next_attempt_at"] > waiting["updated_at"] - 0.01
    failed = wait_for("failed", lambda: [f for f in agent.api("GET", "/faxes").json()["faxes"]
                                         if f["id"] == jid and f["status"] == "failed"], timeout=30)[0]
    assert failed["attempts"] == 2 and failed["reason"] == "attempts" and "not_a_fax" in failed["detail"]
    assert failed["pages"] == 0
    wait_for("journaled", lambda: [e["kind"] for e in events(fax_box, "fax.") if e.get("id") == jid]
             == ["fax.created", "fax.dialling", "fax.sending", "fax.queued", "fax.dialling", "fax.sending",
                 "fax.failed"])
    inbox = agent.api("GET", "/messages").json()["unread"]
    assert any(f"Fax #{jid} (spec-1020) to 02177776666: failed after 2 attempt(s): every attempt failed" in m["text"]
               for m in inbox), inbox
    assert metric(fax_box, "hotline_fax_failures_total", direction="out", reason="not_a_fax") == 2.0
    page = sup.get("/faxes").text
    assert 'id="fax-engine"' not in page and "every attempt failed" in page


FAX_KEYED = """
flow: fax_keyed
title: {zh_CN: 传真回传, en_US: Fax back}
languages: [zh_CN, en_US]
start: main
vars: {fax_doc: catalog}
blocks:
  main:
    - answer
    - collect: {var: fax_number, prompt: fax_enter_number, min_digits: 0, max_digits: 16}
    - fax: {document: "${fax_doc}", number: "${fax_number}", done_prompt: fax_queued}
    - hangup
"""


def test_ivr_fax_back_to_a_keyed_number_and_a_knowledge_base_article_are_really_sent(prepared_box, client) -> None:
    """With a sender that can send, the caller hears "queued to the number" and the fax reaches the number they
    keyed; an article an agent faxes from the knowledge base goes out the same way."""
    box = prepared_box(flows={"fax_keyed": FAX_KEYED}, routes={"8105": "fax_keyed"},
                       config={"fax": {"sender": "qa-tones", "qa_answer_seconds": 3, "qa_ack_seconds": 4}})
    admin, sup, agent = client(box.url), client(box.url), client(box.url)
    admin.login("admin")
    sup.login("sup")
    agent.login("agent1")
    far = FarFax(box, "02166665555")

    def call_events(cid: str) -> list[dict]:
        return admin.api("GET", f"/sim/calls/{cid}").json()["events"]

    async def scenario() -> str:
        connected = asyncio.Event()
        task = asyncio.ensure_future(far.run(connected))
        await asyncio.wait_for(connected.wait(), 10)
        loop = asyncio.get_running_loop()
        r = await loop.run_in_executor(None, lambda: admin.api("POST", "/sim/calls", {"from": "13600001111",
                                                                                      "to": "8105"}))
        assert r.status == 201, r.text
        cid = r.json()["id"]
        await loop.run_in_executor(None, lambda: wait_for("the prompt", lambda: any(
            e["kind"] == "media.played" and e["data"].get("prompt") == "fax_enter_number" for e in call_events(cid))))
        r = await loop.run_in_executor(None, lambda: admin.api("POST", f"/sim/calls/{cid}/dtmf",
                                                               {"digits": "02166665555#"}))
        assert r.status == 202, r.text
        await asyncio.wait_for(task, 90)
        return cid
    cid = asyncio.run(scenario())
    assert far.bursts == 2 and far.log[-1] == {"event": "ended", "by": "box"}   # the catalog has two pages
    played = [e["data"].get("prompt") for e in call_events(cid) if e["kind"] == "media.played"]
    assert "fax_queued" in played and "fax_unavailable" not in played
    job = wait_for("sent", lambda: [f for f in sup.api("GET", "/faxes").json()["faxes"] if f["status"] == "sent"])[0]
    assert (job["document"], job["number"], job["caller_id"], job["call_uuid"], job["pages"]) == \
        ("catalog", "02166665555", "13600001111", cid, 2)   # linked to the caller's call, not the fax call

    # the knowledge base's "fax this": the article as it is now, to a number the far end answers
    art = sup.api("POST", "/kb/articles", {"title": "Paper jam", "body": "Open the rear cover.", "tags": "jam"})
    assert art.status == 201, art.text
    far2 = FarFax(box, "02155554444")

    async def kb_fax() -> dict:
        connected = asyncio.Event()
        task = asyncio.ensure_future(far2.run(connected))
        await asyncio.wait_for(connected.wait(), 10)
        loop = asyncio.get_running_loop()
        r = await loop.run_in_executor(None, lambda: agent.api("POST", f"/kb/articles/{art.json()['id']}/fax",
                                                               {"number": "021-5555 4444"}))
        assert r.status == 201, r.text
        await asyncio.wait_for(task, 90)
        return r.json()
    made = asyncio.run(kb_fax())
    assert far2.bursts == 1
    sent = wait_for("kb sent", lambda: [f for f in agent.api("GET", "/faxes").json()["faxes"]
                                        if f["id"] == made["id"] and f["status"] == "sent"])[0]
    assert sent["document"] == f"kb-{art.json()['id']}" and sent["requested_by"] == "agent1"
    assert any(f"Fax #{made['id']}" in m["text"] and "sent" in m["text"]
               for m in agent.api("GET", "/messages").json()["unread"])


def test_a_fax_not_sent_before_its_kill_time_fails_and_the_agent_is_told(prepared_box, client) -> None:
    box = prepared_box(config={"fax": {"kill_hours": 0.0003, "sender": "none"}})   # about 1 s; no engine: it cannot go
    agent = client(box.url)
    agent.login("agent1")

    async def pushed() -> tuple[dict, dict]:
        """The agent's open panel gets the message the moment the fax fails."""
        cookie = "; ".join(f"{c.name}={c.value}" for c in agent.jar)
        conn = await tornado.websocket.websocket_connect(tornado.httpclient.HTTPRequest(
            box.url.replace("http://", "ws://") + "/ws", request_timeout=10,
            headers={"Cookie": cookie, "Origin": box.url}))
        made = await asyncio.get_running_loop().run_in_executor(None, lambda: agent.api(
            "POST", "/faxes", {"document": "faq-100", "number": "02133334444"}))
        assert made.status == 201 and made.json()["status"] == "queued"
        while True:
            raw = await asyncio.wait_for(conn.read_message(), 20)
            assert raw is not None, "the live channel closed"
            msg = json.loads(raw)
            if msg.get("type") == "message" and msg["message"].get("kind") == "fax":
                conn.close()
                return made.json(), msg["message"]
    job, live = asyncio.run(pushed())
    jid = job["id"]
    assert live["to"] == "agent1" and f"Fax #{jid}" in live["text"] and "kill time" in live["text"]
    failed = wait_for("killed", lambda: [f for f in agent.api("GET", "/faxes").json()["faxes"]
                                         if f["id"] == jid and f["status"] == "failed"], timeout=20)[0]
    assert failed["reason"] == "kill_time" and failed["attempts"] == 0 and "no_engine" in failed["detail"]
    assert failed["finished_at"] - failed["created_at"] >= 1.0
    inbox = agent.api("GET", "/messages").json()["unread"]
    assert any(f"Fax #{jid} (faq-100) to 02133334444: failed" in m["text"] and "kill time" in m["text"]
               for m in inbox), inbox
    assert metric(box, "hotline_fax_failures_total", direction="out", reason="kill_time") == 1.0
    wait_for("journaled", lambda: [e["kind"] for e in events(box, "fax.") if e.get("id") == jid]
             == ["fax.created", "fax.failed"])
