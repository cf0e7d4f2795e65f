"""``hotline acd-bench``: how soon a free agent is offered the next caller with hundreds waiting, and what waiting costs.

The real components run in-process (sim card, media engine, call manager, journal on
SQLite, the ACD): 100 agents log in at simulated stations that answer by themselves
after 0.5 s and hang up after a random handle time; callers arrive as a Poisson stream
whose rate follows the agents' pace so that about ``waiting`` callers hear music on hold
the whole time. The line is filled first with every agent on a break, then the agents go
ready; after a warm-up the figures are taken over ``seconds``.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hotline.drivers.base import LineKind
from hotline.drivers.sim.card import FarState, SimCard

from ..media.bench import measure, print_result, start_stack
from ..calls.manager import CallManager
from ..calls.context import CallSession
from ..calls.devices import DeviceManager
from ..calls.journal import Journal
from ..media.engine import MediaEngine
from ..box.metrics import Metrics
from ..store import migrations
from ..store.db import Store
from . import config as acd_config
from .agents import Agent, AgentState
from .manager import Acd

QUEUE = "bench"
ANSWER_AFTER = 0.5           # seconds a station rings before the agent picks up
HANDLE_S = (2.0, 8.0)        # talk time of a call, uniform (seconds)
FEEDBACK_S = 5.0             # the arrival rate closes the gap to the target line length in about this long
FIRST_STATION = 2000


def queue_document(agents: int) -> dict:
    """One queue served by every agent, announcements off (their cost is not the subject), no wrap-up."""
    names = [f"agent{i:03d}" for i in range(agents)]
    return {
        "agents": [{"name": n, "extension": str(FIRST_STATION + i)} for i, n in enumerate(names)],
        "queues": {QUEUE: {"strategy": "longest_idle", "ring_timeout": 15, "wrapup_seconds": 0,
                           "max_wait": 7200, "max_callers": 5000, "join_empty": True,
                           "announce_position": False, "announce_estimate": False, "announce_every": 600,
                           "leave_key": None, "members": [{"agent": n} for n in names]}},
    }


@dataclass
class DispatchProbe:
    """Stamps an agent turning ready (with callers waiting) and the offer that follows; runs on the loop."""

    waiting: Any                                  # () -> callers waiting and not being offered
    measuring: bool = False
    ready_at: dict[int, float] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    offers: int = 0

    def on_agent_changed(self, agent: Agent) -> None:
        """Agent book listener (first in the list, so the stamp precedes the dispatcher's wake-up)."""
        now = time.perf_counter()
        if agent.state is AgentState.READY:
            if self.waiting():
                self.ready_at[agent.id] = now
        elif agent.state is AgentState.RESERVED:
            since = self.ready_at.pop(agent.id, None)
            if self.measuring:
                self.offers += 1
                if since is not None:
                    self.latencies.append(now - since)
        else:
            self.ready_at.pop(agent.id, None)


@dataclass
class BenchBox:
    """The components of the in-process box."""

    store: Store
    engine: MediaEngine
    journal: Journal
    devices: DeviceManager
    calls: CallManager
    acd: Acd
    card: SimCard


async def build_box(agents: int, trunks: int, workdir: Path) -> BenchBox:
    """Store, journal, engine, one sim card (trunks + agent stations), calls and the ACD, started in order."""
    store = Store(f"sqlite:///{workdir / 'acd-bench.db'}")
    store.open()
    store.write_sync(migrations.upgrade, store.db)
    doc = acd_config.parse(yaml.safe_dump(queue_document(agents)), "acd-bench.yaml")
    store.write_sync(acd_config.import_document, doc)
    metrics = Metrics()
    engine = MediaEngine(trunks + agents + 8, speed=1.0, metrics=metrics)
    engine.tick_times = []
    journal = Journal(store, clock=engine.now, metrics=metrics)
    holder: list = []
    stations = [str(FIRST_STATION + i) for i in range(agents)]
    devices = DeviceManager([{"name": "bench", "driver": "sim", "trunks": trunks, "stations": stations,
                              "seed": 1, "capture_seconds": 0.0, "answer_delay": 1.0,
                              "station_auto_answer": ANSWER_AFTER, "noise_dbm0": None, "enabled": True}],
                            lambda ev: holder[0].on_line_event(ev), metrics)
    cfg = {"engine": {"max_channels": trunks + agents, "call_timeout": 86400.0}}
    calls = CallManager(devices, engine, journal, store, workdir / "recordings", cfg, metrics)
    calls.record_calls = False
    holder.append(calls)
    acd = Acd(store, journal, calls, devices, engine, prompts=None)

    async def flow(session: CallSession) -> None:
        await session.answer()
        await acd.enter(session, QUEUE)
    calls.flow_for = lambda call: flow
    calls.context_factory = lambda call, m: CallSession(call, m, None, "CN", "zh_CN")  # type: ignore[arg-type]
    card = await start_stack(journal, engine, devices, calls)
    await acd.start()
    return BenchBox(store, engine, journal, devices, calls, acd, card)


async def close_box(box: BenchBox) -> None:
    """Stop in reverse order (every call still up ends with cause shutdown)."""
    await box.acd.stop()
    await box.calls.stop()
    keep = {asyncio.current_task(), box.engine._task, box.journal._task}
    others = [t for t in asyncio.all_tasks() if t not in keep]
    if others:  # CDRs of agent legs are written by tasks of their own: let them commit first
        await asyncio.wait(others, timeout=30.0)
    await box.devices.stop()
    await box.engine.stop()
    await box.journal.stop()
    box.store.close()


class Callers:
    """Poisson arrivals on free trunks; the rate is the agents' pace plus a pull towards the target line."""

    def __init__(self, box: BenchBox, target: int, pace: float, seed: int = 7):
        self.box = box
        self.target = target
        self.pace = pace
        self.rng = np.random.default_rng(seed)
        self.trunks = [ln for ln in box.card.lines.values() if ln.kind is LineKind.TRUNK]
        self.next_trunk = 0
        self.placed = 0
        self.samples: list[int] = []      # line length every 20 ms while sampling
        self.sampling = False

    def waiting(self) -> int:
        """Callers in the queue (being offered or not)."""
        return len(self.box.acd.queues[QUEUE].waiting)

    def place(self) -> bool:
        """One caller rings in on the next free trunk."""
        busy = self.box.devices.busy
        for _ in range(len(self.trunks)):
            line = self.trunks[self.next_trunk]
            self.next_trunk = (self.next_trunk + 1) % len(self.trunks)
            if line.far.state is FarState.IDLE and line.name not in busy:
                self.placed += 1
                self.box.card.far_call(line, f"139{self.placed:08d}", "", "8001")
                return True
        return False  # every trunk busy: the caller gets no line

    async def fill(self, timeout: float = 60.0) -> None:
        """Bring the line up to the target (20 callers per tick, so the engine keeps its clock)."""
        deadline = time.monotonic() + timeout
        while self.waiting() < self.target and time.monotonic() < deadline:
            for _ in range(min(20, self.target - self.waiting() - self._ringing())):
                self.place()
            await self.box.engine.sleep(0.02)

    def _ringing(self) -> int:
        return sum(1 for c in self.box.calls.calls.values() if c.direction == "inbound") - self.waiting()

    async def run(self) -> None:
        """Arrivals every 20 ms of media time until cancelled."""
        while True:
            await self.box.engine.sleep(0.02)
            waiting = self.waiting()
            if self.sampling:
                self.samples.append(waiting)
            rate = max(0.0, self.pace + (self.target - waiting) / FEEDBACK_S)
            for _ in range(int(self.rng.poisson(rate * 0.02))):
                self.place()


async def run_acd_bench(agents: int, waiting: int, seconds: float, workdir: Path,
                        handle_s: tuple[float, float] = HANDLE_S, warmup: float | None = None) -> dict:
    """Run the benchmark and return the figures (warm-up: 5 s, less for a short smoke run)."""
    warmup = min(5.0, max(1.0, seconds / 2)) if warmup is None else warmup
    trunks = waiting + 2 * agents + 50
    box = await build_box(agents, trunks, workdir)
    acd, engine = box.acd, box.engine
    q = acd.queues[QUEUE]
    probe = DispatchProbe(lambda: any(not e.busy for e in q.waiting))
    acd.agents.listeners.insert(0, probe.on_agent_changed)
    talk = random.Random(11)

    def hang_up_later(agent: Agent) -> None:
        if agent.state is AgentState.RESERVED and agent.station:
            box.card.set_faults(box.card.by_extension[agent.station], hangup_after=talk.uniform(*handle_s))
    acd.agents.listeners.append(hang_up_later)
    names = sorted(a.name for a in acd.agents.agents.values())
    for i, name in enumerate(names):
        acd.agent_action(name, "login", station=str(FIRST_STATION + i), by="bench")
        acd.agent_action(name, "state", state="not_ready", reason="break", by="bench")

    callers = Callers(box, waiting, pace=agents / (sum(handle_s) / 2 + ANSWER_AFTER + 0.1))
    arrivals: asyncio.Task | None = None
    try:
        await callers.fill()
        arrivals = asyncio.get_running_loop().create_task(callers.run())
        for name in names:
            acd.agent_action(name, "state", state="ready", by="bench")
        await asyncio.sleep(warmup)  # the first offers all at once, and the handle times drift apart

        probe.latencies.clear()
        probe.measuring, callers.sampling = True, True
        window = await measure(engine, seconds)
        probe.measuring, callers.sampling = False, False
        wall, cpu, tick_times, missed = window.wall, window.cpu, window.tick_times, window.missed
    finally:
        if arrivals is not None:
            arrivals.cancel()
        await close_box(box)

    mean_waiting = float(np.mean(callers.samples)) if callers.samples else 0.0
    lat = np.array(probe.latencies) * 1000.0
    ticks = np.array(tick_times) * 1000.0

    def pct(values: np.ndarray, p: float) -> float | None:
        return round(float(np.percentile(values, p)), 3) if values.size else None
    return {
        "agents": agents,
        "waiting_mean": round(mean_waiting, 1),
        "seconds": round(wall, 2),
        "offers": probe.offers,
        "dispatch_p50_ms": pct(lat, 50),
        "dispatch_p99_ms": pct(lat, 99),
        "dispatch_max_ms": round(float(lat.max()), 3) if lat.size else None,
        "cpu_s_per_waiting_caller_hour": round(cpu / max(mean_waiting, 1.0) / (wall / 3600.0), 2),
        "tick_p50_ms": pct(ticks, 50),
        "tick_p99_ms": pct(ticks, 99),
        "missed_ticks": int(missed),
    }


def acd_bench_main(agents: int = 100, waiting: int = 500, seconds: float = 30, as_json: bool = False,
                   handle_s: tuple[float, float] = HANDLE_S) -> int:
    """Entry point of ``hotline acd-bench``: 0 when the dispatch p99 is under 20 ms and no tick was missed."""
    quiet = logging.getLogger("hotline")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # hundreds of calls ending at once at the close are not news
    try:
        with tempfile.TemporaryDirectory(prefix="hotline-acd-bench-") as tmp:
            result = asyncio.run(run_acd_bench(agents, waiting, seconds, Path(tmp), handle_s))
    finally:
        quiet.setLevel(level)
    print_result(result, as_json)
    p99 = result["dispatch_p99_ms"]
    return 0 if p99 is not None and p99 < 20.0 and result["missed_ticks"] == 0 else 1


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline acd-bench``."""
    b = sub.add_parser("acd-bench", parents=[common],
                       help="agents and hundreds of waiting callers: time from a free agent to the next offer")
    b.add_argument("--agents", type=int, default=100, help="agents logged in at simulated stations")
    b.add_argument("--waiting", type=int, default=500, help="callers kept waiting in the queue")
    b.add_argument("--seconds", type=float, default=30.0, help="measured window (after fill and warm-up)")
    b.add_argument("--json", action="store_true", help="one JSON object")

    def run(args: argparse.Namespace) -> int:
        return acd_bench_main(args.agents, args.waiting, args.seconds, args.json)
    b.set_defaults(fn=run)
