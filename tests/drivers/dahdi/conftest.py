"""Shared by the DAHDI tests: the fake kernel, the real driver opened over it, and an in-process box (media engine,
device manager, call manager on real SQLite) whose ticks the test drives in step with the fake kernel's clock."""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from hotline.daemon.calls.context import CallSession
from hotline.daemon.calls.devices import DeviceManager
from hotline.daemon.calls.journal import Journal
from hotline.daemon.calls.manager import CallManager
from hotline.daemon.media.engine import MediaEngine
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store
from hotline.drivers import registry
from hotline.drivers.dahdi.driver import DahdiDriver
from hotline.drivers.dahdi.fakekernel import FakeDahdi


class Events:
    """A sink that keeps events and lets a test wait for one (the pollers post from their threads)."""

    def __init__(self) -> None:
        self.items: list = []
        self.cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self.cond:
            self.items.append(event)
            self.cond.notify_all()

    def wait_for(self, pred: Callable[[Any], bool], timeout: float = 3.0, kernel: FakeDahdi | None = None) -> Any:
        """The first event matching ``pred`` (advancing the fake clock meanwhile when given one)."""
        end = time.monotonic() + timeout
        while True:
            with self.cond:
                for e in self.items:
                    if pred(e):
                        return e
                if time.monotonic() > end:
                    raise AssertionError(f"no matching event within {timeout} s; got {self.items}")
                if kernel is None:
                    self.cond.wait(0.05)
            if kernel is not None:
                kernel.advance(5)
                kernel.settle()


@pytest.fixture
def card():
    """card(fake_kernel, **settings) -> (driver, events): the real driver opened over the fake kernel."""
    made: list[DahdiDriver] = []

    def make(kernel: FakeDahdi, sys: Any = None, **settings: Any) -> tuple[DahdiDriver, Events]:
        events = Events()
        drv = DahdiDriver("card0", settings, events, sys=sys or kernel, clock=kernel.now)
        drv.open()
        made.append(drv)
        return drv, events
    yield make
    for drv in made:
        drv.close()


@pytest.fixture
def box(tmp_path: Path, monkeypatch):
    """box(kernel, devices_cfg, flow) -> (engine, devices, calls): the daemon's call engine with the dahdi driver
    over ``kernel``; ``step(n)`` advances the fake card and the media clock together."""
    made: list = []

    async def make(kernel: FakeDahdi, devices_cfg: list[dict], flow=None):
        class FakeCardDriver(DahdiDriver):
            def __init__(self, device_name, settings, sink):
                super().__init__(device_name, settings, sink, sys=kernel, clock=kernel.now)
        real = registry.get
        monkeypatch.setattr(registry, "get", lambda name: FakeCardDriver if name == "dahdi" else real(name))
        store = Store(f"sqlite:///{tmp_path / 'h.db'}")
        store.open()
        store.write_sync(migrations.upgrade, store.db)
        engine = MediaEngine(16, speed=0)
        journal = Journal(store, clock=engine.now)
        holder: list = []
        devices = DeviceManager(devices_cfg, lambda ev: holder[0].on_line_event(ev), max_backoff=0.1)
        devices.engine = engine
        engine.on_device_error = devices.driver_raised
        calls = CallManager(devices, engine, journal, store, tmp_path / "rec",
                            {"engine": {"max_channels": 10, "call_timeout": 60.0}})
        calls.record_calls = False
        calls.flow_for = lambda call: flow
        calls.context_factory = lambda call, m: CallSession(call, m, None, "CN", "zh_CN")
        holder.append(calls)
        await journal.start()
        await devices.start()
        await calls.start()
        made.append((store, journal, calls, devices))
        return engine, devices, calls

    async def close() -> None:
        for store, journal, calls, devices in made:
            await calls.stop()
            await devices.stop()
            await journal.stop()
            store.close()
    make.close = close
    return make


class Clock:
    """Advances the fake card and the box's media tick together (the ``clock`` fixture)."""

    @staticmethod
    async def step(engine: MediaEngine, kernel: FakeDahdi, n: int = 1) -> None:
        """n × 20 ms."""
        await step(engine, kernel, n)

    @staticmethod
    async def step_until(engine: MediaEngine, kernel: FakeDahdi, cond: Callable[[], bool], limit: int = 1500) -> None:
        """Until cond() holds (bounded)."""
        await step_until(engine, kernel, cond, limit)


@pytest.fixture
def clock() -> Clock:
    """step / step_until for the in-process box."""
    return Clock()


async def step(engine: MediaEngine, kernel: FakeDahdi, n: int = 1) -> None:
    """n × 20 ms: the card's clock, the span threads moving that block, then the box's media tick."""
    for _ in range(n):
        kernel.advance(1)
        kernel.settle()   # the span threads took this block (and wrote theirs) before the box ticks
        engine.tick()
        await asyncio.sleep(0)


async def step_until(engine: MediaEngine, kernel: FakeDahdi, cond: Callable[[], bool], limit: int = 1500) -> None:
    """Step until cond() holds (bounded)."""
    for _ in range(limit):
        if cond():
            return
        await step(engine, kernel)
    assert cond(), "condition never held"
