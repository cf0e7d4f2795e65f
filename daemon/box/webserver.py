"""Starts the Tornado HTTP server for the panel, API, /healthz and /metrics."""
from __future__ import annotations

import errno
import logging
import os
import secrets
import ssl
from pathlib import Path
from typing import Any

import tornado.httpserver
import tornado.netutil

from ..errors import HotlineError

log = logging.getLogger("hotline.web")


def cookie_secret(path: Path) -> str:
    """The key that signs login cookies: random, made once per box, readable by the daemon only."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


class WebComponent:
    """The web layer as a component: listens on the configured address."""

    def __init__(self, services: dict[str, Any]):
        self.services = services
        self.server: tornado.httpserver.HTTPServer | None = None
        self.port = 0

    async def start(self) -> None:
        """Build the application and listen; a busy port is a clear error."""
        from hotline.webadmin.app import make_app  # webadmin depends on daemon, not the reverse
        config = self.services["config"]
        host, port = config.listen
        ssl_ctx = None
        web = config["web"]
        if web["tls_cert"]:
            ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            try:
                ssl_ctx.load_cert_chain(web["tls_cert"], web["tls_key"])
            except (OSError, ssl.SSLError) as exc:
                raise HotlineError(f"web.tls_cert/tls_key: cannot load: {exc}") from None
        self.services.setdefault("cookie_secret", cookie_secret(config.state_dir / "cookie-secret"))
        app = make_app(self.services)
        self.server = tornado.httpserver.HTTPServer(app, ssl_options=ssl_ctx, xheaders=False)
        try:
            sockets = tornado.netutil.bind_sockets(port, address=host)
        except OSError as exc:
            what = "already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise HotlineError(f"web.listen {host}:{port}: {what}") from None
        self.server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        log.info("event=listening url=%s://%s:%d/", "https" if ssl_ctx else "http", host, self.port)
        await self._first_run(config, f"{'https' if ssl_ctx else 'http'}://{host}:{self.port}/")

    async def _first_run(self, config: Any, url: str) -> None:
        """While no administrator exists, /setup needs the one-time code written to the state directory."""
        from . import setup_code, users
        if await self.services["store"].read(users.admin_exists):
            setup_code.discard(config.state_dir)
            self.services["setup_code"] = None
            return
        code = setup_code.ensure(config.state_dir)
        self.services["setup_code"] = code
        setup_code.announce(config.state_dir, code, url)

    async def stop(self) -> None:
        """Stop accepting connections."""
        if self.server is not None:
            self.server.stop()
            await self.server.close_all_connections()
            self.server = None

    def status(self) -> dict:
        """Listening port."""
        return {"state": "up" if self.server else "down", "port": self.port}
