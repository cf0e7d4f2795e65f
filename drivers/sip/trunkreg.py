"""Outbound registration of trunks to a provider's registrar (RFC 3261 §10), with digest answers (RFC 2617/7616).

A mixin of ``Endpoint`` (endpoint.py): it uses the endpoint's socket, timers and lock. Each registering trunk
sends REGISTER, answers 401/407 challenges, refreshes before expiry and retries with backoff after a failure.
Passwords live only in memory and in the digest answers; they are never logged or shown.
"""
from __future__ import annotations

import enum
import hashlib
import ipaddress
import logging
import re
import secrets
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hotline.drivers.base import Option

from .auth import parse_authorization
from .calls import new_branch, new_tag
from .errors import SipParseError
from .message import Headers, Request, Response
from .timers import Retransmit
from .uri import parse_name_addr, parse_uri

log = logging.getLogger("hotline.drivers.sip")

MAX_BACKOFF = 600.0
_USER = re.compile(r"[A-Za-z0-9+*#._!~'()%&=$,;?/-]{1,64}")
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


class RegState(enum.Enum):
    """Where one trunk's registration stands."""

    UNREGISTERED = "not registered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"


@dataclass(frozen=True)
class TrunkAccount:
    """A trunk's account at its provider: where to register and with what credentials."""

    name: str
    registrar: tuple[str, int]
    domain: str            # the host part of the address of record (the provider's domain)
    username: str
    password: str = field(repr=False)
    auth_user: str = ""    # the digest user name when it differs from the AOR user
    expires: int = 3600
    retry: float = 30.0    # first wait after a failure; doubled each time up to MAX_BACKOFF

    @property
    def aor(self) -> str:
        """The address of record, ``sip:user@domain``."""
        return f"sip:{self.username}@{self.domain}"


def _read_password(item: dict, where: str) -> str:
    if item.get("password") not in (None, ""):
        return str(item["password"])
    path = item.get("password_file")
    if not path:
        raise ValueError(f"{where}: a registering trunk needs password or password_file")
    try:
        text = Path(str(path)).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{where}.password_file: cannot read {path}: {exc.strerror or exc}") from None
    password = text.splitlines()[0].strip() if text.strip() else ""
    if not password:
        raise ValueError(f"{where}.password_file: {path} is empty")
    return password


TRUNK_FIELDS = (
    Option("name", str, required=True, pattern=r"[A-Za-z0-9._-]{1,32}", help="the trunk's name"),
    Option("peer", str, None, help="HOST[:PORT] of an IP-authenticated peer"),
    Option("registrar", str, None, help="HOST[:PORT] of the provider's registrar (default port 5060)"),
    Option("register", bool, False, help="register at the registrar with username and password"),
    Option("username", str, None, help="the user name the provider gave"),
    Option("auth_username", str, None, help="the digest user name when the provider gave a separate one"),
    Option("password", str, None, help="the password the provider gave (or password_file)"),
    Option("password_file", str, None, help="a file whose first line is the password"),
    Option("domain", str, None, help="the provider's SIP domain (default: the registrar host)"),
    Option("expires", int, None, min=60, max=86400, help="seconds a registration is asked for (default 3600)"),
    Option("retry_seconds", float, None, min=0.1, max=600, help="first wait after a failed registration (default 30)"),
)
_KEYS = {opt.name for opt in TRUNK_FIELDS}


def parse_account(item: dict, index: int, parse_hostport) -> tuple[str, tuple[str, int], TrunkAccount | None]:
    """One trunk given as a mapping -> (name, peer address, account or None); ValueError naming the key."""
    where = f"trunks[{index}]"
    item = {k: v for k, v in item.items() if v is not None}   # the config schema fills absent keys with None
    unknown = sorted(set(item) - _KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(_KEYS))})")
    name = str(item.get("name") or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,32}", name):
        raise ValueError(f"{where}.name: expected letters, digits, '.', '_' or '-', got {item.get('name')!r}")
    address = item.get("registrar") or item.get("peer")
    if not address:
        raise ValueError(f"{where}: expected peer: HOST[:PORT] (or registrar:)")
    register = item.get("register", False)
    if not isinstance(register, bool):
        raise ValueError(f"{where}.register: expected true or false, got {register!r}")
    host, port = parse_hostport(str(address), f"{where}.{'registrar' if item.get('registrar') else 'peer'}",
                                default_port=5060 if register else 0)
    if not register:
        extra = sorted(set(item) & {"username", "password", "password_file", "expires", "auth_username"})
        if extra:
            raise ValueError(f"{where}.{extra[0]}: only used with register: true")
        return name, (host, port), None
    username = str(item.get("username") or "")
    if not _USER.fullmatch(username):
        raise ValueError(f"{where}.username: expected the user name the provider gave (1-64 characters)")
    expires = item.get("expires", 3600)
    if not isinstance(expires, int) or isinstance(expires, bool) or not 60 <= expires <= 86400:
        raise ValueError(f"{where}.expires: expected seconds between 60 and 86400, got {expires!r}")
    retry = item.get("retry_seconds", 30)
    if not isinstance(retry, (int, float)) or isinstance(retry, bool) or not 0.1 <= retry <= MAX_BACKOFF:
        raise ValueError(f"{where}.retry_seconds: expected seconds between 0.1 and {MAX_BACKOFF:.0f}, got {retry!r}")
    domain = str(item.get("domain") or host)
    if not re.fullmatch(r"[A-Za-z0-9.:\[\]-]{1,253}", domain):
        raise ValueError(f"{where}.domain: expected a host name, got {domain!r}")
    account = TrunkAccount(name=name, registrar=(host, port), domain=domain, username=username,
                           password=_read_password(item, where), auth_user=str(item.get("auth_username") or ""),
                           expires=expires, retry=float(retry))
    return name, (host, port), account


def digest_answer(challenge: str, *, method: str, uri: str, user: str, password: str,
                  nc: int = 1) -> str | None:
    """The Authorization value answering a ``Digest`` challenge (MD5 or SHA-256, qop auth or none);
    None when the challenge is malformed or asks for what we do not do (auth-int only, -sess, other schemes)."""
    params = parse_authorization(challenge)
    if params is None or "realm" not in params or "nonce" not in params:
        return None
    algorithm = params.get("algorithm", "MD5")
    hash_fn = _HASHES.get(algorithm.upper())
    if hash_fn is None:
        return None
    qops = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
    if qops and "auth" not in qops:
        return None

    def h(text: str) -> str:
        return hash_fn(text.encode("utf-8")).hexdigest()

    realm, nonce = params["realm"], params["nonce"]
    ha1, ha2 = h(f"{user}:{realm}:{password}"), h(f"{method}:{uri}")
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if qops:
        cnonce, count = secrets.token_hex(8), f"{nc:08x}"
        response = h(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        parts += [f'response="{response}"', f"algorithm={algorithm}", f'cnonce="{cnonce}"', "qop=auth",
                  f"nc={count}"]
    else:
        parts += [f'response="{h(f"{ha1}:{nonce}:{ha2}")}"', f"algorithm={algorithm}"]
    if "opaque" in params:
        parts.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(parts)


def challenge_of(resp: Response) -> tuple[str, str] | None:
    """(Authorization header name to answer with, challenge) of a 401/407 response, or None."""
    if resp.status == 401:
        value = resp.headers.get("www-authenticate")
        return ("authorization", value) if value else None
    if resp.status == 407:
        value = resp.headers.get("proxy-authenticate")
        return ("proxy-authorization", value) if value else None
    return None


@dataclass
class Registration:
    """The live state of one trunk's registration."""

    account: TrunkAccount
    state: RegState = RegState.UNREGISTERED
    reason: str = ""
    call_id: str = field(default_factory=lambda: f"{new_tag()}@hotline")
    tag: str = field(default_factory=new_tag)
    cseq: int = 0
    branch: str = ""
    failures: int = 0
    challenges: int = 0             # challenges answered since the last success (a loop guard)
    expires: int = 0                # what the registrar granted
    registered_at: float | None = None   # epoch
    expires_at: float | None = None      # epoch
    next_try: float | None = None        # epoch of the next REGISTER (refresh or retry)
    retransmit: Retransmit | None = None
    timer: int | None = None


class Registrations:
    """Trunk registrations of the endpoint: REGISTER, challenges, refresh, backoff, and their state for the panel."""

    registrations: dict[str, Registration]

    def _start_registrations(self) -> None:
        """Send every trunk's first REGISTER (signalling thread or before it starts; lock held)."""
        for reg in self.registrations.values():
            self._schedule_register(reg, 0.0)

    def _schedule_register(self, reg: Registration, delay: float) -> None:
        self.timers.cancel(reg.timer)
        reg.next_try = time.time() + delay
        reg.timer = self.timers.call_later(delay, lambda: self._send_register(reg))

    def _register_request(self, reg: Registration, expires: int, auth: tuple[str, str] | None) -> Request:
        acct = reg.account
        reg.cseq += 1
        reg.branch = new_branch()
        headers = Headers()
        headers.add("via", self._via(reg.branch))
        headers.add("max-forwards", "70")
        headers.add("from", f"<{acct.aor}>;tag={reg.tag}")
        headers.add("to", f"<{acct.aor}>")
        headers.add("call-id", reg.call_id)
        headers.add("cseq", f"{reg.cseq} REGISTER")
        headers.add("contact", f"<sip:{acct.username}@{self.media_host}:{self.port}>;expires={expires}")
        headers.add("expires", str(expires))
        if auth is not None:
            headers.add(*auth)
        headers.add("user-agent", "Hotline")
        return Request(headers, b"", method="REGISTER", uri=parse_uri(f"sip:{acct.domain}"))

    def _send_register(self, reg: Registration, auth: tuple[str, str] | None = None, *,
                       expires: int | None = None) -> None:
        if reg.retransmit is not None:
            reg.retransmit.stop()
        reg.timer = None
        if reg.state is not RegState.REGISTERED:
            reg.state = RegState.REGISTERING
        want = reg.account.expires if expires is None else expires
        req = self._register_request(reg, want, auth)
        data = req.to_bytes()
        dest = reg.account.registrar
        self._send(data, dest)
        reg.next_try = None
        reg.retransmit = Retransmit(self.timers, lambda: self._send(data, dest),
                                    lambda: self._register_failed(reg, "no answer from the registrar"))

    def _register_failed(self, reg: Registration, reason: str, retry_after: float | None = None) -> None:
        if reg.retransmit is not None:
            reg.retransmit.stop()
        reg.failures += 1
        reg.challenges = 0
        reg.state, reg.reason = RegState.FAILED, reason
        reg.expires_at = None
        wait = min(reg.account.retry * 2 ** min(reg.failures - 1, 16), MAX_BACKOFF)
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_BACKOFF))
        log.warning("SIP trunk %s: registration at %s failed (%s); next try in %.0f s", reg.account.name,
                    reg.account.registrar[0], reason, wait)
        self._schedule_register(reg, wait)

    def _register_answered(self, resp: Response) -> None:
        """A response to one of our REGISTERs (signalling thread, lock held)."""
        reg = next((r for r in self.registrations.values() if r.call_id == resp.call_id), None)
        vias = resp.vias
        if reg is None or not vias or vias[0].branch != reg.branch or resp.cseq[0] != reg.cseq:
            return              # stray or late: not the transaction we are waiting for
        if resp.status < 200:
            return
        if reg.retransmit is not None:
            reg.retransmit.stop()
        status = f"{resp.status} {resp.reason}".strip()
        if 200 <= resp.status < 300:
            self._registered(reg, resp)
        elif resp.status in (401, 407):
            found = challenge_of(resp)
            acct = reg.account
            answer = None
            # A second challenge means the answer was refused, unless it only says the nonce went stale.
            stale = found is not None and re.search(r"(?i)\bstale\s*=\s*\"?true", found[1]) is not None
            if found is not None and (reg.challenges == 0 or (stale and reg.challenges < 3)):
                uri = f"sip:{acct.domain}"
                answer = digest_answer(found[1], method="REGISTER", uri=uri, user=acct.auth_user or acct.username,
                                       password=acct.password)
            if answer is None:
                why = "wrong user name or password" if reg.challenges else "unsupported authentication challenge"
                self._register_failed(reg, f"{status}: {why}")
                return
            reg.challenges += 1
            self._send_register(reg, (found[0], answer))
        elif resp.status == 423:
            min_expires = resp.headers.get("min-expires").strip()
            if min_expires.isdigit() and reg.account.expires < int(min_expires) <= 86400:
                reg.account = _with_expires(reg.account, int(min_expires))
                self._send_register(reg)
            else:
                self._register_failed(reg, status)
        else:
            retry_after = resp.headers.get("retry-after").split(";")[0].strip()
            self._register_failed(reg, status, float(retry_after) if retry_after.isdigit() else None)

    def _registered(self, reg: Registration, resp: Response) -> None:
        granted = None
        for value in resp.headers.get_all("contact"):
            try:
                contact = parse_name_addr(value)
            except SipParseError:    # a contact we cannot read is someone else's binding
                continue
            if contact.uri.user == reg.account.username:
                text = contact.params.get("expires", "")
                granted = int(text) if text.isdigit() else None
        if granted is None:
            text = resp.headers.get("expires").strip()
            granted = int(text) if text.isdigit() else reg.account.expires
        granted = max(granted, 0)
        if granted == 0:
            self._register_failed(reg, "the registrar granted no time")
            return
        now = time.time()
        if reg.state is not RegState.REGISTERED:
            log.info("SIP trunk %s registered at %s as %s for %d s", reg.account.name, reg.account.registrar[0],
                     reg.account.username, granted)
        reg.state, reg.reason, reg.failures, reg.challenges = RegState.REGISTERED, "", 0, 0
        reg.expires, reg.registered_at, reg.expires_at = granted, now, now + granted
        # Refresh early enough for a lost REGISTER to be retransmitted before the binding ends.
        self._schedule_register(reg, granted / 2 if granted <= 120 else granted - 60)

    def _stop_registrations(self) -> None:
        """Unregister every registered trunk (once, unanswered) and cancel timers (lock held)."""
        for reg in self.registrations.values():
            self.timers.cancel(reg.timer)
            if reg.retransmit is not None:
                reg.retransmit.stop()
            if reg.state is RegState.REGISTERED:
                self._send(self._register_request(reg, 0, None).to_bytes(), reg.account.registrar)
            reg.state = RegState.UNREGISTERED

    def account_for(self, address: tuple[str, int]) -> TrunkAccount | None:
        """The registering trunk whose registrar is ``address``, if any."""
        for reg in self.registrations.values():
            if reg.account.registrar == address:
                return reg.account
        return None

    def registration_rows(self) -> dict[str, dict[str, Any]]:
        """Each registering trunk's state for the panel, by trunk name (lock held)."""
        return {name: {"registration": reg.state.value, "reason": reg.reason, "username": reg.account.username,
                       "registered_at": reg.registered_at, "expires_at": reg.expires_at,
                       "next_try": reg.next_try, "failures": reg.failures}
                for name, reg in self.registrations.items()}


def _with_expires(account: TrunkAccount, expires: int) -> TrunkAccount:
    return replace(account, expires=expires)


class InviteAuth:
    """Answering a registering trunk's 401/407 to the box's own INVITE (a mixin of ``Endpoint``)."""

    def _invite_with_auth(self, call, resp: Response) -> bool:
        """Resend ``call``'s INVITE with the digest answer (once per call); False when it cannot be answered."""
        acct = self.account_for(call.peer)
        found = challenge_of(resp)
        if acct is None or found is None or call.challenged or call.invite is None:
            return False
        answer = digest_answer(found[1], method="INVITE", uri=str(call.invite.uri),
                               user=acct.auth_user or acct.username, password=acct.password)
        if answer is None:
            return False
        call.challenged = True
        headers = call.invite.headers.copy()
        call.branch = new_branch()
        headers.set("via", self._via(call.branch))
        headers.set("cseq", f"{call.invite.cseq[0] + 1} INVITE")
        headers.set(found[0], answer)
        call.invite = Request(headers, call.invite.body, method="INVITE", uri=call.invite.uri)
        call.remote_tag = ""
        self._send_invite(call, call.invite.to_bytes(), call.peer, call.line)
        return True


def resolve_registrars(peers: dict[str, tuple[str, int]], accounts: list[TrunkAccount]
                       ) -> tuple[dict[str, tuple[str, int]], list[TrunkAccount]]:
    """Registrar host names looked up once (at open, off the signalling thread), so the provider's INVITEs are
    recognised by address; ValueError naming the trunk when a name does not resolve."""
    out_peers, out_accounts = dict(peers), []
    for acct in accounts:
        host, port = acct.registrar
        try:
            ipaddress.ip_address(host)
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            except OSError as exc:
                raise ValueError(f"trunk {acct.name}: registrar {host} does not resolve ({exc})") from None
            infos.sort(key=lambda info: info[0] != socket.AF_INET)   # IPv4 first: the listen socket's family
            host = infos[0][4][0]
            acct = replace(acct, registrar=(host, port))
            out_peers[acct.name] = (host, port)
        out_accounts.append(acct)
    return out_peers, out_accounts
