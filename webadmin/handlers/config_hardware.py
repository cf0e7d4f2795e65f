"""Configuration (admin): USB voice modems found on this box, offered as ready device entries for hotline.yaml
(the panel's "add device"; devices themselves are configured in the file)."""
from __future__ import annotations

import asyncio
import os
import re

from .config_common import ConfigApi


def _same_node(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)


def discovered(services: dict) -> dict:
    """What the device manager discovers, each entry marked with the configured device already using its port and
    given a free name to suggest (modem0, modem1, ...); file work: run it off the event loop."""
    found = services["devices"].discover()
    configured = services["config"]["devices"]
    names = {d["name"] for d in configured}
    taken = [(d["name"], str(d.get("port") or "")) for d in configured if d.get("port")]
    suggest = 0
    for entry in found["devices"]:
        nodes = [n for n in (entry["port"], entry["tty"], *entry["by_id"]) if n]
        entry["configured_as"] = next((name for name, port in taken if any(_same_node(port, n) for n in nodes)), None)
        while f"modem{suggest}" in names:
            suggest += 1
        entry["suggested_name"] = f"modem{suggest}"
        if entry["usable"] and entry["configured_as"] is None:
            names.add(entry["suggested_name"])
    return found


def yaml_entry(entry: dict, name: str | None = None, number: str = "") -> str:
    """The devices: list item to paste into hotline.yaml for one discovered modem."""
    port = entry["port"] or ""
    quoted = port if re.fullmatch(r"[A-Za-z0-9_./:+-]+", port) else '"' + port.replace('"', '\\"') + '"'
    return (f"  - name: {name or entry['suggested_name']}\n    driver: modem\n    port: {quoted}\n"
            f"    number: \"{number}\"\n    profile: {entry['profile']}\n")


class DiscoveredApi(ConfigApi):
    """GET /api/v1/config/hardware/modems: USB voice modems on this box, as device entries to add."""

    async def get(self) -> None:
        """Scan sysfs (in a worker thread)."""
        found = await asyncio.get_running_loop().run_in_executor(None, discovered, self.services)
        for entry in found["devices"]:
            entry["yaml"] = yaml_entry(entry)
        self.write_json({**found, "config_path": str(self.services["config"].path)})


ROUTES = [
    (r"/api/v1/config/hardware/modems", DiscoveredApi),
]
