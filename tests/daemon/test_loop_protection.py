"""Nothing a request does stalls the 20 ms clock: the issue's hostile YAML, imports, WAVs and fault values sent
to a real daemon while 50 calls are up; and a reload with an empty hotline.yaml keeps the old configuration."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from hotline.daemon.box.abuse_bench import (
    HOLD_FLOW, HOLD_QUEUE, MISSED, cdrs_written, place_calls, run_probes)
from hotline.daemon.box.abuse_probes import Client, probes

CALLS = 50
# The probes of this part of the issue (YAML, imports, audio, fault switches); the bench runs every probe.
MINE = ("flow:", "acd.yaml:", "block list: 10 MB", "holidays: 10 MB", "block list: 20,000", "faults:", "audio:")


def loop_probes() -> list:
    """The hostile requests whose handling must happen off the event loop, bounded."""
    return [p for p in probes() if p.name.startswith(MINE) and p.area != "unicode"]


@pytest.fixture
def holding_box(prepared_box, hotline_bin):
    """A real daemon whose number 7000 holds callers in a queue nobody answers, 60 trunks, an admin token."""
    sim = {"name": "sim0", "driver": "sim", "trunks": CALLS + 10, "stations": ["1001", "1002"], "answer_delay": 0.2}
    d = prepared_box(flows={"hold": HOLD_FLOW}, routes={"7000": "hold"}, acd=HOLD_QUEUE, config={"devices": [sim]})
    out = subprocess.run([hotline_bin, "-c", str(d.config), "user", "add", "boss", "--role", "admin", "--token"],
                         env=d.env, capture_output=True, text=True, check=True).stdout
    d.client = Client(d.url, out.strip().splitlines()[-1], d.qa_token)
    return d


MISSED_BUDGET = 0  # ticks over the whole attack (a solo test: scripts/test runs it alone on the machine)
# When other work saturates the machine's cores (load average above twice the core count, before and after the
# attack: the test's own daemon, client and worker count for about 2), the clock also waits for
# the CPU itself: on the shared 2-core development box at load 10 to 40 the attack cost 0 to 7 ticks, spread
# over probes whose daemon side is a few ms of work (the 60 s WAV, the 20,000-number import).
LOADED_BUDGET = 8


def busy_machine() -> bool:
    """True when the 1-minute load average is above twice the number of cores."""
    return os.getloadavg()[0] > 2 * (os.cpu_count() or 1)


@pytest.mark.solo
def test_hostile_inputs_with_50_calls_up_miss_no_tick(holding_box) -> None:
    """Alias bombs (as keys and values), a recursive alias, a bare scalar flow, !!python tags, 10 MB imports, a
    1 Hz WAV, a minute of 44.1 kHz stereo, and fault values like {"$gt": ""}: each is answered with a clear 4xx
    (or done, for the valid big ones), no tick part fails, all 50 calls are still up and every one gets its CDR,
    and the media clock misses no tick over the whole attack (before this work one flow missed 625; big
    documents are now checked in a worker process, daemon/box/procwork.py, and none falls back to a thread).
    On a machine other work keeps saturated throughout the attack, LOADED_BUDGET."""
    d, client = holding_box, holding_box.client
    ids, placed = place_calls(client, CALLS)
    assert ids == placed and len(ids) == CALLS, f"{len(ids)} of {len(placed)} calls held (admission control)"
    time.sleep(1.0)
    quiet0 = client.metric(MISSED)
    time.sleep(5.0)
    missed0, busy = client.metric(MISSED), busy_machine()
    answers = run_probes(client, ids[0], f"sim0-t{CALLS + 5}", chosen=loop_probes(), workers=1)
    time.sleep(1.0)
    missed = client.metric(MISSED) - missed0
    bad = [(a.probe.name, a.status, a.head[:200]) for a in answers if a.verdict != "ok"]
    assert not bad, bad
    print(f"missed ticks: {missed:.0f} during the attack, {missed0 - quiet0:.0f} in 5 s before it")
    by_probe = {a.probe.name: a.missed_ticks for a in answers if a.missed_ticks}
    busy = busy and busy_machine()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: budget "
          f"{LOADED_BUDGET if busy else MISSED_BUDGET}")
    assert missed <= (LOADED_BUDGET if busy else MISSED_BUDGET), (
        f"{missed:.0f} ticks missed during the hostile requests {by_probe} (this machine missed "
        f"{missed0 - quiet0:.0f} in 5 s with no requests; load average {os.getloadavg()[0]:.1f})")
    assert client.metric("hotline_media_tick_errors_total") == 0
    assert "event=work_in_thread" not in d.output()  # every big document went to the worker process
    by_name = {a.probe.name: a for a in answers}
    assert "expected a mapping" in by_name["flow: a bare scalar"].head
    assert "values once aliases are expanded" in by_name["flow: alias bomb as a key"].head
    assert "!!python/object/apply:os.system is not allowed" in by_name["acd.yaml: !!python/object/apply"].head
    assert "hangup_after: expected null or a number" in by_name["faults: hangup_after {$gt}"].head
    assert "sample rate of 1 Hz is not supported" in by_name["audio: 1 Hz WAV"].head
    status, faults = client.json("POST", f"/api/v1/sim/lines/sim0-t{CALLS + 5}/faults", "qa", {})
    assert status == 200 and faults["hangup_after"] is None and faults["busy"] is False, faults
    _, listing = client.json("GET", "/api/v1/sim/calls", "qa")
    assert sum(c["uuid"] in ids and c["state"] == "answered" for c in listing["calls"]) == CALLS
    for cid in ids:
        client.request("DELETE", f"/api/v1/sim/calls/{cid}", "qa")
    assert cdrs_written(d.state / "hotline.db", ids) == CALLS


def test_reload_refuses_an_empty_file_and_keeps_the_configuration(prepared_box) -> None:
    """SIGHUP while hotline.yaml is empty (a half-written edit): refused with the reason in the log, the box
    keeps serving with its configuration; the real file reloads afterwards."""
    d = prepared_box()
    text = Path(d.config).read_text()
    Path(d.config).write_text("")
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while "event=reload_failed" not in d.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "the file is empty" in d.output() and "event=reload_failed keeping=previous" in d.output()
    assert d.wait_healthy()["status"] == "serving"
    Path(d.config).write_text(text.replace("level: info", "level: debug", 1))
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while "event=reloaded" not in d.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "event=reloaded changed=logging" in d.output(), d.output()[-2000:]
    assert d.wait_healthy()["status"] == "serving"
