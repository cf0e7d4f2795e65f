"""Base handlers: services by injection, default-deny authentication (API token or login session), JSON and
HTML errors, the page layout's namespace."""
from __future__ import annotations

import json
import logging
import secrets
from typing import Any
from urllib.parse import quote, urlencode

import tornado.locale
import tornado.web

from hotline.daemon.box import users
from hotline.daemon.aio import off_loop
from hotline.daemon.box.procwork import off_loop_sized
from hotline.daemon.box import localtime, users

from ..limits import SESSION_COOKIE
from . import inputs
from .. import i18n, proxies

BIG_JSON = 64 * 1024  # bytes of JSON body above which it is decoded off the event loop
_NONE = object()
LANG_COOKIE = "hotline_lang"
ALL_ROLES = ("admin", "supervisor", "agent", "qa")
STAFF = ("admin", "supervisor", "agent")


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'")
"""Scripts only from the box's own files (no inline scripts or handlers: JSON data blocks are not run), no
plug-ins, no framing, forms post only here. Inline styles stay allowed (width bars, chart colours)."""


def security_headers(handler: tornado.web.RequestHandler) -> None:
    """Headers on every answer: no caching of private data, no framing, no MIME sniffing, the CSP, and no
    Server header naming the web framework and its version."""
    handler.clear_header("Server")
    handler.set_header("X-Content-Type-Options", "nosniff")
    handler.set_header("X-Frame-Options", "DENY")
    handler.set_header("Referrer-Policy", "same-origin")
    handler.set_header("Cache-Control", "no-store")
    handler.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)


async def box_timezone(services: dict) -> str:
    """The zone every time a person reads is written in (setup's choice, else hotline.yaml); cached until
    first-run setup changes it (``forget_timezone``)."""
    tz = services.get("_box_tz")
    if tz is None:
        default = services["config"]["locale"]["timezone"] if "config" in services else "UTC"
        tz = services["_box_tz"] = await services["store"].read(localtime.box_timezone, default)
    return tz


def forget_timezone(services: dict) -> None:
    """Drop the cached zone (after setup stored a new one)."""
    services.pop("_box_tz", None)
    localtime.forget()


class AuthMixin:
    """Bearer tokens (scripts) and signed session cookies (browsers); role checks shared by HTTP and WebSocket
    handlers. Subclasses set ``roles``; ``public = True`` opts a route out deliberately."""

    roles: tuple[str, ...] = ("admin",)
    public: bool = False
    via: str | None = None          # "token" | "session"
    session_id: int | None = None
    tz: str = "UTC"                 # the box's zone, set in prepare()

    def local_time(self, ts: float | None, style: str = "minute") -> str:
        """A stored moment as the box's local time (daemon/box/localtime.py); "" for none."""
        return localtime.fmt(ts, self.tz, style)

    async def resolve_user(self) -> Any:
        """Find the user behind the request (runs the lookup off the event loop)."""
        store = self.services["store"]
        auth = self.request.headers.get("Authorization", "")
        user = None
        if auth.startswith("Bearer "):
            token = auth[7:].strip()
            user = await store.read(users.user_for_token, token) if token else None
            self.via = "token" if user is not None else None
        else:
            raw = self.get_signed_cookie(SESSION_COOKIE, max_age_days=1)
            if raw:
                found = await store.read(users.user_for_session, raw.decode(errors="replace"))
                if found is not None:
                    user, self.session_id = found
                    self.via = "session"
                    store.submit_write(users.touch_session, self.session_id)
        self.current_user = user
        return user

    def authorize(self) -> None:
        """Default deny: refuse anonymous and wrong-role requests (admin may do everything)."""
        if self.public:
            return
        user = self.current_user
        if user is None:
            raise tornado.web.HTTPError(401, reason="authentication required")
        if user.role not in self.roles and user.role != "admin":
            raise tornado.web.HTTPError(403, reason="not allowed for this role")

    def get_current_user(self) -> Any:
        """Set by resolve_user() in prepare(); None before."""
        return None

    def set_default_headers(self) -> None:
        """No Server header naming the framework (WebSocket handlers; HTTP handlers add more)."""
        self.clear_header("Server")

    def get_user_locale(self) -> tornado.locale.Locale:
        """The user's language; before login the language cookie, else the box default."""
        user = self.current_user
        if user is not None and user.language in i18n.LANGUAGES:
            return tornado.locale.get(user.language)
        chosen = self.get_cookie(LANG_COOKIE)
        if chosen in i18n.LANGUAGES:
            return tornado.locale.get(chosen)
        box = self.services["config"]["locale"]["language"]
        if "Accept-Language" in self.request.headers:
            return self.get_browser_locale(box)
        return tornado.locale.get(box)

    def error_message(self, **kwargs: Any) -> str:
        """What went wrong: the reason we gave, or Tornado's own message (e.g. a missing XSRF token)."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, inputs.BadInput):
            return exc.message
        if isinstance(exc, tornado.web.HTTPError) and exc.reason is None and exc.log_message \
                and 400 <= exc.status_code < 500:
            return exc.log_message % exc.args if exc.args else exc.log_message
        return self._reason

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """A validation error that escaped its handler is logged as bad input, without a traceback; anything
        else is logged as the bug it is."""
        if inputs.input_error_status(value) is not None and not isinstance(value, tornado.web.HTTPError):
            logging.getLogger("hotline.web").warning("event=bad_input path=%s error=%s: %s", self.request.path,
                                                     type(value).__name__, value)
            return
        super().log_exception(typ, value, tb)  # type: ignore[misc]

    def error_outcome(self, status_code: int, **kwargs: Any) -> tuple[int, str]:
        """(status, message) to answer with: a validation error that escaped its handler becomes its own 4xx
        (and the response status is changed to it); everything else keeps its status."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status = inputs.input_error_status(exc)
        if status is not None and not isinstance(exc, tornado.web.HTTPError):
            self.set_status(status)
            return status, str(exc)
        return status_code, self.error_message(**kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Errors are JSON with a message saying what is wrong; the last resort for a validation error that
        escaped its handler is its own 4xx (any other exception stays a 500)."""
        status_code, message = self.error_outcome(status_code, **kwargs)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": message, "status": status_code}))
    def _trusted_proxies(self) -> tuple:
        return proxies.parse_networks(tuple(self.services["config"]["web"].get("trusted_proxies") or ()))

    @property
    def address(self) -> str:
        """The client's address (for the audit log, login throttling and loopback checks): the peer, or the
        X-Forwarded-For client when the peer is one of ``web.trusted_proxies``."""
        return proxies.client_address(self.request.remote_ip or "", self.request.headers.get("X-Forwarded-For"),
                                      self._trusted_proxies())

    @property
    def over_https(self) -> bool:
        """TLS here, or at a trusted proxy that says so (X-Forwarded-Proto: https)."""
        if self.request.protocol == "https":
            return True
        return proxies.is_trusted(self.request.remote_ip or "", self._trusted_proxies()) and \
            self.request.headers.get("X-Forwarded-Proto", "").strip().lower() == "https"

    @property
    def actor(self) -> str:
        """The user name for audit entries and journal events."""
        return self.current_user.name if self.current_user is not None else "anonymous"


class BaseHandler(AuthMixin, tornado.web.RequestHandler):
    """Every JSON API handler derives from this; ``roles`` lists who may call it, ``public`` opts out."""

    def initialize(self, services: dict[str, Any]) -> None:  # noqa: D401 - tornado hook
        """Receive the daemon's services."""
        self.services = services

    def set_default_headers(self) -> None:
        """See ``security_headers``."""
        security_headers(self)

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated API calls carry no cookies, so XSRF does not apply to them; browsers must send
        the _xsrf form field or the X-XSRFToken header."""
        if self.request.headers.get("Authorization", "").startswith("Bearer "):
            return
        super().check_xsrf_cookie()

    async def prepare(self) -> None:
        """Authenticate and authorize every request before its method runs (public routes skip both)."""
        if self.public:
            return
        await self.resolve_user()
        self.authorize()
        self.tz = await box_timezone(self.services)
        await self.decode_big_json()

    async def decode_big_json(self) -> None:
        """A big JSON body is decoded in a thread before the method runs (tens of ms on the event loop would cost
        every call audio); json_body then answers from it."""
        body = self.request.body
        if len(body) > BIG_JSON and body[:1] in (b"{", b"[", b" ", b"\n", b"\r", b"\t"):
            try:
                self._big_json = await off_loop_sized(len(body), inputs.parse_json_object, body)
            except inputs.BadInput as exc:  # json_body reports it the usual way
                self._big_json = exc

    def write_json(self, data: Any, status: int = 200) -> None:
        """Send a JSON document."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(data, ensure_ascii=False, default=str))

    async def write_json_off_loop(self, data: Any, status: int = 200) -> None:
        """write_json for documents that can be big (a flow's menu tree): encoded in a thread; RawJson values
        (encoded in the worker process) are put in as they are."""
        text = await off_loop(dumps_with_raw, data)
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(text)

    def json_body(self) -> dict:
        """The request body as a JSON object, checked by inputs.parse_json_object (nesting, Unicode, numbers),
        or a 400 naming the problem (a big body was decoded off the loop before the method ran)."""
        big = getattr(self, "_big_json", _NONE)
        if isinstance(big, Exception):
            raise big
        return inputs.parse_json_object(self.request.body) if big is _NONE else big

    async def audit(self, action: str, target: str = "", before: Any = None, after: Any = None) -> None:
        """Record a change in the audit log (who, when, from where, before -> after)."""
        from hotline.daemon.box import audit
        await self.services["store"].write(audit.record, self.actor, self.address, action, target, before, after)


class RawJson(str):
    """JSON text encoded elsewhere (a big flow's menu tree, in the worker process), put into an answer as is:
    decoding and encoding it again would hold the GIL for longer than a media tick."""


def dumps_with_raw(data: dict, script: bool = False) -> str:
    """json.dumps of a dict whose top-level RawJson values are spliced in unchanged; ``script``: safe inside
    a <script> element (as tornado's json_encode)."""
    raws = {k: v for k, v in data.items() if isinstance(v, RawJson)}
    marks = {k: f"raw-{secrets.token_hex(16)}" for k in raws}
    text = json.dumps({k: marks.get(k, v) if k in raws else v for k, v in data.items()}, ensure_ascii=script,
                      default=str)
    for k, raw in raws.items():
        text = text.replace(f'"{marks[k]}"', raw, 1)
    return text.replace("</", "<\\/") if script else text


class PageHandler(BaseHandler):
    """A server-rendered page: anonymous visitors are sent to the login page (or to first-run setup while no
    admin exists); errors are shown as pages in the user's language."""

    roles: tuple[str, ...] = ("admin",)
    title: str = ""
    needs_setup_done: bool = True

    async def prepare(self) -> None:
        """First-run setup, then log-in, then role."""
        if self.needs_setup_done and not await self.setup_done():
            self.redirect("/setup")
            return
        await self.resolve_user()
        if self.current_user is None and not self.public:
            if self.request.method in ("GET", "HEAD"):
                self.redirect("/login?next=" + quote(self.request.uri or "/", safe="/?=&"))
                return
            raise tornado.web.HTTPError(401, reason="authentication required")
        self.authorize()
        self.tz = await box_timezone(self.services)

    async def setup_done(self) -> bool:
        """Whether an admin exists (cached once true: an admin is never deleted by the panel)."""
        if self.services.get("_setup_done"):
            return True
        done = await self.services["store"].read(users.admin_exists)
        if done:
            self.services["_setup_done"] = True
        return done

    def get_template_namespace(self) -> dict[str, Any]:
        """What every template sees: the user, the navigation for their role, the language list."""
        ns = super().get_template_namespace()
        user = self.current_user
        role = user.role if user is not None else None
        ns.update(url_escape_query=lambda q, page: urlencode({**{k: v for k, v in q.items() if v}, "page": page}),
                  user=user, nav=i18n.nav_for(role), languages=i18n.LANGUAGES, path=self.request.path,
                  page_title=self.title, js_strings=i18n.js_strings(self.locale), lang=self.locale.code,
                  local_time=self.local_time, box_tz=self.tz, span=lambda s: i18n.span(s, self.locale))
        return ns

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """An error page in the user's language (JSON for API-style requests)."""
        if "application/json" in self.request.headers.get("Accept", ""):
            return super().write_error(status_code, **kwargs)
        status_code, message = self.error_outcome(status_code, **kwargs)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        try:
            self.render("error.html", status=status_code, message=message)
        except Exception:  # never fail while failing
            self.finish(f"<h1>{status_code}</h1>")
