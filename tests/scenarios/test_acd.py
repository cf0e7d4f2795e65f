"""The ACD on a live box: agents log in through the API, callers queue, phones ring, the journal tells the story."""
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


def queues_yaml(**settings: object) -> str:
    """A queues file with one queue 'support' served by two agents (1001 first in line, 1002 second)."""
    extra = "".join(f"    {k}: {v}\n" for k, v in settings.items())
    return ("agents:\n  - {name: ann, extension: \"1001\"}\n  - {name: bob, extension: \"1002\"}\n"
            "queues:\n  support:\n" + extra +
            "    members: [{agent: ann}, {agent: bob}]\n")


@pytest.fixture
def acd_box(make_box, tmp_path):
    """A box whose number 7000 goes straight into the 'support' queue."""
    def make(**settings: object):
        (tmp_path / "flows").mkdir(exist_ok=True)
        (tmp_path / "flows" / "acd_test.yaml").write_text(FLOW)
        (tmp_path / "queues.yaml").write_text(queues_yaml(**settings))
        box = make_box({"routes": [{"dialed": "7000", "flow": "acd_test"}],
                        "paths": {"flows": str(tmp_path / "flows")}})
        return box
    return make


def login(box, agent: str, station: str) -> None:
    """An agent logs in at a station through the API."""
    box.api("POST", f"/agents/{agent}/login", {"station": station}, expect=200)


def user_client(box, hotline_bin: str, name: str, role: str = "agent"):
    """A user created with the CLI, and a client speaking the API with that user's token."""
    import subprocess
    out = subprocess.run([hotline_bin, "-c", str(box.d.config), "user", "add", name, "--role", role, "--token"],
                         env=box.d.env, capture_output=True, text=True, check=True, timeout=60)
    client = type(box)(box.d, out.stdout.strip().splitlines()[-1])
    client.correlation = box.correlation
    return client


def connected_call(box, frm: str, station: str = "1001") -> str:
    """A caller dials 7000, the agent's phone at `station` rings and answers; the bridged call's id."""
    cid = box.call(frm=frm, to="7000")
    box.wait_station(station, "ringing")
    box.api("POST", f"/sim/stations/{station}/answer", {}, expect=200)
    box.wait(cid, "bridged")
    return cid


def test_missed_offers_make_an_agent_not_ready_then_the_next_agent_answers_and_wraps_up(acd_box) -> None:
    """ann (idle longest) does not answer: after 1 missed offer she is not ready (missed_calls); bob gets the
    call, answers, talks; after the call he is in wrap-up, then ready again by himself."""
    box = acd_box(strategy="longest_idle", ring_timeout=3, missed_offers_limit=1, wrapup_seconds=4)
    login(box, "ann", "1001")
    time.sleep(0.3)
    login(box, "bob", "1002")
    cid = box.call(frm="13800000001", to="7000")
    box.wait_station("1001", "ringing")
    box.wait_station("1002", "ringing", timeout=30)
    a = box.wait_agent("ann", "not_ready")
    assert a["reason"] == "missed_calls"
    box.api("POST", "/sim/stations/1002/answer", {}, expect=200)
    box.wait(cid, "bridged")
    assert box.agent("bob")["state"] == "on_call"
    box.api("POST", "/sim/stations/1002/hangup", {}, expect=200)
    box.wait(cid, "ended")
    box.wait_agent("bob", "wrap_up")
    box.wait_agent("bob", "ready", timeout=20)
    kinds = [e["kind"] for e in box.state(cid)["events"]]
    assert kinds.index("agent.missed") < kinds.index("queue.answered") < kinds.index("call.bridged")
    assert box.cdr(cid)["peer"] == "1002"
    # the reason list is enforced; ann comes back with a valid state change
    bad = box.api("POST", "/agents/ann/state", {"state": "not_ready", "reason": "napping"})
    assert bad["_status"] == 400 and "unknown reason" in bad["error"]
    box.api("POST", "/agents/ann/state", {"state": "ready"}, expect=200)
    assert box.agent("ann")["state"] == "ready"


def test_position_and_estimate_announcements_are_heard(acd_box) -> None:
    """Ten short calls give the queue handle times; then a caller behind a busy agent hears their position
    and an estimated range, and the box journals what it announced."""
    box = acd_box(strategy="linear", ring_timeout=10, wrapup_seconds=0, announce_every=10)
    login(box, "ann", "1001")
    for i in range(10):
        cid = box.call(frm=f"1380000010{i}", to="7000")
        box.wait_station("1001", "ringing")
        box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
        box.wait(cid, "bridged")
        time.sleep(0.2)
        box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)
        box.wait(cid, "ended")
        box.wait_agent("ann", "ready")
    busy = connected_call(box, "13800000200", "1001")
    first = box.call(frm="13800000201", to="7000")
    second = box.call(frm="13800000202", to="7000")
    ev = box.wait_event(second, "queue.announced", timeout=30)
    assert ev["data"]["position"] == 2
    assert ev["data"]["estimate"] is not None and ev["data"]["estimate"][0] <= ev["data"]["estimate"][1]
    box.wait_event(second, "media.played", prompt="queue_estimate_minutes", timeout=30)
    time.sleep(1.0)
    heard = box.heard(second)
    assert box.correlation(heard, box.prompt_audio("queue_position_before", "zh_CN")[:4000]) > 0.9
    queue = box.api("GET", "/queues/support", expect=200)
    assert [w["position"] for w in queue["waiting"]] == [1, 2]
    assert queue["waiting"][0]["call"] == first
    for cid in (first, second, busy):
        box.api("DELETE", f"/sim/calls/{cid}", expect=200)


def test_callback_keeps_the_place_and_three_callbacks_share_one_agent(acd_box) -> None:
    """Three callers leave the queue for a callback (star, then 1) while a fourth keeps waiting.
    When the agent is free the callbacks come first, in the callers' original order, one at a time
    (never more callbacks at once than free agents): the agent's phone rings, then the customer is dialled."""
    box = acd_box(strategy="linear", ring_timeout=10, wrapup_seconds=0, announce_every=600)
    login(box, "ann", "1001")
    connected_call(box, "13900000000", "1001")
    leavers = []
    for i in range(3):
        cid = box.call(frm=f"1390000000{i + 1}", to="7000")
        box.wait_event(cid, "queue.joined")
        leavers.append(cid)
        time.sleep(0.3)
    stayer = box.call(frm="13900000009", to="7000")
    box.wait_event(stayer, "queue.joined")
    for cid in leavers:  # star: leave; 1: a callback; 1: on this number
        box.api("POST", f"/sim/calls/{cid}/dtmf", {"digits": "*11"}, expect=202)
        box.wait_event(cid, "queue.callback_requested", timeout=30)
        box.wait(cid, "ended", timeout=30)
    positions = [box.wait_event(c, "queue.callback_requested")["data"]["position"] for c in leavers]
    assert positions == [1, 2, 3], "a callback did not keep the caller's place"
    box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)    # the agent is free
    numbers: list[str] = []
    seen: set[str] = set()
    for _ in range(3):
        deadline = time.monotonic() + 30                               # the agent is called first
        live: list = []
        while time.monotonic() < deadline:
            live = [c for c in box.api("GET", "/calls", expect=200)["calls"]
                    if c["direction"] == "callback" and c["state"] not in ("ending", "ended")]
            if any(c["uuid"] not in seen for c in live) and box.station_state("1001")["state"] == "ringing":
                break
            time.sleep(0.05)
        assert len(live) == 1, f"more callbacks at once than free agents: {live}"
        seen.add(live[0]["uuid"])
        numbers.append(live[0]["caller_id"])
        box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
        deadline = time.monotonic() + 20                               # then the customer, through a trunk
        while time.monotonic() < deadline and not any(
                c["state"] == "bridged" for c in box.api("GET", "/calls")["calls"] if c["uuid"] in seen):
            time.sleep(0.05)
        box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)
    assert numbers == ["13900000001", "13900000002", "13900000003"]
    box.wait_station("1001", "ringing", timeout=30)                   # only now the caller who stayed
    assert box.state(stayer)["state"] in ("answered", "bridged")
    box.api("DELETE", f"/sim/calls/{stayer}", expect=200)


def test_abandoned_worklist_with_one_step_callback(acd_box) -> None:
    """A caller who hangs up after waiting longer than the short-abandon threshold is in the worklist;
    one request queues a callback for them; a short abandon is not listed."""
    box = acd_box(strategy="linear", short_abandon_seconds=2, announce_every=600)
    login(box, "ann", "1001")
    box.api("POST", "/agents/ann/state", {"state": "not_ready", "reason": "lunch"}, expect=200)
    short = box.call(frm="13700000001", to="7000")
    box.wait_event(short, "queue.joined")
    box.api("DELETE", f"/sim/calls/{short}", expect=200)
    long_ = box.call(frm="13700000002", to="7000")
    box.wait_event(long_, "queue.joined")
    time.sleep(3.0)     # 12 s of call time at speed 4 (a media clock slowed by a busy box still passes 2 s)
    box.api("DELETE", f"/sim/calls/{long_}", expect=200)
    box.wait(long_, "ended")
    rows = box.api("GET", "/abandoned", expect=200)["abandoned"]
    assert [r["call"] for r in rows] == [long_] and rows[0]["callback"] is None and rows[0]["waited_s"] > 2
    made = box.api("POST", f"/abandoned/{long_}/callback", {}, expect=201)
    assert made["status"] == "pending"
    assert box.api("GET", "/abandoned", expect=200)["abandoned"][0]["callback"]["status"] == "pending"
    box.api("POST", "/agents/ann/state", {"state": "ready"}, expect=200)
    box.wait_station("1001", "ringing", timeout=30)                   # the one-step callback rings the agent


def _tone_wav(freq: float, seconds: float) -> bytes:
    """A WAV of one tone (what a party 'says' in the audio-path test)."""
    import numpy as np
    from hotline.daemon.media.wavio import wav_bytes
    n = np.arange(int(seconds * 8000))
    return wav_bytes((6000 * np.sin(2 * np.pi * freq * n / 8000)).astype(np.int16))


def _hears(samples, freq: float) -> bool:
    """True when a tone at freq carries a real share of the audio's energy."""
    import numpy as np
    x = samples.astype(float)
    if not x.any():
        return False
    n = np.arange(len(x))
    c = np.abs(np.dot(x, np.exp(-2j * np.pi * freq * n / 8000))) ** 2
    return bool(c / (np.dot(x, x) * len(x) / 2) > 0.1)


def test_supervisor_listen_whisper_barge_transfer_and_hangup(acd_box, hotline_bin) -> None:
    """Who hears whom in each mode, checked in the audio each phone received; forced transfer and
    hang-up and a remote state change are journaled with the supervisor's name."""
    import io
    import threading
    import wave

    import numpy as np

    def tail(path: str, seconds: float = 2.0) -> np.ndarray:
        data = box.api("GET", path)
        with wave.open(io.BytesIO(data)) as w:
            x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return x[-int(seconds * 8000):]

    box = acd_box(strategy="linear", ring_timeout=10, wrapup_seconds=0)
    sue = user_client(box, hotline_bin, "sue", "supervisor")
    login(box, "ann", "1001")
    login(box, "bob", "1002")
    box.api("POST", "/agents/bob/state", {"state": "not_ready", "reason": "break"}, expect=200)
    cid = connected_call(box, "13500000000", "1001")
    assert box.api("POST", f"/calls/{cid}/listen", {"station": "1004"})["_status"] == 403  # qa is no supervisor

    attach = threading.Thread(target=lambda: sue.api("POST", f"/calls/{cid}/listen", {"station": "1004"},
                                                     expect=200))
    attach.start()
    box.wait_station("1004", "ringing")
    box.api("POST", "/sim/stations/1004/answer", {}, expect=200)
    attach.join(20)
    box.wait_event(cid, "supervise.started", mode="listen")

    heard = {}
    for mode in ("listen", "whisper", "barge"):
        if mode != "listen":
            sue.api("POST", f"/calls/{cid}/{mode}", {"station": "1004"}, expect=200)
            box.wait_event(cid, "supervise.changed", mode=mode)
        box.api("POST", f"/sim/calls/{cid}/audio", raw=_tone_wav(500, 6), expect=202)   # the caller
        box.api("POST", "/sim/stations/1001/audio", raw=_tone_wav(900, 6), expect=200)   # the agent
        box.api("POST", "/sim/stations/1004/audio", raw=_tone_wav(1300, 6), expect=200)  # the supervisor
        time.sleep(1.0)                                                                  # 4 s of call time
        heard[mode] = {"caller": tail(f"/sim/calls/{cid}/heard.wav"), "agent": tail("/sim/stations/1001/heard.wav"),
                       "supervisor": tail("/sim/stations/1004/heard.wav")}
        time.sleep(0.6)                                                                  # the tones end
    expected = {  # (who, frequency of whom): heard?
        "listen": {("supervisor", 500): True, ("supervisor", 900): True, ("agent", 1300): False,
                   ("caller", 1300): False, ("caller", 900): True, ("agent", 500): True},
        "whisper": {("supervisor", 500): True, ("agent", 1300): True, ("caller", 1300): False},
        "barge": {("supervisor", 900): True, ("agent", 1300): True, ("caller", 1300): True},
    }
    for mode, checks in expected.items():
        for (who, freq), want in checks.items():
            assert _hears(heard[mode][who], freq) is want, f"{mode}: does the {who} hear {freq} Hz? expected {want}"

    sue.api("POST", "/agents/bob/state", {"state": "ready"}, expect=200)
    sue.api("POST", f"/calls/{cid}/transfer", {"extension": "1002"}, expect=200)
    box.wait_station("1002", "ringing")
    box.wait_station("1001", "idle")
    box.api("POST", "/sim/stations/1002/answer", {}, expect=200)
    box.wait_event(cid, "call.bridged", peer="1002")
    sue.api("POST", f"/calls/{cid}/hangup", {}, expect=200)
    box.wait(cid, "ended")
    events = box.state(cid)["events"]
    by = {e["kind"]: e["data"].get("by") for e in events if e["kind"] in (
        "supervise.started", "call.force_transfer", "call.force_hangup")}
    assert by == {"supervise.started": "sue", "call.force_transfer": "sue", "call.force_hangup": "sue"}
    changes = [e for e in box.api("GET", "/calls/" + cid + "/events")["events"] if e["kind"] == "call.transferred"]
    assert changes and changes[0]["data"]["mode"] == "forced"


def test_feature_codes_on_the_phone_and_the_post_call_survey(acd_box) -> None:
    """ann logs in from her phone (*11), takes a break (*14), comes back (*13); a caller she served rates the
    call when she hangs up; she logs out from the phone (*12)."""
    box = acd_box(strategy="linear", ring_timeout=10, wrapup_seconds=0, survey="true")

    def dial(code: str, state: str) -> None:
        box.api("POST", "/sim/stations/1001/dial", {"number": code}, expect=200)
        box.wait_agent("ann", state)
        box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)
        box.wait_station("1001", "idle")

    dial("*11", "ready")
    assert box.agent("ann")["station"] == "1001"
    dial("*14", "not_ready")
    assert box.agent("ann")["reason"] == "break"
    dial("*13", "ready")
    cid = connected_call(box, "13600000000", "1001")
    box.api("POST", "/sim/stations/1001/hangup", {}, expect=200)     # the agent is done
    box.wait_event(cid, "media.played", prompt="survey")
    box.api("POST", f"/sim/calls/{cid}/dtmf", {"digits": "4"}, expect=202)
    ev = box.wait_event(cid, "survey.answered")
    assert ev["data"]["score"] == 4 and ev["data"]["queue"] == "support" and ev["data"]["agent"] == box.agent("ann")["id"]
    box.wait(cid, "ended")
    dial("*12", "logged_out")


def test_hold_and_resume_the_caller_hears_music(acd_box, hotline_bin) -> None:
    """The agent holds the caller: the caller hears music (not the agent), then is taken back."""
    import io
    import wave

    import numpy as np
    box = acd_box(strategy="linear", ring_timeout=10, wrapup_seconds=0)
    ann = user_client(box, hotline_bin, "ann", "agent")
    login(box, "ann", "1001")
    cid = connected_call(box, "13400000000", "1001")
    bob = user_client(box, hotline_bin, "bob", "agent")
    assert bob.api("POST", f"/calls/{cid}/hold", {})["_status"] == 403   # not bob's call
    ann.api("POST", f"/calls/{cid}/hold", {}, expect=200)
    box.wait_event(cid, "call.held", by="ann")
    assert ann.api("POST", f"/calls/{cid}/hold", {})["_status"] == 409
    box.api("POST", "/sim/stations/1001/audio", raw=_tone_wav(900, 4), expect=200)   # the agent talks aside
    time.sleep(0.6)
    with wave.open(io.BytesIO(box.api("GET", f"/sim/calls/{cid}/heard.wav"))) as w:
        held = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")[-8000:]
    assert not _hears(held, 900), "the caller on hold hears the agent"
    assert _hears(held, 261.6) or _hears(held, 329.6) or _hears(held, 392.0) or _hears(held, 523.3), \
        "the caller on hold hears no music"
    ann.api("POST", f"/calls/{cid}/resume", {}, expect=200)
    box.wait_event(cid, "call.resumed", by="ann")
    box.api("POST", "/sim/stations/1001/audio", raw=_tone_wav(900, 4), expect=200)
    time.sleep(0.6)
    with wave.open(io.BytesIO(box.api("GET", f"/sim/calls/{cid}/heard.wav"))) as w:
        back = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")[-4000:]
    assert _hears(back, 900), "after resume the caller does not hear the agent"
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)


def test_three_way_conference(acd_box, hotline_bin) -> None:
    """The agent brings station 1003 in: the caller, the agent and the third party all hear each other."""
    import io
    import threading
    import wave

    import numpy as np

    def tail(path: str) -> np.ndarray:
        with wave.open(io.BytesIO(box.api("GET", path))) as w:
            return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")[-16000:]

    box = acd_box(strategy="linear", ring_timeout=10, wrapup_seconds=0)
    ann = user_client(box, hotline_bin, "ann", "agent")
    login(box, "ann", "1001")
    cid = connected_call(box, "13300000000", "1001")
    invite = threading.Thread(target=lambda: ann.api("POST", f"/calls/{cid}/conference", {"extension": "1003"},
                                                     expect=200))
    invite.start()
    box.wait_station("1003", "ringing")
    box.api("POST", "/sim/stations/1003/answer", {}, expect=200)
    invite.join(20)
    box.wait_event(cid, "conference.started")
    box.api("POST", f"/sim/calls/{cid}/audio", raw=_tone_wav(500, 6), expect=202)
    box.api("POST", "/sim/stations/1001/audio", raw=_tone_wav(900, 6), expect=200)
    box.api("POST", "/sim/stations/1003/audio", raw=_tone_wav(1300, 6), expect=200)
    time.sleep(1.0)
    caller, agent_, third = (tail(f"/sim/calls/{cid}/heard.wav"), tail("/sim/stations/1001/heard.wav"),
                             tail("/sim/stations/1003/heard.wav"))
    assert _hears(caller, 900) and _hears(caller, 1300)
    assert _hears(agent_, 500) and _hears(agent_, 1300)
    assert _hears(third, 500) and _hears(third, 900)
    box.api("POST", "/sim/stations/1003/hangup", {}, expect=200)
    box.wait_event(cid, "conference.ended")
    assert box.state(cid)["state"] == "bridged", "the third party leaving ended the call"
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)


def test_attended_transfer(acd_box, hotline_bin) -> None:
    """ann holds the caller, consults bob (they talk while the caller hears music), then completes:
    the caller talks with bob, ann is free."""
    box = acd_box(strategy="linear", ring_timeout=10, wrapup_seconds=0)
    ann = user_client(box, hotline_bin, "ann", "agent")
    login(box, "ann", "1001")
    cid = connected_call(box, "13200000000", "1001")
    assert ann.api("POST", f"/calls/{cid}/consult", {"extension": "1002"})["_status"] == 409  # not on hold yet
    ann.api("POST", f"/calls/{cid}/hold", {}, expect=200)
    box.wait_event(cid, "call.held")
    ann.api("POST", f"/calls/{cid}/consult", {"extension": "1002"}, expect=200)
    box.wait_station("1002", "ringing")
    box.api("POST", "/sim/stations/1002/answer", {}, expect=200)
    box.api("POST", "/sim/stations/1001/audio", raw=_tone_wav(900, 4), expect=200)   # ann briefs bob
    time.sleep(0.6)
    import io
    import wave

    import numpy as np
    with wave.open(io.BytesIO(box.api("GET", "/sim/stations/1002/heard.wav"))) as w:
        briefing = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")[-8000:]
    with wave.open(io.BytesIO(box.api("GET", f"/sim/calls/{cid}/heard.wav"))) as w:
        holding = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")[-8000:]
    assert _hears(briefing, 900) and not _hears(holding, 900), "the caller overheard the consultation"
    ann.api("POST", f"/calls/{cid}/complete", {}, expect=200)
    box.wait_event(cid, "call.bridged", peer="1002")
    box.wait_station("1001", "idle")
    ev = box.wait_event(cid, "call.transferred", mode="attended")
    assert ev["data"]["source"] == "1001" and ev["data"]["target"] == "1002"
    box.api("POST", f"/sim/calls/{cid}/audio", raw=_tone_wav(500, 4), expect=202)
    time.sleep(0.6)
    with wave.open(io.BytesIO(box.api("GET", "/sim/stations/1002/heard.wav"))) as w:
        talk = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")[-8000:]
    assert _hears(talk, 500), "bob does not hear the caller after the transfer"
    box.api("POST", "/sim/stations/1002/hangup", {}, expect=200)
    box.wait(cid, "ended")
    legs = box.legs(cid)
    assert [leg["peer"] for leg in legs] == ["1001", "1002"]


def test_recording_on_demand_pause_marker_and_audit(acd_box, hotline_bin) -> None:
    """An on-demand queue pauses the call's recording; the agent starts it, pauses for card numbers and
    resumes: each is journaled with the agent's name and the file carries a beep marker at the gap."""
    import wave

    import numpy as np
    box = acd_box(strategy="linear", ring_timeout=10, wrapup_seconds=0, recording="on_demand")
    ann = user_client(box, hotline_bin, "ann", "agent")
    login(box, "ann", "1001")
    cid = box.call(frm="13100000000", to="7000")
    box.wait_event(cid, "recording.paused")          # the policy paused it when the caller joined
    box.wait_station("1001", "ringing")
    box.api("POST", "/sim/stations/1001/answer", {}, expect=200)
    box.wait(cid, "bridged")
    assert ann.api("POST", f"/calls/{cid}/recording", {"action": "start"}, expect=200)["state"] == "recording"
    time.sleep(0.5)
    ann.api("POST", f"/calls/{cid}/recording", {"action": "pause"}, expect=200)
    assert ann.api("POST", f"/calls/{cid}/recording", {"action": "pause"})["_status"] == 409
    time.sleep(0.5)
    ann.api("POST", f"/calls/{cid}/recording", {"action": "resume"}, expect=200)
    time.sleep(0.5)
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)
    box.wait(cid, "ended")
    kinds = [(e["kind"], e["data"].get("by")) for e in box.state(cid)["events"] if e["kind"].startswith("recording.")]
    assert ("recording.resumed", "ann") in kinds and ("recording.paused", "ann") in kinds
    assert ("recording.paused", "policy:on_demand") in kinds
    path = box.cdr(cid)["recording"]
    with wave.open(path) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
    n = np.arange(800)
    probe = np.sin(2 * np.pi * 1400 * n / 8000)
    hits = [i for i in range(0, len(audio) - 800, 80)
            if abs(np.dot(audio[i:i + 800], probe)) > 0.3 * 4000 * 400]
    assert hits, "no gap marker in the recording"


def test_disk_guard_skips_recording_but_not_the_call(make_box) -> None:
    """With less free disk than the guard wants, calls are answered and work, without a recording."""
    box = make_box({"engine": {"recording_min_free_mb": 10 ** 7}})
    cid = box.call()
    box.wait_event(cid, "recording.skipped", reason="disk_low")
    box.wait(cid, "answered")
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)
    box.wait(cid, "ended")
    assert box.cdr(cid)["recording"] is None and box.cdr(cid)["disposition"] == "answered"


def test_blind_transfer_to_an_outside_number_and_to_a_queue(acd_box, hotline_bin) -> None:
    """The agent sends one caller to an outside number (dialled through a trunk) and another into a queue."""
    box = acd_box(strategy="linear", ring_timeout=10, wrapup_seconds=0)
    ann = user_client(box, hotline_bin, "ann", "agent")
    login(box, "ann", "1001")
    cid = connected_call(box, "13000000001", "1001")
    assert ann.api("POST", f"/calls/{cid}/blind_transfer", {"number": "12"})["_status"] == 400
    ann.api("POST", f"/calls/{cid}/blind_transfer", {"number": "02087654321"}, expect=200)
    box.wait_event(cid, "call.dialing", number="02087654321")
    box.wait_event(cid, "call.bridged", peer="sim0-t2", timeout=30)   # the far end answered on a trunk
    box.wait_station("1001", "idle")
    box.api("DELETE", f"/sim/calls/{cid}", expect=200)
    second = connected_call(box, "13000000002", "1001")
    ann.api("POST", f"/calls/{second}/blind_transfer", {"queue": "support"}, expect=200)
    deadline = time.monotonic() + 20   # back in the queue, and offered again (to the only agent: ann)
    kinds: list = []
    while time.monotonic() < deadline:
        kinds = [e["kind"] for e in box.state(second)["events"]]
        if kinds.count("queue.joined") == 2 and kinds.count("agent.offered") == 2:
            break
        time.sleep(0.1)
    assert kinds.count("queue.joined") == 2 and kinds.count("agent.offered") == 2, kinds
    assert kinds.index("call.transferred") < len(kinds) - 1 - kinds[::-1].index("queue.joined")
    box.api("DELETE", f"/sim/calls/{second}", expect=200)
