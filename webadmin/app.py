"""Builds the Tornado application from the daemon's services."""
from __future__ import annotations

from typing import Any

import tornado.web

from .handlers import health
from .routes import api_routes


def make_app(services: dict[str, Any]) -> tornado.web.Application:
    """The application; handlers receive ``services`` through initialize()."""
    kw = {"services": services}
    routes = [
        (r"/healthz", health.HealthHandler, kw),
        (r"/metrics", health.MetricsHandler, kw),
        *[(pattern, handler, kw) for pattern, handler in api_routes()],
    ]
    return tornado.web.Application(routes, xsrf_cookies=True, cookie_secret=services.get("cookie_secret"),
                                   default_handler_class=NotFoundHandler, default_handler_args=kw)


class NotFoundHandler(health.BaseHandler):
    """Unknown routes: 404 as JSON (anonymous callers get 401 first: default deny)."""

    roles = ("admin", "supervisor", "agent", "qa")

    def prepare(self) -> None:
        """Authenticate, then say not found."""
        super().prepare()
        raise tornado.web.HTTPError(404, reason="no such route")
