"""First-run setup, log in, log out, language choice."""
from __future__ import annotations

import zoneinfo
from typing import Any

import tornado.web

from hotline.daemon import users
from hotline.daemon.store.models import Setting, User

from .. import i18n
from ..i18n import N_
from .base import LANG_COOKIE, SESSION_COOKIE, PageHandler, forget_timezone

HOME = {"admin": "/", "supervisor": "/", "agent": "/", "qa": "/"}
TIMEZONES = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Europe/London",
             "Europe/Berlin", "America/New_York", "America/Los_Angeles", "UTC"]


def safe_next(target: str | None, default: str = "/") -> str:
    """Only local paths (never //host or scheme:) are followed after log-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def guard(services: dict[str, Any]) -> users.LoginGuard:
    """The daemon's one login guard (failed tries counted per user name and per address)."""
    if "_login_guard" not in services:
        services["_login_guard"] = users.LoginGuard()
    return services["_login_guard"]


class SetupHandler(PageHandler):
    """First run: create the admin, choose the language and timezone. Gone once an admin exists."""

    public = True
    needs_setup_done = False

    async def prepare(self) -> None:
        """Only while no admin exists."""
        if await self.setup_done():
            raise tornado.web.HTTPError(404, reason="setup is already done")
        await super().prepare()

    def get(self) -> None:
        """The setup form."""
        self.render("setup.html", error=None, form={}, timezones=TIMEZONES,
                    default_tz=self.services["config"]["locale"]["timezone"])

    async def post(self) -> None:
        """Create the admin and log them in."""
        form = {k: self.get_body_argument(k, "").strip() for k in ("name", "language", "timezone")}
        password, again = self.get_body_argument("password", ""), self.get_body_argument("password2", "")
        error = None
        if form["language"] not in i18n.LANGUAGES:
            error = N_("Choose a language.")
        elif form["timezone"] not in zoneinfo.available_timezones():
            error = N_("Choose a timezone.")
        elif not users.valid_name(form["name"]):
            error = N_("User names use 1-64 letters, digits, '.', '-' or '_'.")
        elif len(password) < 8:
            error = N_("The password needs at least 8 characters.")
        elif password != again:
            error = N_("The two passwords differ.")
        if error is None:
            def create() -> int:
                if users.admin_exists():
                    raise users.UserError("setup is already done")
                user = users.add_user(form["name"], users.Role.ADMIN, password)
                User.update(language=form["language"]).where(User.id == user.id).execute()
                Setting.delete().where(Setting.name == "timezone").execute()
                Setting.create(name="timezone", value=form["timezone"])
                from hotline.daemon import audit
                audit.record(form["name"], self.address, "setup.admin_created", form["name"], None,
                             {"name": form["name"], "language": form["language"], "timezone": form["timezone"]})
                return user.id
            try:
                user_id = await self.services["store"].write(create)
                forget_timezone(self.services)
            except users.UserError as exc:
                error = str(exc)
            else:
                self.services["_setup_done"] = True
                token = await self.services["store"].write(users.open_session, user_id, self.address)
                set_session_cookie(self, token)
                self.set_cookie(LANG_COOKIE, form["language"], samesite="Strict")
                self.redirect("/")
                return
        self.set_status(400)
        self.render("setup.html", error=self.locale.translate(error), form=form, timezones=TIMEZONES,
                    default_tz=form["timezone"] or self.services["config"]["locale"]["timezone"])


def set_session_cookie(handler: tornado.web.RequestHandler, token: str) -> None:
    """The login cookie: signed, HttpOnly, SameSite=Strict, Secure over TLS, gone when the browser closes."""
    handler.set_signed_cookie(SESSION_COOKIE, token, expires_days=None, httponly=True, samesite="Strict",
                              secure=handler.request.protocol == "https", path="/")


class LoginHandler(PageHandler):
    """Log in with name and password; failed tries make the next ones wait longer."""

    public = True

    def get(self) -> None:
        """The log-in form (already logged in: go home)."""
        if self.current_user is not None:
            self.redirect(safe_next(self.get_query_argument("next", None), HOME[self.current_user.role]))
            return
        self.render("login.html", error=None, name="", next=safe_next(self.get_query_argument("next", None)))

    async def post(self) -> None:
        """Check the password (and the throttle), open a session."""
        name = self.get_body_argument("name", "").strip()[:64]
        password = self.get_body_argument("password", "")
        target = safe_next(self.get_body_argument("next", None))
        keys = (f"user:{name.lower()}", f"addr:{self.address}")
        g = guard(self.services)
        wait = g.wait_seconds(*keys)
        if wait > 0:
            self.set_status(429)
            self.set_header("Retry-After", str(int(wait) + 1))
            msg = self.locale.translate("Too many failed attempts. Try again in %(seconds)d seconds.") % {
                "seconds": int(wait) + 1}
            self.render("login.html", error=msg, name=name, next=target)
            return
        user = await self.services["store"].read(users.authenticate, name, password)
        from hotline.daemon import audit
        if user is None:
            g.failed(*keys)
            await self.services["store"].write(audit.record, name or "?", self.address, "login.failed", name)
            self.set_status(401)
            self.render("login.html", error=self.locale.translate("Wrong user name or password."), name=name,
                        next=target)
            return
        g.succeeded(*keys)
        token = await self.services["store"].write(users.open_session, user.id, self.address)
        await self.services["store"].write(audit.record, user.name, self.address, "login", user.name)
        set_session_cookie(self, token)
        self.set_cookie(LANG_COOKIE, user.language, samesite="Strict")
        self.redirect(target if target != "/" else HOME.get(user.role, "/"))


class LogoutHandler(PageHandler):
    """End the session (POST with XSRF, so another site cannot log you out)."""

    roles = ("admin", "supervisor", "agent", "qa")

    async def post(self) -> None:
        """Forget the session everywhere, clear the cookie."""
        raw = self.get_signed_cookie(SESSION_COOKIE, max_age_days=1)
        if raw:
            await self.services["store"].write(users.close_session, raw.decode(errors="replace"))
        from hotline.daemon import audit
        await self.services["store"].write(audit.record, self.actor, self.address, "logout", self.actor)
        self.clear_cookie(SESSION_COOKIE, path="/")
        self.redirect("/login")


class LanguageHandler(PageHandler):
    """Switch the panel's language (kept with the user; before log-in in a cookie)."""

    public = True
    needs_setup_done = False

    async def post(self) -> None:
        """Set the language and go back where the user was."""
        lang = self.get_body_argument("language", "")
        if lang not in i18n.LANGUAGES:
            raise tornado.web.HTTPError(400, reason="unknown language")
        user = self.current_user
        if user is not None and user.language != lang:
            before = user.language

            def change() -> None:
                User.update(language=lang).where(User.id == user.id).execute()
                from hotline.daemon import audit
                audit.record(user.name, self.address, "user.language", user.name, {"language": before},
                             {"language": lang})
            await self.services["store"].write(change)
        self.set_cookie(LANG_COOKIE, lang, samesite="Strict", expires_days=365)
        self.redirect(safe_next(self.get_body_argument("back", None)))


PAGE_ROUTES = [
    (r"/setup", SetupHandler),
    (r"/login", LoginHandler),
    (r"/logout", LogoutHandler),
    (r"/language", LanguageHandler),
]
