"""A daemon taken through calls that end in every waiting state, then stopped, leaves no task behind.

asyncio logs "Task was destroyed but it is pending!" when a task nobody awaits or cancels is collected
(a caller who hung up while the flow waited for keys left its key reader waiting on the queue forever).
The daemon collects garbage once at stop, so a leaked task shows in its log there at the latest.
"""
from __future__ import annotations

import signal

WAITING = """
flow: waiting
blocks:
  main:
    - answer
    - collect: {var: code, max_digits: 4, timeout: 30}
    - play: goodbye
"""

def test_calls_and_stop_leave_no_pending_task(make_box, tmp_path) -> None:
    """Hang-ups while collecting keys, mid-prompt and while a station rings; then SIGTERM:
    the daemon exits 0 and its log never says a task was destroyed while pending."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "waiting.yaml").write_text(WAITING)
    box = make_box({"engine": {"speed": 1.0},   # real time: a busy test machine overruns a 4x clock less
                    "paths": {"flows": str(flows)},
                    "routes": [{"dialed": "7001", "flow": "waiting"}]})
    ended = []
    for _ in range(3):  # collecting keys: the flow waits on the caller's key queue
        cid = box.call(to="7001")
        box.wait(cid, "answered")
        box.api("DELETE", f"/sim/calls/{cid}", expect=200)
        ended.append(cid)
    cid = box.call(to="7001")  # keys pressed, then gone before the collect finished
    box.wait(cid, "answered")
    box.api("POST", f"/sim/calls/{cid}/dtmf", {"digits": "12"}, expect=202)
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)
    ended.append(cid)
    cid = box.call(to="8001")  # built-in reception: gone during the welcome prompt
    box.wait_event(cid, "media.played", prompt="welcome")
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)
    ended.append(cid)
    cid = box.call(to="8001")  # a station rings, nobody answers, the caller gives up
    box.wait_event(cid, "media.played", prompt="welcome")
    box.api("POST", f"/sim/calls/{cid}/dtmf", {"digits": "1002#"}, expect=202)
    box.wait_station("1002", "ringing")
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)
    ended.append(cid)
    for cid in ended:
        box.wait(cid, "ended")
    box.d.signal(signal.SIGTERM)
    assert box.d.wait(30) == 0, box.d.output()
    log = box.d.output()
    assert "event=stopped" in log, log[-2000:]
    assert "Task was destroyed but it is pending" not in log, log[-4000:]
    assert "was never retrieved" not in log, log[-4000:]
