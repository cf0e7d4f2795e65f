"""Configuration (admin): users and roles — create with a password, change role, disable, reset the password,
API tokens shown once and revoked. Nobody disables themselves, and the last administrator stays."""
from __future__ import annotations

import tornado.web

from hotline.daemon.box import users

from .. import i18n
from ..i18n import N_
from .inputs import id_param
from .config_common import ConfigApi, ConfigPage

USER = r"([A-Za-z0-9._-]{1,64})"
ROLES = tuple(r.value for r in users.Role)
ROLE_HELP = {
    "admin": N_("Technician: every page, every setting."),
    "supervisor": N_("Wallboard, reports, agents, recordings of their queues, CRM."),
    "agent": N_("Their own desktop, CRM, their own recordings if allowed."),
    "qa": N_("The simulator console for testing."),
    "metrics": N_("Only scrapes /metrics with an API token (Prometheus); no page, no other API."),
}


def bad(handler: ConfigApi, field: str, message: str) -> None:
    """A 400 naming the field."""
    handler.write_json({"error": f"{field}: {message}", "status": 400,
                        "problems": [{"field": field, "message": message}]}, 400)


class UsersPage(ConfigPage):
    """Every user with role and state; the form to create one."""

    title = N_("Users")
    query = {"sort": ("name", "role")}

    async def get(self) -> None:
        """The list and the create form."""
        rows = await self.services["store"].read(users.user_overview)
        sort = self.q.get("sort", "name")
        rows.sort(key=lambda u: (u[sort], u["name"]))
        self.render("config_users.html", users=rows, roles=ROLES, role_help=ROLE_HELP, sort=sort,
                    default_language=self.services["config"]["locale"]["language"])


class UserPage(ConfigPage):
    """One user: role, enabled, password reset, API tokens."""

    title = N_("Users")

    async def get(self, name: str) -> None:
        """The user's settings."""
        rows = await self.services["store"].read(users.user_overview)
        user = next((u for u in rows if u["name"] == name), None)
        if user is None:
            raise tornado.web.HTTPError(404, reason=f"no user {name!r}")
        self.render("config_user.html", u=user, roles=ROLES, role_help=ROLE_HELP,
                    me=self.current_user.name == name)


class UsersApi(ConfigApi):
    """GET /api/v1/config/users, POST (create a user with role and password)."""

    async def get(self) -> None:
        """Every user (never a secret)."""
        self.write_json({"users": await self.services["store"].read(users.user_overview)})

    async def post(self) -> None:
        """Create: {"name", "role", "password", "language"?}."""
        body = self.json_body()
        name, role, password = body.get("name"), body.get("role"), body.get("password")
        language = body.get("language", self.services["config"]["locale"]["language"])
        if not isinstance(name, str) or not users.valid_name(name):
            return bad(self, "name", "use 1-64 letters, digits, '.', '-' or '_'")
        if role not in ROLES:
            return bad(self, "role", f"one of {', '.join(ROLES)}")
        if not isinstance(password, str) or len(password) < 8:
            return bad(self, "password", "at least 8 characters")
        if language not in i18n.LANGUAGES:
            return bad(self, "language", f"one of {', '.join(i18n.LANGUAGES)}")

        def create() -> dict:
            users.add_user(name, users.Role(role), password, language)
            return {"name": name, "role": role, "language": language, "disabled": False}
        try:
            after = await self.change(create, "user.created", name, lambda r: (None, r))
        except users.UserError as exc:
            return self.fail(409, str(exc))
        self.write_json(after, 201)


class UserApi(ConfigApi):
    """GET, PUT /api/v1/config/users/{name}: change the role, disable or enable."""

    async def get(self, name: str) -> None:
        """One user."""
        user = next((u for u in await self.services["store"].read(users.user_overview) if u["name"] == name), None)
        if user is None:
            return self.fail(404, f"no user {name!r}")
        self.write_json(user)

    async def put(self, name: str) -> None:
        """{"role": ..., "disabled": true|false} (either or both)."""
        body = self.json_body()
        unknown = sorted(set(body) - {"role", "disabled"})
        if unknown:
            return bad(self, unknown[0], "unknown field (role, disabled)")
        role, disabled = body.get("role"), body.get("disabled")
        if role is not None and role not in ROLES:
            return bad(self, "role", f"one of {', '.join(ROLES)}")
        if disabled is not None and not isinstance(disabled, bool):
            return bad(self, "disabled", "true or false")
        if role is None and disabled is None:
            return bad(self, "role", "give role and/or disabled")
        if name == self.current_user.name and (disabled or (role is not None and role != self.current_user.role)):
            what = "disable yourself" if disabled else "change your own role"
            return self.fail(409, f"you cannot {what}: ask another administrator")
        try:
            after = await self.change(lambda: users.update_user(name, users.Role(role) if role else None, disabled),
                                      "user.updated", name)
        except users.UserError as exc:
            return self.fail(404 if "no user" in str(exc) else 409, str(exc))
        self.write_json({"name": name, **after[1]})


class UserPasswordApi(ConfigApi):
    """POST /api/v1/config/users/{name}/password {"password": ...}: a new password; the user's sessions end
    (an administrator changing their own keeps the session they are using)."""

    async def post(self, name: str) -> None:
        """Reset the password."""
        password = self.json_body().get("password")
        if not isinstance(password, str) or len(password) < 8:
            return bad(self, "password", "at least 8 characters")
        try:
            own = self.session_id if name == self.current_user.name else None   # keep the changer's own session
            await self.change(lambda: users.reset_password(name, password, own), "user.password_reset", name,
                              lambda _: (None, {"password": "changed", "sessions": "ended"}))
        except users.UserError as exc:
            return self.fail(404 if "no user" in str(exc) else 400, str(exc))
        self.write_json({"name": name, "password": "changed"})


class UserTokensApi(ConfigApi):
    """POST /api/v1/config/users/{name}/tokens: a new API token, returned this once (only its hash is kept)."""

    async def post(self, name: str) -> None:
        """Create the token."""
        self.json_body()
        try:
            token_id, token = await self.change(lambda: users.new_token_with_id(name), "user.token_created", name,
                                                lambda r: (None, {"token_id": r[0]}))
        except users.UserError as exc:
            return self.fail(404, str(exc))
        self.write_json({"name": name, "id": token_id, "token": token}, 201)


class UserTokenApi(ConfigApi):
    """DELETE /api/v1/config/users/{name}/tokens/{id}: revoke a token (scripts using it are refused at once)."""

    async def delete(self, name: str, token_id: str) -> None:
        """Revoke."""
        tid = id_param(token_id)
        try:
            await self.change(lambda: users.revoke_token(name, tid), "user.token_revoked", name,
                              lambda _: ({"token_id": tid}, None))
        except users.UserError as exc:
            return self.fail(404, str(exc))
        self.write_json({"name": name, "revoked": tid})


PAGE_ROUTES = [
    (r"/config/users", UsersPage),
    (rf"/config/users/{USER}", UserPage),
]
ROUTES = [
    (r"/api/v1/config/users", UsersApi),
    (rf"/api/v1/config/users/{USER}", UserApi),
    (rf"/api/v1/config/users/{USER}/password", UserPasswordApi),
    (rf"/api/v1/config/users/{USER}/tokens", UserTokensApi),
    (rf"/api/v1/config/users/{USER}/tokens/([0-9]{{1,12}})", UserTokenApi),
]
