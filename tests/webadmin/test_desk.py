"""The agent desk on a real daemon: log in at a station, ready / not ready / wrap-up (audited), the screen pop
pushed over the WebSocket with the caller's IVR digits and customer, click-to-call through the call manager,
messages between agents, and who may do what."""
from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import tornado.httpclient
import tornado.websocket
import yaml

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-9"
FLOW = """
flow: desk_test
blocks:
  main:
    - answer
    - collect: {var: serial, min_digits: 4, max_digits: 10, timeout: 10}
    - lookup: {table: warranties, by: serial_no, value: "${serial}", into: w, not_found: queue}
    - goto: queue
  queue:
    - queue: {name: support, no_agent: none}
    - hangup
  none:
    - hangup
"""
QUEUES = """
agents:
  - {name: li_wei, display_name: 李伟, user: agent1, extension: "1001"}
  - {name: bob, extension: "1002"}
queues:
  support:
    title: {zh_CN: 技术支持, en_US: Support}
    strategy: linear
    ring_timeout: 30
    wrapup_seconds: 20
    announce_position: false
    announce_estimate: false
    leave_key: null
    members: [{agent: li_wei}, {agent: bob}]
reason_codes: [lunch, break, training, meeting, missed_calls]
"""


class Qa:
    """The QA API with a token (drives the simulated callers and phones)."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def __call__(self, method: str, path: str, body: object = None, expect: int | None = None) -> dict:
        req = urllib.request.Request(self.url + "/api/v1" + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                status, data = r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            status, data = e.code, json.loads(e.read() or b"{}")
        assert expect is None or status == expect, f"{method} {path}: {status} {data}"
        return data

    def wait_station(self, ext: str, state: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        st = {}
        while time.monotonic() < deadline:
            st = next(s for s in self("GET", "/sim/stations")["stations"] if s["extension"] == ext)
            if st["state"] == state:
                return
            time.sleep(0.05)
        raise AssertionError(f"station {ext} not {state}: {st}")


@pytest.fixture
def desk_box(daemon_factory, tmp_path, hotline_bin):
    """A box whose number 7000 asks for a serial number, looks it up and queues the caller for 'support'
    (agents li_wei = user agent1, bob); demo customers; users admin, sup, agent1, agent2, qa1 (+ QA token)."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "desk_test.yaml").write_text(FLOW)
    cfg = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())
    cfg["routes"] = [{"dialed": "7000", "flow": "desk_test"}]
    cfg["paths"].update(flows=str(flows), prompt_manifest=str(REPO / "etc" / "prompts" / "manifest.yaml"))
    config = tmp_path / "hotline.yaml"
    config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    (tmp_path / "queues.yaml").write_text(QUEUES)
    d = daemon_factory(config=config, start=False)
    d.state.mkdir(parents=True, exist_ok=True)

    def cli(*args: str, stdin: str | None = None) -> str:
        return subprocess.run([hotline_bin, "-c", str(config), *args], input=stdin, env=d.env, capture_output=True,
                              text=True, check=True, timeout=60).stdout
    for name, role in (("admin", "admin"), ("sup", "supervisor"), ("agent1", "agent"), ("agent2", "agent")):
        cli("user", "add", name, "--role", role, "--password-stdin", "--language", "en_US", stdin=PASSWORD + "\n")
    token = cli("user", "add", "qa1", "--role", "qa", "--token", "--password-stdin", "--language", "en_US",
                stdin=PASSWORD + "\n").strip().splitlines()[-1]
    cli("acd", "import", str(tmp_path / "queues.yaml"))
    cli("demo-data")
    d.start()
    d.qa = Qa(d.url, token)
    return d


def ws_connect(box, panel):
    cookie = "; ".join(f"{c.name}={c.value}" for c in panel.jar)
    req = tornado.httpclient.HTTPRequest(box.url.replace("http://", "ws://") + "/ws", request_timeout=10,
                                         headers={"Cookie": cookie, "Origin": box.url})
    return tornado.websocket.websocket_connect(req)


class Live:
    """A panel's live channel as a test reads it: every message kept, waits search from a point on (so two
    messages that may come in either order can both be awaited)."""

    def __init__(self, conn):
        self.conn, self.seen, self.pos = conn, [], 0

    def mark(self) -> int:
        """A point to search from later."""
        return len(self.seen)

    async def wait(self, kind: str, timeout: float = 20, since: int | None = None, **match: object) -> dict:
        """The first message of a type whose payload matches, from `since` (default: after the last found)."""
        i = self.pos if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            while i < len(self.seen):
                msg = self.seen[i]
                body = msg.get("agent") or msg.get("pop") or msg.get("message") or {}
                i += 1
                if msg.get("type") == kind and all(body.get(k) == v for k, v in match.items()):
                    self.pos = max(self.pos, i)
                    return msg
            raw = await asyncio.wait_for(self.conn.read_message(), max(0.1, deadline - time.monotonic()))
            assert raw is not None, "the live channel closed"
            self.seen.append(json.loads(raw))


async def live(box, panel) -> Live:
    """Connect a logged-in panel's live channel."""
    return Live(await ws_connect(box, panel))


def wait_held(panel, expect: bool) -> bool | None:
    """Whether the desk shows the current call on hold, once it says `expect` (or after 5 s)."""
    deadline = time.monotonic() + 5
    value = None
    while time.monotonic() < deadline:
        call = panel.api("GET", "/desk").json()["agent"]["current_call"]
        value = call["held"] if call else None
        if value is expect:
            break
        time.sleep(0.05)
    return value


def test_login_states_and_wrapup_are_audited_and_the_screen_pop_shows_the_ivr_digits(desk_box, client) -> None:
    qa = desk_box.qa
    agent = client(desk_box.url)
    agent.login("agent1")
    desk = agent.api("GET", "/desk").json()
    assert desk["agent"]["name"] == "li_wei" and desk["agent"]["state"] == "logged_out"     # linked by user:
    assert "lunch" in desk["reasons"] and desk["pop"] is None
    page = agent.get("/desk")
    assert page.status == 200 and "李伟" in page.text and 'id="desk-pop"' in page.text
    for body, field in (({"station": "9999"}, "station"), ({}, "station"), ({"station": "1001; drop"}, "station")):
        r = agent.api("POST", "/desk/login", body)
        assert r.status == 400 and field in r.json()["error"], r.text
    assert agent.api("POST", "/desk/state", {"state": "ready"}).status == 409            # not logged in yet

    async def scenario() -> dict:
        conn = await live(desk_box, agent)
        r = await asyncio.to_thread(agent.api, "POST", "/desk/login", {"station": "1001"})
        assert r.status == 200 and r.json()["state"] == "ready" and r.json()["station"] == "1001"
        await conn.wait("agent", state="ready")
        bad = await asyncio.to_thread(agent.api, "POST", "/desk/state", {"state": "not_ready", "reason": "napping"})
        assert bad.status == 400 and "reason" in bad.json()["error"]
        await asyncio.to_thread(agent.api, "POST", "/desk/state", {"state": "not_ready", "reason": "lunch"})
        pushed = await conn.wait("agent", state="not_ready")
        assert pushed["agent"]["reason"] == "lunch" and pushed["topic"] == "user:agent1"
        await asyncio.to_thread(agent.api, "POST", "/desk/state", {"state": "ready"})
        await conn.wait("agent", state="ready")
        # a caller keys a serial number in the menu and reaches the queue: the pop arrives over the WebSocket
        start = conn.mark()
        cid = (await asyncio.to_thread(qa, "POST", "/sim/calls", {"from": "13800138000", "to": "7000"}, 201))["id"]
        await asyncio.to_thread(qa, "POST", f"/sim/calls/{cid}/dtmf", {"digits": "2024100001#"}, 202)
        pop = (await conn.wait("pop", 30, since=start))["pop"]
        assert (await conn.wait("agent", since=start, state="reserved"))["agent"]["call"] == cid
        await asyncio.to_thread(qa.wait_station, "1001", "ringing")
        await asyncio.to_thread(qa, "POST", "/sim/stations/1001/answer", {}, 200)
        on_call = (await conn.wait("agent", state="on_call"))["agent"]
        assert on_call["current_call"]["uuid"] == cid and on_call["current_call"]["caller_id"] == "13800138000"
        # the desk's call controls act on the call of the agent linked to this user
        r = await asyncio.to_thread(agent.api, "POST", "/desk/call/hold", {})
        assert r.status == 200 and r.json()["held"] is True, r.text
        assert (await asyncio.to_thread(wait_held, agent, True)) is True
        assert (await asyncio.to_thread(agent.api, "POST", "/desk/call/hold", {})).status == 409   # already held
        assert (await asyncio.to_thread(agent.api, "POST", "/desk/call/resume", {})).status == 200
        assert (await asyncio.to_thread(wait_held, agent, False)) is False
        bad = await asyncio.to_thread(agent.api, "POST", "/desk/call/consult", {})
        assert bad.status == 400 and "extension" in bad.json()["error"]
        r = await asyncio.to_thread(agent.api, "POST", "/desk/call/transfer", {"extension": "1002"})
        assert r.status == 200, r.text
        await asyncio.to_thread(qa.wait_station, "1002", "ringing")                  # the caller goes on to 1002
        wrap = (await conn.wait("agent", state="wrap_up"))["agent"]              # and the agent is released
        assert 0 < wrap["wrapup_left_s"] <= 20
        await asyncio.to_thread(qa, "DELETE", f"/sim/calls/{cid}", None, 200)
        conn.conn.close()
        return pop | {"_cid": cid}
    pop = asyncio.run(scenario())
    assert pop["call"] == pop["_cid"] and pop["caller"] == "13800138000" and pop["queue"] == "support"
    assert pop["queue_title"]["en_US"] == "Support" and pop["waited_s"] is not None
    assert pop["digits"] == [{"var": "serial", "value": "2024100001"}]
    steps = [(t["step"], t.get("value"), t.get("found")) for t in pop["trail"]]
    assert ("collect", "2024100001", None) in steps and ("lookup", "2024100001", True) in steps
    assert pop["customer"]["name"] == "张伟" and pop["guess"]["type"] == "repair"       # demo customer, serial -> repair
    assert all(t["status"] not in ("resolved", "closed") for t in pop["open_tickets"])
    assert agent.api("GET", "/desk").json()["pop"]["call"] == pop["call"]                 # kept for a page reload

    # wrap-up: extend, then end early
    left = agent.api("POST", "/desk/wrapup", {"action": "extend", "seconds": 60}).json()["wrapup_left_s"]
    assert 60 < left <= 80
    assert agent.api("POST", "/desk/wrapup", {"action": "extend", "seconds": 9999}).status == 400
    assert agent.api("POST", "/desk/wrapup", {"action": "end"}).json()["state"] == "ready"
    assert agent.api("POST", "/desk/wrapup", {"action": "end"}).status == 409              # not in wrap-up now

    # one click on the pop makes a ticket from the call; it is listed with the caller
    t = agent.api("POST", "/tickets", {"type": pop["guess"]["type"], "caller_number": pop["caller"],
                                        "customer_id": pop["customer"]["customer_id"], "call_uuid": pop["call"],
                                        "queue": pop["queue"], "summary": "serial 2024100001"}).json()
    listed = agent.api("GET", "/tickets?customer=13800138000").json()["tickets"]
    assert t["ticket_no"] in [x["ticket_no"] for x in listed] and t["customer"]["name"] == "张伟"

    admin = client(desk_box.url)
    admin.login("admin")
    entries = admin.api("GET", "/audit?action=desk.&target=li_wei").json()["entries"]
    actions = [e["action"] for e in reversed(entries)]
    assert actions == ["desk.login", "desk.state", "desk.state", "desk.call.hold", "desk.call.resume",
                       "desk.call.transfer", "desk.wrapup", "desk.wrapup"]
    login = entries[-1]
    assert login["user"] == "agent1" and login["before"]["state"] == "logged_out" and login["after"]["station"] == "1001"
    assert entries[-2]["after"] == {"state": "not_ready", "reason": "lunch", "station": "1001"}


def test_click_to_call_rings_the_agent_then_dials_out(desk_box, client) -> None:
    qa = desk_box.qa
    agent = client(desk_box.url)
    agent.login("agent1")
    assert agent.api("POST", "/desk/dial", {"number": "13900000001"}).status == 409       # not logged in
    agent.api("POST", "/desk/login", {"station": "1001"})
    for number in ("abc", "12", "", None, "1" * 21):
        r = agent.api("POST", "/desk/dial", {"number": number})
        assert r.status == 400 and "number" in r.json()["error"], number
    r = agent.api("POST", "/desk/dial", {"number": "+86 139-0000-0001"})
    assert r.status == 201, r.text
    call = r.json()
    assert call["number"] == "13900000001" and call["station"] == "1001" and call["call"]
    qa.wait_station("1001", "ringing")                                                # the agent's phone first
    state = agent.api("GET", "/desk").json()["agent"]
    assert state["state"] == "outbound"
    assert agent.api("POST", "/desk/dial", {"number": "13900000002"}).status == 409       # one call at a time
    qa("POST", "/sim/stations/1001/answer", {}, 200)
    deadline, live = time.monotonic() + 20, {}
    while time.monotonic() < deadline:                                               # then the customer, by trunk
        live = next((c for c in qa("GET", "/calls")["calls"] if c["uuid"] == call["call"]), {})
        if live.get("state") == "bridged":
            break
        time.sleep(0.1)
    assert live["state"] == "bridged" and live["direction"] == "outbound" and live["caller_id"] == "13900000001"
    now = agent.api("GET", "/desk").json()["agent"]
    assert now["state"] == "on_call" and now["current_call"]["uuid"] == call["call"]
    qa("POST", "/sim/stations/1001/hangup", {}, 200)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and agent.api("GET", "/desk").json()["agent"]["state"] == "on_call":
        time.sleep(0.1)
    assert agent.api("GET", "/desk").json()["agent"]["state"] in ("ready", "wrap_up")
    events = qa("GET", f"/calls/{call['call']}/events")["events"]
    offered = next(e for e in events if e["kind"] == "call.offered")
    assert offered["data"]["direction"] == "outbound" and offered["data"]["dialed"] == "13900000001"
    admin = client(desk_box.url)
    admin.login("admin")
    dial = admin.api("GET", "/audit?action=desk.dial").json()["entries"][0]
    assert dial["user"] == "agent1" and dial["after"]["number"] == "13900000001" and dial["after"]["call"] == call["call"]
    # the calls report lists the call once, with its number (the trunk it was dialled on is part of it)
    deadline, rows = time.monotonic() + 15, []
    while time.monotonic() < deadline:
        rows = admin.api("GET", "/reports/calls").json()["rows"]
        if any(r["call_uuid"] == call["call"] for r in rows):
            break
        time.sleep(0.2)
    mine = [r for r in rows if r["call_uuid"] == call["call"]]
    assert len(mine) == 1 and mine[0]["direction"] == "outbound" and mine[0]["dialed"] == "13900000001", rows
    assert [r for r in rows if not r["caller_id"] or not r["dialed"]] == [], "a row without caller or number"


def test_messages_are_stored_delivered_live_and_acknowledged(desk_box, client) -> None:
    a1, a2 = client(desk_box.url), client(desk_box.url)
    a1.login("agent1")
    a2.login("agent2")
    for body, field in (({"to": "nobody", "text": "hi"}, "to"), ({"to": "qa1", "text": "hi"}, "to"),
                        ({"to": "agent2", "text": " "}, "text"), ({"to": "agent2", "text": "x" * 1001}, "text"),
                        ({"to": "agent2", "text": "hi", "urgent": True}, "urgent"), ({"text": "hi"}, "to"),
                        ({"to": "agent1", "text": "me"}, "to")):
        r = a1.api("POST", "/messages", body)
        assert r.status == 400 and field in r.json()["error"], (body, r.text)

    async def scenario() -> tuple[dict, dict]:
        conn = await live(desk_box, a2)
        r = await asyncio.to_thread(a1.api, "POST", "/messages", {"to": "agent2", "text": "Can you take 1003's caller?"})
        assert r.status == 201, r.text
        got = await conn.wait("message")
        conn.conn.close()
        return r.json(), got
    sent, got = asyncio.run(scenario())
    assert sent["delivered"] == 1 and got["topic"] == "user:agent2"
    assert got["message"]["from"] == "agent1" and got["message"]["text"] == "Can you take 1003's caller?"
    inbox = a2.api("GET", "/messages").json()
    assert [m["id"] for m in inbox["unread"]] == [sent["id"]]
    assert a1.api("POST", f"/messages/{sent['id']}/ack", {}).status == 404                # only the recipient
    assert a2.api("POST", f"/messages/{sent['id']}/ack", {}).json()["acked_by"] == "agent2"
    assert a2.api("GET", "/messages").json()["unread"] == []
    assert a1.api("GET", "/messages").json()["messages"][0]["acked_at"] is not None    # the sender sees it was read
    assert a1.api("GET", "/messages?all=1").status == 400
    # a message to someone who is not connected waits for them
    later = a1.api("POST", "/messages", {"to": "sup", "text": "Lunch at 12?"}).json()
    assert later["delivered"] == 0
    sup = client(desk_box.url)
    sup.login("sup")
    assert [m["text"] for m in sup.api("GET", "/messages").json()["unread"]] == ["Lunch at 12?"]


def test_who_may_use_the_desk(desk_box, client) -> None:
    agent = client(desk_box.url)
    agent.login("agent1")
    agent.api("POST", "/desk/login", {"station": "1001"})
    # the agent API checks the agent linked to the user: agent1 is li_wei, not bob
    assert agent.api("POST", "/agents/bob/state", {"state": "ready"}).status == 403
    assert agent.api("POST", "/agents/li_wei/state", {"state": "not_ready", "reason": "break"}).status == 200
    other = client(desk_box.url)
    other.login("agent2")                                                              # no agent linked
    assert other.api("GET", "/desk").json()["agent"] is None
    assert other.api("POST", "/desk/login", {"station": "1002"}).status == 409
    assert "No agent is linked to your user" in other.get("/desk").text
    assert other.api("POST", "/desk/login", {"station": "1002"}, xsrf=False).status == 403
    for name, status in (("qa1", 403), ("sup", 200), ("admin", 200)):
        p = client(desk_box.url)
        p.login(name)
        assert p.get("/desk").status == status, name
        assert p.api("GET", "/desk").status == status, name
        assert p.api("GET", "/messages").status == status, name
    # a second login at a station in use is refused
    bob = client(desk_box.url)
    bob.login("sup")
    r = bob.api("POST", "/agents/bob/login", {"station": "1001"})
    assert r.status in (400, 409) and "in use" in r.json()["error"]
