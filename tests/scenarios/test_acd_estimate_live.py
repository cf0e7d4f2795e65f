"""The wait estimate on a live box with no history: a plain moment with a few agents busy and two callers
waiting must announce (and journal) an estimate, and say why when it holds one back.

Engine speed 4: one real second is four seconds of call time; queue settings are in call time.
"""
from __future__ import annotations

import time

import pytest

FLOW = """
flow: acd_test
blocks:
  main:
    - answer
    - queue: {name: support, no_agent: none}
    - hangup
  none:
    - hangup: goodbye
"""


@pytest.fixture
def fresh_box(make_box, tmp_path):
    """A new box (no calls ever): 7000 queues for 'support', served by ann (1001) and bob (1002)."""
    def make(state=None, **settings: object):
        (tmp_path / "flows").mkdir(exist_ok=True)
        (tmp_path / "flows" / "acd_test.yaml").write_text(FLOW)
        extra = "".join(f"    {k}: {v}\n" for k, v in settings.items())
        (tmp_path / "queues.yaml").write_text(
            "agents:\n  - {name: ann, extension: \"1001\"}\n  - {name: bob, extension: \"1002\"}\n"
            "queues:\n  support:\n" + extra + "    members: [{agent: ann}, {agent: bob}]\n")
        return make_box({"routes": [{"dialed": "7000", "flow": "acd_test"}],
                         "paths": {"flows": str(tmp_path / "flows")}}, state=state)
    return make


def talking(box, frm: str, station: str) -> str:
    """A caller reaches the agent at `station`, who answers; the call id."""
    cid = box.call(frm=frm, to="7000")
    box.wait_station(station, "ringing")
    box.api("POST", f"/sim/stations/{station}/answer", {}, expect=200)
    box.wait(cid, "bridged")
    return cid


def test_a_fresh_box_with_two_busy_agents_announces_an_estimate(fresh_box) -> None:
    """No call was ever answered in this queue: both agents are busy and two callers wait. Each hears their
    position and an estimated range (from the queue's expected handle time until it has calls of its own),
    and the journal records what was announced."""
    box = fresh_box(strategy="linear", ring_timeout=30, wrapup_seconds=0, announce_every=600)
    for name, station in (("ann", "1001"), ("bob", "1002")):
        box.api("POST", f"/agents/{name}/login", {"station": station}, expect=200)
    busy = [talking(box, "13800000301", "1001"), talking(box, "13800000302", "1002")]
    first = box.call(frm="13800000303", to="7000")
    time.sleep(0.3)
    second = box.call(frm="13800000304", to="7000")
    for cid, position in ((first, 1), (second, 2)):
        ev = box.wait_event(cid, "queue.announced", timeout=30)
        assert ev["data"]["position"] == position
        assert ev["data"]["estimate"] is not None, f"no estimate announced: {ev['data']}"
        assert ev["data"]["handle_times"] == 0, "the box was not fresh"
        low, high = ev["data"]["estimate"]
        assert 0 <= low < high <= 10, ev["data"]
        assert "held_back" not in ev["data"]
    box.wait_event(second, "media.played", prompt="queue_estimate_minutes", timeout=30)
    time.sleep(0.5)
    heard = box.heard(second)
    assert box.correlation(heard, box.prompt_audio("queue_estimate_before", "zh_CN")[:4000]) > 0.9
    for cid in (first, second, *busy):
        box.api("DELETE", f"/sim/calls/{cid}", expect=200)


def test_an_estimate_held_back_says_why(fresh_box) -> None:
    """Nobody at work (the only agent on a break, callers may join): the caller hears the position, no range,
    and the journal says why the estimate was held back."""
    box = fresh_box(strategy="linear", ring_timeout=30, wrapup_seconds=0, announce_every=600)
    box.api("POST", "/agents/ann/login", {"station": "1001"}, expect=200)
    box.api("POST", "/agents/ann/state", {"state": "not_ready", "reason": "lunch"}, expect=200)
    cid = box.call(frm="13800000311", to="7000")
    ev = box.wait_event(cid, "queue.announced", timeout=30)
    assert ev["data"]["estimate"] is None and ev["data"]["held_back"] == "nobody_at_work"
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)


def test_handle_times_survive_a_restart(fresh_box, tmp_path) -> None:
    """Three calls answered, then the box restarts: the estimate of the next waiting caller works from those
    three calls (read back from the journal), not from nothing."""
    state = tmp_path / "state"
    settings = {"strategy": "linear", "ring_timeout": 30, "wrapup_seconds": 0, "announce_every": 600}
    box = fresh_box(state=state, **settings)
    box.api("POST", "/agents/ann/login", {"station": "1001"}, expect=200)
    for i in range(3):
        cid = talking(box, f"1380000032{i}", "1001")
        time.sleep(0.3)
        box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)
        box.wait(cid, "ended")
    box.d.stop()

    box = fresh_box(state=state, **settings)
    box.api("POST", "/agents/ann/login", {"station": "1001"}, expect=200)
    busy = talking(box, "13800000330", "1001")
    waiting = box.call(frm="13800000331", to="7000")
    ev = box.wait_event(waiting, "queue.announced", timeout=30)
    assert ev["data"].get("handle_times") == 3, ev["data"]
    assert ev["data"]["estimate"] is not None
    for cid in (waiting, busy):
        box.api("DELETE", f"/sim/calls/{cid}", expect=200)
