"""Business hours, holidays, the day/night override switch and the caller block list (run in DB threads)."""
from __future__ import annotations

import datetime as dt
import time

from ..store.models import Blacklist, Holiday, ScheduleHours, Setting

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
    block_many([(number, reason)], by)


def block_many(rows: list[tuple[str, str]], by: str = "") -> None:
    """Add (number or prefix*, reason) rows to the block list, a few hundred per statement (an import of
    100,000 numbers is seconds of writer-thread time one by one)."""
    now = time.time()
    db = Blacklist._meta.database
    # Plain SQL with the values as parameters: peewee's insert_many builds query objects per value, whose
    # allocations set off the garbage collector's full passes (tens of ms holding the GIL) on a big import.
    for i in range(0, len(rows), 500):
        chunk = rows[i:i + 500]
        values = ", ".join([f"({db.param}, {db.param}, {db.param}, {db.param})"] * len(chunk))
        params = [v for n, r in chunk for v in (n, r, now, by)]
        db.execute_sql(f"INSERT INTO {Blacklist._meta.table_name} (number, reason, created_at, created_by) "
                       f"VALUES {values} ON CONFLICT DO NOTHING", params)


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


SAMPLE_HOLIDAYS = [  # sample days for the demo; technicians import the official list each year
    ("2026-01-01", "元旦 New Year's Day", False),
    ("2026-02-16", "春节 Spring Festival", False), ("2026-02-17", "春节 Spring Festival", False),
    ("2026-02-18", "春节 Spring Festival", False), ("2026-02-14", "春节调休 adjusted working day", True),
    ("2026-05-01", "劳动节 Labour Day", False), ("2026-10-01", "国庆节 National Day", False),
    ("2026-10-02", "国庆节 National Day", False), ("2026-10-03", "国庆节 National Day", False),
    ("2026-12-25", "圣诞节 Christmas (demo)", False),
    ("2027-01-01", "元旦 New Year's Day", False),
]


def seed_demo() -> bool:
    """Office hours (Mon-Fri 9-18, Sat 9-12) and sample holidays, only on a box that has none."""
    if ScheduleHours.select().exists() or Holiday.select().exists():
        return False
    set_hours("office", {d: [("09:00", "18:00")] for d in range(5)} | {5: [("09:00", "12:00")]})
    for day, name, workday in SAMPLE_HOLIDAYS:
        add_holiday(day, name, workday)
    block("4000000000", "demo: known nuisance caller", "demo")
    return True
