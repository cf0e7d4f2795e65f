"""ACD routing on a live box: which phone rings for which caller, told by the stations, the journal and the CDRs.

Every test starts a real daemon on the simulated card (engine speed 4: one real second is four seconds of
call time, and every queue setting below is in call time). Agents: ann 1001, bob 1002, cat 1003, dan 1004.
Queue ``q`` is reached by dialling ``box.dial[q]``; its flow identifies the caller (customer.vip), queues,
goes to block ``none`` when the queue gives up (no agents, timeout) and to ``vm`` (voicemail) when the caller
or the queue chose it.
"""
from __future__ import annotations

import time

import pytest
import yaml

STATIONS = {"ann": "1001", "bob": "1002", "cat": "1003", "dan": "1004"}
FAST = {"announce_position": False, "announce_estimate": False, "leave_key": None, "ring_timeout": 10,
        "wrapup_seconds": 0}  # nothing is announced, so an offer is taken the moment it is made

FLOW = """
flow: {flow}
blocks:
  main:
    - answer
    - identify
    - queue: {{name: {queue}, no_agent: none, voicemail: vm}}
    - hangup
  none:
    - hangup: goodbye
  vm:
    - voicemail: {{mailbox: {queue}, max_seconds: 5, silence_seconds: 1}}
    - hangup
"""


def acd_document(queues: dict[str, dict], skills: dict[str, dict] | None = None) -> str:
    """A queues file: the four agents at their stations (with skills), and queues with settings over FAST;
    members are given as agent names (or {agent, penalty} maps)."""
    agents = [{"name": n, "extension": ext, **({"skills": skills[n]} if skills and n in skills else {})}
              for n, ext in STATIONS.items()]
    doc = {"agents": agents, "queues": {}}
    for name, settings in queues.items():
        q = {**FAST, **settings}
        q["members"] = [m if isinstance(m, dict) else {"agent": m} for m in q.get("members", [])]
        doc["queues"][name] = q
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture
def routing_box(make_box, tmp_path):
    """A box with these queues; box.dial maps each queue to the number that leads into it (7000, 7001, ...)."""
    def make(queues: dict[str, dict], skills: dict[str, dict] | None = None):
        flows = tmp_path / "flows"
        flows.mkdir(exist_ok=True)
        dial, routes = {}, []
        for i, name in enumerate(queues):
            (flows / f"q_{name}.yaml").write_text(FLOW.format(flow=f"q_{name}", queue=name))
            dial[name] = str(7000 + i)
            routes.append({"dialed": dial[name], "flow": f"q_{name}"})
        (tmp_path / "queues.yaml").write_text(acd_document(queues, skills))
        box = make_box({"routes": routes, "paths": {"flows": str(flows)},
                        "engine": {"drain_timeout": 2}})  # a test that fails with callers on the line stops fast
        box.dial = dial
        box.ids = {a["name"]: a["id"] for a in box.api("GET", "/agents", expect=200)["agents"]}
        return box
    return make


# ---- what a QA engineer does and looks at ------------------------------------------------------------

def login(box, *names: str, gap: float = 0.0) -> None:
    """Agents log in at their own stations, in this order (gap: real seconds between them, so that the
    ones logged in first have been idle longest)."""
    for i, name in enumerate(names):
        if i and gap:
            time.sleep(gap)
        box.api("POST", f"/agents/{name}/login", {"station": STATIONS[name]}, expect=200)


def set_state(box, name: str, state: str, reason: str | None = None) -> None:
    """An agent goes ready or not ready."""
    body = {"state": state, **({"reason": reason} if reason else {})}
    box.api("POST", f"/agents/{name}/state", body, expect=200)


def ringing(box) -> dict[str, str | None]:
    """Stations ringing right now, with the call that rings them."""
    return {s["extension"]: s["call"] for s in box.api("GET", "/sim/stations", expect=200)["stations"]
            if s["state"] == "ringing"}


def rings_for(box, cid: str, count: int = 1, timeout: float = 20) -> set[str]:
    """Wait until `count` phones ring for this caller; the stations ringing for them."""
    deadline = time.monotonic() + timeout
    now: set[str] = set()
    while time.monotonic() < deadline:
        now = {ext for ext, call in ringing(box).items() if call == cid}
        if len(now) >= count:
            return now
        time.sleep(0.05)
    raise AssertionError(f"{count} phone(s) not ringing for {cid} within {timeout}s: {now}, "
                         f"events={[e['kind'] for e in box.state(cid)['events']]}")


def offers(box, cid: str) -> list[set[str]]:
    """Each offer the journal records for this caller, as the set of agent names offered."""
    names = {v: k for k, v in box.ids.items()}
    return [{names[i] for i in e["data"]["agents"]} for e in box.state(cid)["events"] if e["kind"] == "agent.offered"]


def offered_to(box, cid: str) -> str:
    """The one agent this caller is offered to now: the phone that rings and the journal agree."""
    ext = rings_for(box, cid).pop()
    name = next(n for n, s in STATIONS.items() if s == ext)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not offers(box, cid):
        time.sleep(0.05)
    assert offers(box, cid)[-1] == {name}, f"{ext} rings but the journal offered {offers(box, cid)}"
    return name


def answer(box, name: str, cid: str) -> None:
    """The agent picks up; the caller talks with them."""
    box.api("POST", f"/sim/stations/{STATIONS[name]}/answer", {}, expect=200)
    box.wait_event(cid, "call.bridged", peer=STATIONS[name])


def hang_up(box, name: str, cid: str, ready: bool = True) -> None:
    """The agent hangs up and the call ends; with `ready`, wait until the agent is ready and the phone idle
    (no wrap-up in these queues). Leave `ready` out when a caller is waiting: the agent is offered at once."""
    box.api("POST", f"/sim/stations/{STATIONS[name]}/hangup", {}, expect=200)
    box.wait(cid, "ended")
    if ready:
        box.wait_agent(name, "ready")
        box.wait_station(STATIONS[name], "idle")


def route(box, frm: str, queue: str = "support") -> tuple[str, str]:
    """A caller rings the queue's number; (call id, the agent it is offered to)."""
    cid = box.call(frm=frm, to=box.dial[queue])
    return cid, offered_to(box, cid)


def serve(box, frm: str, queue: str = "support", talk: float = 0.0) -> str:
    """A whole call: the caller is offered to an agent, who answers, talks, hangs up; that agent's name.
    The CDR names the agent's station as the peer."""
    cid, name = route(box, frm, queue)
    answer(box, name, cid)
    if talk:
        time.sleep(talk)
    hang_up(box, name, cid)
    assert box.cdr(cid)["peer"] == STATIONS[name]
    return name


def kinds(box, cid: str) -> list[str]:
    """The journal of a call, by kind."""
    return [e["kind"] for e in box.state(cid)["events"]]


def event(box, cid: str, kind: str, **data) -> dict:
    """The first event of a kind (and data) in a call's journal."""
    return box.wait_event(cid, kind, **data)


def step_result(box, cid: str) -> str:
    """What the queue step told the flow (queue_result)."""
    return box.wait_event(cid, "ivr.step", step="queue.result")["data"]["result"]


def hang_up_all(box, *cids: str) -> None:
    """Callers still on the line hang up."""
    for cid in cids:
        if box.state(cid)["state"] != "ended":
            box.api("DELETE", f"/sim/calls/{cid}", expect=200)


# ---- 1. strategies ----------------------------------------------------------------------------------

def test_ring_all_rings_every_free_member_and_the_first_to_answer_wins(routing_box) -> None:
    """All three free members' phones ring at once for one caller; bob answers first: the caller talks
    with bob, the other phones stop ringing and their agents are ready again (not counted as missed)."""
    box = routing_box({"support": {"strategy": "ring_all", "members": ["ann", "bob", "cat"]}})
    login(box, "ann", "bob", "cat")
    cid = box.call(frm="13800000001", to=box.dial["support"])
    assert rings_for(box, cid, 3) == {"1001", "1002", "1003"}
    assert offers(box, cid) == [{"ann", "bob", "cat"}]
    answer(box, "bob", cid)
    box.wait_station("1001", "idle")
    box.wait_station("1003", "idle")
    assert event(box, cid, "queue.answered")["data"]["agent"] == box.ids["bob"]
    assert box.wait_agent("ann", "ready") and box.wait_agent("cat", "ready")
    assert box.agent("bob")["state"] == "on_call"
    hang_up(box, "bob", cid)
    assert "agent.missed" not in kinds(box, cid)
    assert box.cdr(cid)["peer"] == "1002"


def test_longest_idle_offers_the_agent_idle_longest(routing_box) -> None:
    """bob, cat, ann log in in that order: calls go to bob, then cat, then ann (an agent who just finished
    a call goes to the back), then bob again; only the chosen agent's phone rings."""
    box = routing_box({"support": {"strategy": "longest_idle", "members": ["ann", "bob", "cat"]}})
    login(box, "bob", "cat", "ann", gap=0.2)
    served = []
    for i in range(4):
        cid, name = route(box, f"1380000010{i}")
        assert set(ringing(box)) == {STATIONS[name]}
        answer(box, name, cid)
        hang_up(box, name, cid)
        served.append(name)
    assert served == ["bob", "cat", "ann", "bob"]


def test_round_robin_remembers_who_was_offered_last(routing_box) -> None:
    """Three callers are taken by ann, bob, cat (in turn). They hang up in the opposite order, so cat has
    been idle longest and ann the shortest; round robin still goes on with ann, bob, cat (the member offered
    a call least recently), where longest idle would pick cat."""
    box = routing_box({"support": {"strategy": "round_robin", "members": ["ann", "bob", "cat"]}})
    login(box, "ann", "bob", "cat", gap=0.2)
    talking = []
    for i in range(3):
        cid, name = route(box, f"1380000020{i}")
        answer(box, name, cid)
        talking.append((name, cid))
    assert [n for n, _ in talking] == ["ann", "bob", "cat"]
    for name, cid in reversed(talking):
        hang_up(box, name, cid)
        time.sleep(0.2)
    assert [serve(box, f"1380000021{i}") for i in range(3)] == ["ann", "bob", "cat"]


def test_round_robin_memory_is_kept_per_queue(routing_box) -> None:
    """ann and bob serve two round-robin queues. Three support calls go ann, bob, ann; then a sales call goes
    to bob (longest idle; nobody had a sales call). The next sales call is ann's turn: bob had the last one,
    and ann has never had one (support's counter must not be compared with sales')."""
    box = routing_box({"support": {"strategy": "round_robin", "members": ["ann", "bob"]},
                       "sales": {"strategy": "round_robin", "members": ["ann", "bob"]}})
    login(box, "ann", "bob", gap=0.2)
    assert [serve(box, f"1380000022{i}", "support") for i in range(3)] == ["ann", "bob", "ann"]
    assert [serve(box, f"1380000023{i}", "sales") for i in range(3)] == ["bob", "ann", "bob"]


def test_fewest_calls_prefers_the_agent_with_the_fewest_answered_calls(routing_box) -> None:
    """ann answers two calls alone; then bob logs in. Although ann has been idle longer, bob gets the next
    two calls (0, then 1 call against ann's 2); with 2 each the longest idle (ann) is next."""
    box = routing_box({"support": {"strategy": "fewest_calls", "members": ["ann", "bob"]}})
    login(box, "ann")
    assert [serve(box, f"1380000030{i}") for i in range(2)] == ["ann", "ann"]
    login(box, "bob")
    assert [serve(box, f"1380000031{i}") for i in range(3)] == ["bob", "bob", "ann"]
    assert box.agent("ann")["calls_today"] == 3 and box.agent("bob")["calls_today"] == 2


def test_least_talk_time_prefers_the_agent_who_talked_least(routing_box) -> None:
    """ann talks 4 s with one caller, bob (logged in later) a moment with the next one. Both have one call
    and ann has been idle longer, yet the next caller goes to bob: he has talked less today."""
    box = routing_box({"support": {"strategy": "least_talk_time", "members": ["ann", "bob"]}})
    login(box, "ann")
    assert serve(box, "13800000400", talk=1.0) == "ann"
    login(box, "bob")
    assert serve(box, "13800000401") == "bob"
    assert box.agent("bob")["talk_today_s"] < box.agent("ann")["talk_today_s"]
    assert serve(box, "13800000402") == "bob"


def test_linear_follows_the_member_order(routing_box) -> None:
    """Members are listed bob, ann, cat; ann logged in first and bob last. Calls go to bob, ann, cat in
    list order; when bob is free again the next call is his, though he has been idle the shortest."""
    box = routing_box({"support": {"strategy": "linear", "members": ["bob", "ann", "cat"]}})
    login(box, "ann", "cat", "bob", gap=0.2)
    talking = []
    for i in range(3):
        cid, name = route(box, f"1380000050{i}")
        answer(box, name, cid)
        talking.append((name, cid))
    assert [n for n, _ in talking] == ["bob", "ann", "cat"]
    hang_up(box, "bob", talking[0][1])
    cid, name = route(box, "13800000510")
    assert name == "bob"
    hang_up_all(box, cid, talking[1][1], talking[2][1])


def test_random_picks_only_free_members_and_not_always_the_same(routing_box) -> None:
    """Of four members cat is on a break and dan's phone line is down: over eight calls the random
    strategy offers only ann and bob, one phone at a time, and both of them get calls."""
    box = routing_box({"support": {"strategy": "random", "members": ["ann", "bob", "cat", "dan"]}})
    box.api("POST", "/sim/lines/sim0-s1004/faults", {"down": True}, expect=200)
    login(box, "ann", "bob", "cat", "dan")
    set_state(box, "cat", "not_ready", "break")
    picked = [serve(box, f"1380000060{i}") for i in range(8)]
    assert set(picked) == {"ann", "bob"}, picked
    assert box.agent("dan")["state"] == "ready" and box.agent("cat")["state"] == "not_ready"


def test_skills_offers_the_most_skilled_agent_and_never_one_without_the_skill(routing_box) -> None:
    """The queue needs billing at level 3 or more. bob (7) is offered first, then ann (exactly 3) while bob
    talks; cat (no billing) and dan (billing 1) are never offered, though they have been idle longest:
    a third caller waits until an agent with the skill is free."""
    box = routing_box({"support": {"strategy": "skills", "skill": "billing", "min_level": 3,
                                   "members": ["ann", "bob", "cat", "dan"]}},
                      skills={"ann": {"billing": 3}, "bob": {"billing": 7}, "dan": {"billing": 1, "sales": 9}})
    login(box, "cat", "dan", "ann", "bob", gap=0.1)
    first, name = route(box, "13800000700")
    assert name == "bob"
    answer(box, "bob", first)
    second, name = route(box, "13800000701")
    assert name == "ann"
    answer(box, "ann", second)
    third = box.call(frm="13800000702", to=box.dial["support"])
    box.wait_event(third, "queue.joined")
    time.sleep(1.0)                                                  # 4 s of waiting with cat and dan free
    assert ringing(box) == {} and offers(box, third) == []
    hang_up(box, "bob", first, ready=False)
    assert offered_to(box, third) == "bob"
    hang_up_all(box, third, second)


# ---- 2. skills widening -----------------------------------------------------------------------------

def test_widening_lowers_the_needed_level_after_the_configured_wait(routing_box) -> None:
    """The caller needs billing 5; only ann (billing 2) is free. Nothing rings at first; after the widening
    time (8 s) the needed level drops to 2 and ann's phone rings. The journal shows the offer only then."""
    box = routing_box({"support": {"strategy": "skills", "skill": "billing", "min_level": 5,
                                   "widening": [{"after": 8, "min_level": 2}], "members": ["ann"]}},
                      skills={"ann": {"billing": 2}})
    login(box, "ann")
    cid = box.call(frm="13800000800", to=box.dial["support"])
    joined = box.wait_event(cid, "queue.joined")
    time.sleep(1.0)                                                  # 4 s: still below the widening time
    assert ringing(box) == {} and offers(box, cid) == []
    assert offered_to(box, cid) == "ann"
    offer = next(e for e in box.state(cid)["events"] if e["kind"] == "agent.offered")
    assert offer["data"]["waited"] >= 8 and offer["ts"] - joined["ts"] >= 8
    answer(box, "ann", cid)
    hang_up(box, "ann", cid)


# ---- 3. sticky agent --------------------------------------------------------------------------------

def test_sticky_agent_rings_the_callers_last_agent_first(routing_box) -> None:
    """A caller talked with bob last time. On their next call bob's phone rings, though ann has been idle
    longer (longest idle would pick her); another caller at the same moment goes to ann."""
    box = routing_box({"support": {"strategy": "longest_idle", "sticky_seconds": 30, "members": ["ann", "bob"]}})
    login(box, "ann", "bob")
    set_state(box, "ann", "not_ready", "break")
    caller = "13812345678"
    first, name = route(box, caller)
    assert name == "bob"
    answer(box, "bob", first)
    set_state(box, "ann", "ready")                                   # ann is ready before bob is free again
    time.sleep(0.2)
    hang_up(box, "bob", first)
    assert box.cdr(first)["peer"] == "1002"
    again, name = route(box, caller)
    assert name == "bob" and set(ringing(box)) == {"1002"}
    answer(box, "bob", again)
    other, name = route(box, "13900000001")
    assert name == "ann"
    hang_up_all(box, again, other)


# ---- 4. priority (VIP) without starvation -----------------------------------------------------------

def test_vip_goes_first_but_a_caller_who_waited_long_enough_is_not_starved(routing_box) -> None:
    """A customer marked VIP joins with the queue's vip_priority (1 point = 60 s of waiting, weighed by the
    queue weight: in this weight-10 queue 6 s of waiting). With ann busy, a normal caller joins, then the VIP
    a moment later: when ann is free the VIP is offered first. Later a normal caller has waited 12 s when a
    VIP joins: the normal caller's wait outweighs the VIP credit and goes first."""
    box = routing_box({"support": {"strategy": "linear", "weight": 10, "vip_priority": 1, "members": ["ann"]}})
    vip = "13900009999"
    now = time.time()
    with box.db() as con:
        row = con.execute("INSERT INTO customers (name, vip, created_at, updated_at) VALUES (?, 1, ?, ?)",
                          ("Wang VIP", now, now))
        con.execute("INSERT INTO customer_phones (customer_id, number) VALUES (?, ?)", (row.lastrowid, vip))
    login(box, "ann")

    busy, _ = route(box, "13800000900")
    answer(box, "ann", busy)
    normal = box.call(frm="13800000901", to=box.dial["support"])
    assert box.wait_event(normal, "queue.joined")["data"]["priority"] == 0
    time.sleep(0.25)
    vip_call = box.call(frm=vip, to=box.dial["support"])
    assert box.wait_event(vip_call, "queue.joined")["data"]["priority"] == 1
    hang_up(box, "ann", busy, ready=False)
    assert offered_to(box, vip_call) == "ann"
    assert offers(box, normal) == []
    answer(box, "ann", vip_call)
    hang_up(box, "ann", vip_call, ready=False)
    assert offered_to(box, normal) == "ann"
    answer(box, "ann", normal)

    patient = box.call(frm="13800000902", to=box.dial["support"])   # ann is still talking with `normal`
    box.wait_event(patient, "queue.joined")
    time.sleep(3.0)                                                  # 12 s of waiting, twice the VIP credit
    vip_again = box.call(frm=vip, to=box.dial["support"])
    assert box.wait_event(vip_again, "queue.joined")["data"]["priority"] == 1
    hang_up(box, "ann", normal, ready=False)
    assert offered_to(box, patient) == "ann"
    assert offers(box, vip_again) == []
    hang_up_all(box, patient, vip_again)


# ---- 5. overflow ------------------------------------------------------------------------------------

def test_overflow_to_another_queue_and_to_voicemail(routing_box) -> None:
    """Nobody in 'support' is ready: after max_wait (10 s) the caller overflows to 'sales' (queue.timeout,
    then a second queue.joined) and bob, who serves only sales, takes the call. A caller of 'after_hours'
    (overflow: voicemail) leaves a message after max_wait."""
    box = routing_box({
        "support": {"strategy": "linear", "max_wait": 10, "overflow": "queue", "overflow_queue": "sales",
                    "members": ["ann"]},
        "sales": {"strategy": "linear", "members": ["bob"]},
        "after_hours": {"strategy": "linear", "max_wait": 10, "overflow": "voicemail", "members": ["cat"]},
    })
    login(box, "ann", "bob", "cat")
    set_state(box, "ann", "not_ready", "lunch")
    set_state(box, "cat", "not_ready", "lunch")
    cid = box.call(frm="13800001000", to=box.dial["support"])
    late = box.call(frm="13800001001", to=box.dial["after_hours"])
    box.wait_event(cid, "queue.joined", queue="support")
    time.sleep(1.0)
    assert ringing(box) == {}                                        # bob is not a member of support
    timeout = box.wait_event(cid, "queue.timeout", queue="support")
    assert timeout["data"]["action"] == "queue"
    joined = box.wait_event(cid, "queue.joined", queue="sales")
    assert joined["ts"] - box.wait_event(cid, "queue.joined", queue="support")["ts"] >= 10
    assert offered_to(box, cid) == "bob"
    answer(box, "bob", cid)
    assert box.wait_event(cid, "queue.answered")["data"]["queue"] == "sales"
    hang_up(box, "bob", cid)
    assert box.cdr(cid)["peer"] == "1002"
    k = kinds(box, cid)
    assert k.index("queue.timeout") < len(k) - 1 - k[::-1].index("queue.joined") < k.index("agent.offered")

    assert box.wait_event(late, "queue.timeout", queue="after_hours")["data"]["action"] == "voicemail"
    assert step_result(box, late) == "voicemail"
    box.wait_event(late, "voicemail.created", timeout=30)
    box.wait(late, "ended")
    assert offers(box, late) == []


# ---- 6. nobody logged in ----------------------------------------------------------------------------

def test_no_agents_takes_the_no_agent_branch_unless_the_queue_lets_callers_join_empty(routing_box) -> None:
    """Nobody is logged in. 'support' (join_empty false) turns the caller away at once: queue.no_agents and
    the flow's no_agent block. 'open' (join_empty true) lets the caller wait; when bob logs in, his phone
    rings for them."""
    box = routing_box({"support": {"strategy": "linear", "join_empty": False, "members": ["ann"]},
                       "open": {"strategy": "linear", "join_empty": True, "members": ["bob"]}})
    away = box.call(frm="13800001100", to=box.dial["support"])
    box.wait_event(away, "queue.no_agents", queue="support")
    assert step_result(box, away) == "no_agents"
    box.wait_event(away, "ivr.step", block="none")
    box.wait(away, "ended")
    assert "queue.joined" not in kinds(box, away)

    waits = box.call(frm="13800001101", to=box.dial["open"])
    box.wait_event(waits, "queue.joined", queue="open")
    time.sleep(0.5)
    assert ringing(box) == {} and box.state(waits)["state"] != "ended"
    login(box, "bob")
    assert offered_to(box, waits) == "bob"
    answer(box, "bob", waits)
    hang_up(box, "bob", waits)
    assert box.cdr(waits)["peer"] == "1002"


# ---- 7. fairness across queues ----------------------------------------------------------------------

def test_one_agent_in_two_queues_takes_the_longest_weighted_wait_first(routing_box) -> None:
    """ann serves 'support' (weight 1) and 'sales' (weight 3). While she talks, S joins support and P joins
    sales 4 s later. When she is free after about 10 s, P's 6 s weigh 18 against S's 10: P goes first.
    S keeps waiting; when ann is free again and a new sales caller has waited only a moment, S (now the
    longest weighted wait) goes first."""
    box = routing_box({"support": {"strategy": "linear", "weight": 1, "members": ["ann"]},
                       "sales": {"strategy": "linear", "weight": 3, "members": ["ann"]}})
    login(box, "ann")
    busy, _ = route(box, "13800001200", "support")
    answer(box, "ann", busy)
    s = box.call(frm="13800001201", to=box.dial["support"])
    box.wait_event(s, "queue.joined")
    time.sleep(1.0)
    p = box.call(frm="13800001202", to=box.dial["sales"])
    box.wait_event(p, "queue.joined")
    time.sleep(1.5)
    hang_up(box, "ann", busy, ready=False)
    assert offered_to(box, p) == "ann" and offers(box, s) == []
    answer(box, "ann", p)
    time.sleep(1.0)                                                  # S has now waited 16 s or more

    p2 = box.call(frm="13800001203", to=box.dial["sales"])
    box.wait_event(p2, "queue.joined")
    hang_up(box, "ann", p, ready=False)
    assert offered_to(box, s) == "ann" and offers(box, p2) == []
    answer(box, "ann", s)
    assert box.wait_event(s, "queue.answered")["data"]["waited"] > box.wait_event(p, "queue.answered")["data"]["waited"]
    hang_up_all(box, s, p2)


# ---- 8. the leave key -------------------------------------------------------------------------------

def test_leave_key_then_2_leaves_a_voicemail(routing_box) -> None:
    """A caller waiting in line presses the leave key (*), then 2: they leave the queue for voicemail
    (no abandon), the flow's voicemail block records their message."""
    box = routing_box({"support": {"strategy": "linear", "leave_key": "*", "members": ["ann"]}})
    login(box, "ann")
    set_state(box, "ann", "not_ready", "break")
    cid = box.call(frm="13800001300", to=box.dial["support"])
    box.wait_event(cid, "queue.joined")
    box.api("POST", f"/sim/calls/{cid}/dtmf", {"digits": "*2"}, expect=202)
    box.wait_event(cid, "queue.leave_key", queue="support")
    assert box.wait_event(cid, "queue.leave_choice")["data"]["choice"] == "2"
    box.wait_event(cid, "queue.left", to="voicemail")
    assert step_result(box, cid) == "voicemail"
    box.wait_event(cid, "voicemail.created", timeout=30)
    box.wait(cid, "ended")
    assert "queue.abandoned" not in kinds(box, cid)
    assert box.api("GET", "/queues/support", expect=200)["waiting"] == []


def test_leave_key_callback_while_the_agent_frees_up_keeps_the_agent_available(routing_box) -> None:
    """A caller presses the leave key while ann is busy; ann hangs up while the caller is in the leave menu,
    so the caller is offered to her (she is reserved, nothing rings yet). The caller then chooses a callback
    on their own number: ann is released at once and her phone rings for the callback, not only after the
    watchdog finds her reserved for a caller who left (agent.repaired)."""
    box = routing_box({"support": {"strategy": "linear", "leave_key": "*", "members": ["ann"]}})
    login(box, "ann")
    busy, _ = route(box, "13800001400")
    answer(box, "ann", busy)
    cid = box.call(frm="13800001401", to=box.dial["support"])
    box.wait_event(cid, "queue.joined")
    box.api("POST", f"/sim/calls/{cid}/dtmf", {"digits": "*"}, expect=202)
    box.wait_event(cid, "queue.leave_key")
    hang_up(box, "ann", busy, ready=False)
    box.wait_agent("ann", "reserved")                              # offered while the caller is in the menu
    box.api("POST", f"/sim/calls/{cid}/dtmf", {"digits": "11"}, expect=202)
    box.wait_event(cid, "queue.callback_requested")
    box.wait_station("1001", "ringing", timeout=10)                 # the callback rings ann first
    time.sleep(0.3)                                                 # the journal is committed every 50 ms
    with box.db() as con:
        repaired = con.execute("SELECT COUNT(*) FROM events WHERE kind = 'agent.repaired'").fetchone()[0]
    assert repaired == 0, "ann stayed reserved for a caller who had left the line"
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    deadline = time.monotonic() + 20                                # then the customer is dialled and bridged
    while time.monotonic() < deadline and not any(
            c["direction"] == "callback" and c["state"] == "bridged" for c in box.api("GET", "/calls")["calls"]):
        time.sleep(0.05)
    assert box.agent("ann")["state"] == "on_call"
    box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)
    box.wait_agent("ann", "ready")


# ---- 9. hot desk ------------------------------------------------------------------------------------

def test_hot_desk_an_agent_moves_to_another_station_and_calls_follow(routing_box) -> None:
    """ann logs in at her own phone, then at cat's free desk (1003): the next caller rings 1003, not 1001;
    a station holds one agent, so bob cannot log in where ann sits; each move is in the agent journal."""
    box = routing_box({"support": {"strategy": "linear", "members": ["ann"]}})
    login(box, "ann")
    box.api("POST", "/agents/ann/login", {"station": "1003"}, expect=200)
    assert box.agent("ann")["station"] == "1003"
    refused = box.api("POST", "/agents/bob/login", {"station": "1003"})
    assert refused["_status"] == 400 and "in use by agent ann" in refused["error"]
    cid = box.call(frm="13900000999", to=box.dial["support"])
    assert rings_for(box, cid) == {"1003"}
    box.api("POST", "/sim/stations/1003/answer", {}, expect=200)
    box.wait_event(cid, "call.bridged", peer="1003")
    assert box.agent("ann")["state"] == "on_call"
    moved = box.api("POST", "/agents/ann/login", {"station": "1001"})   # not in the middle of a call
    assert moved["_status"] == 400 and "finish the call first" in moved["error"]
    box.api("POST", "/sim/stations/1003/hangup", {}, expect=200)
    box.wait(cid, "ended")
    assert box.cdr(cid)["peer"] == "1003"
