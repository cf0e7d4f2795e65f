"""Prometheus metrics: one registry per daemon (docs/monitoring.md lists every metric).

Three kinds of source, none of them computed twice:

* counters and histograms the components update as things happen (ticks, DTMF, refusals, journal commits,
  recording and driver errors, ended calls);
* live gauges read at scrape time from the components' in-memory state (lines, devices, calls in progress,
  callers waiting, agents by state) -- cheap, and the scrape runs on the event loop that owns that state;
* call-center figures from the summary tables (offered/answered/abandoned, service level, ...), computed by
  ``daemon/stats/reports.py`` off the event loop by the periodic updater (``metrics_collect.py``), which
  leaves a ``Snapshot`` here; a scrape never touches the database.

Label values are bounded configuration values or enums: queue, device, line, component names, agent states,
call directions, dispositions, refusal reasons, fax statuses. Never caller numbers, call ids or free text.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

os.environ.setdefault("PROMETHEUS_DISABLE_CREATED_SERIES", "True")

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, Info,  # noqa: E402
                               PlatformCollector, ProcessCollector)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric  # noqa: E402
from prometheus_client.metrics import disable_created_metrics  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402

from ..version import VERSION  # noqa: E402

if TYPE_CHECKING:
    from .app import Hotline

# no *_created series: the env variable above covers a first import, this covers an earlier one
disable_created_metrics()

AGENT_STATES = ("logged_out", "ready", "reserved", "on_call", "wrap_up", "not_ready", "outbound")
DIRECTIONS = ("inbound", "internal", "outbound", "callback")
REFUSAL_REASONS = ("draining", "channel_limit", "overload")
DTMF_SOURCES = ("inband", "signal")
FAX_STATUSES = ("queued", "dialling", "sending", "sent", "failed", "receiving", "received")
FAX_DIRECTIONS = ("in", "out")
LINE_KINDS = ("trunk", "station")
WINDOWS = ("today", "last_hour")
VOLUMES = ("state", "recordings")


@dataclass
class Snapshot:
    """What the periodic updater read from the database and the filesystem (see metrics_collect.py)."""

    updated_at: float = 0.0
    duration: float = 0.0
    # queue -> window ("lifetime", "today", "last_hour") -> reports.queue_figures(...) of that period
    queues: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    calls_offered: dict[str, int] = field(default_factory=dict)       # direction -> lifetime calls offered
    fax_jobs: dict[str, int] = field(default_factory=dict)            # status -> jobs
    storage: dict[str, tuple[int, int]] = field(default_factory=dict)  # volume -> (free bytes, size bytes)


class Metrics:
    """The daemon's metric objects; components increment these, collectors read status() and the snapshot."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.build = Info("hotline_build", "Hotline build information", registry=r)
        self.build.info({"version": VERSION})
        self.started = time.time()
        self.snapshot = Snapshot()
        self.update_errors = Counter("hotline_metrics_update_errors_total",
                                     "Periodic metric updates (summary tables, disk, fax jobs) that failed",
                                     registry=r)
        self.tick_seconds = Histogram(
            "hotline_media_tick_duration_seconds", "Time spent processing one 20 ms media tick",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.05), registry=r)
        self.tick_overruns = Counter("hotline_media_tick_overruns_total",
                                     "Media ticks whose own CPU time was over the overrun threshold", registry=r)
        self.tick_interval = Histogram(
            "hotline_media_tick_interval_seconds", "Time between the ends of two media ticks (when frames go out): "
            "the gap between two packets a call receives from the box, 20 ms when on time",
            buckets=(0.015, 0.02, 0.025, 0.03, 0.04, 0.06, 0.1, 0.25), registry=r)
        self.tick_cpu = Counter("hotline_media_tick_cpu_seconds_total",
                                "CPU time the media ticks took (their thread's, without waits)", registry=r)
        self.missed_ticks = Counter("hotline_media_missed_ticks_total",
                                    "20 ms ticks skipped because the engine fell behind", registry=r)
        self.tick_errors = Counter("hotline_media_tick_errors_total",
                                   "Parts of a media tick that raised (a device, a player); the rest went on",
                                   registry=r)
        self.dtmf_digits = Counter("hotline_dtmf_digits_detected_total", "DTMF digits detected",
                                   ["source"], registry=r)
        self.calls_refused = Counter("hotline_calls_refused_total", "Calls refused by admission control",
                                     ["reason"], registry=r)
        self.calls = Counter("hotline_calls_total", "Calls ended since the daemon started, by direction and "
                             "disposition", ["direction", "disposition"], registry=r)
        self.journal_write = Histogram(
            "hotline_journal_write_duration_seconds", "Time to commit one batch of journal events",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0), registry=r)
        self.journal_write_errors = Counter("hotline_journal_write_errors_total",
                                            "Journal batches the database refused (kept and written later)",
                                            registry=r)
        self.journal_escaped = Counter("hotline_journal_events_escaped_total", "Journal events whose text "
                                       "could not be stored as it was and was written escaped", registry=r)
        self.journal_dead_lettered = Counter("hotline_journal_events_dead_lettered_total", "Journal events (or "
                                             "CDR writes) that could not be stored and went to the dead-letter "
                                             "file", registry=r)
        self.cdr_write_errors = Counter("hotline_cdr_write_errors_total", "CDR writes that failed (retried)",
                                        registry=r)
        self.recording_errors = Counter("hotline_recording_errors_total", "Recording write errors", registry=r)
        self.driver_errors = Counter("hotline_driver_errors_total", "Driver errors by device",
                                     ["device"], registry=r)
        self.fax_transitions = Counter("hotline_fax_transitions_total", "Fax jobs entering a status since the "
                                       "daemon started (each change is also journaled as fax.<status>)",
                                       ["direction", "status"], registry=r)
        self.fax_failures = Counter("hotline_fax_failures_total", "Fax attempts that did not finish, and jobs "
                                    "failed before any attempt (kill time, document missing), by reason", ["direction", "reason"], registry=r)
        self.fax_pages = Counter("hotline_fax_pages_total", "Fax pages the far end confirmed (out) or that were "
                                 "received (in)", ["direction"], registry=r)
        self.uptime = Gauge("hotline_uptime_seconds", "Seconds since the daemon started", registry=r)
        self.uptime.set_function(lambda: time.time() - self.started)
        for source in DTMF_SOURCES:   # series exist from the start (rate() needs the zero)
            self.dtmf_digits.labels(source)
        for reason in REFUSAL_REASONS:
            self.calls_refused.labels(reason)
        for direction in FAX_DIRECTIONS:
            self.fax_pages.labels(direction)
            for status in FAX_STATUSES:
                self.fax_transitions.labels(direction, status)

    def attach(self, app: "Hotline") -> None:
        """Register the collectors that read live state from the running daemon (and the process's own)."""
        for dev in app.config["devices"]:
            if dev.get("enabled", True):
                self.driver_errors.labels(dev["name"])
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.registry.register(_StatusCollector(app, self))


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


class _StatusCollector(Collector):
    """Live gauges from the components, plus the snapshot the periodic updater left."""

    def __init__(self, app: "Hotline", metrics: Metrics):
        self.app = app
        self.metrics = metrics

    def describe(self) -> Iterable[Metric]:
        """Nothing to describe up front (the registry would otherwise call collect() at registration)."""
        return []

    def collect(self) -> Iterable[Metric]:
        up = _gauge("hotline_component_up", "1 when a component is running", ["component"])
        for name, st in self.app.component_states().items():
            up.add_metric([name], 1.0 if st.get("state") == "up" else 0.0)
        yield up
        services = self.app.services
        journal = services.get("journal")
        if journal is not None:
            st = journal.status()
            failing = _gauge("hotline_journal_failing", "1 while the journal or CDR writer is failing "
                             "(events kept buffered; /healthz says failing)", ["writer"])
            failing.add_metric(["events"], 1.0 if st.get("error") else 0.0)
            failing.add_metric(["cdrs"], 1.0 if st.get("cdr_error") else 0.0)
            buffered = _gauge("hotline_journal_buffered_events", "Journal events waiting to be written")
            buffered.add_metric([], float(st["buffered"]))
            yield failing
            yield buffered
        calls = services.get("calls")
        if calls is not None:
            active = _gauge("hotline_calls_active", "Calls in progress")
            active.add_metric([], float(calls.active_count()))
            yield active
        devices = services.get("devices")
        if devices is not None:
            yield from self._lines(devices)
            yield from self._sip(devices)
        acd = services.get("acd")
        if acd is not None:
            yield from self._queues_live(acd)
        yield from self._snapshot(self.metrics.snapshot)

    # ---- lines and devices -------------------------------------------------------------------------
    @staticmethod
    def _lines(devices: Any) -> Iterable[Metric]:
        dev_up = _gauge("hotline_device_up", "1 when a device is open (0: down, retried with backoff)", ["device"])
        for name, dev in devices.devices.items():
            dev_up.add_metric([name], 1.0 if dev.state == "up" else 0.0)
        yield dev_up
        line_up = _gauge("hotline_line_up", "1 when a line is up (0: down or out of service)",
                         ["device", "line", "kind"])
        busy = _gauge("hotline_line_busy", "1 when a line carries a call", ["device", "line", "kind"])
        total = {k: 0 for k in LINE_KINDS}
        n_up = {k: 0 for k in LINE_KINDS}
        n_busy = {k: 0 for k in LINE_KINDS}
        for ln in devices.line_states():
            kind = ln["kind"]
            labels = [ln["device"], ln["line"], kind]
            line_up.add_metric(labels, 1.0 if ln["up"] else 0.0)
            busy.add_metric(labels, 1.0 if ln["busy"] else 0.0)
            if kind in total:
                total[kind] += 1
                n_up[kind] += bool(ln["up"])
                n_busy[kind] += bool(ln["busy"])
        yield line_up
        yield busy
        for name, doc, values in (("hotline_lines", "Lines of the box by kind", total),
                                  ("hotline_lines_up", "Lines up by kind", n_up),
                                  ("hotline_lines_busy", "Lines carrying a call by kind", n_busy)):
            fam = _gauge(name, doc, ["kind"])
            for kind in LINE_KINDS:
                fam.add_metric([kind], float(values[kind]))
            yield fam

    @staticmethod
    def _sip(devices: Any) -> Iterable[Metric]:
        sips = devices.sip_devices()
        if not sips:
            return
        limited = CounterMetricFamily("hotline_sip_rate_limited", "SIP requests refused (503) or dropped because "
                                      "their source address sent them too fast (since the device opened)",
                                      labels=["device", "method"])
        over = CounterMetricFamily("hotline_sip_calls_over_limit", "INVITEs from phones refused (486) because the "
                                   "extension had max_calls calls (since the device opened)", labels=["device"])
        registered = _gauge("hotline_sip_registered_extensions", "Extensions with a phone registered now", ["device"])
        banned = _gauge("hotline_sip_banned_sources", "Addresses banned now after authentication failures",
                        ["device"])
        messages = CounterMetricFamily("hotline_sip_messages", "SIP datagrams and TCP messages received (since the "
                                       "device opened)", labels=["device"])
        malformed = CounterMetricFamily("hotline_sip_malformed", "SIP messages refused as malformed, by the status "
                                        "that says why (since the device opened)", labels=["device", "status"])
        errors = CounterMetricFamily("hotline_sip_internal_errors", "SIP messages the box failed on (a bug: logged "
                                     "with its traceback)", labels=["device"])
        state = _gauge("hotline_sip_state", "Entries SIP signalling holds now (calls, calls_<state>, transactions, "
                       "retransmitting, timers, tcp_connections)", ["device", "table"])
        for dev in sips:
            sig = dev.get("signalling") or {}
            if sig:
                messages.add_metric([dev["device"]], float(sig["datagrams"]))
                for status, count in sorted(sig["rejections"].items()):
                    malformed.add_metric([dev["device"], status], float(count))
                errors.add_metric([dev["device"]], float(sig["internal_errors"]))
                for table in ("calls", "transactions", "retransmitting", "timers", "tcp_connections"):
                    state.add_metric([dev["device"], table], float(sig[table]))
                for call_state, count in sorted(sig.get("call_states", {}).items()):
                    state.add_metric([dev["device"], f"calls_{call_state}"], float(count))
            limits = dev.get("limits") or {}
            for method in ("INVITE", "REGISTER"):
                limited.add_metric([dev["device"], method], float((limits.get("rate_limited") or {}).get(method, 0)))
            over.add_metric([dev["device"]], float(limits.get("over_limit", 0)))
            registered.add_metric([dev["device"]], float(sum(1 for e in dev["extensions"] if e["registered"])))
            banned.add_metric([dev["device"]], float(len(dev["bans"])))
        yield from (limited, over, registered, banned, messages, malformed, errors, state)

    # ---- queues and agents (live) -------------------------------------------------------------------
    @staticmethod
    def _queues_live(acd: Any) -> Iterable[Metric]:
        now = acd.engine.now()
        waiting = _gauge("hotline_queue_callers_waiting", "Callers on the line waiting in the queue", ["queue"])
        callbacks = _gauge("hotline_queue_callbacks_waiting",
                           "Callback requests holding a place in the queue", ["queue"])
        longest = _gauge("hotline_queue_longest_wait_seconds",
                         "How long the caller waiting longest has waited so far (0: nobody waits)", ["queue"])
        target = _gauge("hotline_queue_service_level_target_seconds",
                        "The queue's service level threshold (answered within this many seconds)", ["queue"])
        by_state = _gauge("hotline_queue_agents", "Member agents of the queue by state", ["queue", "state"])
        agents = acd.agents.agents
        for name in sorted(acd.queues):
            q = acd.queues[name]
            callers = [e for e in q.waiting if e.kind == "call"]
            waiting.add_metric([name], float(len(callers)))
            callbacks.add_metric([name], float(len(q.waiting) - len(callers)))
            longest.add_metric([name], max((now - e.joined_at for e in callers), default=0.0))
            target.add_metric([name], float(q.settings.get("service_level_seconds", 0.0)))
            counts = {s: 0 for s in AGENT_STATES}
            for agent_id in q.member_ids():
                agent = agents.get(agent_id)
                if agent is not None and agent.state.value in counts:
                    counts[agent.state.value] += 1
            for state in AGENT_STATES:
                by_state.add_metric([name, state], float(counts[state]))
        yield from (waiting, callbacks, longest, target, by_state)
        box = _gauge("hotline_agents", "Agents of the box by state (each agent once)", ["state"])
        counts = {s: 0 for s in AGENT_STATES}
        for agent in agents.values():
            if agent.state.value in counts:
                counts[agent.state.value] += 1
        for state in AGENT_STATES:
            box.add_metric([state], float(counts[state]))
        yield box

    # ---- figures from the summary tables, disk and fax jobs (periodic snapshot) ------------------------------
    @staticmethod
    def _snapshot(snap: Snapshot) -> Iterable[Metric]:
        offered = CounterMetricFamily("hotline_queue_calls_offered", "Callers who joined the queue (queue.joined), "
                                      "from the summary tables", labels=["queue"])
        answered = CounterMetricFamily("hotline_queue_calls_answered", "Queue callers an agent answered "
                                       "(queue.answered), from the summary tables", labels=["queue"])
        abandoned = CounterMetricFamily("hotline_queue_calls_abandoned", "Queue callers who hung up while waiting "
                                        "(queue.abandoned, short abandons included)", labels=["queue"])
        short = CounterMetricFamily("hotline_queue_calls_short_abandoned", "Abandons quicker than the queue's "
                                    "short_abandon_seconds", labels=["queue"])
        sl = _gauge("hotline_queue_service_level_ratio", "Answered within the service level threshold / (offered - "
                    "short abandons); absent when nothing was offered in the window", ["queue", "window"])
        ab = _gauge("hotline_queue_abandon_ratio", "(Abandoned - short abandons) / (offered - short abandons) in the "
                    "window", ["queue", "window"])
        asa = _gauge("hotline_queue_average_speed_of_answer_seconds", "Average speed of answer (mean wait of answered callers) "
                     "in the window", ["queue", "window"])
        for name in sorted(snap.queues):
            figures = snap.queues[name]
            life = figures.get("lifetime", {})   # no row yet: nothing offered so far
            offered.add_metric([name], life.get("offered", 0))
            answered.add_metric([name], life.get("answered", 0))
            abandoned.add_metric([name], life.get("abandoned", 0))
            short.add_metric([name], life.get("short_abandoned", 0))
            for window in WINDOWS:
                f = figures.get(window)
                if f is None:
                    continue
                for fam, key in ((sl, "service_level"), (ab, "abandon_rate"), (asa, "asa_seconds")):
                    if f.get(key) is not None:
                        fam.add_metric([name, window], float(f[key]))
        yield from (offered, answered, abandoned, short, sl, ab, asa)
        by_dir = CounterMetricFamily("hotline_calls_offered", "Calls offered to the box by direction "
                                     "(call.offered), from the summary tables", labels=["direction"])
        for direction in DIRECTIONS:
            by_dir.add_metric([direction], snap.calls_offered.get(direction, 0))
        yield by_dir
        fax = _gauge("hotline_fax_jobs", "Fax jobs by status, both directions (fax_jobs table)", ["status"])
        for status in FAX_STATUSES:
            fax.add_metric([status], float(snap.fax_jobs.get(status, 0)))
        yield fax
        free = _gauge("hotline_storage_free_bytes", "Free bytes on the filesystem holding the volume (available "
                      "to the daemon)", ["volume"])
        size = _gauge("hotline_storage_size_bytes", "Size of the filesystem holding the volume", ["volume"])
        for volume in VOLUMES:
            if volume in snap.storage:
                free.add_metric([volume], float(snap.storage[volume][0]))
                size.add_metric([volume], float(snap.storage[volume][1]))
        yield from (free, size)
        updated = _gauge("hotline_metrics_updated_timestamp_seconds",
                         "When the periodic update last read the summary tables (Unix time; 0: not yet)")
        updated.add_metric([], snap.updated_at)
        yield updated
