"""What the box shows and hands out (issue 11, the smaller findings): who may scrape /metrics, what public
/healthz says, the security headers, file modes of the database, formulas in report exports, and the QA API
learning that admission control refused its call."""
from __future__ import annotations

import io
import json
import os
import sqlite3
import stat
import time
import urllib.error
import urllib.request
import uuid
import zipfile

PEOPLE = {"admin": "admin", "sup": "supervisor", "agent1": "agent", "qa1": "qa", "prom": "metrics"}


def get(url: str, token: str | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def tokens_for(client, d, names) -> dict[str, str]:
    """API tokens made by the administrator through the panel's API."""
    admin = client(d.url)
    admin.login("admin")
    out = {}
    for name in names:
        r = admin.api("POST", f"/config/users/{name}/tokens", {})
        assert r.status == 201, r.text
        out[name] = r.json()["token"]
    return out


def test_metrics_token_access_is_for_admin_and_metrics_tokens_only(prepared_box, client) -> None:
    """Finding 11: with metrics.access: token, agent, QA and supervisor tokens are refused; the dedicated
    'metrics' role (and an admin) may scrape."""
    d = prepared_box(people=PEOPLE, config={"metrics": {"enabled": True, "access": "token"}})
    tokens = tokens_for(client, d, PEOPLE)
    assert get(d.url + "/metrics")[0] == 401
    assert get(d.url + "/metrics", "not-a-token")[0] == 401
    for name in ("agent1", "qa1", "sup"):
        assert get(d.url + "/metrics", tokens[name])[0] == 403, name
    for name in ("prom", "admin"):
        status, headers, body = get(d.url + "/metrics", tokens[name])
        assert status == 200 and b"hotline_calls_active" in body, name
    # the metrics role opens nothing else
    assert get(d.url + "/api/v1/calls", tokens["prom"])[0] == 403
    assert client(d.url).post("/login", {"name": "prom", "password": "correct-horse-9"}).status == 302
    prom = client(d.url)
    prom.login("prom")
    assert prom.get("/").status == 403 and prom.get("/audit").status == 403


def test_public_healthz_shows_the_state_only(prepared_box, client) -> None:
    """Finding 11: anonymous /healthz (and a non-admin token) gets the serving state, no paths, devices or
    flow names; an administrator gets the full document."""
    d = prepared_box()
    status, _, body = get(d.url + "/healthz")
    assert status == 200 and json.loads(body) == {"status": "serving"}
    tokens = tokens_for(client, d, ("admin", "qa1"))
    assert json.loads(get(d.url + "/healthz", tokens["qa1"])[2]) == {"status": "serving"}
    full = json.loads(get(d.url + "/healthz", tokens["admin"])[2])
    assert full["status"] == "serving" and "store" in full["components"] and "version" in full
    admin = client(d.url)
    admin.login("admin")
    assert "components" in admin.get("/healthz").json()


def test_security_headers_on_every_kind_of_answer(panel_box, client) -> None:
    """Finding 11: a Content-Security-Policy on pages and API answers, and no Server: TornadoServer/x."""
    p = client(panel_box.url)
    answers = {path: p.get(path) for path in ("/login", "/healthz", "/static/js/panel.js", "/api/v1/calls",
                                              "/no/such/page", "/metrics")}
    for path, r in answers.items():
        assert "Server" not in r.headers, (path, r.headers.get("Server"))
    for path in ("/login", "/healthz", "/api/v1/calls", "/no/such/page"):
        csp = answers[path].headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp, path
    assert "'unsafe-inline'" not in answers["/login"].headers["Content-Security-Policy"].split("script-src")[1] \
        .split(";")[0]


def test_database_files_are_not_world_readable_in_the_foreground(daemon_factory) -> None:
    """Finding 11: `hotline run` in the foreground under umask 022 creates hotline.db, -wal and -shm without
    any access for others (before: 0644)."""
    old = os.umask(0o022)
    try:
        d = daemon_factory()
    finally:
        os.umask(old)
    for name in ("hotline.db", "hotline.db-wal", "hotline.db-shm", "setup-code", "cookie-secret"):
        path = d.state / name
        assert path.exists(), name
        assert stat.S_IMODE(path.stat().st_mode) & 0o007 == 0, (name, oct(path.stat().st_mode))


FORMULAS = {"caller_id": "=cmd|' /C calc'!A0", "dialed": "+1+1", "peer": "@SUM(A1:A9)"}


def test_report_exports_neutralise_formulas(prepared_box, client) -> None:
    """Finding 11: a caller id like =cmd|... reaches the calls report's CSV and XLSX as text with a leading
    apostrophe (as the customer export does), never as a formula."""
    d = prepared_box(start=False)
    now = time.time() - 120
    with sqlite3.connect(d.state / "hotline.db") as db:
        db.execute("INSERT INTO cdrs (call_uuid, direction, line, caller_id, dialed, offered_at, ended_at, duration, "
                   "talk_seconds, disposition, cause, peer) VALUES (?, 'inbound', 'sim0-t1', ?, ?, ?, ?, 30, 20, "
                   "'answered', 'normal', ?)",
                   (str(uuid.uuid4()), FORMULAS["caller_id"], FORMULAS["dialed"], now, now + 30, FORMULAS["peer"]))
    d.start()
    p = client(d.url)
    p.login("admin")
    csv_text = p.get("/api/v1/reports/calls?format=csv").text
    for value in FORMULAS.values():
        assert "'" + value in csv_text, (value, csv_text)
        assert f",{value}" not in csv_text and f'"{value}' not in csv_text
    xlsx = p.get("/api/v1/reports/calls?format=xlsx")
    assert xlsx.status == 200
    sheet = zipfile.ZipFile(io.BytesIO(xlsx.body)).read("xl/worksheets/sheet1.xml").decode()
    assert '<t xml:space="preserve">\'=cmd|' in sheet and '<t xml:space="preserve">=' not in sheet
    assert '<t xml:space="preserve">\'@SUM' in sheet and '<t xml:space="preserve">@' not in sheet


def test_a_call_refused_by_admission_control_answers_503(prepared_box, qa) -> None:
    """Finding 11: POST /api/v1/sim/calls answered 201 for a call the box then refused; now 503 with
    Retry-After, the reason and the refused call's id (its journal says refused)."""
    d = prepared_box(engine={"max_channels": 1})
    q = qa(d)
    first = q.api("POST", "/sim/calls", {"from": "13800138000", "to": "8001"}, expect=201)
    req = urllib.request.Request(d.url + "/api/v1/sim/calls", method="POST",
                                 data=json.dumps({"from": "13900139000", "to": "8001"}).encode(),
                                 headers={"Authorization": f"Bearer {d.qa_token}", "Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=15)
        raise AssertionError("the refused call was answered 2xx")
    except urllib.error.HTTPError as e:
        status, retry, doc = e.code, e.headers.get("Retry-After"), json.loads(e.read())
    assert status == 503 and retry is not None and int(retry) >= 1, (status, retry, doc)
    assert doc["reason"] == "channel_limit" and doc["id"] and doc["line"]
    state = q.wait(lambda: (lambda s: s if s.get("state") == "ended" else None)(
        q.api("GET", f"/sim/calls/{doc['id']}")), what="the refused call to end")
    assert state["cause"] == "rejected"
    assert [e["data"] for e in state["events"] if e["kind"] == "call.refused"] == [{"reason": "channel_limit"}]
    q.api("DELETE", f"/sim/calls/{first['id']}", expect=200)
