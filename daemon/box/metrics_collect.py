"""The periodic metrics updater: call-center figures, fax jobs and free disk space, read off the event loop.

Every few seconds one ``store.read`` asks ``daemon/stats/reports.py`` -- the one implementation of the
definitions in docs/metrics.md -- for each configured queue's figures (lifetime totals, today in the box's
timezone, the last hour) and the calls offered by direction, counts fax jobs by status, and a worker thread
measures the state and recordings filesystems. The result replaces ``Metrics.snapshot``; a scrape only reads
that snapshot, so /metrics never waits for the database.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from .metrics import Snapshot
from ..stats import reports

log = logging.getLogger("hotline.metrics")

HOUR = 3600.0


def local_midnight(now: float, tz: str) -> float:
    """The start of the local day ``now`` falls in, as epoch seconds."""
    local = dt.datetime.fromtimestamp(now, ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def read_figures(queues: Iterable[str], now: float, tz: str) -> dict[str, Any]:
    """Queue figures per window and calls offered by direction (runs inside a store read).

    Windows: ``lifetime`` (every hour in the summary tables: the counters), ``today`` (local midnight to now,
    like the daily report) and ``last_hour``. The summary tables hold whole hours, so ``last_hour`` is the
    current clock hour plus the previous one (60 to 120 minutes of calls), as reports.py counts [now - 1 h, now).
    """
    names = list(queues)
    out: dict[str, dict[str, dict]] = {name: {} for name in names}
    if names:
        end = now + HOUR  # reports round the end up to the hour: the current hour is included
        for window, start, zone in (("lifetime", 0.0, "UTC"), ("today", local_midnight(now, tz), tz),
                                    ("last_hour", now - HOUR, tz)):
            for row in reports.queues(start, end if window == "lifetime" else now, "total", names, zone)["rows"]:
                out[row["queue"]][window] = row
    calls = {row["direction"]: int(row["calls"])
             for row in reports.volume(0.0, now + HOUR, "total", "UTC")["rows"]}
    from ..store.service_models import FaxJob
    import peewee
    fax = {status: int(n) for status, n in
           FaxJob.select(FaxJob.status, peewee.fn.COUNT(FaxJob.id)).group_by(FaxJob.status).tuples()}
    return {"queues": out, "calls_offered": calls, "fax_jobs": fax}


def disk_usage(volumes: dict[str, Path]) -> dict[str, tuple[int, int]]:
    """(free bytes available to the daemon, filesystem size) per volume; a missing directory is left out."""
    out = {}
    for name, path in volumes.items():
        try:
            st = os.statvfs(path)
        except OSError:
            continue
        out[name] = (st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize)
    return out


class MetricsUpdater:
    """A component: refreshes ``metrics.snapshot`` every ``interval`` seconds, never on the event loop."""

    def __init__(self, metrics: Any, store: Any, queue_names: Callable[[], Iterable[str]], tz: str,
                 volumes: dict[str, Path], clock: Callable[[], float] = time.time, interval: float = 3.0):
        self.metrics = metrics
        self.store = store
        self.queue_names = queue_names
        self.tz = tz
        self.volumes = volumes
        self.clock = clock
        self.interval = interval
        self.task: asyncio.Task | None = None
        self.runs = 0
        self.failures = 0
        self.last_error = ""

    async def start(self) -> None:
        """A first snapshot (so the first scrape has figures), then the loop."""
        await self.update()
        self.task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Stop refreshing."""
        from ..aio import cancel_and_wait
        await cancel_and_wait(self.task)
        self.task = None

    def reconfigure(self, config: Any) -> None:
        """SIGHUP: the timezone may have changed (queues are read from the ACD at every update)."""
        self.tz = config["locale"]["timezone"]

    async def update(self) -> bool:
        """One refresh; a failure keeps the previous snapshot, is logged and counted."""
        started = time.perf_counter()
        try:
            names = sorted(self.queue_names())
            figures = await self.store.read(read_figures, names, self.clock(), self.tz)
            storage = await asyncio.get_running_loop().run_in_executor(None, disk_usage, self.volumes)
        except Exception as exc:
            self.failures += 1
            self.last_error = str(exc) or type(exc).__name__
            self.metrics.update_errors.inc()
            log.exception("event=metrics_update_failed")
            return False
        self.metrics.snapshot = Snapshot(updated_at=time.time(), duration=time.perf_counter() - started,
                                         queues=figures["queues"], calls_offered=figures["calls_offered"],
                                         fax_jobs=figures["fax_jobs"], storage=storage)
        self.runs += 1
        self.last_error = ""
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.update()

    def status(self) -> dict:
        """Refreshes done and the last failure."""
        state = ("up" if not self.last_error else "degraded") if self.task else "down"
        return {"state": state, "runs": self.runs, "failures": self.failures,
                "last_error": self.last_error}
