"""Configuration pages and their API against a real daemon: queues (validated like a YAML import, audited, seen by
the ACD at once), agents with skills, users (create, disable, last admin, tokens shown once), lines taken out of
service, system and recording pages, roles."""
from __future__ import annotations

import json
import platform
import subprocess
import urllib.request

from hotline.daemon.acd import config as acd_config

LI = {"name": "li_wei", "display_name": "Li Wei", "extension": "1001", "skills": {"printers": 7, "water": 3},
      "follow_me": "13800138000", "follow_me_after": 10}
PRINTERS = {"name": "printers", "title": {"en_US": "Printers", "zh_CN": "打印机"}, "strategy": "skills",
            "skill": "printers", "min_level": 5, "widening": [{"after": 30, "min_level": 1}],
            "members": [{"agent": "li_wei", "penalty": 0}], "recording": "on_demand"}


def bearer(url: str, path: str, token: str, method: str = "GET", body: dict | None = None) -> int:
    """Status of an API call made by a script with a token."""
    req = urllib.request.Request(url + "/api/v1" + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def fields(r) -> dict[str, str]:
    """{field: message} of a 400's problems."""
    return {p["field"]: p["message"] for p in r.json()["problems"]}


def test_queues_are_validated_like_an_import_audited_and_seen_by_the_acd(panel_box, client) -> None:
    p = client(panel_box.url)
    p.login("admin")
    # an agent with skills (levels 1-10)
    bad = p.api("POST", "/config/agents", {**LI, "skills": {"printers": 11}})
    assert bad.status == 400 and "skills.printers" in fields(bad), bad.text
    assert p.api("POST", "/config/agents", LI).status == 201
    assert p.api("POST", "/config/agents", LI).status == 409                 # already exists
    agent = p.api("GET", "/config/agents/li_wei").json()
    assert agent["skills"] == {"printers": 7, "water": 3} and agent["follow_me_after"] == 10.0
    assert [a["name"] for a in p.api("GET", "/agents").json()["agents"]] == ["li_wei"]   # the ACD knows them

    # bad values: 400 naming every field, nothing stored
    r = p.api("POST", "/config/queues", {**PRINTERS, "ring_timeout": 500, "strategy": "fastest", "colour": "red",
                                         "members": [{"agent": "nobody"}], "overflow": "queue"})
    assert r.status == 400
    problems = fields(r)
    assert problems["ring_timeout"] == "expected a number from 3 to 120, got 500.0"
    assert "strategy" in problems and "colour" in problems and problems["colour"].startswith("unknown key")
    assert problems["members[0].agent"] == "no agent named 'nobody'"
    assert problems["overflow_queue"] == "overflow: queue needs an existing overflow_queue"
    assert "ring_timeout" in r.json()["error"]
    assert p.api("GET", "/config/queues/printers").status == 404
    assert "printers" not in [q["name"] for q in p.api("GET", "/queues").json()["queues"]]
    # the YAML import says exactly the same about the same queue
    doc = {"agents": [LI], "queues": {"printers": {k: v for k, v in PRINTERS.items() if k != "name"}}}
    doc["queues"]["printers"]["ring_timeout"] = 500
    imp = p.request("POST", "/api/v1/config/acd.yaml", json.dumps(doc).encode(),   # JSON is YAML too
                    {"X-XSRFToken": p.xsrf(), "Content-Type": "application/yaml", "Accept": "application/json"})
    assert imp.status == 400
    assert [(x["field"], x["message"]) for x in imp.json()["problems"]] == \
        [("queues.printers.ring_timeout", problems["ring_timeout"])] and imp.json()["problems"][0]["line"] == 1

    # a valid queue: stored with every option, live in the ACD
    created = p.api("POST", "/config/queues", PRINTERS)
    assert created.status == 201, created.text
    stored = p.api("GET", "/config/queues/printers").json()
    assert stored["ring_timeout"] == 15.0 and stored["widening"] == [{"after": 30.0, "min_level": 1}]
    assert set(stored) == set(acd_config.QUEUE.fields) | {"name"}
    live = {q["name"]: q for q in p.api("GET", "/queues").json()["queues"]}
    assert live["printers"]["strategy"] == "skills" and live["printers"]["title"]["zh_CN"] == "打印机"

    # edit: applied at once and audited before -> after
    edited = {k: v for k, v in stored.items() if k != "name"}
    edited.update(strategy="ring_all", ring_timeout=25)
    r = p.api("PUT", "/config/queues/printers", edited)
    assert r.status == 200 and r.json()["ring_timeout"] == 25.0
    assert {q["name"]: q for q in p.api("GET", "/queues").json()["queues"]}["printers"]["strategy"] == "ring_all"
    entry = p.api("GET", "/audit?action=queue.updated").json()["entries"][0]
    assert entry["user"] == "admin" and entry["target"] == "printers"
    assert entry["changes"]["strategy"] == ["skills", "ring_all"] and entry["changes"]["ring_timeout"] == [15.0, 25.0]
    # a bad edit changes nothing
    r = p.api("PUT", "/config/queues/printers", {**edited, "ring_timeout": "fast"})
    assert r.status == 400 and fields(r)["ring_timeout"].startswith("expected a number")
    assert p.api("GET", "/config/queues/printers").json()["ring_timeout"] == 25.0

    # the form shows every option of the ACD schema with a place for its error
    page = p.get("/config/queues/printers/edit").text
    for key in acd_config.QUEUE.fields:
        assert f'data-error-for="{key}"' in page, key
    assert "Wrap-up time" in page and 'value="25"' in page

    # export -> import round trip (the whole ACD document), audited
    export = p.get("/api/v1/config/acd.yaml")
    assert export.status == 200 and "printers:" in export.text and "li_wei" in export.text
    changed = export.text.replace("strategy: ring_all", "strategy: round_robin")
    imp = p.request("POST", "/api/v1/config/acd.yaml", changed.encode(),
                    {"X-XSRFToken": p.xsrf(), "Content-Type": "application/yaml", "Accept": "application/json"})
    assert imp.status == 200 and imp.json()["imported"] == {"agents": 1, "queues": 1}
    assert {q["name"]: q for q in p.api("GET", "/queues").json()["queues"]}["printers"]["strategy"] == "round_robin"
    assert p.api("GET", "/audit?action=acd.imported").json()["total"] == 1

    # an agent logged in cannot be deleted; a queue another queue overflows to cannot either
    assert p.api("POST", "/agents/li_wei/login", {"station": "1001"}).status == 200
    r = p.api("DELETE", "/config/agents/li_wei")
    assert r.status == 409 and "logged in" in r.json()["error"]
    assert p.api("POST", "/config/queues", {"name": "sales", "overflow": "queue",
                                            "overflow_queue": "printers"}).status == 201
    assert p.api("DELETE", "/config/queues/printers").status == 409
    assert p.api("DELETE", "/config/queues/sales").status == 200
    assert p.api("DELETE", "/config/queues/printers").status == 200
    assert "printers" not in [q["name"] for q in p.api("GET", "/queues").json()["queues"]]
    deleted = p.api("GET", "/audit?action=queue.deleted&target=printers").json()["entries"][0]
    assert deleted["before"]["strategy"] == "round_robin" and deleted["after"] is None


def test_users_created_disabled_tokens_shown_once_last_admin_kept(panel_box, client, hotline_bin) -> None:
    p = client(panel_box.url)
    p.login("admin")
    assert fields(p.api("POST", "/config/users", {"name": "wang", "role": "agent", "password": "short"})) == \
        {"password": "at least 8 characters"}
    assert "role" in fields(p.api("POST", "/config/users", {"name": "wang", "role": "boss", "password": "x" * 9}))
    assert "name" in fields(p.api("POST", "/config/users", {"name": "wang fang", "role": "agent",
                                                            "password": "x" * 9}))
    r = p.api("POST", "/config/users", {"name": "wang", "role": "supervisor", "password": "wang-pass-1",
                                        "language": "en_US"})
    assert r.status == 201, r.text
    assert p.api("POST", "/config/users", {"name": "wang", "role": "agent", "password": "x" * 9}).status == 409
    w = client(panel_box.url)
    w.login("wang", "wang-pass-1")
    assert w.api("GET", "/calls").status == 200                      # a supervisor now
    created = p.api("GET", "/audit?action=user.created&target=wang").json()["entries"][0]
    assert created["after"]["role"] == "supervisor" and "password" not in json.dumps(created)

    # a token is shown once, works, is listed by id only, and stops working when revoked
    t = p.api("POST", "/config/users/wang/tokens", {})
    assert t.status == 201
    token, tid = t.json()["token"], t.json()["id"]
    assert bearer(panel_box.url, "/calls", token) == 200
    listed = p.api("GET", "/config/users/wang").json()
    assert listed["tokens"] == [{"id": tid, "created_at": listed["tokens"][0]["created_at"], "last_used": None}]
    assert token not in p.get("/config/users/wang").text and token not in p.api("GET", "/config/users").text
    assert p.api("DELETE", f"/config/users/wang/tokens/{tid}").status == 200
    assert bearer(panel_box.url, "/calls", token) == 401

    # role change applies at the next request; password reset ends the sessions
    assert p.api("PUT", "/config/users/wang", {"role": "agent"}).json()["role"] == "agent"
    assert w.api("GET", "/calls").status == 403
    assert p.api("POST", "/config/users/wang/password", {"password": "wang-pass-2"}).status == 200
    assert w.get("/").status == 302                                   # logged out
    client(panel_box.url).login("wang", "wang-pass-2")

    # disabled: no login, no session, no token
    w2 = client(panel_box.url)
    w2.login("wang", "wang-pass-2")
    token = p.api("POST", "/config/users/wang/tokens", {}).json()["token"]
    r = p.api("PUT", "/config/users/wang", {"disabled": True})
    assert r.status == 200 and r.json()["disabled"] is True
    assert w2.get("/").status == 302 and bearer(panel_box.url, "/queues", token) == 401
    assert client(panel_box.url).post("/login", {"name": "wang", "password": "wang-pass-2"}).status == 401
    entry = p.api("GET", "/audit?action=user.updated&target=wang").json()["entries"][0]
    assert entry["changes"] == {"disabled": [False, True]}

    # nobody disables themselves; the last administrator keeps the role (a token-only admin script tries)
    r = p.api("PUT", "/config/users/admin", {"disabled": True})
    assert r.status == 409 and "yourself" in r.json()["error"]
    out = subprocess.run([hotline_bin, "-c", str(panel_box.config), "user", "add", "robot", "--role", "admin",
                          "--token"], env=panel_box.env, capture_output=True, text=True, check=True, timeout=60)
    robot = out.stdout.strip().splitlines()[-1]
    assert bearer(panel_box.url, "/config/users/admin", robot, "PUT", {"disabled": True}) == 409
    assert bearer(panel_box.url, "/config/users/admin", robot, "PUT", {"role": "supervisor"}) == 409
    assert p.get("/config/users").status == 200                      # still an admin
    assert p.api("POST", "/config/users", {"name": "admin2", "role": "admin", "password": "admin2-pass"}).status == 201
    assert bearer(panel_box.url, "/config/users/admin", robot, "PUT", {"role": "supervisor"}) == 200


def test_supervisors_and_agents_are_refused(panel_box, client) -> None:
    for name in ("sup", "agent1"):
        p = client(panel_box.url)
        p.login(name)
        for page in ("/config/queues", "/config/queues/new", "/config/agents", "/config/users", "/config/lines",
                     "/config/stations", "/config/recording", "/config/system"):
            assert p.get(page).status == 403, (name, page)
        assert p.api("POST", "/config/queues", {"name": "x"}).status == 403
        assert p.api("GET", "/config/users").status == 403
        assert p.api("PUT", "/config/users/admin", {"role": "agent"}).status == 403
        assert p.api("POST", "/config/lines/sim0-t1", {"enabled": False}).status == 403
    a = client(panel_box.url)
    a.login("admin")
    assert a.get("/config/agents?sort=password").status == 400       # allow-listed sort and filter parameters
    assert a.get("/config/agents?order=name").status == 400
    assert a.get("/config/agents?sort=extension").status == 200
    assert a.api("GET", "/config/queues?limit=5").status == 400


def test_a_line_taken_out_of_service_refuses_calls_and_stays_out_after_a_restart(panel_box, client) -> None:
    p = client(panel_box.url)
    p.login("admin")
    lines = {row["line"]: row for row in p.api("GET", "/config/lines").json()["lines"]}
    assert lines["sim0-t1"]["state"] == "idle" and lines["sim0-s1001"]["extension"] == "1001", lines
    qa = client(panel_box.url)
    qa.login("qa1")
    assert p.api("POST", "/config/lines/sim0-t1", {"enabled": "no"}).status == 400
    assert p.api("POST", "/config/lines/nope", {"enabled": False}).status == 404
    r = p.api("POST", "/config/lines/sim0-t1", {"enabled": False})
    assert r.status == 200 and r.json()["state"] == "disabled"
    assert qa.api("POST", "/sim/calls", {"from": "13900000000", "to": "8001", "line": "sim0-t1"}).status == 503
    page = p.get("/config/lines").text
    assert "Taken out of service by an administrator" in page
    entry = p.api("GET", "/audit?action=line.disabled").json()["entries"][0]
    assert entry["target"] == "sim0-t1" and entry["after"] == {"enabled": {"sim0-t1": False}}
    # kept across a restart
    panel_box.stop()
    panel_box.start()
    p = client(panel_box.url)
    p.login("admin")
    lines = {row["line"]: row for row in p.api("GET", "/config/lines").json()["lines"]}
    assert lines["sim0-t1"]["state"] == "disabled" and lines["sim0-t2"]["state"] == "idle"
    assert p.api("POST", "/config/lines/sim0-t1", {"enabled": True}).json()["state"] == "idle"
    qa = client(panel_box.url)
    qa.login("qa1")
    call = qa.api("POST", "/sim/calls", {"from": "13900000000", "to": "8001", "line": "sim0-t1"})
    assert call.status == 201
    # a line carrying a call is not taken away from it; a whole device switches together
    r = p.api("POST", "/config/devices/sim0", {"enabled": False})
    assert r.status == 409 and "sim0-t1" in r.json()["error"]
    assert all(row["state"] != "disabled" for row in p.api("GET", "/config/lines").json()["lines"])
    qa.api("DELETE", f"/sim/calls/{call.json()['id']}")
    probe = p.api("GET", "/config/probe").json()
    drivers = {d["driver"]: d for d in probe["drivers"]}
    assert set(drivers) == {"dahdi", "modem", "sim", "sip"} and all(d["found"] == [] and d["error"] is None for d in drivers.values())
    assert "No driver reported hardware" in p.get("/config/lines?probe=1").text


def test_system_recording_and_stations_pages(panel_box, client) -> None:
    p = client(panel_box.url)
    p.login("admin")
    system = p.api("GET", "/config/system").json()
    assert system["versions"]["python"] == platform.python_version()
    assert system["versions"]["database"] == "SQLite" and system["health"]["status"] == "serving"
    assert {c["name"] for c in system["components"]} >= {"store", "devices", "calls", "acd", "web"}
    page = p.get("/config/system").text
    assert platform.python_version() in page and "sim0-t7" in page and "Memory in use" in page
    rec = p.get("/config/recording").text
    assert str(panel_box.config) in rec and "500 MB" in rec and "8001" in rec
    assert p.api("POST", "/config/agents", LI).status == 201
    assert p.api("POST", "/agents/li_wei/login", {"station": "1002"}).status == 200
    stations = p.get("/config/stations").text
    row = stations.split('data-extension="1002"', 1)[1].split("</tr>", 1)[0]
    assert "Li Wei" in row and ">Ready<" in row
