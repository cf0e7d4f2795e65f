"""Builds the Tornado application from the daemon's services: pages, the JSON API, the WebSocket hub, assets."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import tornado.web

from . import hub as hubmod
from .limits import Application
from .handlers import health
from .handlers.base import ALL_ROLES, PageHandler
from .routes import api_routes, hub_setups, on_starts, page_routes

HERE = Path(__file__).parent


def make_app(services: dict[str, Any]) -> tornado.web.Application:
    """The application; handlers receive ``services`` through initialize()."""
    if "hub" not in services:
        services["hub"] = hubmod.Hub(services)
        for setup in hub_setups():
            setup(services["hub"], services)
        for start in on_starts():
            start(services)
    kw = {"services": services}
    routes = [
        (r"/healthz", health.HealthHandler, kw),
        (r"/metrics", health.MetricsHandler, kw),
        (r"/static/(.*)", StaticHandler, {"path": str(HERE / "static")}),
        (r"/favicon\.ico", FaviconHandler, {"path": str(HERE / "static")}),
        *[(pattern, handler, kw) for pattern, handler in (*hubmod.ROUTES, *page_routes())],
        *[(pattern, handler, kw) for pattern, handler in api_routes()],
    ]
    secret = services.get("cookie_secret")
    if not secret:
        raise RuntimeError("make_app needs services['cookie_secret'] (signed session cookies)")
    return Application(
        routes, xsrf_cookies=True, xsrf_cookie_kwargs={"samesite": "Strict", "httponly": False},
        cookie_secret=secret, template_path=str(HERE / "templates"), static_path=None, autoescape="xhtml_escape",
        compiled_template_cache=True, default_handler_class=NotFoundHandler, default_handler_args=kw,
        websocket_max_message_size=64 * 1024)


class StaticHandler(tornado.web.StaticFileHandler):
    """Vendored assets (deliberately public: CSS, scripts, fonts; nothing private lives there)."""

    public = True

    def set_default_headers(self) -> None:
        """No Server header naming the framework."""
        self.clear_header("Server")

    def set_extra_headers(self, path: str) -> None:
        """Assets may be cached; nothing else may be sniffed."""
        self.set_header("X-Content-Type-Options", "nosniff")

    def parse_url_path(self, url_path: str) -> str:
        """No asset has a control character (a NUL would reach the file system calls): 404."""
        if any(ord(c) < 32 or c == "\x7f" for c in url_path):
            raise tornado.web.HTTPError(404)
        return super().parse_url_path(url_path)


class FaviconHandler(StaticHandler):
    """/favicon.ico, which browsers ask for on every page: the panel's icon (served from the box, public)."""

    async def get(self, path: str = "", include_body: bool = True) -> None:  # type: ignore[override]
        """The SVG icon (browsers take an SVG at this address as readily as an ICO)."""
        await super().get("favicon.svg", include_body)

    def head(self, path: str = "") -> Any:  # type: ignore[override]
        """Headers only."""
        return self.get("favicon.svg", include_body=False)


class NotFoundHandler(PageHandler):
    """Unknown routes: 404 (anonymous callers are refused first: default deny)."""

    roles = ALL_ROLES

    async def prepare(self) -> None:
        """Authenticate, then say not found (JSON under /api, a page elsewhere)."""
        if self.request.path.startswith("/api/"):
            await self.resolve_user()
            self.authorize()
            raise tornado.web.HTTPError(404, reason="no such route")
        await super().prepare()
        if self._finished:
            return
        raise tornado.web.HTTPError(404, reason="no such route")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """JSON under /api/, a page elsewhere."""
        if self.request.path.startswith("/api/"):
            return health.BaseHandler.write_error(self, status_code, **kwargs)
        return super().write_error(status_code, **kwargs)
