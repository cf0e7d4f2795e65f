"""Failed log-in counters in the database: a try is charged before its password is checked, so concurrent
wrong passwords cannot race past the limit, and the backoff never locks the right password out everywhere.

Three counters per try, each ``(failures, last failure time)``, kept in ``login_failures``:

- ``pair:NAME ADDRESS`` -- this account from this address. After ``PAIR_FREE_TRIES`` failures the next try
  from that address waits 2, 4, 8 ... ``MAX_DELAY`` seconds (the same for the right password: the guesser
  cannot tell). Other addresses are not affected.
- ``addr:ADDRESS`` -- every account from this address (someone trying many names). After
  ``ADDRESS_FREE_TRIES`` failures every try from that address waits the same way.
- ``user:NAME`` -- this account from every address (a guesser spread over many addresses). It never refuses
  anyone by itself; once it reaches ``ACCOUNT_ALERT`` the pairs of that account get one free try instead of
  ``PAIR_FREE_TRIES``, so each further address is slowed after its first failure.

So a correct password from an address with no failures is never refused, whatever happens elsewhere; an
address sharing the attacker's (the same office NAT, a proxy not listed in ``web.trusted_proxies``) shares its
backoff. A success clears its pair and refunds the charge on the other two. Counts idle for
``FORGET_AFTER`` seconds are forgotten. Every function runs inside the store writer's transaction: the store has
one writer, so a reservation and its charge are one atomic step.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from ..store.models import LoginFailure

PAIR_FREE_TRIES = 3
ADDRESS_FREE_TRIES = 10
ACCOUNT_ALERT = 10
MAX_DELAY = 300.0
FORGET_AFTER = 3600.0


@dataclass(frozen=True)
class Keys:
    """The three counters one log-in try touches."""

    pair: str
    address: str
    account: str


def keys_for(name: str, address: str) -> Keys:
    """The counter keys for an account name (case-insensitive) and a client address."""
    name = name.lower()[:64]
    address = address[:64]
    return Keys(f"pair:{name} {address}", f"addr:{address}", f"user:{name}")


def delay_after(failures: int, free: int) -> float:
    """Seconds to wait after the last failure, given the failures so far and how many are free."""
    return 0.0 if failures < free else min(MAX_DELAY, 2.0 ** (failures - free + 1))


def _counts(keys: Keys, now: float) -> dict[str, tuple[int, float]]:
    rows = LoginFailure.select().where(LoginFailure.key.in_([keys.pair, keys.address, keys.account]))
    return {r.key: (r.failures, r.last_at) for r in rows if now - r.last_at < FORGET_AFTER}


def wait_seconds(keys: Keys, now: float | None = None) -> float:
    """How long this account and address must still wait before a try is checked (0: go ahead)."""
    now = time.time() if now is None else now
    counts = _counts(keys, now)
    pair_n, pair_at = counts.get(keys.pair, (0, 0.0))
    addr_n, addr_at = counts.get(keys.address, (0, 0.0))
    account_n = counts.get(keys.account, (0, 0.0))[0]
    pair_free = 1 if account_n >= ACCOUNT_ALERT else PAIR_FREE_TRIES
    return max(0.0, delay_after(pair_n, pair_free) - (now - pair_at),
               delay_after(addr_n, ADDRESS_FREE_TRIES) - (now - addr_at))


def _bump(key: str, step: int, now: float) -> None:
    row = LoginFailure.get_or_none(LoginFailure.key == key)
    if row is None or now - row.last_at >= FORGET_AFTER:
        n = max(0, step)
    else:
        n = max(0, row.failures + step)
    if row is None:
        if n:
            LoginFailure.create(key=key, failures=n, last_at=now)
    elif n == 0:
        row.delete_instance()
    else:
        LoginFailure.update(failures=n, last_at=now if step > 0 else row.last_at) \
            .where(LoginFailure.key == key).execute()


def reserve(name: str, address: str, now: float | None = None) -> float:
    """Before a password is checked: 0 when the try may go ahead (it is charged as a failure now and refunded by
    ``settle(ok=True)``), else the seconds still to wait (nothing charged)."""
    now = time.time() if now is None else now
    LoginFailure.delete().where(LoginFailure.last_at < now - FORGET_AFTER).execute()
    keys = keys_for(name, address)
    wait = wait_seconds(keys, now)
    if wait > 0:
        return wait
    for key in (keys.pair, keys.address, keys.account):
        _bump(key, 1, now)
    return 0.0


def settle(name: str, address: str, ok: bool, now: float | None = None) -> None:
    """After the check: a success clears this account's count from this address and refunds the others; a
    failure keeps the charge."""
    if not ok:
        return
    now = time.time() if now is None else now
    keys = keys_for(name, address)
    LoginFailure.delete().where(LoginFailure.key == keys.pair).execute()
    _bump(keys.address, -1, now)
    _bump(keys.account, -1, now)


def failures_of(name: str, now: float | None = None) -> int:
    """Recent failed tries on an account from every address."""
    now = time.time() if now is None else now
    row = LoginFailure.get_or_none(LoginFailure.key == keys_for(name, "").account)
    return 0 if row is None or now - row.last_at >= FORGET_AFTER else row.failures
