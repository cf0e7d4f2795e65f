"""Users, roles, password hashing and API tokens."""
from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time

import peewee

from .errors import HotlineError
from .store.models import ApiToken, User


class Role(enum.Enum):
    """What a user may do."""

    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    QA = "qa"


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


def add_user(name: str, role: Role, password: str | None) -> User:
    """Create a user (runs inside a write transaction)."""
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UserError(f"user name {name!r}: use 1-64 letters, digits, '.', '-' or '_'")
    if password is not None:
        check_password_strength(password)
    try:
        return User.create(name=name, role=role.value, created_at=time.time(),
                           password_hash=hash_password(password) if password else None)
    except peewee.IntegrityError:
        raise UserError(f"user {name!r} already exists") from None


def set_password(name: str, password: str) -> None:
    """Change a user's password."""
    check_password_strength(password)
    if User.update(password_hash=hash_password(password)).where(User.name == name).execute() == 0:
        raise UserError(f"no user named {name!r}")


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
