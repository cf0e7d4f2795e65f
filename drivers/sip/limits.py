"""Per-source rate limits for INVITE and REGISTER (token buckets), and the per-extension call limits' settings.

Distinct from the authentication-failure bans (auth.py): a rate limit refuses what comes too fast, from anyone,
answered 503 with Retry-After or dropped, and counted; it keeps no state beyond a bounded table of buckets.
"""
from __future__ import annotations

import enum
import math
import re
import time
from dataclasses import dataclass
from typing import Callable

MAX_SOURCES = 10000            # buckets kept at most; the least recently seen source is forgotten first
RATE_PATTERN = r"off|[1-9][0-9]{0,5}/(s|min)"      # the configuration's form (parse_rate is more lenient)
_RATE = re.compile(r"\s*(\d{1,6})\s*/\s*(s|sec|second|m|min|minute)\s*")


class LimitAction(enum.Enum):
    """What the box does with a request over its source's rate."""

    REPLY = "503"      # 503 Service Unavailable with Retry-After (stateless: no transaction kept)
    DROP = "drop"      # nothing: a scanner learns nothing


@dataclass(frozen=True)
class Rate:
    """At most ``count`` requests per ``period`` seconds from one source (bursts up to ``count``)."""

    count: int
    period: float

    def __str__(self) -> str:
        return f"{self.count}/{'s' if self.period == 1 else 'min'}"


def parse_rate(text: str | None, what: str) -> Rate | None:
    """``"10/s"``, ``"120/min"`` or ``"off"`` (None); ValueError naming ``what`` otherwise."""
    if text is None or str(text).strip().lower() == "off":
        return None
    m = _RATE.fullmatch(str(text))
    if not m or int(m.group(1)) < 1:
        raise ValueError(f"{what}: expected a rate like 10/s or 120/min (or off), got {text!r}")
    return Rate(int(m.group(1)), 1.0 if m.group(2).startswith("s") else 60.0)


MAX_CALLS = 4    # calls an extension may be in at once, at most (each is a station line of its own)


def parse_call_limits(items: list[str], extensions: list[str], default: int) -> dict[str, int]:
    """Each extension's call limit: ``default``, overridden by ``EXT=N`` items; ValueError naming the item."""
    limits = {ext: default for ext in extensions}
    for i, item in enumerate(items):
        ext, eq, value = str(item).partition("=")
        ext = ext.strip()
        if not eq or not value.strip().isdigit():
            raise ValueError(f"call_limits[{i}]: expected EXT=N (N calls at once), got {item!r}")
        if ext not in limits:
            raise ValueError(f"call_limits[{i}]: {ext!r} is not one of the extensions")
        n = int(value)
        if n > MAX_CALLS:
            raise ValueError(f"call_limits[{i}]: at most {MAX_CALLS} calls at once per extension, got {n}")
        limits[ext] = n
    return limits


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets per (method, source address); ``check`` says whether a request may pass."""

    def __init__(self, rates: dict[str, Rate | None], clock: Callable[[], float] = time.monotonic) -> None:
        self.rates = {method: rate for method, rate in rates.items() if rate is not None}
        self.clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self.limited: dict[str, int] = {method: 0 for method in self.rates}

    def check(self, method: str, source: str) -> float:
        """0 when the request may pass (one token taken), else the seconds until the source may try again."""
        rate = self.rates.get(method)
        if rate is None:
            return 0.0
        now = self.clock()
        key = (method, source)
        bucket = self._buckets.pop(key, None)       # re-inserted last: the table stays in least-recent order
        if bucket is None:
            bucket = _Bucket(float(rate.count), now)
        else:
            bucket.tokens = min(float(rate.count), bucket.tokens + (now - bucket.at) * rate.count / rate.period)
            bucket.at = now
        self._buckets[key] = bucket
        if len(self._buckets) > MAX_SOURCES:
            self._buckets.pop(next(iter(self._buckets)))
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        self.limited[method] += 1
        return (1.0 - bucket.tokens) * rate.period / rate.count

    @staticmethod
    def retry_after(wait: float) -> str:
        """The Retry-After value (whole seconds, at least 1) for a wait."""
        return str(max(1, math.ceil(wait)))

    def sources(self) -> int:
        """Buckets kept now (bounded by MAX_SOURCES)."""
        return len(self._buckets)
