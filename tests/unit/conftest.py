"""Unit-level fixtures: the call engine in-process on the real sim card and a real SQLite file."""
from __future__ import annotations

from pathlib import Path

import pytest

from hotline.daemon.calls.manager import CallManager
from hotline.daemon.calls.devices import DeviceManager
from hotline.daemon.calls.journal import Journal
from hotline.daemon.media.engine import MediaEngine
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store

SIM = {"name": "sim0", "driver": "sim", "trunks": 4, "stations": ["1001", "1002", "1003"], "seed": 1,
       "capture_seconds": 60.0, "answer_delay": 0.1, "station_auto_answer": None, "noise_dbm0": None,
       "enabled": True}


@pytest.fixture
def sim_device() -> dict:
    """The configuration of one small simulated card (4 trunks, 3 stations)."""
    return dict(SIM)


@pytest.fixture
def rig(tmp_path: Path):
    """Engine + sim card + call manager on a real SQLite file, driven tick by tick. ``state_dir`` gives the
    journal its spill and dead-letter files; ``metrics`` a Metrics; ``engine`` overrides the engine config;
    ``url`` another database (default a SQLite file under tmp_path)."""
    async def make(state_dir: Path | None = None, metrics=None, engine: dict | None = None, url: str | None = None,
                   **engine_kw):
        store = Store(url or f"sqlite:///{tmp_path / 'h.db'}")
        store.open()
        store.write_sync(migrations.upgrade, store.db)
        media = MediaEngine(16, speed=0, **engine_kw)
        journal = Journal(store, clock=media.now, metrics=metrics, state_dir=state_dir)
        holder: list = []
        devices = DeviceManager([dict(SIM)], lambda ev: holder[0].on_line_event(ev))
        calls = CallManager(devices, media, journal, store, tmp_path / "rec",
                            {"engine": {"max_channels": 10, "call_timeout": 60.0, **(engine or {})}}, metrics)
        holder.append(calls)
        await journal.start()
        await devices.start()
        media.frame_devices = [devices.devices["sim0"].driver]
        await calls.start()
        return store, media, journal, devices, calls
    return make
