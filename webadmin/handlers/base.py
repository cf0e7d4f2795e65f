"""Base handler: services by injection, default-deny authentication, JSON errors."""
from __future__ import annotations

import json
from typing import Any

import tornado.web

from hotline.daemon import users


class AuthMixin:
    """Bearer-token authentication and role checks, shared by HTTP and WebSocket handlers."""

    roles: tuple[str, ...] = ("admin",)
    public: bool = False

    def get_current_user(self) -> Any:
        """The user behind a bearer token (cookie sessions arrive with the panel)."""
        auth = self.request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth[7:].strip()
            return users.user_for_token(token) if token else None
        return None

    def authorize(self) -> None:
        """Default deny: refuse anonymous and wrong-role requests (admin may do everything)."""
        if self.public:
            return
        user = self.current_user
        if user is None:
            raise tornado.web.HTTPError(401, reason="authentication required")
        if user.role not in self.roles and user.role != "admin":
            raise tornado.web.HTTPError(403, reason="not allowed for this role")


class BaseHandler(AuthMixin, tornado.web.RequestHandler):
    """Every handler derives from this; ``roles`` lists who may call it, ``public`` opts out."""

    def initialize(self, services: dict[str, Any]) -> None:  # noqa: D401 - tornado hook
        """Receive the daemon's services."""
        self.services = services

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated API calls carry no cookies, so XSRF does not apply to them."""
        if self.request.headers.get("Authorization", "").startswith("Bearer "):
            return
        super().check_xsrf_cookie()

    def prepare(self) -> None:
        """Authorize every request before its method runs."""
        self.authorize()

    def write_json(self, data: Any, status: int = 200) -> None:
        """Send a JSON document."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data, ensure_ascii=False, default=str))

    def json_body(self) -> dict:
        """The request body as a JSON object, or a 400 naming the problem."""
        try:
            data = json.loads(self.request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise tornado.web.HTTPError(400, reason=f"body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise tornado.web.HTTPError(400, reason="body must be a JSON object")
        return data

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors are JSON with a message saying what is wrong."""
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": self._reason, "status": status_code}))
