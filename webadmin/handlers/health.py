"""/healthz (public state; details for administrators) and /metrics (loopback, token or public by
configuration)."""
from __future__ import annotations

import asyncio
import ipaddress

import tornado.web
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from .base import SESSION_COOKIE, BaseHandler

METRICS_ROLES = ("admin", "metrics")


class HealthHandler(BaseHandler):
    """Public for load balancers and probes: the serving state only (200 serving, 503 otherwise). An
    administrator (session or bearer token) also gets version, uptime and each component's status; nobody
    else learns paths, devices or flow names."""

    public = True

    async def get(self) -> None:
        """Return the health document (503 while not serving)."""
        doc = self.services["app"].health()
        code = 200 if doc["status"] == "serving" else 503
        if self.request.headers.get("Authorization") or self.get_cookie(SESSION_COOKIE):
            user = await self.resolve_user()
            if user is not None and user.role == "admin":
                return self.write_json(doc, code)
        self.write_json({"status": doc["status"]}, code)


class MetricsHandler(BaseHandler):
    """Prometheus text exposition."""

    public = True  # access is decided in prepare() from metrics.access
    roles = METRICS_ROLES

    async def prepare(self) -> None:
        """Loopback-only by default (the client address: behind a trusted proxy, the one it names); 'token'
        requires a bearer token of an admin or of a 'metrics' user (never agent, QA or supervisor tokens);
        'public' allows all."""
        cfg = self.services["config"]["metrics"]
        if not cfg["enabled"]:
            raise tornado.web.HTTPError(404, reason="metrics are disabled")
        access = cfg["access"]
        if access == "loopback":
            try:
                loopback = ipaddress.ip_address(self.address).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise tornado.web.HTTPError(403, reason="metrics are served to loopback only")
        elif access == "token":
            user = await self.resolve_user() if self.request.headers.get("Authorization", "").startswith(
                "Bearer ") else None
            if user is None:
                raise tornado.web.HTTPError(401, reason="a bearer token is required")
            if user.role not in METRICS_ROLES:
                raise tornado.web.HTTPError(403, reason="metrics need an admin or 'metrics' token")

    async def get(self) -> None:
        """Render every metric, in a thread: a few hundred series take ms of Python that a scrape every few
        seconds would otherwise add to the media clock's loop (the metrics are thread-safe)."""
        text = await asyncio.get_running_loop().run_in_executor(None, generate_latest,
                                                                 self.services["metrics"].registry)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(text)
