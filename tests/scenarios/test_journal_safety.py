"""No request can stop the journal: invalid text is refused where it enters, a failing database turns /healthz
and a gauge red and loses nothing across a stop, and every call the box accepted ends with exactly one CDR,
whatever the input and whatever the crash (kill -9 included)."""
from __future__ import annotations

import json
from pathlib import Path
import random
import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request

SURROGATE_BODIES = [
    ("/sim/calls", {"from": "13700000021", "to": "8001", "name": "\ud800"}, "name"),
    ("/sim/calls", {"from": "1370000\udfff", "to": "8001"}, "from"),
    ("/sim/calls", {"from": "13700000021", "to": "80\udc80"}, "to"),
    ("/sim/calls", {"from": "13700000021", "to": "8001", "note": ["ok", {"x\ud83d": 1}]}, "note[1] (a key)"),
    ("/sim/stations/1002/dial", {"number": "\ud800"}, "number"),
    ("/sim/lines/sim0-t8/faults", {"noise\udfff": 1}, "body (a key)"),
]


def _admin_token(box) -> str:
    """An admin API token for this box (anonymous /healthz shows the state only, admins see components)."""
    if getattr(box, "admin_token", None) is None:
        import os
        import subprocess
        import sys
        import uuid
        HOTLINE = str(Path(sys.executable).parent / "hotline")
        env = {**os.environ, "HOTLINE_STATE_DIR": str(box.d.state)}
        out = subprocess.run([HOTLINE, "-c", str(box.d.config), "user", "add", f"health{uuid.uuid4().hex[:6]}",
                              "--role", "admin", "--token"], env=env, capture_output=True, text=True, timeout=60,
                             check=True).stdout
        box.admin_token = out.strip().splitlines()[-1]
    return box.admin_token


def _health(box) -> tuple[int, dict]:
    request = urllib.request.Request(box.d.url + "/healthz", headers={"Authorization": f"Bearer {_admin_token(box)}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _metric(box, name: str) -> str:
    with urllib.request.urlopen(box.d.url + "/metrics", timeout=5) as r:
        return "\n".join(x for x in r.read().decode().splitlines() if x.startswith(name))


def _cdr_counts(box, uuids) -> dict[str, int]:
    with box.db() as con:
        return {u: con.execute("SELECT COUNT(*) FROM cdrs WHERE call_uuid = ?", (u,)).fetchone()[0] for u in uuids}


def test_invalid_unicode_is_refused_naming_the_field_and_cdrs_keep_coming(make_box) -> None:
    """The finding: a lone surrogate in a caller name was accepted (201) and stopped all journal and CDR
    writing for good. Now every QA route answers 400 naming the field, and calls after it get their CDRs."""
    box = make_box()
    for path, body, field in SURROGATE_BODIES:
        got = box.api("POST", path, body)
        assert got["_status"] == 400 and got["error"].startswith(field), (path, got)
        assert "invalid Unicode" in got["error"], got
    done = []
    for i in range(3):
        cid = box.call(frm=f"1370000003{i}", name="\u674e\u56db \U0001F600")
        box.wait(cid, "answered")
        box.api("DELETE", f"/sim/calls/{cid}", expect=200)
        done.append(cid)
    for cid in done:
        assert box.cdr(cid)["caller_name"] == "\u674e\u56db \U0001F600"
    status, doc = _health(box)
    assert status == 200 and doc["status"] == "serving" and doc["components"]["journal"]["state"] == "up", doc
    assert doc["components"]["journal"]["buffered"] == 0


def test_failing_database_turns_healthz_and_gauge_red_and_a_stop_spills_what_the_next_start_writes(
        make_box, tmp_path) -> None:
    """The events table vanishes under the running box: calls still end (no wait), /healthz answers 503
    failing and hotline_journal_failing is 1; a stop spills the buffer, and after the repair the next start
    writes it: each call has its one CDR."""
    state = tmp_path / "state"
    box = make_box(state=state)
    ended = box.call(frm="13700000041")
    box.wait(ended, "answered")
    live = box.call(frm="13700000042")
    box.wait(live, "answered")
    with sqlite3.connect(state / "hotline.db", timeout=10) as con:
        con.execute("ALTER TABLE events RENAME TO events_away")
    started = time.monotonic()
    box.api("DELETE", f"/sim/calls/{ended}", expect=200)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _health(box)[0] == 200:
        time.sleep(0.1)
    status, doc = _health(box)
    assert status == 503 and doc["status"] == "failing", doc
    journal = doc["components"]["journal"]
    assert journal["state"] == "failing" and "no such table" in journal["error"], journal
    assert 'hotline_journal_failing{writer="events"} 1.0' in _metric(box, "hotline_journal_failing")
    assert time.monotonic() - started < 8, "the hang-up waited for the database"
    box.d.signal(signal.SIGTERM)
    time.sleep(0.5)
    box.d.signal(signal.SIGTERM)  # the second one stops at once: the live call is ended by the stop
    assert box.d.wait(60) == 0
    spill = state / "journal-spill.jsonl"
    assert spill.exists(), box.d.output()[-3000:]
    with sqlite3.connect(state / "hotline.db", timeout=10) as con:
        con.execute("ALTER TABLE events_away RENAME TO events")

    box2 = make_box(state=state)
    assert not spill.exists(), "the spill file was not written back at start"
    assert _cdr_counts(box2, [ended, live]) == {ended: 1, live: 1}
    assert box2.cdr(ended)["disposition"] == "answered"
    assert box2.cdr(live)["cause"] in ("shutdown", "interrupted")
    assert _health(box2)[0] == 200


def _traffic(box, accepted: list, refused: list, stop: threading.Event, seed: int) -> None:
    """One QA client: calls with hostile text, hung up at random moments or left up."""
    rnd = random.Random(seed)
    names = ["\ud800", "nul\x00byte", "\U0001F600" * 8, "=cmd|' /C calc'!A0", "\u202eevil", "x" * 64,
             "\u5f20\u4e09", "", "tab\there", "x" * 65, "\udcff\udcfe"]
    while not stop.is_set():
        name = rnd.choice(names)
        try:
            got = box.api("POST", "/sim/calls", {"from": f"139{rnd.randrange(10**8):08d}", "to": "8001",
                                                 "name": name})
        except OSError:
            return  # the box was killed
        if got.get("_status") == 201:
            accepted.append(got["id"])
            if rnd.random() < 0.7:
                time.sleep(rnd.uniform(0, 0.6))
                try:
                    box.api("DELETE", f"/sim/calls/{got['id']}")
                except OSError:
                    return
        elif got.get("_status") == 400:
            refused.append(name)
        else:
            time.sleep(0.05)  # every trunk busy: wait for one


def test_every_accepted_call_ends_with_exactly_one_cdr_through_hostile_input_and_kill_9(make_box, tmp_path) -> None:
    """Four QA clients place calls with hostile names and hang up at random; the box is killed with -9 in the
    middle, twice. After each restart every call answered 201 has exactly one CDR, and no call in the journal
    is without one."""
    state = tmp_path / "state"
    box = make_box(state=state)
    accepted: list[str] = []
    refused: list[str] = []
    for round_no in range(2):
        stop = threading.Event()
        clients = [threading.Thread(target=_traffic, args=(box, accepted, refused, stop, round_no * 10 + i))
                   for i in range(4)]
        for c in clients:
            c.start()
        time.sleep(random.Random(round_no).uniform(3, 5))
        box.d.proc.send_signal(signal.SIGKILL)
        box.d.proc.wait(10)
        stop.set()
        for c in clients:
            c.join(20)
        box = make_box(state=state)
        counts = _cdr_counts(box, accepted)
        assert [u for u, n in counts.items() if n != 1] == [], f"round {round_no}: calls without exactly one CDR"
        with box.db() as con:
            orphans = con.execute("SELECT COUNT(DISTINCT call_uuid) FROM events WHERE kind IN "
                                  "('call.offered', 'leg.offered') AND call_uuid NOT IN (SELECT call_uuid FROM cdrs)"
                                  ).fetchone()[0]
            interrupted = con.execute("SELECT COUNT(*) FROM cdrs WHERE disposition = 'interrupted'").fetchone()[0]
        assert orphans == 0, f"round {round_no}: {orphans} calls in the journal have no CDR"
    assert len(accepted) >= 20 and len(refused) >= 5, (len(accepted), len(refused))
    print(f"\ninvariant: {len(accepted)} calls accepted, {len(accepted)} with exactly one CDR, "
          f"{interrupted} closed as interrupted, {len(refused)} requests refused with 400, 2 kill -9")
