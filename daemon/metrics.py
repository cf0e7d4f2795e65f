"""Prometheus metrics: one registry per daemon, gauges read from components' status()."""
from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Iterable

os.environ.setdefault("PROMETHEUS_DISABLE_CREATED_SERIES", "True")

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info  # noqa: E402
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

from .version import VERSION  # noqa: E402

if TYPE_CHECKING:
    from .app import Hotline


class Metrics:
    """The daemon's metric objects; components increment these, collectors read status()."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.build = Info("hotline_build", "Hotline build information", registry=r)
        self.build.info({"version": VERSION})
        self.started = time.time()
        self.tick_seconds = Histogram(
            "hotline_media_tick_duration_seconds", "Time spent processing one 20 ms media tick",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.05), registry=r)
        self.tick_overruns = Counter("hotline_media_tick_overruns_total",
                                     "Media ticks that took longer than the overrun threshold", registry=r)
        self.missed_ticks = Counter("hotline_media_missed_ticks_total",
                                    "20 ms ticks skipped because the engine fell behind", registry=r)
        self.dtmf_digits = Counter("hotline_dtmf_digits_detected_total", "DTMF digits detected",
                                   ["source"], registry=r)
        self.calls_refused = Counter("hotline_calls_refused_total", "Calls refused by admission control",
                                     ["reason"], registry=r)
        self.calls = Counter("hotline_calls_total", "Calls ended, by direction and disposition",
                             ["direction", "disposition"], registry=r)
        self.journal_write = Histogram("hotline_journal_write_duration_seconds",
                                       "Time to commit one batch of journal events", registry=r)
        self.recording_errors = Counter("hotline_recording_errors_total", "Recording write errors", registry=r)
        self.driver_errors = Counter("hotline_driver_errors_total", "Driver errors by device",
                                     ["device"], registry=r)
        self.uptime = Gauge("hotline_uptime_seconds", "Seconds since the daemon started", registry=r)
        self.uptime.set_function(lambda: time.time() - self.started)

    def attach(self, app: "Hotline") -> None:
        """Register the collector that reads live state from the running daemon."""
        self.registry.register(_StatusCollector(app))


class _StatusCollector(Collector):
    def __init__(self, app: "Hotline"):
        self.app = app

    def collect(self) -> Iterable[GaugeMetricFamily]:
        up = GaugeMetricFamily("hotline_component_up", "1 when a component is running", labels=["component"])
        for name, st in self.app.component_states().items():
            up.add_metric([name], 1.0 if st.get("state") == "up" else 0.0)
        yield up
        calls = self.app.services.get("calls")
        if calls is not None:
            active = GaugeMetricFamily("hotline_calls_active", "Calls in progress")
            active.add_metric([], float(calls.status().get("active", 0)))
            yield active
        devices = self.app.services.get("devices")
        if devices is not None:
            line_up = GaugeMetricFamily("hotline_line_up", "1 when a line is up", labels=["device", "line"])
            busy = GaugeMetricFamily("hotline_line_busy", "1 when a line carries a call",
                                     labels=["device", "line"])
            for ln in devices.line_states():
                line_up.add_metric([ln["device"], ln["line"]], 1.0 if ln["up"] else 0.0)
                busy.add_metric([ln["device"], ln["line"]], 1.0 if ln["busy"] else 0.0)
            yield line_up
            yield busy
