"""Times people read: the box's time zone, and the one way pages, exports and messages write a moment.

Stored times stay UTC (epoch seconds); only what a person reads or types is local. The box's zone is the one
chosen at first-run setup (the ``timezone`` setting), else ``locale.timezone`` of hotline.yaml. Pages that
format times in the browser use the same zone (``HL.time`` in webadmin/static/js/panel.js reads it from the
page), so a recording, a ticket, the audit log, the desk's pop, reports and their exports all agree.
"""
from __future__ import annotations

import datetime as dt
import logging
import math
import zoneinfo
from functools import lru_cache
from typing import Callable

log = logging.getLogger("hotline.localtime")

# style -> strftime pattern (the same names as HL.time in panel.js)
STYLES: dict[str, str] = {
    "second": "%Y-%m-%d %H:%M:%S",
    "minute": "%Y-%m-%d %H:%M",
    "date": "%Y-%m-%d",
    "input": "%Y-%m-%dT%H:%M",       # <input type="datetime-local">
    "clock": "%H:%M",
    "compact": "%Y%m%d",              # ticket and work-order number prefixes
    "file": "%Y%m%d-%H%M%S",          # file names a person downloads
}
INPUT_PATTERNS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
_known: dict[str, str] = {}   # "default": hotline.yaml's zone; "box": the zone last read (for current())


@lru_cache(maxsize=16)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The ZoneInfo of a zone name (cached)."""
    return zoneinfo.ZoneInfo(name)


def set_default(tz: str) -> None:
    """This process's fallback zone (hotline.yaml's ``locale.timezone``), set once at start."""
    _known["default"] = tz
    _known.pop("box", None)


def box_timezone(default: str) -> str:
    """The zone chosen at setup (settings table), else ``default`` (runs in a database thread)."""
    from ..store.models import Setting
    row = Setting.get_or_none(Setting.name == "timezone")
    tz = default
    if row is not None:
        try:
            zone(row.value)
            tz = row.value
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            log.warning("event=bad_timezone_setting value=%r", row.value)
    _known["box"] = tz
    return tz


def forget() -> None:
    """The setting changed (first-run setup): read it again next time."""
    _known.pop("box", None)


def current() -> str:
    """The box's zone for code that has no handler or config at hand (runs in a database thread: it reads the
    setting the first time)."""
    return _known.get("box") or box_timezone(_known.get("default", "UTC"))


def fmt(ts: float | None, tz: str, style: str = "minute") -> str:
    """A stored moment (epoch seconds, UTC) as the box's local time; "" for no time."""
    if ts is None or ts == "":
        return ""
    return dt.datetime.fromtimestamp(float(ts), zone(tz)).strftime(STYLES[style])


_NAIVE_EPOCH = dt.datetime(1970, 1, 1)


def formatter(tz: str, style: str = "minute") -> Callable[[float | None], str]:
    """``fmt`` for many moments in one zone (an export's rows): the zone's offset is looked up once per quarter
    of an hour (every zone changes its offset on a quarter hour) and the text once per minute (the seconds
    added to it), the same text as ``fmt``."""
    z, pattern = zone(tz), STYLES[style]
    offsets: dict[int, dt.timedelta] = {}
    seconds = pattern.endswith(":%S")
    head = pattern[:-3] if seconds else pattern
    by_minute = "%S" not in head and "%f" not in head   # the text is the minute's (plus the seconds)
    minutes: dict[int, str] = {}

    def offset(ts: float) -> dt.timedelta:
        q = int(ts // 900)
        off = offsets.get(q)
        if off is None:
            off = offsets[q] = dt.datetime.fromtimestamp(q * 900, z).utcoffset() or dt.timedelta(0)
        return off

    def slow(ts: float) -> str:
        return (_NAIVE_EPOCH + dt.timedelta(seconds=ts) + offset(ts)).strftime(pattern)

    def one(ts: float | None) -> str:
        if ts is None or ts == "":
            return ""
        ts = float(ts)
        whole = math.floor(ts)
        if not by_minute or ts - whole >= 0.9999995:   # (a fraction this close rounds up to the next second)
            return slow(ts)
        m, s = divmod(whole, 60)
        text = minutes.get(m)
        if text is None:
            off = offset(ts)
            if off.microseconds or off.seconds % 60:   # an offset in seconds (old local mean times)
                return slow(ts)
            text = minutes[m] = (_NAIVE_EPOCH + dt.timedelta(minutes=m) + off).strftime(head)
        return f"{text}:{s:02d}" if seconds else text
    return one


def local_date(ts: float, tz: str) -> dt.date:
    """The box's calendar day a moment falls on."""
    return dt.datetime.fromtimestamp(float(ts), zone(tz)).date()


def parse(text: str, tz: str, patterns: tuple[str, ...] = INPUT_PATTERNS) -> float:
    """A local time a person typed ("YYYY-MM-DD HH:MM", a datetime-local value, or a day) as epoch seconds;
    ValueError when it matches none of the patterns."""
    for pattern in patterns:
        try:
            return dt.datetime.strptime(text.strip(), pattern).replace(tzinfo=zone(tz)).timestamp()
        except ValueError:
            continue
    raise ValueError(f"not a time: {text!r}")


def day_start(day: dt.date, tz: str) -> float:
    """Epoch seconds of local midnight starting ``day``."""
    return dt.datetime.combine(day, dt.time(), zone(tz)).timestamp()
