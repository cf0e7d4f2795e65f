"""Series stay bounded: 10,000 simulated calls through the whole daemon do not grow /metrics.

The daemon is assembled in-process from a configuration (every component, the web server included) and driven
through the simulated card exactly like the QA API does (``SimControl.place_call``): each caller has its own
number, 85 % go through a one-step IVR, 10 % into a queue with two agents whose phones answer by themselves,
5 % into a queue nobody serves; callers hang up half a second after the box answers. /metrics is fetched over
HTTP after 500 calls and after 10,000; the series may differ by at most the fixed direction x disposition
grid of ``hotline_calls_total`` -- a bound that does not depend on how many calls were made -- and no label
carries a caller number or a call id. The state directory sits on /dev/shm when there is one (the figures do
not depend on the disk; per-call SQLite commits on a shared disk would only make the test slow).
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from hotline.daemon.acd import config as acd_config
from hotline.daemon.box.app import Hotline
from hotline.daemon.box.config import load_config
from hotline.daemon.box.metrics import DIRECTIONS
from hotline.daemon.calls.simerrors import SimCallRefused
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store

REPO = Path(__file__).resolve().parents[2]
CALLS = 10_000
WARMUP = 500
IN_FLIGHT = 100
DISPOSITIONS = ("connected", "answered", "unanswered", "refused", "interrupted")
BOUND = len(DIRECTIONS) * len(DISPOSITIONS)   # hotline_calls_total{direction, disposition}: every pair at most
TIME_LIMIT = 300.0
FLOWS = {
    "support_q": "flow: support_q\nblocks:\n  main:\n    - answer\n    - queue: {name: support}\n    - hangup\n",
    "empty_q": "flow: empty_q\nblocks:\n  main:\n    - answer\n    - queue: {name: empty}\n    - hangup\n",
    "ivr_only": "flow: ivr_only\nblocks:\n  main:\n    - answer\n    - hangup\n",
}
QUEUES = """
agents:
  - {name: ann, extension: "1001"}
  - {name: bob, extension: "1002"}
queues:
  support:
    join_empty: true
    announce_position: false
    announce_estimate: false
    wrapup_seconds: 0
    members: [{agent: ann}, {agent: bob}]
  empty:
    join_empty: true
    announce_position: false
    announce_estimate: false
    members: []
"""
CALLER_OR_CALL_ID = re.compile(r"\d{7,}|[0-9a-f]{8}-[0-9a-f]{4}-")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def workdir(tmp_path: Path):
    """A directory for the box's state: on tmpfs when the machine has /dev/shm."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else str(tmp_path)
    path = Path(tempfile.mkdtemp(prefix="hotline-series-", dir=base))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_config(base: Path, port: int):
    flows = base / "flows"
    flows.mkdir()
    for name, text in FLOWS.items():
        (flows / f"{name}.yaml").write_text(text)
    cfg = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())
    cfg["paths"].update(state=str(base / "state"), flows=str(flows), prompts=str(base / "prompts"),
                        prompt_manifest=str(REPO / "etc" / "prompts" / "manifest.yaml"))
    cfg["web"]["listen"] = f"127.0.0.1:{port}"
    cfg["engine"].update(speed=1.0, record_calls=False, overrun_ms=100)
    cfg["devices"] = [{"name": "sim0", "driver": "sim", "trunks": 128, "stations": ["1001", "1002", "1003"],
                       "seed": 1, "capture_seconds": 1.0, "answer_delay": 0.1, "station_auto_answer": 0.2}]
    cfg["routes"] = [{"dialed": "7000", "flow": "support_q"}, {"dialed": "7001", "flow": "ivr_only"},
                     {"dialed": "7002", "flow": "empty_q"}]
    cfg["logging"] = {"level": "error", "components": {}}
    (base / "hotline.yaml").write_text(yaml.safe_dump(cfg))
    config = load_config(str(base / "hotline.yaml"), env={})
    store = Store(config.database_url)
    store.open()
    store.write_sync(migrations.upgrade, store.db)
    store.write_sync(acd_config.import_document, acd_config.parse(QUEUES, "queues.yaml"))
    store.close()
    return config


def series(text: str) -> set[tuple[str, tuple]]:
    """Every series of an exposition: (sample name, labels)."""
    return {(s.name, tuple(sorted(s.labels.items())))
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(text: str, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return next(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
                if (s.name, tuple(sorted(s.labels.items()))) == key)


def test_series_stay_bounded_after_10000_calls(workdir: Path) -> None:
    """After 10,000 calls /metrics has the series it had after 500, give or take the fixed
    direction x disposition grid; every call is counted; no label value is a number or a call id."""
    port = free_port()
    config = make_config(workdir, port)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run ./scripts/test (it installs Debian's prometheus package)"

    async def main() -> tuple[str, str, float, int]:
        from tornado.httpclient import AsyncHTTPClient
        app = Hotline(config, env={})
        app.build()
        await app.start()
        s, comps = app.services, dict(app.components)
        try:
            for name, ext in (("ann", "1001"), ("bob", "1002")):
                s["acd"].agent_action(name, "login", station=ext, by="test")
            card = s["devices"].devices["sim0"].driver
            for line in card.lines.values():
                if line.kind.value == "trunk":
                    card.set_faults(line, hangup_after=0.5)
            calls, sim = s["calls"], s["sim"]
            started = time.monotonic()

            async def settle_and_scrape() -> str:
                while calls.calls:
                    assert time.monotonic() - started < TIME_LIMIT, "calls did not finish in time"
                    await asyncio.sleep(0.05)
                await s["journal"].flush()
                await comps["stats"].catch_up()
                assert await comps["metrics"].update()
                response = await AsyncHTTPClient().fetch(f"http://127.0.0.1:{port}/metrics")
                return response.body.decode()

            placed = refusals = 0
            before = ""
            while placed < CALLS:
                assert time.monotonic() - started < TIME_LIMIT, f"only {placed} calls placed in {TIME_LIMIT}s"
                if len(calls.calls) >= IN_FLIGHT:
                    await asyncio.sleep(0.002)
                    continue
                to = "7000" if placed % 20 in (0, 10) else "7002" if placed % 20 == 5 else "7001"
                try:
                    sim.place_call(f"138{placed:08d}", to=to)
                except SimCallRefused:  # admission control: this test drives the box flat out; redial
                    refusals += 1
                    await asyncio.sleep(0.05)
                    continue
                except Exception:      # every trunk busy for a moment (lines free as calls end)
                    await asyncio.sleep(0.005)
                    continue
                placed += 1
                await asyncio.sleep(0)
                if placed == WARMUP:
                    before = await settle_and_scrape()
            after = await settle_and_scrape()
            return before, after, time.monotonic() - started, refusals
        finally:
            await app.shutdown(drain=False)

    before, after, seconds, refusals = asyncio.run(main())
    print(f"{CALLS} calls in {seconds:.1f}s, {refusals} refused by admission control and redialled")
    # the calls really flowed (from the summary tables and the live counters)
    assert value(after, "hotline_calls_offered_total", direction="inbound") == CALLS + refusals
    ended = sum(s.value for fam in text_string_to_metric_families(after) for s in fam.samples
                if s.name == "hotline_calls_total")
    refused = sum(s.value for fam in text_string_to_metric_families(after) for s in fam.samples
                  if s.name == "hotline_calls_refused_total")
    assert ended + refused == CALLS + refusals and refused == refusals
    support = value(after, "hotline_queue_calls_offered_total", queue="support")
    assert support == CALLS // 10 and value(after, "hotline_queue_calls_offered_total", queue="empty") == CALLS // 20
    assert value(after, "hotline_queue_calls_answered_total", queue="support") > 0
    assert value(after, "hotline_queue_calls_abandoned_total", queue="support") > 0
    # bounded: what is new after 9,500 more calls is at most the fixed grid of hotline_calls_total
    old, new = series(before), series(after)
    grown = new - old
    assert len(new) - len(old) <= BOUND and all(name == "hotline_calls_total" for name, _ in grown), sorted(grown)
    assert len(old - new) == 0, sorted(old - new)
    labels = {v for _, lbls in new for _, v in lbls}
    assert not [v for v in labels if CALLER_OR_CALL_ID.search(v)], "a label carries a number or a call id"
    lint = subprocess.run([promtool, "check", "metrics"], input=after, capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0 and not (lint.stdout + lint.stderr).strip(), lint.stdout + lint.stderr
