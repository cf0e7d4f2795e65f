"""The supervisor wallboard over HTTP and the WebSocket hub, on a real daemon with a real queue: callers wait,
abandon (short and long) and are answered; the snapshot's figures follow, survive a restart, and are pushed
without polling. Roles, allow-listed parameters, and the audited supervisor actions."""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time

import pytest
import tornado.httpclient
import tornado.websocket


FLOW = """
flow: wall_test
blocks:
  main:
    - answer
    - queue: {name: support}
    - hangup
"""
QUEUES = """
agents:
  - {name: ann, display_name: Ann Lee, extension: "1001"}
  - {name: bob, display_name: Bob Wu, extension: "1002"}
reason_codes: [lunch, break, training]
queues:
  support:
    title: {en_US: Printer support, zh_CN: 打印机支持}
    join_empty: true
    service_level_seconds: 2
    short_abandon_seconds: 1
    announce_position: false
    announce_estimate: false
    leave_key: null
    wrapup_seconds: 0
    ring_timeout: 60
    max_wait: 600
    members: [{agent: ann}, {agent: bob}]
"""


@pytest.fixture
def wall_box(prepared_box):
    """A daemon whose number 7000 queues callers in 'support' (agents ann at 1001, bob at 1002), with users
    admin, sup (supervisor), agent1 (agent) and qa1 (qa)."""
    return prepared_box(flows={"wall_test": FLOW}, routes={"7000": "wall_test"}, acd=QUEUES, language="zh_CN")


def logged_in(client, box, name: str):
    p = client(box.url)
    p.login(name)
    return p


def ok(r, status: int = 200) -> dict:
    assert r.status == status, f"{r.status} {r.text[:300]}"
    return r.json()


def wait_for(fn, what: str, timeout: float = 15.0):
    """Poll a condition (the test's own checks; the page itself never polls)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


def queue_of(snap: dict, name: str = "support") -> dict:
    return next(q for q in snap["queues"] if q["name"] == name)


def agent_of(snap: dict, name: str) -> dict:
    return next(a for a in snap["agents"] if a["name"] == name)


def live(snap: dict) -> list[dict]:
    """Calls in progress, without the ones being closed (recording and CDR still being written)."""
    return [c for c in snap["calls"] if c["state"] != "ending"]


def call_of(snap: dict, uuid: str) -> dict | None:
    return next((c for c in snap["calls"] if c["uuid"] == uuid), None)


class Qa:
    """The caller and the phones, through the QA API (cookie session of qa1)."""

    def __init__(self, client):
        self.p = client

    def call(self, frm: str) -> str:
        return ok(self.p.api("POST", "/sim/calls", {"from": frm, "to": "7000"}), 201)["id"]

    def hangup(self, cid: str) -> None:
        ok(self.p.api("DELETE", f"/sim/calls/{cid}"))

    def station(self, ext: str) -> str:
        return next(s for s in ok(self.p.api("GET", "/sim/stations"))["stations"] if s["extension"] == ext)["state"]

    def answer(self, ext: str) -> None:
        wait_for(lambda: self.station(ext) == "ringing", f"station {ext} rings")
        ok(self.p.api("POST", f"/sim/stations/{ext}/answer", {}))


def test_snapshot_counts_waiting_abandoned_and_answered_calls_and_survives_a_restart(wall_box, client) -> None:
    sup, qa = logged_in(client, wall_box, "sup"), Qa(logged_in(client, wall_box, "qa1"))
    snap = lambda: ok(sup.api("GET", "/wallboard"))  # noqa: E731
    first = snap()
    q = queue_of(first)
    assert q["title"] == {"en_US": "Printer support", "zh_CN": "打印机支持"}
    assert (q["waiting"], q["today"]["answered"], q["today"]["abandoned"], q["today"]["service_level"]) == (0, 0, 0,
                                                                                                            None)
    assert (q["service_level_seconds"], q["short_abandon_seconds"]) == (2, 1)
    assert first["reason_codes"] == ["lunch", "break", "training"]
    assert {a["name"]: a["state"] for a in first["agents"]} == {"ann": "logged_out", "bob": "logged_out"}
    lines = {ln["line"]: ln for ln in first["lines"]}
    assert lines["sim0-s1001"]["state"] == "idle" and lines["sim0-s1001"]["extension"] == "1001"
    assert sum(1 for ln in first["lines"] if ln["kind"] == "trunk") == 8

    # a short abandon: the caller hangs up at once (not offered, counted apart)
    short = qa.call("13800000001")
    wait_for(lambda: queue_of(snap())["waiting"] == 1, "the first caller waits")
    qa.hangup(short)
    wait_for(lambda: queue_of(snap())["today"]["short_abandoned"] == 1, "short abandon counted")

    # a caller waits: shown in the queue and among the active calls, with the caller's number
    long_ = qa.call("13800000002")
    s = wait_for(lambda: (lambda s: s if queue_of(s)["waiting"] == 1 else None)(snap()), "second caller waits")
    c = call_of(s, long_)
    assert c["state"] == "waiting" and c["queue"] == "support" and c["caller"] == "13800000002" and c["agent"] is None
    time.sleep(1.4)
    s = snap()
    assert queue_of(s)["longest_wait_s"] >= 1.2 and call_of(s, long_)["waited_s"] >= 1.2
    assert any(ln["busy"] for ln in s["lines"] if ln["kind"] == "trunk")
    qa.hangup(long_)   # waited over short_abandon_seconds: a real abandon
    # abandoned counts every caller who hung up waiting; short abandons are also counted apart and left out of
    # the service level's denominator (docs/metrics.md)
    s = wait_for(lambda: (lambda s: s if queue_of(s)["today"]["abandoned"] == 2 else None)(snap()), "abandon")
    assert queue_of(s)["today"]["short_abandoned"] == 1 and queue_of(s)["today"]["offered"] == 2
    assert queue_of(s)["today"]["service_level"] == 0.0

    # answered late (waited beyond the 2 s service level): ann logs in only after 2.5 s
    late = qa.call("13800000003")
    wait_for(lambda: queue_of(snap())["waiting"] == 1, "third caller waits")
    time.sleep(2.5)
    ok(sup.api("POST", "/agents/ann/login", {"station": "1001"}))
    qa.answer("1001")
    s = wait_for(lambda: (lambda s: s if agent_of(s, "ann")["state"] == "on_call" else None)(snap()), "ann on call")
    ann = agent_of(s, "ann")
    assert ann["call"]["caller"] == "13800000003" and ann["call"]["uuid"] == late and ann["station"] == "1001"
    c = call_of(s, late)
    assert (c["state"], c["queue"], c["agent"], c["station"]) == ("talking", "support", "ann", "1001")
    assert {ln["line"]: ln["state"] for ln in s["lines"]}["sim0-s1001"] == "busy"

    # answered in time: bob is ready before the caller comes
    ok(sup.api("POST", "/agents/bob/login", {"station": "1002"}))
    quick = qa.call("13800000004")
    qa.answer("1002")
    s = wait_for(lambda: (lambda s: s if queue_of(s)["today"]["answered"] == 2 else None)(snap()), "two answered")
    today = queue_of(s)["today"]
    assert (today["answered"], today["answered_in_sl"], today["abandoned"], today["short_abandoned"]) == (2, 1, 2, 1)
    assert today["offered"] == 4 and today["service_level"] == pytest.approx(1 / 3, abs=1e-3)
    assert today["joined"] == 4
    assert queue_of(s)["agents_logged_in"] == 2 and queue_of(s)["agents_ready"] == 0
    assert (agent_of(s, "ann")["calls_today"], agent_of(s, "bob")["calls_today"]) == (1, 1)
    assert {c["uuid"] for c in live(s)} == {late, quick}

    for cid in (late, quick):
        qa.hangup(cid)
    s = wait_for(lambda: (lambda s: s if not live(s) and agent_of(s, "ann")["state"] == "ready" else None)(snap()),
                 "calls over, ann ready")
    assert agent_of(s, "ann")["call"] is None

    # a restart: the ACD's own counters start at zero, the wallboard's figures come back from the journal
    wall_box.stop()
    wall_box.start()
    sup = logged_in(client, wall_box, "sup")
    s = ok(sup.api("GET", "/wallboard"))
    today = queue_of(s)["today"]
    assert (today["answered"], today["answered_in_sl"], today["abandoned"], today["short_abandoned"]) == (2, 1, 2, 1)
    assert today["service_level"] == pytest.approx(1 / 3, abs=1e-3)
    assert (agent_of(s, "ann")["calls_today"], agent_of(s, "bob")["calls_today"]) == (1, 1)
    raw = ok(sup.api("GET", "/queues"))["queues"][0]
    assert raw["answered"] == 0           # what the wallboard does not rely on


def test_roles_and_allow_listed_parameters(wall_box, client) -> None:
    anonymous = client(wall_box.url)
    r = anonymous.get("/wallboard")
    assert r.status == 302 and r.headers["Location"].startswith("/login?next=/wallboard")
    assert anonymous.api("GET", "/wallboard").status == 401
    for name, status in (("admin", 200), ("sup", 200), ("agent1", 403), ("qa1", 403)):
        p = logged_in(client, wall_box, name)
        assert p.get("/wallboard").status == status, name
        assert p.get("/wallboard?view=large").status == status, name
        assert p.api("GET", "/wallboard").status == status, name
        nav = p.get("/").text
        assert ('href="/wallboard"' in nav) == (status == 200), name
    sup = logged_in(client, wall_box, "sup")
    page = sup.get("/wallboard")      # users start in the box's language (zh_CN)
    assert "<h1>监控大屏</h1>" in page.text and "今日服务水平" in page.text and "大屏视图" in page.text
    assert "Printer support" in page.text and 'id="wb-initial"' in page.text and "wallboard.js" in page.text
    assert 'class="page-wallboard"' in page.text
    large = sup.get("/wallboard?view=large")
    assert 'class="page-wallboard wall-large"' in large.text and "普通视图" in large.text
    bad = sup.api("GET", "/wallboard?sort=name")
    assert bad.status == 400 and "'sort'" in bad.json()["error"]
    r = sup.get("/wallboard?view=huge")
    assert r.status == 400 and "view: use normal or large" in r.text
    assert sup.get("/wallboard?order=1").status == 400


def test_supervisor_actions_are_checked_and_audited(wall_box, client) -> None:
    sup, qa = logged_in(client, wall_box, "sup"), Qa(logged_in(client, wall_box, "qa1"))
    admin = logged_in(client, wall_box, "admin")
    ok(sup.api("POST", "/agents/ann/login", {"station": "1001"}))
    cid = qa.call("13900000001")
    qa.answer("1001")
    wait_for(lambda: (call_of(ok(sup.api("GET", "/wallboard")), cid) or {}).get("state") == "talking", "talking")

    r = sup.api("POST", f"/calls/{cid}/listen", {"station": "1099"})
    assert r.status == 400 and r.json()["error"].startswith("station:"), r.text
    r = sup.api("POST", f"/calls/{cid}/transfer", {})
    assert r.status == 400 and r.json()["error"].startswith("target:"), r.text
    r = sup.api("POST", f"/calls/{cid}/transfer", {"queue": "nope"})
    assert r.status == 400 and r.json()["error"].startswith("queue:"), r.text
    assert logged_in(client, wall_box, "agent1").api("POST", f"/calls/{cid}/hangup", {}).status == 403

    # not ready with a reason, as the wallboard's state menu does; the snapshot shows it
    ok(sup.api("POST", "/agents/bob/login", {"station": "1002"}))
    ok(sup.api("POST", "/agents/bob/state", {"state": "not_ready", "reason": "lunch"}))
    bob = agent_of(ok(sup.api("GET", "/wallboard")), "bob")
    assert (bob["state"], bob["reason"]) == ("not_ready", "lunch")

    ok(sup.api("POST", f"/calls/{cid}/hangup", {}))
    wait_for(lambda: (call_of(ok(sup.api("GET", "/wallboard")), cid) or {"state": "ending"})["state"] == "ending",
             "the call is ending on the wallboard")
    entries = ok(admin.api("GET", "/audit?action=call.hangup"))["entries"]
    assert len(entries) == 1
    e = entries[0]
    assert e["user"] == "sup" and e["target"] == cid
    assert e["before"]["caller"] == "13900000001" and e["before"]["agent_station"] == "1001"
    assert e["changes"]["state"] == ["bridged", "ended"]
    assert ok(admin.api("GET", "/audit?action=call.listen"))["total"] == 0   # refused actions change nothing


def test_snapshots_are_pushed_over_the_hub_to_supervisors_only(wall_box, client) -> None:
    sup, agent, qa = (logged_in(client, wall_box, n) for n in ("sup", "agent1", "qa1"))
    qa = Qa(qa)
    ws_url = wall_box.url.replace("http://", "ws://") + "/ws"
    host = wall_box.url.split("//", 1)[1]

    async def connect(p):
        cookie = "; ".join(f"{c.name}={c.value}" for c in p.jar)
        req = tornado.httpclient.HTTPRequest(ws_url, headers={"Cookie": cookie, "Origin": f"http://{host}"},
                                             request_timeout=10)
        conn = await tornado.websocket.websocket_connect(req)
        conn.write_message(json.dumps({"subscribe": ["wallboard"]}))
        return conn

    async def next_snapshot(conn, until, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(await asyncio.wait_for(conn.read_message(), max(0.1, deadline - time.monotonic())))
            if msg.get("type") == "snapshot" and until(msg["data"]):
                return msg["data"]

    async def scenario() -> str:
        refused = await connect(agent)
        assert "not allowed" in await asyncio.wait_for(refused.read_message(), 10)
        refused.close()
        conn = await connect(sup)
        first = await next_snapshot(conn, lambda s: True)
        assert queue_of(first)["waiting"] == 0
        cid = await asyncio.get_running_loop().run_in_executor(None, qa.call, "13700000001")
        pushed = await next_snapshot(conn, lambda s: queue_of(s)["waiting"] == 1)
        assert call_of(pushed, cid)["state"] == "waiting"
        await asyncio.get_running_loop().run_in_executor(None, qa.hangup, cid)
        await next_snapshot(conn, lambda s: queue_of(s)["waiting"] == 0 and not live(s))
        # a trunk goes out of service: pushed as down, with the reason
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: ok(qa.p.api("POST", "/sim/lines/sim0-t8/faults", {"down": True})))
        down = await next_snapshot(conn, lambda s: {ln["line"]: ln for ln in s["lines"]}["sim0-t8"]["state"] == "down")
        assert {ln["line"]: ln for ln in down["lines"]}["sim0-t8"]["reason"]
        conn.close()
        return cid
    with concurrent.futures.ThreadPoolExecutor(1) as pool:   # its own event loop, even beside Playwright's
        pool.submit(asyncio.run, scenario()).result(timeout=60)


def test_todays_figures_count_each_event_once_and_start_again_at_midnight() -> None:
    """The seed and the listener overlap (events committed while the seed query ran are seen twice): each counts
    once. Events of yesterday are ignored; the first event after midnight starts a new day."""
    import datetime as dt
    import zoneinfo

    from hotline.daemon.stats.wall import WallStats

    tz = zoneinfo.ZoneInfo("Asia/Shanghai")
    noon = dt.datetime(2026, 3, 2, 12, 0, tzinfo=tz).timestamp()
    now = [noon]
    stats = WallStats("Asia/Shanghai", clock=lambda: now[0])

    def ev(kind: str, ts: float, uuid: str, **data) -> dict:
        return {"kind": kind, "ts": ts, "call_uuid": uuid, "line": None, "data": {"queue": "support", **data}}
    stored = [ev("queue.joined", noon - 100, "a"), ev("queue.answered", noon - 90, "a", agent=7, waited=10,
                                                       within_sl=True),
              ev("queue.answered", noon - 86400, "old", agent=7, waited=1, within_sl=True)]   # yesterday
    both = [ev("queue.joined", noon - 80, "b"), ev("queue.abandoned", noon - 50, "b", waited=30, short=False)]
    for e in both:
        stats.listener(e)                                      # seen live while the seed query ran ...
    stats.listener(ev("queue.joined", noon - 42, "c"))
    stats.listener(ev("queue.abandoned", noon - 40, "c", waited=2, short=True))
    stats.seed([*stored, *both])                               # ... and committed in time to be read too
    q = stats.queue("support").summary()
    assert (q["joined"], q["answered"], q["answered_in_sl"], q["abandoned"], q["short_abandoned"]) == (3, 1, 1, 2, 1)
    assert q["offered"] == 3 and q["service_level"] == 0.5 and q["asa_seconds"] == 10.0   # short abandons left out
    assert stats.agent(7) == 1
    stats.listener(ev("queue.joined", noon + 5, "d"))
    stats.listener(ev("queue.answered", noon + 10, "d", agent=7, waited=40, within_sl=False))
    assert stats.queue("support").summary()["service_level"] == pytest.approx(1 / 3, abs=1e-3)
    now[0] = noon + 13 * 3600                                  # 01:00 the next day
    assert stats.queue("support").summary()["offered"] == 0 and stats.agent(7) == 0
    assert stats.day == dt.date(2026, 3, 3)
