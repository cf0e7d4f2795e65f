"""ACD phone features on a live box: call pickup (*8, *8<ext>), follow-me to an outside number, music on hold
per queue, and the recording policy per route (routes: recording)."""
from __future__ import annotations

import io
import subprocess
import time
import uuid
import wave

import numpy as np
import pytest

AGENTS = ("agents:\n"
          "  - {name: ann, extension: \"1001\"%s}\n"
          "  - {name: bob, extension: \"1002\"}\n")
QUIET = {"announce_position": "false", "announce_estimate": "false", "leave_key": "null"}


def flow(queue: str) -> str:
    """A flow that answers and puts the caller in one queue."""
    return (f"flow: q_{queue}\nblocks:\n  main:\n    - answer\n    - queue: {{name: {queue}, no_agent: none}}\n"
            "    - hangup\n  none:\n    - hangup: goodbye\n")


def queue(name: str, **settings: object) -> str:
    """One queue served by ann (first in line) and bob."""
    extra = "".join(f"    {k}: {v}\n" for k, v in settings.items())
    return f"  {name}:\n{extra}    members: [{{agent: ann}}, {{agent: bob}}]\n"


@pytest.fixture
def phone_box(make_box, tmp_path):
    """A box with queues (name -> settings); number 7000 + i goes into the i-th queue; extra routes may be
    given as (dialed, queue name, route settings)."""
    def make(queues: dict[str, dict], ann: str = "", routes: list[tuple[str, str, dict]] | None = None):
        (tmp_path / "flows").mkdir(exist_ok=True)
        for name in queues:
            (tmp_path / "flows" / f"q_{name}.yaml").write_text(flow(name))
        (tmp_path / "queues.yaml").write_text(AGENTS % ann + "queues:\n" +
                                              "".join(queue(n, **s) for n, s in queues.items()))
        table = [{"dialed": str(7000 + i), "flow": f"q_{n}"} for i, n in enumerate(queues)]
        table += [{"dialed": d, "flow": f"q_{n}", **extra} for d, n, extra in routes or []]
        return make_box({"routes": table, "paths": {"flows": str(tmp_path / "flows")}})
    return make


def login(box, name: str, station: str) -> None:
    """An agent logs in at a station through the API."""
    box.api("POST", f"/agents/{name}/login", {"station": station}, expect=200)


def user_client(box, hotline_bin: str, name: str, role: str = "agent"):
    """A user created with the CLI, and a client speaking the API with that user's token."""
    out = subprocess.run([hotline_bin, "-c", str(box.d.config), "user", "add", name, "--role", role, "--token"],
                         env=box.d.env, capture_output=True, text=True, check=True, timeout=60)
    client = type(box)(box.d, out.stdout.strip().splitlines()[-1])
    client.correlation = box.correlation
    return client


def tone_wav(freq: float, seconds: float, rate: int = 8000) -> bytes:
    """A WAV of one tone."""
    from hotline.daemon.media.wavio import wav_bytes
    n = np.arange(int(seconds * rate))
    return wav_bytes((6000 * np.sin(2 * np.pi * freq * n / rate)).astype(np.int16), rate=rate)


def hears(samples: np.ndarray, freq: float) -> bool:
    """True when a tone at freq carries a real share of the audio's energy."""
    x = samples.astype(float)
    if not x.any():
        return False
    n = np.arange(len(x))
    c = np.abs(np.dot(x, np.exp(-2j * np.pi * freq * n / 8000))) ** 2
    return bool(c / (np.dot(x, x) * len(x) / 2) > 0.1)


def tail(box, path: str, seconds: float = 1.0) -> np.ndarray:
    """The last seconds of a heard.wav."""
    with wave.open(io.BytesIO(box.api("GET", path))) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")[-int(seconds * 8000):]


def kinds(box, cid: str) -> list[str]:
    """The kinds of a call's journal events, in order."""
    return [e["kind"] for e in box.state(cid)["events"]]


# ---- call pickup ---------------------------------------------------------------------------------------------
def test_group_pickup_by_a_colleague_of_the_same_queue(phone_box) -> None:
    """A caller rings ann; bob (same queue) lifts his phone and dials *8: the call is his, ann's phone stops
    ringing, bob is on the call, ann is ready again without a missed offer; caller and bob hear each other."""
    box = phone_box({"support": {"strategy": "linear", "ring_timeout": 30, "wrapup_seconds": 0}})
    login(box, "ann", "1001")
    login(box, "bob", "1002")
    cid = box.call(frm="13800000001", to="7000")
    box.wait_station("1001", "ringing")
    assert box.station_state("1002")["state"] == "idle"
    box.api("POST", "/sim/stations/1002/dial", {"number": "*8"}, expect=200)
    box.wait(cid, "bridged")
    ev = box.wait_event(cid, "call.picked_up")
    assert ev["data"]["by"] == "1002" and ev["data"]["from"] == "1001"
    box.wait_station("1001", "idle")
    assert box.station_state("1002")["call"] == cid
    assert box.agent("bob")["state"] == "on_call" and box.agent("bob")["call"] == cid
    assert box.agent("ann")["state"] == "ready"
    answered = box.wait_event(cid, "queue.answered")
    assert answered["data"]["agent"] == box.agent("bob")["id"] and answered["data"]["picked_up_by"] == "1002"
    box.api("POST", f"/sim/calls/{cid}/audio", raw=tone_wav(500, 3), expect=202)   # the caller speaks
    box.api("POST", "/sim/stations/1002/audio", raw=tone_wav(900, 3), expect=200)  # bob speaks
    time.sleep(0.5)
    assert hears(tail(box, "/sim/stations/1002/heard.wav"), 500), "bob does not hear the caller"
    assert hears(tail(box, f"/sim/calls/{cid}/heard.wav"), 900), "the caller does not hear bob"
    box.api("POST", "/sim/stations/1002/hangup", {}, expect=200)
    box.wait(cid, "ended")
    box.wait_agent("bob", "ready")
    k = kinds(box, cid)
    assert "agent.missed" not in k and k.index("call.picked_up") < k.index("call.bridged")
    assert box.cdr(cid)["peer"] == "1002"
    assert box.agent("ann")["state"] == "ready"


def test_directed_pickup_from_a_station_outside_the_queue(phone_box) -> None:
    """Station 1003 (no agent) dials *81001 and takes the queue call ringing ann; *8 alone finds nothing
    there (no pickup group) and gives congestion; a plain internal call ringing 1001 can be picked up too."""
    box = phone_box({"support": {"strategy": "linear", "ring_timeout": 30, "wrapup_seconds": 0}})
    login(box, "ann", "1001")
    cid = box.call(frm="13800000002", to="7000")
    box.wait_station("1001", "ringing")
    box.api("POST", "/sim/stations/1003/dial", {"number": "*8"}, expect=200)  # no group: nothing picked up
    box.wait_station("1003", "idle")                                          # congestion, then the box hangs up
    assert box.station_state("1001")["state"] == "ringing" and box.state(cid)["state"] != "bridged"
    box.api("POST", "/sim/stations/1003/dial", {"number": "*81001"}, expect=200)
    box.wait(cid, "bridged")
    ev = box.wait_event(cid, "call.picked_up")
    assert ev["data"]["by"] == "1003" and ev["data"]["from"] == "1001"
    box.wait_station("1001", "idle")
    assert box.agent("ann")["state"] == "ready"
    assert box.wait_event(cid, "queue.answered")["data"]["agent"] is None
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)
    box.wait(cid, "ended")
    assert box.cdr(cid)["peer"] == "1003" and "agent.missed" not in kinds(box, cid)
    assert box.agent("ann")["state"] == "ready"
    box.wait_station("1003", "idle")

    # station to station: 1004 calls 1001 (connect), 1003 picks it up
    box.api("POST", "/sim/stations/1004/dial", {"number": "1001"}, expect=200)
    box.wait_station("1001", "ringing")
    box.api("POST", "/sim/stations/1003/dial", {"number": "*81001"}, expect=200)
    box.wait_station("1001", "idle")
    deadline = time.monotonic() + 20
    internal: dict = {}
    while time.monotonic() < deadline:
        internal = next((c for c in box.api("GET", "/calls", expect=200)["calls"]
                         if c["caller_id"] == "1004"), {})
        if internal.get("state") == "bridged":
            break
        time.sleep(0.05)
    assert internal.get("state") == "bridged" and internal["peer"] == "1003", internal
    events = box.api("GET", f"/calls/{internal['uuid']}/events", expect=200)["events"]
    assert any(e["kind"] == "call.picked_up" and e["data"]["from"] == "1001" for e in events)
    box.api("POST", "/sim/stations/1004/audio", raw=tone_wav(700, 3), expect=200)
    time.sleep(0.5)
    assert hears(tail(box, "/sim/stations/1003/heard.wav"), 700), "1003 does not hear 1004 after the pickup"
    box.api("POST", "/sim/stations/1003/hangup", {}, expect=200)
    box.wait_station("1004", "idle")


# ---- follow-me -----------------------------------------------------------------------------------------------
def test_follow_me_dials_the_agents_mobile_after_the_delay(phone_box) -> None:
    """ann's desk phone rings and nobody answers; after follow_me_after (5 s) the box dials her mobile through
    a trunk; the far end answers and the caller is bridged with it; ann is on the call, not missed."""
    box = phone_box({"support": {"strategy": "linear", "ring_timeout": 8, "wrapup_seconds": 0}},
                    ann=', follow_me: "13911112222", follow_me_after: 5')
    login(box, "ann", "1001")
    cid = box.call(frm="13800000003", to="7000")
    box.wait_station("1001", "ringing")
    dialing = box.wait_event(cid, "call.dialing", number="13911112222", timeout=30)
    assert dialing["data"]["follow_me"] is True
    offered = box.wait_event(cid, "agent.offered")
    assert 4.8 <= dialing["ts"] - offered["ts"] <= 6.5, dialing["ts"] - offered["ts"]
    bridged = box.wait_event(cid, "call.bridged", timeout=30)
    assert bridged["data"]["peer"].startswith("sim0-t"), bridged
    box.wait_station("1001", "idle")
    answered = box.wait_event(cid, "queue.answered")
    assert answered["data"]["agent"] == box.agent("ann")["id"] and answered["data"]["follow_me"] == "13911112222"
    a = box.agent("ann")
    assert a["state"] == "on_call" and a["call"] == cid
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)
    box.wait(cid, "ended")
    box.wait_agent("ann", "ready")
    assert "agent.missed" not in kinds(box, cid)


# ---- music on hold per queue ---------------------------------------------------------------------------------
def test_music_on_hold_per_queue_with_fallbacks(phone_box, tmp_path) -> None:
    """A queue with moh plays its WAV (a 700 Hz tone, 16 kHz file resampled); a queue without moh, one whose
    file is missing and one whose name leaves the prompts directory play the default music; the bad ones are
    journaled once."""
    name = f"moh/calm-{uuid.uuid4().hex[:8]}.wav"
    queues = {"support": {**QUIET, "moh": name}, "sales": dict(QUIET),
              "billing": {**QUIET, "moh": "moh/nowhere.wav"}, "evil": {**QUIET, "moh": "../outside.wav"}}
    box = phone_box(queues)
    (box.prompts_dir / "moh").mkdir(exist_ok=True)
    (box.prompts_dir / name).write_bytes(tone_wav(700, 3, rate=16000))
    (box.prompts_dir.parent / "outside.wav").write_bytes(tone_wav(700, 3))
    login(box, "ann", "1001")
    box.api("POST", "/agents/ann/state", {"state": "not_ready", "reason": "break"}, expect=200)
    calls = {q: box.call(frm=f"1380000001{i}", to=str(7000 + i)) for i, q in enumerate(queues)}
    for cid in calls.values():
        box.wait_event(cid, "queue.joined")
    time.sleep(1.5)                                                   # 6 s of music at speed 4
    heard = {q: box.heard(cid)[-8000:] for q, cid in calls.items()}
    assert hears(heard["support"], 700), "the queue's music file is not played"
    for q in ("sales", "billing", "evil"):
        assert not hears(heard[q], 700), f"{q}: plays the tone file"
        assert any(hears(heard[q], f) for f in (261.6, 329.6, 392.0, 523.3)), f"{q}: no default music"
    missing = box.wait_event(calls["billing"], "queue.moh_missing")
    assert missing["data"]["queue"] == "billing" and missing["data"]["file"] == "moh/nowhere.wav"
    assert "outside the prompts directory" in box.wait_event(calls["evil"], "queue.moh_missing")["data"]["error"]
    assert "queue.moh_missing" not in kinds(box, calls["support"]) + kinds(box, calls["sales"])
    again = box.call(frm="13800000020", to="7002")                    # once per queue, not per caller
    box.wait_event(again, "queue.joined")
    time.sleep(0.3)
    assert "queue.moh_missing" not in kinds(box, again)
    for cid in (*calls.values(), again):
        box.api("DELETE", f"/sim/calls/{cid}", expect=200)


def test_agent_hold_plays_the_queues_music(phone_box, hotline_bin) -> None:
    """When the agent holds a caller who came through a queue with moh, the caller hears that music."""
    name = f"moh/hold-{uuid.uuid4().hex[:8]}.wav"
    box = phone_box({"support": {"strategy": "linear", "wrapup_seconds": 0, "moh": name}})
    (box.prompts_dir / "moh").mkdir(exist_ok=True)
    (box.prompts_dir / name).write_bytes(tone_wav(700, 3))
    ann = user_client(box, hotline_bin, "ann")
    login(box, "ann", "1001")
    cid = box.call(frm="13800000030", to="7000")
    box.wait_station("1001", "ringing")
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    box.wait(cid, "bridged")
    ann.api("POST", f"/calls/{cid}/hold", {}, expect=200)
    box.wait_event(cid, "call.held")
    time.sleep(0.6)
    assert hears(box.heard(cid)[-4000:], 700), "the held caller does not hear the queue's music"
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)


# ---- recording policy per route ------------------------------------------------------------------------------
def test_recording_policy_per_route(phone_box, hotline_bin) -> None:
    """Number 7100 is never recorded (journaled why; the agent cannot start it); 7200 records on demand:
    paused from the answer until the agent starts it; 7000 (no policy) records as the engine says."""
    box = phone_box({"support": {"strategy": "linear", "ring_timeout": 10, "wrapup_seconds": 0}},
                    routes=[("7100", "support", {"recording": "never"}),
                            ("7200", "support", {"recording": "on_demand"})])
    ann = user_client(box, hotline_bin, "ann")
    login(box, "ann", "1001")

    def talk(to: str) -> str:
        cid = box.call(frm="13800000040", to=to)
        box.wait_station("1001", "ringing")
        box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
        box.wait(cid, "bridged")
        return cid

    never = talk("7100")
    assert box.wait_event(never, "recording.skipped")["data"]["reason"] == "policy:never"
    refused = ann.api("POST", f"/calls/{never}/recording", {"action": "start"})
    assert refused["_status"] == 409 and "never" in refused["error"]
    box.api("DELETE", f"/sim/calls/{never}", expect=200)
    box.wait(never, "ended")
    assert box.cdr(never)["recording"] is None
    with box.db() as con:
        assert con.execute("SELECT COUNT(*) FROM recordings WHERE call_uuid = ?", (never,)).fetchone()[0] == 0
    assert "recording.started" not in kinds(box, never)
    box.wait_agent("ann", "ready")

    demand = talk("7200")
    paused = box.wait_event(demand, "recording.paused")
    assert paused["data"]["by"] == "policy:on_demand"
    assert ann.api("POST", f"/calls/{demand}/recording", {"action": "start"}, expect=200)["state"] == "recording"
    box.wait_event(demand, "recording.resumed", by="ann")
    time.sleep(0.3)
    box.api("DELETE", f"/sim/calls/{demand}", expect=200)
    box.wait(demand, "ended")
    k = kinds(box, demand)
    assert k.index("recording.started") < k.index("recording.paused") < k.index("recording.resumed")
    assert box.cdr(demand)["recording"]
    box.wait_agent("ann", "ready")

    plain = talk("7000")
    box.wait_event(plain, "recording.started")
    assert "recording.paused" not in kinds(box, plain)
    box.api("DELETE", f"/sim/calls/{plain}", expect=200)
