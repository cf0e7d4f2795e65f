"""The overview page and the audit log (page and API)."""
from __future__ import annotations

import os
import shutil
from typing import Any

import tornado.web

from hotline.daemon.box import audit
from hotline.daemon.box import audit, localtime

from .inputs import page_param
from .base import ALL_ROLES, BaseHandler, PageHandler


def system_status(services: dict[str, Any]) -> dict:
    """CPU, memory, disk, uptime, versions and line states, for the overview and the system page."""
    app = services["app"]
    health = app.health()
    load1, load5, _ = os.getloadavg()
    mem = {}
    try:
        for line in open("/proc/meminfo", encoding="ascii"):
            key, value = line.split(":", 1)
            mem[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    state_dir = services["config"].state_dir
    disk = shutil.disk_usage(state_dir) if state_dir.exists() else None
    devices = services.get("devices")
    lines = []
    if devices is not None:
        for name, line in sorted(devices.lines.items()):
            lines.append({"name": name, "kind": line.kind.value, "extension": line.extension, "up": line.up,
                          "busy": name in devices.busy})
    return {"health": health, "load": [round(load1, 2), round(load5, 2)], "cpus": os.cpu_count(),
            "memory": {"total": mem.get("MemTotal"), "available": mem.get("MemAvailable")},
            "disk": {"total": disk.total, "free": disk.free} if disk else None, "lines": lines,
            "calls_active": services["calls"].active_count() if "calls" in services else 0}


class OverviewHandler(PageHandler):
    """Home: what the box is doing now."""

    roles = ALL_ROLES
    title = "Overview"

    def get(self) -> None:
        """System status at a glance."""
        self.render("overview.html", status=system_status(self.services))


def _parse_day(value: str | None, field: str, tz: str) -> float | None:
    if not value:
        return None
    try:
        return localtime.parse(value, tz, ("%Y-%m-%d",))
    except ValueError:
        raise tornado.web.HTTPError(400, reason=f"{field}: use YYYY-MM-DD") from None


def audit_filters(handler: tornado.web.RequestHandler) -> dict:
    """Allow-listed filters from the query string (unknown parameters are refused)."""
    allowed = {"user", "action", "target", "since", "until", "page"}
    unknown = set(handler.request.query_arguments) - allowed
    if unknown:
        raise tornado.web.HTTPError(400, reason=f"unknown filter {sorted(unknown)[0]!r}")
    get = handler.get_query_argument
    since = _parse_day(get("since", None), "since", getattr(handler, "tz", "UTC"))
    until = _parse_day(get("until", None), "until", getattr(handler, "tz", "UTC"))
    page = page_param(get("page", None))
    return {"user": (get("user", "") or "").strip()[:64] or None,
            "action": (get("action", "") or "").strip()[:64] or None,
            "target": (get("target", "") or "").strip()[:255] or None,
            "since": since, "until": until + 86400 if until is not None else None,
            "limit": 50, "offset": (page - 1) * 50, "_page": page}


class AuditPage(PageHandler):
    """Who changed what, when, from where; filterable."""

    title = "Audit log"

    async def get(self) -> None:
        """The filtered list, newest first."""
        f = audit_filters(self)
        page = f.pop("_page")
        result = await self.services["store"].read(lambda: audit.query(**f))
        self.render("audit.html", result=result, page=page, q={k: self.get_query_argument(k, "")
                                                              for k in ("user", "action", "target", "since",
                                                                        "until")},
                    fmt=lambda ts: self.local_time(ts, "second"))


class AuditApi(BaseHandler):
    """GET /api/v1/audit: the audit log as JSON (same filters as the page)."""

    async def get(self) -> None:
        """Entries newest first."""
        f = audit_filters(self)
        f.pop("_page")
        self.write_json(await self.services["store"].read(lambda: audit.query(**f)))


PAGE_ROUTES = [
    (r"/", OverviewHandler),
    (r"/audit", AuditPage),
]
ROUTES = [
    (r"/api/v1/audit", AuditApi),
]
