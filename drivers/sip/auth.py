"""SIP digest authentication (RFC 3261 §22, RFC 2617 MD5 with qop=auth): challenges, checks, HA1 files, bans.

Passwords are never stored: an extension's secret is its HA1 = MD5(user:realm:password), kept in a file
of ``user:ha1`` lines (like htdigest). Unknown users and wrong passwords get the same answer.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

NONCE_TTL = 300.0
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]*)\s*(?:,|$)')


def md5(text: str) -> str:
    """Hex MD5 of a UTF-8 string."""
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - the digest scheme is MD5


def ha1(user: str, realm: str, password: str) -> str:
    """The stored secret of an extension."""
    return md5(f"{user}:{realm}:{password}")


def parse_authorization(value: str) -> dict[str, str] | None:
    """The parameters of a ``Digest ...`` Authorization header (None when it is not Digest or malformed)."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest" or len(rest) > 2048:
        return None
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m or m.end() == pos:
            return None
        value_text = m.group(2)
        if value_text.startswith('"'):
            value_text = value_text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[m.group(1).lower()] = value_text
        pos = m.end()
        if len(params) > 16:
            return None
    return params


def load_secrets(path: str | Path) -> dict[str, str]:
    """``user:ha1`` lines of a secrets file (comments and blank lines ignored); ValueError naming the line."""
    out: dict[str, str] = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, digest = line.partition(":")
        if not sep or not re.fullmatch(r"[0-9a-f]{32}", digest) or not re.fullmatch(r"[A-Za-z0-9._-]{1,32}", user):
            raise ValueError(f"{path}:{n}: expected USER:HA1 (32 hex digits)")
        out[user] = digest
    return out


def save_secret(path: str | Path, user: str, digest: str) -> None:
    """Add or replace one user's HA1 in a secrets file (written atomically, mode 0600)."""
    p = Path(path)
    lines = [ln for ln in (p.read_text(encoding="utf-8").splitlines() if p.exists() else [])
             if not ln.startswith(f"{user}:")]
    lines.append(f"{user}:{digest}")
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, p)


@dataclass
class Failures:
    """Authentication failures of one source address within the window."""

    times: list[float] = field(default_factory=list)
    banned_until: float = 0.0
    banned_after: int = 0        # failures that led to the ban (shown as its reason)


class DigestAuth:
    """Issues challenges and checks responses for one realm; bans a source after repeated failures."""

    def __init__(self, realm: str, secrets_by_user: dict[str, str], *, ban_after: int = 10,
                 ban_seconds: float = 600.0, window: float = 60.0, clock=time.time) -> None:
        self.realm = realm
        self.secrets = secrets_by_user
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self.window = window
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self.failures: dict[str, Failures] = {}
        self.bans_total = 0

    def nonce(self) -> str:
        """A nonce that proves its own age (timestamp + HMAC), so the box keeps no nonce table."""
        stamp = f"{self.clock():.0f}"
        mac = hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        return f"{stamp}.{mac}"

    def challenge(self, *, stale: bool = False) -> str:
        """A WWW-Authenticate value."""
        return (f'Digest realm="{self.realm}", nonce="{self.nonce()}", algorithm=MD5, qop="auth"'
                + (", stale=true" if stale else ""))

    def _nonce_state(self, nonce: str) -> str:
        stamp, _, mac = nonce.partition(".")
        good = hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:24]
        if not stamp.isdigit() or not hmac.compare_digest(mac, good):
            return "bad"
        return "stale" if self.clock() - int(stamp) > NONCE_TTL else "ok"

    def banned(self, source: str) -> bool:
        """True while ``source`` is banned."""
        entry = self.failures.get(source)
        return entry is not None and entry.banned_until > self.clock()

    def bans(self) -> list[dict]:
        """The sources banned now: address, failures that led to the ban, until (epoch seconds)."""
        now = self.clock()
        return [{"source": src, "failures": e.banned_after, "until": e.banned_until}
                for src, e in sorted(self.failures.items()) if e.banned_until > now]

    def lift(self, source: str) -> bool:
        """End a ban early and forget the source's failures; False when it was not banned."""
        entry = self.failures.get(source)
        if entry is None or entry.banned_until <= self.clock():
            return False
        del self.failures[source]
        return True

    def _fail(self, source: str) -> None:
        now = self.clock()
        entry = self.failures.setdefault(source, Failures())
        entry.times = [t for t in entry.times if now - t < self.window] + [now]
        if len(entry.times) >= self.ban_after and entry.banned_until <= now:
            entry.banned_until = now + self.ban_seconds
            entry.banned_after = len(entry.times)
            self.bans_total += 1
        if len(self.failures) > 10000:   # bounded: forget the oldest sources
            self.failures.pop(next(iter(self.failures)))

    def check(self, method: str, header: str, source: str) -> tuple[str | None, bool]:
        """(authenticated user or None, stale) for a request's Authorization header from ``source``."""
        params = parse_authorization(header) if header else None
        if params is None:
            return None, False
        user, nonce, uri, response = (params.get(k, "") for k in ("username", "nonce", "uri", "response"))
        state = self._nonce_state(nonce)
        if state == "bad" or params.get("realm") != self.realm:
            self._fail(source)
            return None, False
        stored = self.secrets.get(user)
        # The same work for unknown users as for known ones: no timing or answer difference.
        digest = stored or md5(f"{user}:{self.realm}:{secrets.token_hex(8)}")
        ha2 = md5(f"{method}:{uri}")
        if params.get("qop") == "auth":
            expected = md5(f"{digest}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:auth:{ha2}")
        else:
            expected = md5(f"{digest}:{nonce}:{ha2}")
        if stored is None or not hmac.compare_digest(expected, response.lower()):
            self._fail(source)
            return None, False
        if state == "stale":
            return None, True
        return user, False
