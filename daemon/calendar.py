"""Business hours, holidays, the day/night override switch and the caller block list (run in DB threads)."""
from __future__ import annotations

import datetime as dt
import time

from .store.models import Blacklist, Holiday, ScheduleHours, Setting

OVERRIDE = "daynight_override"  # settings row: "day", "night" or absent (automatic)


def state_at(schedule: str, now: dt.datetime) -> str:
    """'open', 'closed' or 'holiday' for a schedule at a local time."""
    override = Setting.get_or_none(Setting.name == OVERRIDE)
    if override is not None and override.value in ("day", "night"):
        return "open" if override.value == "day" else "closed"
    day = Holiday.get_or_none(Holiday.day == now.date().isoformat())
    weekday = now.weekday()
    if day is not None and not day.is_workday:
        return "holiday"
    if day is not None and day.is_workday:
        weekday = 0  # an adjusted working day keeps Monday's hours
    rows = list(ScheduleHours.select().where((ScheduleHours.name == schedule)))
    if not rows:
        return "open"  # no hours configured for this schedule: always open
    hhmm = now.strftime("%H:%M")
    return "open" if any(r.weekday == weekday and r.opens <= hhmm < r.closes for r in rows) else "closed"


def set_override(value: str | None) -> None:
    """Force day or night, or None to follow the schedule again."""
    if value not in (None, "day", "night"):
        raise ValueError("override must be day, night or none")
    Setting.delete().where(Setting.name == OVERRIDE).execute()
    if value is not None:
        Setting.create(name=OVERRIDE, value=value)


def blocked_reason(number: str) -> str | None:
    """The reason a caller number is blocked (exact entry or prefix*), else None."""
    if not number:
        return None
    for row in Blacklist.select():
        pattern = row.number
        if pattern == number or (pattern.endswith("*") and number.startswith(pattern[:-1])):
            return row.reason or "blocked"
    return None


def block(number: str, reason: str = "", by: str = "") -> None:
    """Add a number or prefix* to the block list."""
    Blacklist.insert(number=number, reason=reason, created_at=time.time(), created_by=by) \
        .on_conflict_ignore().execute()


def set_hours(schedule: str, hours: dict[int, list[tuple[str, str]]]) -> None:
    """Replace a schedule's hours: {weekday: [(opens, closes), ...]}."""
    ScheduleHours.delete().where(ScheduleHours.name == schedule).execute()
    for weekday, spans in hours.items():
        for opens, closes in spans:
            ScheduleHours.create(name=schedule, weekday=weekday, opens=opens, closes=closes)


def add_holiday(day: str, name: str, is_workday: bool = False) -> None:
    """Add (or replace) a holiday or adjusted working day."""
    Holiday.delete().where(Holiday.day == day).execute()
    Holiday.create(day=day, name=name, is_workday=is_workday)
