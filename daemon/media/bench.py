"""``hotline bench``: N concurrent simulated calls doing real work, and what the media tick costs."""
from __future__ import annotations

import asyncio
import json
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hotline.drivers.base import LineKind

from ..calls.manager import CallManager
from ..calls.devices import DeviceManager
from ..calls.journal import Journal
from .engine import MediaEngine
from ..box.metrics import Metrics
from ..calls.prompts import PromptLibrary
from ..calls.simctl import digits_audio
from ..store import migrations
from ..store.db import Store

DIGITS = "0123456789*#ABCD"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class _Ctx:
    """A minimal call context for the benchmark flow (answer, then loop a prompt with barge-in)."""

    def __init__(self, call: Any, manager: CallManager, prompt: np.ndarray):
        self.call, self.m, self.prompt = call, manager, prompt


async def _bench_flow(ctx: _Ctx) -> None:
    from ..calls.context import CallSession
    session = CallSession(ctx.call, ctx.m, prompts=None, tone_profile="CN", language="zh_CN")  # type: ignore[arg-type]
    await session.answer()
    while True:
        await session.play_audio(ctx.prompt, barge_in=True)


@dataclass
class Window:
    """A measured stretch of a benchmark: wall seconds, process CPU seconds, ticks the clock skipped."""

    wall: float = 0.0
    cpu: float = 0.0
    missed: int = 0
    tick_times: list = field(default_factory=list)


async def measure(engine: MediaEngine, seconds: float) -> Window:
    """Run for ``seconds`` and measure; missed ticks count both skipped deadlines and ticks that never ran."""
    engine.tick_times = []
    missed0, ticks0 = engine.missed_ticks, engine.ticks
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    ticks = list(engine.tick_times)
    missed = engine.missed_ticks - missed0 + max(0, round(wall / 0.02 - (engine.ticks - ticks0)) - 1)
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return Window(wall, cpu, int(missed), ticks)


async def start_stack(journal: Journal, engine: MediaEngine, devices: DeviceManager, calls: CallManager) -> Any:
    """Start an in-process stack in the daemon's order; the (single) simulated card."""
    await journal.start()
    await engine.start()
    await devices.start()
    card = next(iter(devices.devices.values())).driver
    engine.frame_devices = [card]
    await calls.start()
    return card


async def run_bench(channels: int, seconds: float, workdir: Path, record: bool = True,
                    threaded: dict | None = None) -> dict:
    """Run the benchmark and return the figures (``threaded``: the sim card's threaded-audio settings)."""
    store = Store(f"sqlite:///{workdir / 'bench.db'}")
    store.open()
    store.write_sync(migrations.upgrade, store.db)
    metrics = Metrics()
    engine = MediaEngine(channels + 8, speed=1.0, metrics=metrics)
    engine.tick_times = []
    journal = Journal(store, clock=engine.now)
    holder: list = []
    devices = DeviceManager([{"name": "bench", "driver": "sim", "trunks": channels, "stations": [],
                              "seed": 1, "capture_seconds": 0.0, "answer_delay": 1.0,
                              "station_auto_answer": None, "noise_dbm0": None, "enabled": True,
                              **(threaded or {})}],
                            lambda ev: holder[0].on_line_event(ev))
    cfg = {"engine": {"max_channels": channels, "call_timeout": 86400.0}}
    calls = CallManager(devices, engine, journal, store, workdir / "recordings", cfg, metrics)
    calls.record_calls = record
    holder.append(calls)
    prompt = await PromptLibrary(workdir / "prompts", "en_US").get("welcome", "en_US")
    calls.flow_for = lambda call: _bench_flow
    calls.context_factory = lambda call, m: _Ctx(call, m, prompt)
    card = await start_stack(journal, engine, devices, calls)

    trunks = [ln for ln in card.lines.values() if ln.kind is LineKind.TRUNK]
    for i, line in enumerate(trunks):
        card.far_call(line, f"1380000{i:04d}", "", "8001")
    await asyncio.sleep(2.0)  # every call answered and playing
    tones = {d: digits_audio(d, 80, 80) for d in DIGITS}
    rng = np.random.default_rng(7)
    period_ticks = 150  # each caller presses a key every 3 s, staggered
    offsets = rng.integers(0, period_ticks, len(trunks))
    sent = 0
    detected_before = metrics.dtmf_digits.labels("inband")._value.get()
    stop_sending = engine.ticks + int(seconds / 0.02) - 50

    def press_keys() -> None:
        nonlocal sent
        if engine.ticks >= stop_sending:
            return
        phase = engine.ticks % period_ticks
        for idx in np.nonzero(offsets == phase)[0]:
            card.far_send(trunks[idx], tones[DIGITS[(engine.ticks + idx) % len(DIGITS)]])
            sent += 1
    engine.tick_hooks.append(press_keys)
    window = await measure(engine, seconds)
    wall = window.wall
    while engine.ticks < stop_sending + 60:  # the last keys (sent 1 s before the end) are detected by now
        await asyncio.sleep(0.02)
    detected = metrics.dtmf_digits.labels("inband")._value.get() - detected_before
    ticks = np.array(window.tick_times) * 1000.0
    result = {
        "channels": engine.active,
        "seconds": round(wall, 2),
        "tick_p50_ms": round(float(np.percentile(ticks, 50)), 3),
        "tick_p99_ms": round(float(np.percentile(ticks, 99)), 3),
        "tick_max_ms": round(float(ticks.max()), 3),
        "missed_ticks": window.missed,
        "cpu_s_per_channel_hour": round(window.cpu / max(1, engine.active) / (wall / 3600.0), 2),
        "rss_mb": round(_rss_mb(), 1),
        "digits_sent": sent,
        "digits_detected": int(detected),
    }
    if card.audio is not None:  # threaded: what the elastic buffers had to do over the whole run
        result.update({k: v for k, v in card.audio.status().items() if not k.endswith("overflows")})
    engine.tick_hooks.remove(press_keys)
    await calls.stop()
    await devices.stop()
    await engine.stop()
    await journal.stop()
    store.close()
    return result


def print_result(result: dict, as_json: bool) -> None:
    """One JSON object, or an aligned key/value table."""
    if as_json:
        print(json.dumps(result))
        return
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")


def bench_main(channels: int, seconds: float, as_json: bool, record: bool = True,
               threaded: dict | None = None) -> int:
    """Entry point of ``hotline bench``."""
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as tmp:
        result = asyncio.run(run_bench(channels, seconds, Path(tmp), record, threaded))
    print_result(result, as_json)
    ok = result["missed_ticks"] == 0 and result["digits_detected"] == result["digits_sent"]
    return 0 if ok else 1
