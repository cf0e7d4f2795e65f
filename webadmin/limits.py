"""Request body limits, enforced before a body is read: a few KB for anonymous requests and public routes, a
per-route limit (``body_limit``) for signed-in ones, and streaming for the few upload routes, whose bodies are
read only after the sender is authenticated."""
from __future__ import annotations

import functools
import json
from typing import Any, Callable

import tornado.httputil
import tornado.web

ANONYMOUS_LIMIT = 16 * 1024          # login, setup, language, and anything sent without credentials
DEFAULT_LIMIT = 1024 * 1024          # a JSON or form request of a signed-in user
SERVER_LIMIT = 101 * 1024 * 1024     # the largest upload route (backup restore) plus its multipart framing
SESSION_COOKIE = "hotline_session"   # the panel's signed login cookie (handlers.base uses this name)


def has_credentials(app: tornado.web.Application, request: tornado.httputil.HTTPServerRequest) -> bool:
    """Whether a request carries a bearer token or a correctly signed session cookie (checked without the
    database: a token is only verified later, so token routes keep a bounded limit or stream)."""
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return True
    try:
        morsel = request.cookies.get(SESSION_COOKIE)
    except Exception:  # an unparsable Cookie header is no credential
        return False
    if morsel is None:
        return False
    secret = app.settings.get("cookie_secret")
    return tornado.web.decode_signed_value(secret, SESSION_COOKIE, morsel.value, max_age_days=1) is not None


def body_limit(app: tornado.web.Application, request: tornado.httputil.HTTPServerRequest,
               handler: type) -> int:
    """The most a request to ``handler`` may send: the route's ``body_limit`` for a request with credentials,
    ANONYMOUS_LIMIT for public routes and for requests without any."""
    if getattr(handler, "public", False) or not has_credentials(app, request):
        return ANONYMOUS_LIMIT
    return getattr(handler, "body_limit", DEFAULT_LIMIT)


@tornado.web.stream_request_body
class TooLargeHandler(tornado.web.RequestHandler):
    """Answers 413 as soon as the headers announce a body over the route's limit, then closes the connection
    (the body is never read)."""

    def initialize(self, limit: int) -> None:  # noqa: D401 - tornado hook
        """The limit that was exceeded."""
        self.limit = limit

    def check_xsrf_cookie(self) -> None:
        """Nothing is changed; the request is refused."""

    async def prepare(self) -> None:
        """Refuse with a JSON error, then drop the connection once the answer is sent."""
        self.set_status(413)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Connection", "close")
        self.set_header("X-Content-Type-Options", "nosniff")
        message = f"body: at most {self.limit // 1024} KB for this request"
        try:
            await self.finish(json.dumps({"error": message, "status": 413}))
        finally:
            self.request.connection.close()

    def data_received(self, chunk: bytes) -> None:
        """Never kept."""


class Application(tornado.web.Application):
    """Tornado's application with body limits chosen per route when the headers arrive."""

    def get_handler_delegate(self, request: tornado.httputil.HTTPServerRequest, target_class: type,
                             target_kwargs: dict[str, Any] | None = None, path_args: list[bytes] | None = None,
                             path_kwargs: dict[str, bytes] | None = None) -> Any:
        """Set the connection's body limit for this route; announce 413 at once for a declared larger body."""
        limit = body_limit(self, request, target_class)
        connection = request.connection
        if connection is not None and hasattr(connection, "set_max_body_size"):
            connection.set_max_body_size(limit)
        declared = request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            return super().get_handler_delegate(request, TooLargeHandler, {"limit": limit})
        return super().get_handler_delegate(request, target_class, target_kwargs, path_args, path_kwargs)


def upload(limit: int) -> Callable[[type], type]:
    """Class decorator for an upload route: the body (up to ``limit`` bytes) is streamed in only after
    prepare() has authenticated the sender, then parsed like Tornado would (form fields, files) before the
    handler's post/put runs; the XSRF check waits for the body, since a form sends its token there."""
    def decorate(cls: type) -> type:
        original_xsrf = cls.check_xsrf_cookie

        def check_xsrf_cookie(self: Any) -> None:
            self._xsrf_deferred = True

        def data_received(self: Any, chunk: bytes) -> None:
            if self._finished:
                return
            if getattr(self, "_upload", None) is None:
                self._upload = bytearray()
            self._upload += chunk

        def body_arrived(self: Any) -> None:
            request = self.request
            request.body = bytes(getattr(self, "_upload", None) or b"")
            self._upload = None
            try:
                tornado.httputil.parse_body_arguments(request.headers.get("Content-Type", ""), request.body,
                                                      request.body_arguments, request.files, request.headers)
            except tornado.httputil.HTTPInputError as exc:
                raise tornado.web.HTTPError(400, reason=f"body: {exc}") from None
            for name, values in request.body_arguments.items():
                request.arguments.setdefault(name, []).extend(values)
            if getattr(self, "_xsrf_deferred", False):
                original_xsrf(self)

        for verb in ("post", "put"):
            method = getattr(cls, verb)
            if method is getattr(tornado.web.RequestHandler, verb):
                continue

            @functools.wraps(method)
            async def after_body(self: Any, *args: Any, _method: Callable = method, **kwargs: Any) -> None:
                self.body_arrived()
                result = _method(self, *args, **kwargs)
                if result is not None:
                    await result
            setattr(cls, verb, after_body)
        cls.check_xsrf_cookie, cls.data_received, cls.body_arrived = check_xsrf_cookie, data_received, body_arrived
        cls.body_limit = limit
        return tornado.web.stream_request_body(cls)
    return decorate
