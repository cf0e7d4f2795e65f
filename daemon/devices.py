"""Opens the configured devices through their drivers, retries the broken ones, routes line events."""
from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from hotline.drivers import registry
from hotline.drivers.base import Driver, DriverNotReady, Line, LineDown, LineEvent, LineKind, LineUp

log = logging.getLogger("hotline.devices")


@dataclass
class DeviceState:
    """One configured device and how it is doing."""

    name: str
    driver_name: str
    settings: dict
    driver: Driver | None = None
    state: str = "down"
    reason: str = ""
    attempts: int = 0
    lines: list[Line] = field(default_factory=list)


class DeviceManager:
    """Owns every driver; a device that fails is shown down with its reason and retried with backoff."""

    def __init__(self, devices: list[dict], on_event: Callable[[LineEvent], None], metrics: Any = None,
                 max_backoff: float = 60.0):
        self.devices = {d["name"]: DeviceState(d["name"], d["driver"], d) for d in devices if d.get("enabled", True)}
        self.on_event = on_event
        self.metrics = metrics
        self.max_backoff = max_backoff
        self.lines: dict[str, Line] = {}
        self.stations: dict[str, Line] = {}  # by extension: the ACD looks stations up on every dispatch pass
        self.line_device: dict[str, DeviceState] = {}
        self.busy: set[str] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._retry: dict[str, asyncio.TimerHandle] = {}

    def sink(self, event: LineEvent) -> None:
        """Thread-safe door for drivers: events reach the loop in order."""
        loop = self.loop
        if loop is None:
            return
        if threading.get_ident() == getattr(self, "_loop_thread", None):
            self._dispatch(event)
        else:
            loop.call_soon_threadsafe(self._dispatch, event)

    def _dispatch(self, event: LineEvent) -> None:
        line = self.lines.get(event.line)
        if isinstance(event, LineDown) and line is not None:
            line.up, line.down_reason = False, event.reason
        elif isinstance(event, LineUp) and line is not None:
            line.up, line.down_reason = True, ""
        try:
            self.on_event(event)
        except Exception:
            log.exception("event=line_event_failed line=%s kind=%s", event.line, type(event).__name__)

    async def start(self) -> None:
        """Open every device; failures are retried in the background, never fatal."""
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        for dev in self.devices.values():
            self._open(dev)

    def _open(self, dev: DeviceState) -> None:
        self._retry.pop(dev.name, None)
        dev.attempts += 1
        try:
            cls = registry.get(dev.driver_name)
            if cls is None:
                raise DriverNotReady(f"driver {dev.driver_name!r} is not installed")
            dev.driver = cls(dev.name, dev.settings, self.sink)
            problems = dev.driver.validate_environment()
            if problems:
                raise DriverNotReady("; ".join(problems))
            dev.lines = dev.driver.open()
        except Exception as exc:  # DriverNotReady or any driver bug: show it, retry later
            dev.state, dev.reason = "down", str(exc) or type(exc).__name__
            delay = min(self.max_backoff, 2 ** min(dev.attempts - 1, 6))
            log.warning("event=device_down device=%s reason=%r retry_in=%ss", dev.name, dev.reason, delay)
            if self.metrics is not None:
                self.metrics.driver_errors.labels(dev.name).inc()
            if not isinstance(exc, DriverNotReady):
                log.exception("event=driver_failed device=%s", dev.name)
            if self.loop is not None:
                self._retry[dev.name] = self.loop.call_later(delay, self._open, dev)
            return
        dev.state, dev.reason, dev.attempts = "up", "", 0
        for line in dev.lines:
            self.lines[line.name] = line
            self.line_device[line.name] = dev
            known = self.stations.get(line.extension)
            if line.kind is LineKind.STATION and (known is None or known.name == line.name):
                self.stations[line.extension] = line  # the first device with an extension keeps it
        log.info("event=device_up device=%s driver=%s lines=%d", dev.name, dev.driver_name, len(dev.lines))

    async def stop(self) -> None:
        """Close every device."""
        for handle in self._retry.values():
            handle.cancel()
        for dev in self.devices.values():
            if dev.driver is not None and dev.state == "up":
                try:
                    dev.driver.close()
                except Exception:
                    log.exception("event=close_failed device=%s", dev.name)
            dev.state = "down"

    def status(self) -> dict:
        """Each device's state and reason."""
        devs = {d.name: {"driver": d.driver_name, "state": d.state, "reason": d.reason, "lines": len(d.lines)}
                for d in self.devices.values()}
        up = all(d["state"] == "up" for d in devs.values())
        return {"state": "up" if up else "degraded", "devices": devs}

    def line_states(self) -> list[dict]:
        """Every line with up/busy, for the panel and metrics."""
        return [{"device": self.line_device[n].name, "line": n, "kind": ln.kind.value, "extension": ln.extension,
                 "up": ln.up, "reason": ln.down_reason, "busy": n in self.busy}
                for n, ln in self.lines.items()]

    def device_of(self, line: str) -> Driver | None:
        """The driver object a line belongs to."""
        dev = self.line_device.get(line)
        return dev.driver if dev else None

    def station(self, extension: str) -> Line | None:
        """The station line with this extension."""
        return self.stations.get(extension)

    def free_trunk(self) -> Line | None:
        """A trunk that is up and carries no call (for outbound calls)."""
        for name, line in self.lines.items():
            if line.kind is LineKind.TRUNK and line.up and name not in self.busy:
                return line
        return None
