"""Configuration (admin): devices and lines (take lines out of service, probe for hardware), the recording
settings, and the system status page (CPU, memory, disk, uptime, versions, line and component states)."""
from __future__ import annotations

import asyncio
import platform
import re
import shutil
import sqlite3
from typing import Callable
import numpy
import peewee
import tornado

from hotline.daemon.acd import config as acd_config
from hotline.daemon.calls.devices import save_disabled_lines
from hotline.daemon.store.db import describe

from ..i18n import N_
from .config_common import ConfigApi, ConfigPage
from .config_hardware import discovered, yaml_entry
from .pages import system_status

LINE = r"([A-Za-z0-9_.-]{1,64})"
DEVICE = r"([a-z][a-z0-9_-]{0,31})"
STATES = [N_("disabled"), N_("off")]  # line and device states shown through _(value)
MODEM_FAULTS = [N_("echo"), N_("stalled"), N_("unplugged")]  # a modem driver's status()["faults"], shown through _()


def line_rows(services: dict) -> list[dict]:
    """Every open line: device, kind, extension, state (idle, busy, down with the reason, disabled)."""
    devices = services.get("devices")
    if devices is None:
        return []
    rows = []
    def natural(r: dict) -> tuple:
        return (r["device"], r["kind"] != "trunk", [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", r["line"])])
    for ln in sorted(devices.line_states(), key=natural):
        disabled = ln["line"] in devices.disabled
        state = "disabled" if disabled else "down" if not ln["up"] else "busy" if ln["busy"] else "idle"
        hw_up, hw_reason = devices.disabled.get(ln["line"], (ln["up"], ln["reason"]))
        rows.append({**ln, "state": state, "disabled": disabled,
                     "reason": ("" if disabled else ln["reason"]),
                     "hardware": "up" if hw_up else f"down: {hw_reason}" if hw_reason else "down",
                     "hardware_up": hw_up, "hardware_reason": "" if hw_up else hw_reason})
    return rows


def device_rows(services: dict) -> list[dict]:
    """Every device of hotline.yaml: driver, state and reason, lines (also those switched off in the file)."""
    devices = services.get("devices")
    config = services["config"]
    out = []
    for d in config["devices"]:
        live = devices.devices.get(d["name"]) if devices is not None else None
        if live is None:
            out.append({"name": d["name"], "driver": d["driver"], "state": "off", "reason": "enabled: false",
                        "lines": 0, "disabled_lines": 0, "hardware": "", "faults": [], "alarms": []})
            continue
        names = [ln.name for ln in live.lines]
        hw = devices.hardware(live)
        modem = hw.get("modem") or {}
        hardware = " · ".join(str(v) for v in (modem.get("manufacturer"), modem.get("model"), modem.get("profile"),
                                                modem.get("format")) if v)
        out.append({"name": live.name, "driver": live.driver_name, "state": live.state, "reason": live.reason,
                    "lines": len(names), "disabled_lines": sum(1 for n in names if n in devices.disabled),
                    "hardware": hardware, "faults": hw.get("faults", []), "alarms": hw.get("alarms", [])})
    return out


def versions(services: dict) -> dict:
    """What runs here."""
    from hotline.daemon.version import VERSION
    config = services["config"]
    url = config.database_url
    return {"hotline": VERSION, "python": platform.python_version(), "tornado": tornado.version,
            "sqlite": sqlite3.sqlite_version, "peewee": peewee.__version__, "numpy": numpy.__version__,
            "os": platform.platform(terse=True), "machine": platform.machine(),
            "database": "PostgreSQL" if url.startswith("postgres") else "SQLite", "database_url": describe(url)}


MOMENTS = re.compile(r"(^|_)(at|last_run|last_used|since|started|ts)$")   # figures that are moments (epoch seconds)


def component_rows(health: dict, local_time: Callable[[float], str] = str) -> list[dict]:
    """Each component's state and its simple figures (moments as the box's local time)."""
    rows = []
    for name, comp in sorted(health.get("components", {}).items()):
        facts = {k: (local_time(v) if v else "–") if MOMENTS.search(k) and isinstance(v, (int, float)) else v
                 for k, v in comp.items() if k != "state" and isinstance(v, (int, float, str)) and v != ""}
        rows.append({"name": name, "state": comp.get("state", "unknown"),
                     "detail": ", ".join(f"{k}: {v}" for k, v in facts.items())[:160]})
    return rows


class LinesPage(ConfigPage):
    """Devices and their lines; take a line (or a whole device) out of service; probe for hardware."""

    title = N_("Devices and lines")
    query = {"probe": ("1",)}

    async def get(self) -> None:
        """The page; with ?probe=1 also what each installed driver finds on this box and the USB modems to add."""
        probe = modems = None
        if self.q.get("probe"):
            loop = asyncio.get_running_loop()
            probe = await loop.run_in_executor(None, self.services["devices"].probe)
            modems = await loop.run_in_executor(None, discovered, self.services)
        self.render("config_lines.html", devices=device_rows(self.services), lines=line_rows(self.services),
                    config_path=self.services["config"].path, probe=probe, modems=modems, yaml_entry=yaml_entry)


class LineSwitchApi(ConfigApi):
    """Taking lines out of service: in memory at once, kept in the settings table, audited together."""

    async def switch(self, names: list[str], enabled: bool, action: str, target: str) -> list[str] | None:
        """Apply to every line (all or none), store and audit; the lines that changed (None: answered)."""
        devices = self.services["devices"]
        if not enabled:
            busy = [n for n in names if n in devices.busy and n not in devices.disabled]
            if busy:
                self.fail(409, f"line {busy[0]} carries a call: take it out of service when the call has ended")
                return None
        before = {n: n not in devices.disabled for n in names}
        changed = []
        try:
            for n in names:
                if devices.set_line_enabled(n, enabled):
                    changed.append(n)
        except ValueError as exc:  # a call arrived meanwhile
            for n in changed:
                devices.set_line_enabled(n, not enabled)
            self.fail(409, str(exc))
            return None
        keep = sorted(devices.disabled)
        try:
            await self.change(lambda: save_disabled_lines(keep), action, target,
                              lambda _: ({"enabled": before}, {"enabled": {n: enabled for n in names}}))
        except Exception:
            for n in changed:
                devices.set_line_enabled(n, not enabled)
            raise
        return changed

    def enabled_field(self) -> bool | None:
        """The body's "enabled" (a 400 naming it otherwise)."""
        enabled = self.json_body().get("enabled")
        if not isinstance(enabled, bool):
            self.write_json({"error": "enabled: true or false", "status": 400,
                             "problems": [{"field": "enabled", "message": "true or false"}]}, 400)
            return None
        return enabled


class LinesApi(ConfigApi):
    """GET /api/v1/config/lines: devices (with state and reason) and every line."""

    def get(self) -> None:
        """Devices and lines."""
        self.write_json({"devices": device_rows(self.services), "lines": line_rows(self.services)})


class LineApi(LineSwitchApi):
    """POST /api/v1/config/lines/{line} {"enabled": false}: take a line out of service (no new calls) or back."""

    async def post(self, name: str) -> None:
        """Switch one line."""
        enabled = self.enabled_field()
        if enabled is None:
            return
        if name not in self.services["devices"].lines:
            return self.fail(404, f"no line {name!r}")
        changed = await self.switch([name], enabled, "line.enabled" if enabled else "line.disabled", name)
        if changed is not None:
            row = next(r for r in line_rows(self.services) if r["line"] == name)
            self.write_json({**row, "changed": bool(changed)})


class DeviceApi(LineSwitchApi):
    """POST /api/v1/config/devices/{device} {"enabled": false}: every line of a device out of service or back."""

    async def post(self, name: str) -> None:
        """Switch all lines of the device."""
        enabled = self.enabled_field()
        if enabled is None:
            return
        dev = self.services["devices"].devices.get(name)
        if dev is None:
            return self.fail(404, f"no device {name!r} is configured and enabled in hotline.yaml")
        if not dev.lines:
            return self.fail(409, f"device {name} is {dev.state} ({dev.reason or 'not open'}): its lines are not "
                                  "known until it opens")
        names = [ln.name for ln in dev.lines]
        changed = await self.switch(names, enabled, "device.enabled" if enabled else "device.disabled", name)
        if changed is not None:
            self.write_json({"device": name, "enabled": enabled, "lines": names, "changed": changed})


class ProbeApi(ConfigApi):
    """GET /api/v1/config/probe: what each installed driver finds on this box."""

    async def get(self) -> None:
        """Ask every driver (off the event loop: drivers may scan device nodes)."""
        devices = self.services["devices"]
        found = await asyncio.get_running_loop().run_in_executor(None, devices.probe)
        self.write_json({"drivers": found, "configured": [d["name"] for d in self.services["config"]["devices"]]})


class RecordingPage(ConfigPage):
    """Recording policies per queue and per route, retention and the disk guard (hotline.yaml, read-only)."""

    title = N_("Recording")

    async def get(self) -> None:
        """The summary."""
        _, queues, _ = await self.services["store"].read(acd_config.load_all)
        config = self.services["config"]
        rec_dir = config.path_for("recordings")
        disk = shutil.disk_usage(rec_dir) if rec_dir.exists() else None
        self.render("config_recording.html", queues=queues, routes=config["routes"], engine=config["engine"],
                    config_path=config.path, recordings=str(rec_dir), disk=disk)


class SystemPage(ConfigPage):
    """CPU, memory, disk, uptime, versions, components and lines."""

    title = N_("System status")

    def get(self) -> None:
        """The page."""
        status = system_status(self.services)
        self.render("config_system.html", status=status, versions=versions(self.services),
                    components=component_rows(status["health"], self.local_time), lines=line_rows(self.services),
                    state_dir=str(self.services["config"].state_dir))


class SystemApi(ConfigApi):
    """GET /api/v1/config/system: the system page as JSON."""

    def get(self) -> None:
        """Status, versions, components, lines."""
        status = system_status(self.services)
        self.write_json({"health": status["health"], "load": status["load"], "cpus": status["cpus"],
                         "memory": status["memory"], "disk": status["disk"], "calls_active": status["calls_active"],
                         "versions": versions(self.services), "components": component_rows(status["health"], self.local_time),
                         "lines": line_rows(self.services)})


PAGE_ROUTES = [
    (r"/config/lines", LinesPage),
    (r"/config/recording", RecordingPage),
    (r"/config/system", SystemPage),
]
ROUTES = [
    (r"/api/v1/config/lines", LinesApi),
    (rf"/api/v1/config/lines/{LINE}", LineApi),
    (rf"/api/v1/config/devices/{DEVICE}", DeviceApi),
    (r"/api/v1/config/probe", ProbeApi),
    (r"/api/v1/config/system", SystemApi),
]
