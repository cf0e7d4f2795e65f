"""First-run setup, log in, log out, language choice."""
from __future__ import annotations

import zoneinfo

import tornado.web

from hotline.daemon.box import users
from hotline.daemon.box import login_guard, setup_code
from hotline.daemon.box import users
from hotline.daemon.store.models import Setting, User

from .. import i18n
from ..i18n import N_
from ..redirects import safe_target
from .base import LANG_COOKIE, SESSION_COOKIE, PageHandler
from .base import LANG_COOKIE, SESSION_COOKIE, PageHandler, forget_timezone

HOME = {"admin": "/", "supervisor": "/", "agent": "/", "qa": "/"}
TIMEZONES = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Europe/London",
             "Europe/Berlin", "America/New_York", "America/Los_Angeles", "UTC"]


def safe_next(target: str | None, default: str = "/") -> str:
    """Only local paths (never //host, scheme:, backslashes or control characters) are followed."""
    return safe_target(target, default)


def too_many(handler: PageHandler, wait: float) -> str:
    """Answer 429 with Retry-After; the message for the form."""
    seconds = int(wait) + 1
    handler.set_status(429)
    handler.set_header("Retry-After", str(seconds))
    return handler.locale.translate("Too many failed attempts. Try again in %(seconds)d seconds.") % {
        "seconds": seconds}


WRONG_CODE = N_("The setup code is wrong. It is in the file setup-code in the box's state directory and in its log.")
SETUP_ACCOUNT = "(setup)"   # the login guard's account name for setup-code tries (no user can have this name)


class SetupHandler(PageHandler):
    """First run: create the admin, choose the language and timezone. Needs the one-time setup code from the
    state directory or the log; gone once an administrator of any kind exists."""

    public = True
    needs_setup_done = False

    async def prepare(self) -> None:
        """Only while no admin exists."""
        if await self.setup_done():
            raise tornado.web.HTTPError(404, reason="setup is already done")
        await super().prepare()

    def render_form(self, error: str | None, form: dict) -> None:
        """The setup form (a code is echoed back only once it was right, so a typo elsewhere costs no retyping)."""
        self.render("setup.html", error=error, form=form, timezones=TIMEZONES,
                    default_tz=form.get("timezone") or self.services["config"]["locale"]["timezone"])

    def get(self) -> None:
        """The setup form."""
        self.render_form(None, {})

    async def check_code(self, given: str) -> str | None:
        """None when the setup code is right; else the message (wrong tries back off like log-ins)."""
        store = self.services["store"]
        wait = await store.write(login_guard.reserve, SETUP_ACCOUNT, self.address)
        if wait > 0:
            return too_many(self, wait)
        ok = setup_code.matches(self.services.get("setup_code"), given)
        await store.write(login_guard.settle, SETUP_ACCOUNT, self.address, ok)
        if not ok:
            from hotline.daemon.box import audit
            await store.write(audit.record, "anonymous", self.address, "setup.code_refused", "setup")
            self.set_status(403)
            return self.locale.translate(WRONG_CODE)
        return None

    async def post(self) -> None:
        """Check the setup code, then create the admin and log them in."""
        form = {k: self.get_body_argument(k, "").strip() for k in ("name", "language", "timezone")}
        password, again = self.get_body_argument("password", ""), self.get_body_argument("password2", "")
        code = self.get_body_argument("code", "")
        refused = await self.check_code(code)
        if refused is not None:
            return self.render_form(refused, form)
        form["code"] = code
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
                from hotline.daemon.box import audit
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
                self.services["setup_code"] = None
                setup_code.discard(self.services["config"].state_dir)
                token = await self.services["store"].write(users.open_session, user_id, self.address)
                set_session_cookie(self, token)
                self.set_cookie(LANG_COOKIE, form["language"], samesite="Strict")
                self.redirect("/")
                return
        self.set_status(400)
        self.render_form(self.locale.translate(error), form)


def set_session_cookie(handler: PageHandler, token: str) -> None:
    """The login cookie: signed, HttpOnly, SameSite=Strict, Secure over TLS, gone when the browser closes."""
    handler.set_signed_cookie(SESSION_COOKIE, token, expires_days=None, httponly=True, samesite="Strict",
                              secure=handler.over_https, path="/")


class LoginHandler(PageHandler):
    """Log in with name and password; failed tries make the next ones from that address wait longer
    (``daemon/box/login_guard.py``: counted in the database before the password is checked)."""

    public = True

    def get(self) -> None:
        """The log-in form (already logged in: go home)."""
        if self.current_user is not None:
            self.redirect(safe_next(self.get_query_argument("next", None), HOME.get(self.current_user.role, "/")))
            return
        self.render("login.html", error=None, name="", next=safe_next(self.get_query_argument("next", None)))

    async def post(self) -> None:
        """Reserve a try (or wait), check the password, settle the count, open a session."""
        name = self.get_body_argument("name", "").strip()[:64]
        password = self.get_body_argument("password", "")
        target = safe_next(self.get_body_argument("next", None))
        store = self.services["store"]
        wait = await store.write(login_guard.reserve, name, self.address)
        if wait > 0:
            self.render("login.html", error=too_many(self, wait), name=name, next=target)
            return
        user = await store.read(users.authenticate, name, password)
        from hotline.daemon.box import audit
        address = self.address

        def settle() -> str | None:
            login_guard.settle(name, address, user is not None)
            if user is None:
                audit.record(name or "?", address, "login.failed", name)
                return None
            audit.record(user.name, address, "login", user.name)
            return users.open_session(user.id, address)
        token = await store.write(settle)
        if token is None:
            self.set_status(401)
            self.render("login.html", error=self.locale.translate("Wrong user name or password."), name=name,
                        next=target)
            return
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
        from hotline.daemon.box import audit
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
                from hotline.daemon.box import audit
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
