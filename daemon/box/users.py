"""Users, roles, password hashing and API tokens."""
from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time

import peewee

from ..errors import HotlineError
from ..store.models import ApiToken, User


class Role(enum.Enum):
    """What a user may do."""

    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    QA = "qa"
    METRICS = "metrics"   # may only scrape /metrics (metrics.access: token); no page, no API


class UserError(HotlineError):
    """A user command cannot be carried out."""


_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """scrypt hash with a random salt, self-describing."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when the password matches the stored hash (constant time)."""
    if not stored:
        return False
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), dklen=32, n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def token_hash(token: str) -> str:
    """Tokens are long random strings: a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_strength(password: str) -> None:
    """Refuse passwords too weak for an appliance on a network."""
    if len(password) < 8:
        raise UserError("password must have at least 8 characters")


def valid_name(name: str) -> bool:
    """1-64 letters, digits, '.', '-' or '_' (ASCII)."""
    return bool(name) and len(name) <= 64 and name.isascii() and \
        name.replace("-", "").replace("_", "").replace(".", "").isalnum()


def add_user(name: str, role: Role, password: str | None, language: str = "zh_CN") -> User:
    """Create a user (runs inside a write transaction)."""
    if not valid_name(name):
        raise UserError(f"user name {name!r}: use 1-64 letters, digits, '.', '-' or '_'")
    if password is not None:
        check_password_strength(password)
    try:
        return User.create(name=name, role=role.value, created_at=time.time(), language=language,
                           password_hash=hash_password(password) if password else None)
    except peewee.IntegrityError:
        raise UserError(f"user {name!r} already exists") from None


def set_password(name: str, password: str, keep_session: int | None = None) -> int:
    """Change a user's password and end their login sessions (all but ``keep_session``, the session of a user
    changing their own password): whoever knew the old password is out. Returns the sessions ended."""
    check_password_strength(password)
    if User.update(password_hash=hash_password(password)).where(User.name == name).execute() == 0:
        raise UserError(f"no user named {name!r}")
    return close_sessions_of(name, keep_session)


def new_token(name: str) -> str:
    """Create an API token for a user and return it (only its hash is kept)."""
    user = User.get_or_none(User.name == name)
    if user is None:
        raise UserError(f"no user named {name!r}")
    token = secrets.token_urlsafe(32)
    ApiToken.create(user=user, token_hash=token_hash(token), created_at=time.time())
    return token


def user_for_token(token: str) -> User | None:
    """The enabled user owning a bearer token, or None."""
    row = (ApiToken.select(ApiToken, User).join(User)
           .where(ApiToken.token_hash == token_hash(token)).first())
    if row is None or row.user.disabled:
        return None
    return row.user


def list_users() -> list[dict]:
    """Every user, without secrets."""
    return [{"name": u.name, "role": u.role, "disabled": u.disabled,
             "password": bool(u.password_hash), "tokens": u.tokens.count()}
            for u in User.select().order_by(User.name)]


# ---- browser sessions -------------------------------------------------------------------------
SESSION_SECONDS = 12 * 3600      # a working day; every request slides the expiry
SESSION_IDLE_SECONDS = 2 * 3600  # idle longer than this and the session ends


def admin_exists() -> bool:
    """Whether the first-run setup is over: an administrator of any kind exists (with a password or only a
    token, enabled or disabled)."""
    return User.select().where(User.role == Role.ADMIN.value).exists()


def authenticate(name: str, password: str) -> User | None:
    """The enabled user with this name and password, or None (same work whether or not the name exists)."""
    user = User.get_or_none(User.name == name)
    stored = user.password_hash if user is not None else _DUMMY_HASH
    ok = verify_password(password, stored)
    if user is None or user.disabled or not ok:
        return None
    return user


_DUMMY_HASH = hash_password("not-a-real-password-just-equal-work")


def open_session(user_id: int, address: str) -> str:
    """A new login session; returns the random token for the cookie."""
    from ..store.models import WebSession
    token = secrets.token_urlsafe(32)
    now = time.time()
    WebSession.create(token_hash=token_hash(token), user=user_id, created_at=now, last_seen=now,
                      expires_at=now + SESSION_SECONDS, address=address[:64])
    WebSession.delete().where(WebSession.expires_at < now).execute()
    return token


def user_for_session(token: str) -> tuple[User, int] | None:
    """The user and session id behind a session token, while it is neither expired nor idle too long."""
    from ..store.models import WebSession
    row = (WebSession.select(WebSession, User).join(User)
           .where(WebSession.token_hash == token_hash(token)).first())
    now = time.time()
    if row is None or row.user.disabled or row.expires_at < now or now - row.last_seen > SESSION_IDLE_SECONDS:
        return None
    return row.user, row.id


def touch_session(session_id: int) -> None:
    """Slide a session's idle timer (runs in the writer)."""
    from ..store.models import WebSession
    WebSession.update(last_seen=time.time()).where(WebSession.id == session_id).execute()


def close_session(token: str) -> None:
    """Log out: the session token stops working at once."""
    from ..store.models import WebSession
    WebSession.delete().where(WebSession.token_hash == token_hash(token)).execute()


def close_sessions_of(name: str, keep_session: int | None = None) -> int:
    """End every session of a user (password changed, user disabled), except ``keep_session`` if given."""
    from ..store.models import WebSession
    user = User.get_or_none(User.name == name)
    if user is None:
        return 0
    query = WebSession.delete().where(WebSession.user == user)
    if keep_session is not None:
        query = WebSession.delete().where((WebSession.user == user) & (WebSession.id != keep_session))
    return query.execute()


# ---- managing users from the panel (each runs in a store read or in the writer's transaction) ----------------

def user_overview() -> list[dict]:
    """Every user with role, state, language, creation time, open sessions and tokens (ids only, never secrets)."""
    from ..store.models import WebSession
    now = time.time()
    out = []
    for u in User.select().order_by(User.name):
        tokens = [{"id": t.id, "created_at": t.created_at, "last_used": t.last_used}
                  for t in ApiToken.select().where(ApiToken.user == u.id).order_by(ApiToken.id)]
        sessions = WebSession.select().where((WebSession.user == u.id) & (WebSession.expires_at > now)).count()
        out.append({"name": u.name, "role": u.role, "disabled": bool(u.disabled), "password": bool(u.password_hash),
                    "language": u.language, "created_at": u.created_at, "sessions": sessions, "tokens": tokens})
    return out


def _state(user: User) -> dict:
    return {"role": user.role, "disabled": bool(user.disabled)}


def _other_enabled_admins(name: str) -> int:
    return User.select().where((User.role == Role.ADMIN.value) & (User.disabled == False)  # noqa: E712
                               & User.password_hash.is_null(False) & (User.name != name)).count()


def update_user(name: str, role: Role | None = None, disabled: bool | None = None) -> tuple[dict, dict]:
    """Change a user's role and/or disable or enable them; the last enabled administrator cannot be disabled
    or lose the role. Disabling ends the user's sessions. Returns (before, after)."""
    user = User.get_or_none(User.name == name)
    if user is None:
        raise UserError(f"no user named {name!r}")
    before = _state(user)
    new_role = role.value if role is not None else user.role
    new_disabled = user.disabled if disabled is None else disabled
    was_admin = user.role == Role.ADMIN.value and not user.disabled and user.password_hash
    stays_admin = new_role == Role.ADMIN.value and not new_disabled
    if was_admin and not stays_admin and _other_enabled_admins(name) == 0:
        raise UserError(f"{name} is the last administrator: make another user admin first")
    User.update(role=new_role, disabled=new_disabled).where(User.id == user.id).execute()
    if new_disabled and not user.disabled:
        close_sessions_of(name)
    return before, {"role": new_role, "disabled": bool(new_disabled)}


def reset_password(name: str, password: str, keep_session: int | None = None) -> int:
    """Set a new password and end the user's sessions (they log in again with it); ``keep_session`` is the
    caller's own session when they change their own password."""
    return set_password(name, password, keep_session)


def revoke_token(name: str, token_id: int) -> None:
    """Delete one of a user's API tokens: scripts using it are refused at once."""
    user = User.get_or_none(User.name == name)
    if user is None:
        raise UserError(f"no user named {name!r}")
    if ApiToken.delete().where((ApiToken.id == token_id) & (ApiToken.user == user.id)).execute() == 0:
        raise UserError(f"user {name!r} has no token {token_id}")


def new_token_with_id(name: str) -> tuple[int, str]:
    """Create an API token for a user: (its id, the token itself, shown once)."""
    token = new_token(name)
    return ApiToken.get(ApiToken.token_hash == token_hash(token)).id, token
