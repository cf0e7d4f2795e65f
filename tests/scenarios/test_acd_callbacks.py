"""Callbacks on a live box, every way one can end: the agent misses or rejects the ring, the customer is busy
or does not answer (retried, then given up), the customer hangs up, the call is completed; and callbacks asked
for in the IVR, after hours dialled when the queue opens. Each checks the agent's state, the waiting list,
the retries and the journal, as a supervisor would see them.

Engine speed 4: one real second is four seconds of call time; queue settings are in call time.
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest

QUEUE_FLOW = """
flow: acd_test
blocks:
  main:
    - answer
    - queue: {name: support, no_agent: none}
    - hangup
  none:
    - hangup: goodbye
"""
IVR_FLOW = """
flow: cb_ivr
blocks:
  main:
    - answer
    - callback_request: {prompt: callback_offer, number_prompt: enter_callback_number, done_prompt: callback_done,
                         queue: support, timeout: 2}
    - hangup: goodbye
"""
TRUNKS = [f"sim0-t{i}" for i in range(1, 9)]


@pytest.fixture
def cb_box(make_box, tmp_path):
    """A box: 7000 queues for 'support' (ann 1001, bob 1002), 7001 is an IVR that takes callback requests."""
    def make(**settings: object):
        flows = tmp_path / "flows"
        flows.mkdir(exist_ok=True)
        (flows / "acd_test.yaml").write_text(QUEUE_FLOW)
        (flows / "cb_ivr.yaml").write_text(IVR_FLOW)
        extra = "".join(f"    {k}: {v}\n" for k, v in settings.items())
        (tmp_path / "queues.yaml").write_text(
            "agents:\n  - {name: ann, extension: \"1001\", user: ann}\n  - {name: bob, extension: \"1002\"}\n"
            "queues:\n  support:\n" + extra + "    members: [{agent: ann}, {agent: bob}]\n")
        return make_box({"routes": [{"dialed": "7000", "flow": "acd_test"}, {"dialed": "7001", "flow": "cb_ivr"}],
                         "paths": {"flows": str(flows)}})
    return make


def events(box, prefix: str) -> list[dict]:
    """Journal events whose kind starts with prefix, oldest first (data parsed)."""
    with box.db() as con:
        rows = con.execute("SELECT ts, kind, call_uuid, data FROM events WHERE kind LIKE ? ORDER BY id",
                           (prefix + "%",)).fetchall()
    return [{"ts": r["ts"], "kind": r["kind"], "call_uuid": r["call_uuid"], "data": json.loads(r["data"])}
            for r in rows]


def wait_journal(box, kind: str, count: int = 1, timeout: float = 30.0, **data: object) -> list[dict]:
    """Wait until the journal holds `count` events of this kind (matching data); returns them."""
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = [e for e in events(box, kind) if e["kind"] == kind
                 and all(e["data"].get(k) == v for k, v in data.items())]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{count} x {kind} {data} not journaled within {timeout}s: {found}")


def callbacks(box) -> list[dict]:
    """The callbacks in the support queue's waiting list."""
    return [w for w in box.api("GET", "/queues/support", expect=200)["waiting"] if w["kind"] == "callback"]


def row(box, number: str) -> dict:
    """The callback's row."""
    with box.db() as con:
        return dict(con.execute("SELECT * FROM callbacks WHERE number = ? ORDER BY id DESC", (number,)).fetchone())


def ask_callback(box, number: str) -> str:
    """A caller dials the IVR at 7001, confirms their own number (1) and hangs up; the call id."""
    cid = box.call(frm=number, to="7001")
    box.wait(cid, "answered")
    box.api("POST", f"/sim/calls/{cid}/dtmf", {"digits": "1"}, expect=202)
    box.wait_event(cid, "callback.created", timeout=30)
    box.wait(cid, "ended", timeout=30)
    return cid


def trunks(box, **faults: object) -> None:
    """Set how the customers (behind every trunk) answer the box's calls."""
    for line in TRUNKS:
        box.api("POST", f"/sim/lines/{line}/faults", faults, expect=200)


def test_agent_misses_rejects_then_busy_and_no_answer_are_retried_and_given_up(cb_box) -> None:
    """ann does not answer the callback ring (missed), then hangs up on it (rejected): each time she is
    free again (never stuck reserved), the miss is counted as for offers (two in a row: not ready, missed
    calls) and the callback keeps its place without an attempt counted. Then the customer is busy (retry
    scheduled after callback_retry_seconds), and on the retry does not answer: with one retry allowed the
    callback is given up and leaves the list."""
    box = cb_box(strategy="linear", ring_timeout=3, wrapup_seconds=0, missed_offers_limit=2, callback_retries=1,
                 callback_retry_seconds=30, announce_every=600)
    number = "13900000011"
    src = ask_callback(box, number)
    assert [c["caller"] for c in callbacks(box)] == [number]          # it joined the queue's callbacks
    box.api("POST", "/agents/ann/login", {"station": "1001"}, expect=200)

    box.wait_station("1001", "ringing")                               # 1: ann lets it ring out
    missed = wait_journal(box, "callback.attempted", outcome="agent_missed")[0]
    assert missed["call_uuid"] == src and missed["data"]["attempt"] == 0 and missed["data"]["agent"]
    assert wait_journal(box, "agent.missed", callback=True)[0]["data"]["in_row"] == 1
    box.wait_station("1001", "ringing", timeout=30)                   # free again: rung at once (no stuck state)
    assert box.agent("ann")["state"] == "reserved"
    box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)     # 2: ann rejects it
    wait_journal(box, "callback.attempted", outcome="agent_rejected")
    a = box.wait_agent("ann", "not_ready")                           # two misses in a row, as for offers
    assert a["reason"] == "missed_calls"
    [cb] = callbacks(box)
    assert cb["caller"] == number and cb["position"] == 1
    assert row(box, number)["status"] == "pending" and row(box, number)["attempts"] == 0

    trunks(box, busy=True)                                            # 3: the customer is busy
    box.api("POST", "/agents/ann/state", {"state": "ready"}, expect=200)
    box.wait_station("1001", "ringing", timeout=30)
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    busy = wait_journal(box, "callback.attempted", outcome="busy")[0]
    assert busy["data"]["attempt"] == 1
    retry = wait_journal(box, "callback.retry_scheduled")[0]
    assert retry["data"]["attempt"] == 2
    box.wait_station("1001", "idle")
    box.wait_agent("ann", "ready")
    [cb] = callbacks(box)
    assert row(box, number)["attempts"] == 1 and row(box, number)["status"] == "pending"
    time.sleep(2.0)                                                   # 8 s of the 30 s pause: no new ring
    assert box.station_state("1001")["state"] == "idle"

    trunks(box, busy=False, never_answer=True)                        # 4: the retry is not answered
    box.wait_station("1001", "ringing", timeout=30)
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    wait_journal(box, "callback.attempted", outcome="no_answer", timeout=40)
    gave_up = wait_journal(box, "callback.gave_up")[0]
    assert gave_up["data"]["attempts"] == 2 and gave_up["data"]["number"] == number
    box.wait_agent("ann", "ready")
    assert callbacks(box) == []
    deadline = time.monotonic() + 10
    while row(box, number)["status"] != "failed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert row(box, number)["status"] == "failed"
    outcomes = [e["data"]["outcome"] for e in events(box, "callback.attempted")]
    assert outcomes == ["agent_missed", "agent_rejected", "busy", "no_answer"]


def test_answered_callbacks_leave_the_list_whoever_hangs_up(cb_box, hotline_bin) -> None:
    """Two callbacks: the first customer hangs up after talking, the second call is ended by the agent.
    Each is journaled connected (with who hung up), leaves the waiting list (the desk and the wallboard
    count nothing waiting), its row is done, and ann wraps up and is ready again."""
    box = cb_box(strategy="linear", ring_timeout=30, wrapup_seconds=4, announce_every=600)
    out = subprocess.run([hotline_bin, "-c", str(box.d.config), "user", "add", "ann", "--role", "agent", "--token"],
                         env=box.d.env, capture_output=True, text=True, check=True, timeout=60)
    ann = type(box)(box.d, out.stdout.strip().splitlines()[-1])
    first, second = "13900000021", "13900000022"
    ask_callback(box, first)
    ask_callback(box, second)
    assert [c["caller"] for c in callbacks(box)] == [first, second]
    ann.api("POST", "/desk/login", {"station": "1001"}, expect=200)
    desk = ann.api("GET", "/desk", expect=200)
    assert [c["number"] for c in desk["callbacks"]] == [first, second]

    trunks(box, hangup_after=1.0)                                     # the customer hangs up after talking
    box.wait_station("1001", "ringing", timeout=30)
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    done = wait_journal(box, "callback.attempted", outcome="connected")[0]
    assert done["data"]["ended_by"] == "customer" and done["data"]["number"] == first
    box.wait_agent("ann", "wrap_up")
    assert [c["caller"] for c in callbacks(box)] == [second]
    assert box.station_state("1001")["state"] == "idle"              # the box hung the agent's phone up
    trunks(box, hangup_after=None)                                    # the agent ends the second call
    box.wait_station("1001", "ringing", timeout=30)                   # after her wrap-up: the next callback
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    deadline = time.monotonic() + 20
    while len(events(box, "call.bridged")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    box.wait_agent("ann", "on_call")
    time.sleep(0.5)
    box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)
    done = wait_journal(box, "callback.attempted", 2, outcome="connected")[1]
    assert done["data"]["ended_by"] == "agent" and done["data"]["number"] == second
    box.wait_agent("ann", "wrap_up")
    box.wait_agent("ann", "ready", timeout=20)
    assert callbacks(box) == []
    desk = ann.api("GET", "/desk", expect=200)
    assert desk["callbacks"] == [] and [q["waiting"] for q in desk["agent"]["queues"]] == [0]
    deadline = time.monotonic() + 10
    while {row(box, first)["status"], row(box, second)["status"]} != {"done"} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert row(box, first)["status"] == row(box, second)["status"] == "done"
    assert not events(box, "callback.gave_up") and not events(box, "callback.retry_scheduled")


def test_ivr_callback_after_hours_waits_for_the_queue_to_open(cb_box, hotline_bin) -> None:
    """After hours (the night switch), a caller asks for a callback in the IVR: it is in the queue's
    callbacks, on the wallboard and the desk (marked after hours), and no phone rings while an agent is
    ready. When the queue opens (day switch) the agent is rung and the customer called back."""
    box = cb_box(strategy="linear", ring_timeout=30, wrapup_seconds=0, announce_every=600, hours="office")

    def switch(mode: str) -> None:
        subprocess.run([hotline_bin, "-c", str(box.d.config), "calendar", "override", mode], env=box.d.env,
                       check=True, capture_output=True, timeout=60)

    switch("night")
    wait_journal(box, "queue.closed", queue="support")
    out = subprocess.run([hotline_bin, "-c", str(box.d.config), "user", "add", "sue", "--role", "supervisor",
                          "--token"], env=box.d.env, capture_output=True, text=True, check=True, timeout=60)
    sue = type(box)(box.d, out.stdout.strip().splitlines()[-1])
    box.api("POST", "/agents/ann/login", {"station": "1001"}, expect=200)
    number = "13900000031"
    ask_callback(box, number)
    asked = wait_journal(box, "queue.callback_requested")[0]
    assert asked["data"]["source"] == "ivr" and asked["data"]["after_hours"] is True
    assert [c["caller"] for c in callbacks(box)] == [number]
    board = sue.api("GET", "/wallboard", expect=200)
    assert [q["callbacks_waiting"] for q in board["queues"] if q["name"] == "support"] == [1]
    time.sleep(2.0)                                                   # 8 s of call time with ann ready
    assert box.station_state("1001")["state"] == "idle" and box.agent("ann")["state"] == "ready"

    switch("day")                                                     # the queue opens
    wait_journal(box, "queue.opened", queue="support")
    box.wait_station("1001", "ringing", timeout=30)
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    deadline = time.monotonic() + 20
    while not events(box, "call.bridged") and time.monotonic() < deadline:
        time.sleep(0.05)
    box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)
    wait_journal(box, "callback.attempted", outcome="connected")
    assert callbacks(box) == []
    box.wait_agent("ann", "ready")
    board = sue.api("GET", "/wallboard", expect=200)
    assert [q["callbacks_waiting"] for q in board["queues"] if q["name"] == "support"] == [0]


def test_a_leave_key_callback_the_agent_misses_does_not_leave_her_reserved(cb_box) -> None:
    """The issue's case: a caller leaves the queue for a callback (star, 1, 1); the agent lets the callback ring
    out. She must not stay "reserved" with an idle phone: the attempt is journaled, the miss counted (limit 1:
    not ready, missed calls), and the callback keeps its place for the next agent."""
    box = cb_box(strategy="linear", ring_timeout=3, wrapup_seconds=0, missed_offers_limit=1, announce_every=600)
    box.api("POST", "/agents/ann/login", {"station": "1001"}, expect=200)
    busy = box.call(frm="13900000041", to="7000")
    box.wait_station("1001", "ringing")
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    box.wait(busy, "bridged")
    leaver = box.call(frm="13900000042", to="7000")
    box.wait_event(leaver, "queue.joined")
    box.api("POST", f"/sim/calls/{leaver}/dtmf", {"digits": "*11"}, expect=202)
    box.wait_event(leaver, "queue.callback_requested", timeout=30)
    box.wait(leaver, "ended", timeout=30)
    box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)     # ann is free: the callback rings her
    box.wait_station("1001", "ringing", timeout=30)
    attempt = wait_journal(box, "callback.attempted")[0]
    assert attempt["data"]["outcome"] == "agent_missed" and attempt["call_uuid"] == leaver
    a = box.wait_agent("ann", "not_ready")
    assert a["reason"] == "missed_calls" and box.station_state("1001")["state"] == "idle"
    assert [c["caller"] for c in callbacks(box)] == ["13900000042"]
    box.api("POST", "/agents/bob/login", {"station": "1002"}, expect=200)
    box.wait_station("1002", "ringing", timeout=30)                   # the next agent gets it


def test_one_number_asking_twice_is_called_back_once(cb_box) -> None:
    """A caller asks for a callback in the IVR, then calls the queue and leaves it for a callback again: the
    number stays in the list once, in the better of its two places."""
    box = cb_box(strategy="linear", ring_timeout=30, wrapup_seconds=0, announce_every=600)
    box.api("POST", "/agents/ann/login", {"station": "1001"}, expect=200)
    busy = box.call(frm="13900000061", to="7000")
    box.wait_station("1001", "ringing")
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    box.wait(busy, "bridged")
    number = "13900000062"
    ask_callback(box, number)
    again = box.call(frm=number, to="7000")
    box.wait_event(again, "queue.joined")
    box.api("POST", f"/sim/calls/{again}/dtmf", {"digits": "*11"}, expect=202)
    ev = box.wait_event(again, "queue.callback_requested", timeout=30)
    assert ev["data"]["already_waiting"] is True and ev["data"]["position"] == 1
    box.wait(again, "ended", timeout=30)
    assert [c["caller"] for c in callbacks(box)] == [number]
    assert not [e for e in events(box, "queue.abandoned")], "leaving for a callback is no abandon"
    box.api("DELETE", f"/sim/calls/{busy}", expect=200)


class FaxMachineAt:
    """A fax machine answering ``number`` when the box dials it (the QA number WebSocket, answering at once): its
    answer tone (CED, 2100 Hz for 3 s at -12 dBm0) goes out in one piece as soon as it answered; the socket's events
    are kept in ``log``. Runs on its own thread until the call ends."""

    def __init__(self, box, number: str):
        import threading
        self.box, self.number, self.log = box, number, []
        self.claimed = threading.Event()
        self.thread = threading.Thread(target=lambda: __import__("asyncio").run(self._run()), daemon=True)
        self.thread.start()
        assert self.claimed.wait(10), "the number was not claimed"

    async def _run(self) -> None:
        import tornado.httpclient
        import tornado.websocket
        from hotline.drivers.common.tones import ToneSpec, render_tone
        ced = render_tone(ToneSpec((2100.0,), -12.0), 3000).astype("<i2").tobytes()
        url = self.box.d.url.replace("http", "ws") + f"/api/v1/sim/numbers/{self.number}/media?answer=auto"
        ws = await tornado.websocket.websocket_connect(
            tornado.httpclient.HTTPRequest(url, headers={"Authorization": f"Bearer {self.box.token}"}))
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                msg = await ws.read_message()
                if msg is None:
                    break
                if isinstance(msg, bytes):
                    continue
                self.log.append(json.loads(msg))
                event = self.log[-1].get("event")
                if event == "claimed":
                    self.claimed.set()
                elif event == "answered":
                    await ws.write_message(bytes(1600) + ced, binary=True)   # 100 ms, then the answer tone
                elif event == "ended":
                    break
        finally:
            ws.close()


def test_a_callback_answered_by_a_fax_machine_is_ended_and_not_retried(cb_box) -> None:
    """The customer's number is a fax machine: ann takes the callback, the box dials, the fax machine answers with
    its answer tone. The box ends that call within a few seconds (the fax machine hears the box hang up), the
    attempt is journaled as "fax" with the reason "answered by a fax machine", the callback is given up at once
    although retries were left (no retry is scheduled: calling a fax machine again reaches nobody), its row says
    why, and ann is free again."""
    box = cb_box(strategy="linear", ring_timeout=30, wrapup_seconds=0, callback_retries=3,
                 callback_retry_seconds=30, announce_every=600)
    number = "13900000041"
    fax = FaxMachineAt(box, number)
    ask_callback(box, number)
    box.api("POST", "/agents/ann/login", {"station": "1001"}, expect=200)
    box.wait_station("1001", "ringing", timeout=30)
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    attempt = wait_journal(box, "callback.attempted", outcome="fax", timeout=40)[0]
    assert attempt["data"]["reason"] == "answered by a fax machine" and attempt["data"]["attempt"] == 1
    gave_up = wait_journal(box, "callback.gave_up")[0]
    assert gave_up["data"]["reason"] == "answered by a fax machine" and gave_up["data"]["attempts"] == 1
    [tone] = events(box, "call.fax_answered")
    assert tone["call_uuid"] == attempt["data"]["call"] and tone["data"]["tone"] == "fax_ced"
    answered = next(e for e in events(box, "leg.answered") if e["data"].get("parent") == attempt["data"]["call"])
    assert 0.9 <= tone["ts"] - answered["ts"] <= 6.0       # engine time: about a second of the tone, then ended
    fax.thread.join(20)
    assert [e["event"] for e in fax.log] == ["claimed", "ringing", "answered", "ended"], fax.log
    assert fax.log[-1]["by"] == "box"
    assert not events(box, "callback.retry_scheduled")
    assert callbacks(box) == []
    deadline = time.monotonic() + 10
    while row(box, number)["status"] != "failed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (row(box, number)["status"], row(box, number)["note"]) == ("failed", "answered by a fax machine")
    box.wait_agent("ann", "ready")
    box.wait_station("1001", "idle")
