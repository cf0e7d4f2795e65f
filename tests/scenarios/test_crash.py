"""kill -9 in the middle of calls, then restart: nothing finished is lost, nothing is left open."""
from __future__ import annotations

import signal
import wave

import pytest


def test_kill_9_during_calls_then_restart(make_box, tmp_path) -> None:
    """Finished calls keep their CDRs; calls in progress are closed as interrupted with playable recordings."""
    state = tmp_path / "state"
    box = make_box(state=state)
    finished = []
    for i in range(3):
        cid = box.call(frm=f"1380000000{i}")
        box.wait(cid, "answered")
        box.api("DELETE", f"/sim/calls/{cid}", expect=200)
        box.wait(cid, "ended")
        finished.append(cid)
    before = {cid: box.cdr(cid) for cid in finished}

    live = []
    for i, ext in enumerate(("1002", "1003")):
        cid = box.call(frm=f"1390000000{i}")
        box.wait(cid, "answered")
        box.api("POST", f"/sim/calls/{cid}/dtmf", {"digits": f"{ext}#"}, expect=202)
        box.wait_station(ext, "ringing")
        box.api("POST", f"/sim/stations/{ext}/answer", {}, expect=200)
        box.wait(cid, "bridged")
        live.append(cid)
    box.wait_event(live[-1], "call.bridged")
    import time
    deadline = time.monotonic() + 20  # recordings reach the disk every 0.5 s of call time
    parts: list = []
    while time.monotonic() < deadline:
        parts = [p for p in state.glob("recordings/**/*.wav.part") if p.stat().st_size > 44 + 16000]
        if len(parts) == 2:
            break
        time.sleep(0.1)
    assert len(parts) == 2, f"expected two open recordings with audio, found {parts}"

    box.d.proc.send_signal(signal.SIGKILL)
    box.d.proc.wait(10)

    box2 = make_box(state=state)
    for cid in finished:
        assert box2.cdr(cid) == before[cid], "a finished call's CDR changed after the crash"
    for cid in live:
        row = box2.cdr(cid)
        assert row["disposition"] == "interrupted" and row["cause"] == "interrupted", row
        legs = box2.legs(cid)
        assert [leg["disposition"] for leg in legs] == ["interrupted"], legs
        assert row["recording"], f"interrupted call {cid} has no repaired recording in its CDR"
        with wave.open(row["recording"]) as w:
            seconds = w.getnframes() / w.getframerate()
            assert w.getframerate() == 8000 and w.getnchannels() == 1
        assert seconds > 0.5, f"repaired recording only {seconds:.2f}s"
    assert not list(state.glob("recordings/**/*.wav.part")), "a .part file was left behind"
    with box2.db() as con:
        states = {r[0]: r[1] for r in con.execute("SELECT call_uuid, state FROM recordings")}
    assert all(states[cid] == "repaired" for cid in live), states
    assert all(states[cid] == "closed" for cid in finished), states
    kinds = [e["kind"] for e in box2.api("GET", f"/calls/{live[0]}/events", expect=200)["events"]]
    assert "recording.repaired" in kinds and kinds[-1] != "call.offered"
    assert "call.ended" in kinds
