"""Opens the configured devices through their drivers (off the event loop), re-opens the ones that fail, routes
line events, and tells the media engine which frame devices are up."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Container

from hotline.drivers import registry
from hotline.drivers.base import (DeviceFailed, Driver, DriverNotReady, HungUp, Line, LineDown, LineEvent, LineKind,
                                  LineUp, OffHook, Ringing, Seized)

from ..store.models import Setting
from .linecaps import bridgeable

log = logging.getLogger("hotline.devices")

DISABLED_REASON = "disabled by admin"
DISABLED_SETTING = "disabled_lines"  # settings row: JSON list of line names an admin took out of service


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
    opened: int = 0  # successful opens (more than one: re-opened after a failure)


class DeviceManager:
    """Owns every driver; a device that fails is shown down with its reason and retried with backoff."""

    def __init__(self, devices: list[dict], on_event: Callable[[LineEvent], None], metrics: Any = None,
                 max_backoff: float = 60.0):
        self.devices = {d["name"]: DeviceState(d["name"], d["driver"], d) for d in devices if d.get("enabled", True)}
        self.numbers: dict[str, str] = {}  # device name -> the number its lines answer for (devices: number)
        self.set_numbers(devices)
        self.on_event = on_event
        self.metrics = metrics
        self.max_backoff = max_backoff
        self.lines: dict[str, Line] = {}
        self.stations: dict[str, Line] = {}  # by extension: the ACD looks stations up on every dispatch pass
        # every station line of an extension by name, its own first (an IP phone with max_calls N has N lines)
        self.station_groups: dict[str, dict[str, Line]] = {}
        self.line_device: dict[str, DeviceState] = {}
        self.busy: set[str] = set()
        self.seized: set[str] = set()  # trunks collecting caller id (Seized before Ringing): busy, no call yet
        self.engine: Any = None  # the media engine, told when a frame device comes up or goes away
        self.loop: asyncio.AbstractEventLoop | None = None
        self._retry: dict[str, asyncio.TimerHandle] = {}
        self._stopping = False
        # lines an admin took out of service -> what the hardware last said about them (up, reason)
        self.disabled: dict[str, tuple[bool, str]] = {}

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
        if isinstance(event, DeviceFailed):
            dev = self.devices.get(event.line)
            if dev is not None:
                self.device_failed(dev, event.reason or "device failed")
            return
        if isinstance(event, Seized):
            self.seized.add(event.line)
        elif isinstance(event, (Ringing, HungUp, LineDown)):
            self.seized.discard(event.line)
        line = self.lines.get(event.line)
        if line is not None and event.line in self.disabled and self._while_disabled(line, event):
            return
        if isinstance(event, LineDown) and line is not None:
            line.up, line.down_reason = False, event.reason
        elif isinstance(event, LineUp) and line is not None:
            line.up, line.down_reason = True, ""
        try:
            self.on_event(event)
        except Exception:
            log.exception("event=line_event_failed line=%s kind=%s", event.line, type(event).__name__)

    def _while_disabled(self, line: Line, event: LineEvent) -> bool:
        """A line out of service: remember what the hardware says, refuse new calls; True when handled."""
        if isinstance(event, (LineDown, LineUp)):
            self.disabled[line.name] = (isinstance(event, LineUp), getattr(event, "reason", ""))
            line.up, line.down_reason = False, DISABLED_REASON  # the driver may have flipped them
            return True
        if isinstance(event, (Ringing, OffHook)):
            log.info("event=call_refused line=%s reason=line_disabled", line.name)
            try:
                line.hangup()
            except Exception:
                log.exception("event=hangup_failed line=%s", line.name)
            return True
        return False

    def set_line_enabled(self, name: str, enabled: bool) -> bool:
        """Take a line out of service (no new calls; shown down, "disabled by admin") or put it back.
        Returns whether anything changed; KeyError for an unknown line, ValueError while it carries a call.
        The caller keeps the list in the settings table (load_disabled_lines at start)."""
        line = self.lines.get(name)
        if line is None:
            raise KeyError(name)
        if not enabled:
            if name in self.disabled:
                return False
            if name in self.busy:
                raise ValueError(f"line {name} carries a call: disable it when the call has ended")
            self.disabled[name] = (line.up, line.down_reason)
            line.up, line.down_reason = False, DISABLED_REASON
            self._notify(LineDown(name, reason=DISABLED_REASON))
            return True
        if name not in self.disabled:
            return False
        line.up, line.down_reason = self.disabled.pop(name)
        if line.up:
            self._notify(LineUp(name))
        return True

    def _notify(self, event: LineEvent) -> None:
        """Tell the call manager (it journals line.down / line.up)."""
        try:
            self.on_event(event)
        except Exception:
            log.exception("event=line_event_failed line=%s kind=%s", event.line, type(event).__name__)

    def probe(self) -> list[dict]:
        """What each installed driver finds on this box (Driver.probe); runs driver code, so call it off the
        event loop."""
        out = []
        for name in registry.names():
            try:
                cls = registry.get(name)
                found = list(cls.probe()) if cls is not None else []
                out.append({"driver": name, "found": found, "error": None})
            except Exception as exc:  # a broken driver must not break the page
                out.append({"driver": name, "found": [], "error": str(exc) or type(exc).__name__})
        return out

    def discover(self) -> dict:
        """USB voice modems plugged into this box as ready device entries (driver, port, profile) for the panel's
        "add device", and whether the modem driver is installed; reads sysfs, so call it off the event loop."""
        from hotline.drivers.usb.discover import probe_devices
        return {"devices": probe_devices(include_unknown=True), "driver_installed": "modem" in registry.names()}

    async def start(self) -> None:
        """Open every device (in threads: probing hardware must not stall the media clock); failures are
        retried in the background, never fatal."""
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        await asyncio.gather(*(self._open(dev) for dev in self.devices.values()))

    def _construct_and_open(self, dev: DeviceState) -> tuple[Driver, list[Line]]:
        """Runs in a worker thread: the driver's environment check and open() may block on hardware."""
        cls = registry.get(dev.driver_name)
        if cls is None:
            raise DriverNotReady(f"driver {dev.driver_name!r} is not installed")
        driver = cls(dev.name, dev.settings, self.sink)
        problems = driver.validate_environment()
        if problems:
            raise DriverNotReady("; ".join(problems))
        return driver, list(driver.open())

    def _retry_later(self, dev: DeviceState) -> None:
        delay = min(self.max_backoff, 2 ** min(dev.attempts - 1, 6))
        log.warning("event=device_down device=%s reason=%r retry_in=%ss", dev.name, dev.reason, delay)
        if self.loop is not None and not self._stopping:
            self._retry[dev.name] = self.loop.call_later(delay, lambda: self.loop.create_task(self._open(dev)))

    async def _open(self, dev: DeviceState) -> None:
        self._retry.pop(dev.name, None)
        if self._stopping or dev.state == "up":
            return
        dev.attempts += 1
        try:
            dev.driver, lines = await asyncio.get_running_loop().run_in_executor(None, self._construct_and_open, dev)
        except Exception as exc:  # DriverNotReady or any driver bug: show it, retry later
            dev.state, dev.reason = "down", str(exc) or type(exc).__name__
            if self.metrics is not None:
                self.metrics.driver_errors.labels(dev.name).inc()
            if not isinstance(exc, DriverNotReady):
                log.error("event=driver_failed device=%s", dev.name, exc_info=exc)
            self._retry_later(dev)
            return
        if self._stopping:
            await asyncio.get_running_loop().run_in_executor(None, dev.driver.close)
            return
        dev.lines = lines
        dev.state, dev.reason, dev.attempts = "up", "", 0
        dev.opened += 1
        for line in dev.lines:
            self.lines[line.name] = line
            self.line_device[line.name] = dev
            known = self.stations.get(line.extension)
            if line.kind is LineKind.STATION and (known is None or known.name == line.name):
                self.stations[line.extension] = line  # the first device with an extension keeps it
            if line.kind is LineKind.STATION and self.line_device[self.stations[line.extension].name] is dev:
                self.station_groups.setdefault(line.extension, {})[line.name] = line
            if line.name in self.disabled:  # out of service (also across re-opens and restarts)
                self.disabled[line.name] = (line.up, line.down_reason)
                line.up, line.down_reason = False, DISABLED_REASON
            if dev.opened > 1 and line.up and line.name not in self.disabled:
                self._notify(LineUp(line.name))  # back after a failure
        if self.engine is not None and hasattr(dev.driver, "read_frames"):
            self.engine.add_frame_device(dev.driver)
        log.info("event=device_up device=%s driver=%s lines=%d", dev.name, dev.driver_name, len(dev.lines))

    def device_failed(self, dev: DeviceState, reason: str) -> None:
        """A device that was up stopped working: its lines go down (their calls end), the engine stops ticking
        it, it is closed and re-opened with backoff."""
        if dev.state != "up":
            return
        dev.state, dev.reason = "down", reason
        driver = dev.driver
        if self.engine is not None and driver is not None:
            self.engine.remove_frame_device(driver)
        if self.metrics is not None:
            self.metrics.driver_errors.labels(dev.name).inc()
        log.error("event=device_failed device=%s reason=%r", dev.name, reason)
        for line in dev.lines:
            self.seized.discard(line.name)
            if line.name in self.disabled:
                self.disabled[line.name] = (False, reason)
                continue
            line.up, line.down_reason = False, reason
            self._notify(LineDown(line.name, reason=reason))
        if driver is not None and self.loop is not None:
            self.loop.run_in_executor(None, self._close_quietly, dev.name, driver)
        dev.attempts = max(dev.attempts, 1)
        self._retry_later(dev)

    def driver_raised(self, driver: Any, exc: BaseException) -> None:
        """The media engine caught the device raising in its tick: treat it as a device failure."""
        dev = next((d for d in self.devices.values() if d.driver is driver), None)
        if dev is not None:
            self.device_failed(dev, f"driver error: {str(exc) or type(exc).__name__}")

    @staticmethod
    def _close_quietly(name: str, driver: Driver) -> None:
        try:
            driver.close()
        except Exception:
            log.exception("event=close_failed device=%s", name)

    async def stop(self) -> None:
        """Close every device."""
        self._stopping = True
        for handle in self._retry.values():
            handle.cancel()
        for dev in self.devices.values():
            if dev.driver is not None and dev.state == "up":
                if self.engine is not None:
                    self.engine.remove_frame_device(dev.driver)
                await asyncio.get_running_loop().run_in_executor(None, self._close_quietly, dev.name, dev.driver)
            dev.state = "down"

    def status(self) -> dict:
        """Each device's state and reason."""
        devs = {d.name: {"driver": d.driver_name, "state": d.state, "reason": d.reason, "lines": len(d.lines),
                         **self.hardware(d)} for d in self.devices.values()}
        up = all(d["state"] == "up" for d in devs.values())
        return {"state": "up" if up else "degraded", "devices": devs}

    @staticmethod
    def hardware(dev: DeviceState) -> dict:
        """What an open driver says about its hardware (a modem: manufacturer, model, profile, format), its
        faults and alarms (a card's spans), for the panel and /healthz; empty for drivers that say nothing of the
        kind."""
        if dev.driver is None or dev.state != "up":
            return {}
        try:
            st = dev.driver.status()
        except Exception as exc:  # a broken status() must not break the page
            return {"faults": [f"status failed: {exc}"]}
        out = {k: st[k] for k in ("modem", "faults", "alarms") if st.get(k)}
        return out

    def sip_devices(self) -> list[dict]:
        """Each configured SIP device with its state and, while open, its trunks, extensions, bans and limits
        (the driver's ``overview()``), for the panel's SIP page."""
        out = []
        for dev in self.devices.values():
            if dev.driver_name != "sip":
                continue
            view: dict = {"trunks": [], "extensions": [], "bans": [], "limits": {}}
            if dev.driver is not None and dev.state == "up":
                try:
                    view = dev.driver.overview()  # type: ignore[attr-defined]
                except Exception as exc:  # a broken view must not break the page
                    log.exception("event=sip_overview_failed device=%s", dev.name)
                    view = {**view, "error": str(exc)}
            out.append({"device": dev.name, "state": dev.state, "reason": dev.reason, **view})
        return out

    def lift_sip_ban(self, device: str, source: str) -> bool:
        """End an authentication-failure ban on a SIP device now; KeyError for a device that is not an open SIP
        device, False when ``source`` is not banned there."""
        dev = self.devices.get(device)
        if dev is None or dev.driver_name != "sip" or dev.driver is None or dev.state != "up":
            raise KeyError(device)
        return bool(dev.driver.lift_ban(source))  # type: ignore[attr-defined]

    def line_states(self) -> list[dict]:
        """Every line with up/busy, for the panel and metrics."""
        return [{"device": self.line_device[n].name, "line": n, "kind": ln.kind.value, "extension": ln.extension,
                 "up": ln.up, "reason": ln.down_reason, "busy": n in self.busy or n in self.seized}
                for n, ln in self.lines.items()]

    def set_numbers(self, devices: list[dict]) -> None:
        """Take the devices' ``number:`` settings (at start and on reload: numbers change without a restart)."""
        self.numbers = {d["name"]: d["number"] for d in devices if d.get("number")}

    def number_of(self, line: str) -> str:
        """The number a trunk answers for (its device's ``number:``), or "" when it has none."""
        dev = self.line_device.get(line)
        return self.numbers.get(dev.name, "") if dev is not None else ""

    def device_of(self, line: str) -> Driver | None:
        """The driver object a line belongs to."""
        dev = self.line_device.get(line)
        return dev.driver if dev else None

    def station(self, extension: str) -> Line | None:
        """The station line with this extension."""
        return self.stations.get(extension)

    def free_station(self, extension: str, taken: Container[str]) -> Line | None:
        """The line to ring for an extension: its first station line that is up and not in ``taken`` (lines with
        a call), so a phone with more than one line (SIP ``max_calls``) gets a second call on its next line, as
        call waiting; None when every line of it is busy or down (or there is no such station)."""
        for line in self.station_groups.get(extension, {}).values():
            if line.up and line.name not in taken:
                return line
        return None

    def free_trunk(self) -> Line | None:
        """A full-duplex trunk that is up, may dial out, takes voice (not a fax-only line) and carries no call
        (outbound voice calls are bridged)."""
        for name, line in self.lines.items():
            if line.kind is LineKind.TRUNK and line.up and name not in self.busy and name not in self.seized \
                    and bridgeable(line) and line.traits.dial_out and not line.traits.fax_only:
                return line
        return None

    def fax_only_trunks(self) -> list[str]:
        """Trunks that answer every call as fax (``mode: fax``): never dialled for a voice call."""
        return [name for name, line in self.lines.items() if line.kind is LineKind.TRUNK and line.traits.fax_only]


def load_disabled_lines() -> list[str]:
    """Lines an admin took out of service (store read)."""
    row = Setting.get_or_none(Setting.name == DISABLED_SETTING)
    return sorted(json.loads(row.value)) if row else []


def save_disabled_lines(names: list[str]) -> None:
    """Keep the lines out of service across restarts (runs in the writer's transaction)."""
    Setting.delete().where(Setting.name == DISABLED_SETTING).execute()
    Setting.create(name=DISABLED_SETTING, value=json.dumps(sorted(set(names))))
