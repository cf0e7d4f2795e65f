"""/healthz (public) and /metrics (loopback, token or public by configuration)."""
from __future__ import annotations

import ipaddress

import tornado.web
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from .base import BaseHandler


class HealthHandler(BaseHandler):
    """Version, uptime and component states; deliberately public for load balancers and probes."""

    public = True

    def get(self) -> None:
        """Return the health document (503 while not serving)."""
        doc = self.services["app"].health()
        self.write_json(doc, 200 if doc["status"] == "serving" else 503)


class MetricsHandler(BaseHandler):
    """Prometheus text exposition."""

    public = True  # access is decided in prepare() from metrics.access
    roles = ("admin", "supervisor")

    async def prepare(self) -> None:
        """Loopback-only by default; 'token' requires a bearer token; 'public' allows all."""
        cfg = self.services["config"]["metrics"]
        if not cfg["enabled"]:
            raise tornado.web.HTTPError(404, reason="metrics are disabled")
        access = cfg["access"]
        if access == "loopback":
            if not ipaddress.ip_address(self.request.remote_ip).is_loopback:
                raise tornado.web.HTTPError(403, reason="metrics are served to loopback only")
        elif access == "token" and await self.resolve_user() is None:
            raise tornado.web.HTTPError(401, reason="authentication required")

    def get(self) -> None:
        """Render every metric."""
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.services["metrics"].registry))
