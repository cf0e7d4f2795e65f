"""Business hours, holidays (with import) and the day/night override switch: admin pages and JSON API over
daemon/service/calendar.py, every change audited before -> after. The caller block list is in config_blacklist.py."""
from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import tornado.web

from hotline.daemon.box import audit
from hotline.daemon.service import calendar
from hotline.daemon.box import audit
from hotline.daemon.service import calendar
from hotline.daemon.box.procwork import off_loop_sized
from hotline.daemon.store.models import Holiday, ScheduleHours, Setting

from ..i18n import N_
from .base import BaseHandler, PageHandler

NAME = r"[a-z][a-z0-9_]{0,47}"
DAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"), N_("Sunday"))
MODES = {"auto": None, "day": "day", "night": "night"}
STATE_WORDS = (N_("open"), N_("closed"), N_("holiday"))
MAX_UPLOAD = 256 * 1024
MAX_IMPORT_TEXT = 2 * 1024 * 1024  # characters of pasted or posted import lines (about 100,000 numbers)
IMPORT_BODY_LIMIT = 3 * MAX_IMPORT_TEXT  # bytes an import request may send (UTF-8, JSON quoting): the text limit
# above is then reported with its own message; a bigger body is refused with 413 before it is read
MAX_IMPORT_LINES = 100_000
MAX_IMPORT_PROBLEMS = 100  # an import with more bad lines is not checked further
DEFAULT_SCHEDULE = "office"  # the schedule the shipped flows use
LINE = N_("Line %(line)d: %(problem)s")
NO_HOURS = N_("Enter hours for at least one day; a schedule without hours counts as always open (delete it instead).")


@dataclass
class Problem:
    """One thing wrong in a form or an imported line: an English template with values (translated when shown)."""

    template: str
    values: dict
    line: int | None = None

    def text(self, translate: Any = None) -> str:
        """The message, in the user's language when a translate function is given."""
        t = translate or (lambda s: s)
        values = {k: t(v) if k == "day" else v for k, v in self.values.items()}  # weekday names
        message = t(self.template) % values
        return t(LINE) % {"line": self.line, "problem": message} if self.line else message


class Invalid(Exception):
    """Input that cannot be saved; carries every problem found."""

    def __init__(self, problems: list[Problem], field: str = ""):
        super().__init__(problems[0].text() if problems else "invalid")
        self.problems, self.field = problems, field

    def __reduce__(self) -> tuple:
        return (type(self), (self.problems, self.field))  # raised in a worker process, raised again here

    def api_message(self) -> str:
        """One line for the JSON error (field first)."""
        text = "; ".join(p.text() for p in self.problems[:20])
        return f"{self.field}: {text}" if self.field else text


# ---- business hours ------------------------------------------------------------------------------------------

def parse_day(day: int, text: str) -> list[tuple[str, str]]:
    """'09:00-12:00, 13:00-18:00' -> [(opens, closes), ...] for one weekday (empty: closed all day)."""
    spans: list[tuple[str, str]] = []
    for part in re.split(r"[,，;]", text or ""):
        part = part.strip().replace("–", "-").replace("—", "-")
        if not part:
            continue
        m = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", part)
        if not m or int(m.group(2)) > 59 or int(m.group(4)) > 59 or int(m.group(1)) > 23 \
                or int(m.group(3)) > 24 or (int(m.group(3)) == 24 and m.group(4) != "00"):
            raise Invalid([Problem(N_("%(day)s: use HH:MM-HH:MM, several separated by commas"),
                                   {"day": DAYS[day]})], "hours")
        opens = f"{int(m.group(1)):02d}:{m.group(2)}"
        closes = f"{int(m.group(3)):02d}:{m.group(4)}"
        if closes <= opens:
            raise Invalid([Problem(N_("%(day)s: %(span)s closes before it opens"),
                                   {"day": DAYS[day], "span": part})], "hours")
        spans.append((opens, closes))
    spans.sort()
    for (a_open, a_close), (b_open, _) in zip(spans, spans[1:]):
        if b_open < a_close:
            raise Invalid([Problem(N_("%(day)s: the times overlap"), {"day": DAYS[day]})], "hours")
    return spans


def parse_week(values: list[str]) -> dict[int, list[tuple[str, str]]]:
    """Seven day texts (Monday first) -> {weekday: spans}; refuses a week without any hours."""
    week = {d: parse_day(d, values[d] if d < len(values) else "") for d in range(7)}
    if not any(week.values()):
        raise Invalid([Problem(NO_HOURS, {})], "hours")
    return week


def check_schedule(name: str) -> str:
    """A schedule name (as flows write it: time: {schedule: office})."""
    name = (name or "").strip()
    if not re.fullmatch(NAME, name):
        raise Invalid([Problem(N_("Schedule names use lower-case letters, digits and _ (starting with a letter)."),
                               {})], "schedule")
    return name


def week_text(schedule: str) -> list[str]:
    """A schedule's hours as seven texts, Monday first (DB thread)."""
    days: list[list[str]] = [[] for _ in range(7)]
    for r in ScheduleHours.select().where(ScheduleHours.name == schedule).order_by(ScheduleHours.opens):
        days[r.weekday].append(f"{r.opens}-{r.closes}")
    return [", ".join(d) for d in days]


def week_audit(texts: list[str]) -> dict:
    """{Monday: '09:00-18:00', ...} for the audit log (closed days left out)."""
    return {DAYS[d]: t for d, t in enumerate(texts) if t}


def override_mode() -> str:
    """auto, day or night (DB thread)."""
    row = Setting.get_or_none(Setting.name == calendar.OVERRIDE)
    return row.value if row is not None and row.value in ("day", "night") else "auto"


def overview() -> dict:
    """Every schedule's week and the override switch (DB thread)."""
    names = sorted({r.name for r in ScheduleHours.select(ScheduleHours.name).distinct()} | {DEFAULT_SCHEDULE})
    return {"override": override_mode(), "schedules": {n: week_text(n) for n in names}}


def save_week(schedule: str, week: dict[int, list[tuple[str, str]]], who: str, address: str) -> dict:
    """Replace a schedule's hours, audited (writer thread)."""
    before = week_text(schedule)
    calendar.set_hours(schedule, week)
    after = week_text(schedule)
    if before != after:
        audit.record(who, address, "calendar.hours", schedule, week_audit(before) or None, week_audit(after))
    return {"schedule": schedule, "hours": after}


def delete_week(schedule: str, who: str, address: str) -> bool:
    """Remove a schedule's hours, audited (writer thread)."""
    before = week_text(schedule)
    if not any(before):
        return False
    ScheduleHours.delete().where(ScheduleHours.name == schedule).execute()
    audit.record(who, address, "calendar.hours_deleted", schedule, week_audit(before), None)
    return True


def switch_override(mode: str, who: str, address: str) -> dict:
    """Flip the day/night switch with daemon/service/calendar.py's own setter, audited (writer thread)."""
    before = override_mode()
    calendar.set_override(MODES[mode])
    if before != mode:
        audit.record(who, address, "calendar.override", "day/night", {"mode": before}, {"mode": mode})
    return {"override": mode, "before": before}


async def effective_states(services: dict, schedules: list[str]) -> dict[str, str]:
    """What the flows' time step sees now for each schedule (open, closed, holiday), override included."""
    box = services.get("box")
    if box is None:
        return {}
    return {name: await box.time_state(name) for name in schedules}


# ---- holidays ------------------------------------------------------------------------------------------------

WORKDAY_WORDS = {"workday", "work", "working", "working day", "1", "yes", "true", "y", "班", "上班", "调休", "补班"}
DAYOFF_WORDS = {"", "holiday", "off", "day off", "0", "no", "false", "n", "休", "休息", "假"}


def check_date(value: str) -> str | None:
    """YYYY-MM-DD of a real day, else None."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value or ""):
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def holiday_fields(day: str, name: str, workday: Any, line: int | None = None) -> tuple[tuple[str, str, bool] | None,
                                                                                       list[Problem]]:
    """One holiday checked: ((day, name, is_workday), []) or (None, problems)."""
    problems = []
    good_day = check_date((day or "").strip())
    if good_day is None:
        problems.append(Problem(N_("%(value)s is not a real date (use YYYY-MM-DD)"), {"value": repr(day)}, line))
    name = (name or "").strip()
    if not name:
        problems.append(Problem(N_("the name is missing"), {}, line))
    elif len(name) > 64:
        problems.append(Problem(N_("the name is longer than 64 characters"), {}, line))
    if isinstance(workday, bool):
        flag = workday
    else:
        word = str(workday or "").strip().lower()
        flag = word in WORKDAY_WORDS
        if not flag and word not in DAYOFF_WORDS:
            problems.append(Problem(N_("%(value)s: write workday for a working day, or leave it empty for a day off"),
                                    {"value": repr(str(workday))}, line))
    return (None if problems else (good_day, name, flag)), problems


def csv_fields(line: str) -> list[str] | None:
    """The stripped cells of one CSV line, or None when the csv module cannot read it (a cell over its
    128 KB limit)."""
    try:
        return [f.strip() for f in next(csv.reader([line]))]
    except (csv.Error, StopIteration):
        return None


def import_lines(text: str, problems: list[Problem]) -> Iterator[tuple[int, str]]:
    """(line number, stripped line) of an import's text, skipping blanks and # comments; refuses text over the
    bounds at once and stops once ``problems`` holds MAX_IMPORT_PROBLEMS."""
    text = text or ""
    if len(text) > MAX_IMPORT_TEXT:
        raise Invalid([Problem(N_("At most %(n)d characters can be imported at once."), {"n": MAX_IMPORT_TEXT})],
                      "text")
    lines = text.splitlines()
    if len(lines) > MAX_IMPORT_LINES:
        raise Invalid([Problem(N_("At most %(n)d lines can be imported at once."), {"n": MAX_IMPORT_LINES})],
                      "text")
    for n, raw in enumerate(lines, 1):
        if len(problems) >= MAX_IMPORT_PROBLEMS:
            problems.append(Problem(N_("Checking stopped after %(n)d problems."), {"n": MAX_IMPORT_PROBLEMS}))
            return
        line = raw.strip().replace("，", ",")
        if line and not line.startswith("#"):
            yield n, line


async def parse_import(parse: Callable[[str], list], text: str) -> list:
    """Run an import's line parser off the event loop (a big list takes seconds to check: in a worker process)."""
    return await off_loop_sized(len(text), parse, text)


def parse_holiday_lines(text: str) -> list[tuple[str, str, bool]]:
    """Lines "YYYY-MM-DD,name[,workday]" (a header line and # comments are skipped); every bad line is reported
    with its number and nothing is returned when any is bad."""
    rows, problems, seen = [], [], {}
    first = True
    for n, line in import_lines(text, problems):
        fields = csv_fields(line)
        if fields is None:
            problems.append(Problem(N_("use YYYY-MM-DD,name[,workday]"), {}, n))
            continue
        if first and fields[0].lower() in ("date", "day", "日期"):
            first = False
            continue
        first = False
        if len(fields) not in (2, 3):
            problems.append(Problem(N_("use YYYY-MM-DD,name[,workday]"), {}, n))
            continue
        row, bad = holiday_fields(fields[0], fields[1], fields[2] if len(fields) == 3 else "", n)
        if row is not None and row[0] in seen:
            bad = [Problem(N_("%(value)s is already on line %(other)d"), {"value": row[0], "other": seen[row[0]]}, n)]
        problems.extend(bad)
        if not bad:
            seen[row[0]] = n
            rows.append(row)
    if problems:
        raise Invalid(problems, "text")
    if not rows:
        raise Invalid([Problem(N_("There is nothing to import."), {})], "text")
    return rows


def holiday_label(name: str, workday: bool) -> str:
    """How a holiday reads in the audit log."""
    return f"{name} (working day)" if workday else name


def list_holidays(year: str | None) -> dict:
    """Holidays (of one year, or all) and the years present (DB thread)."""
    q = Holiday.select().order_by(Holiday.day)
    years = sorted({h.day[:4] for h in Holiday.select(Holiday.day)})
    if year:
        q = q.where(Holiday.day.startswith(year + "-"))
    return {"years": years, "holidays": [{"day": h.day, "name": h.name, "workday": bool(h.is_workday),
                                          "weekday": dt.date.fromisoformat(h.day).weekday()} for h in q]}


def put_holidays(rows: list[tuple[str, str, bool]], who: str, address: str, action: str) -> dict:
    """Add or replace holidays with daemon/service/calendar.py's add_holiday, audited in one entry (writer thread)."""
    days = [r[0] for r in rows]
    old = {h.day: holiday_label(h.name, h.is_workday) for h in Holiday.select().where(Holiday.day.in_(days))}
    for day, name, workday in rows:
        calendar.add_holiday(day, name, workday)
    after = {day: holiday_label(name, workday) for day, name, workday in rows}
    target = days[0] if len(days) == 1 else f"{len(days)} days"
    audit.record(who, address, action, target, old or None, after)
    return {"added": len([d for d in days if d not in old]), "replaced": len([d for d in days if d in old])}


def remove_holiday(day: str, who: str, address: str) -> bool:
    """Delete one holiday, audited (writer thread)."""
    h = Holiday.get_or_none(Holiday.day == day)
    if h is None:
        return False
    h.delete_instance()
    audit.record(who, address, "holiday.delete", day, {day: holiday_label(h.name, h.is_workday)}, None)
    return True


# ---- block list ----------------------------------------------------------------------------------------------

def uploaded_text(handler: tornado.web.RequestHandler) -> str:
    """The text of an uploaded .csv/.txt file (UTF-8 or GB18030), else the pasted text field."""
    files = handler.request.files.get("file") or []
    f = next((f for f in files if f.filename or f.body), None)
    if f is None:
        return handler.get_body_argument("text", "")
    if len(f.body) > MAX_UPLOAD:
        raise Invalid([Problem(N_("The file is larger than 256 KB."), {})], "file")
    name = (f.filename or "").lower()
    kind = (f.content_type or "").lower()
    if not (name.endswith((".csv", ".txt")) and (kind.startswith("text/") or kind in (
            "", "application/octet-stream", "application/vnd.ms-excel", "application/csv"))):
        raise Invalid([Problem(N_("Upload a text or CSV file (.csv or .txt)."), {})], "file")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = f.body.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise Invalid([Problem(N_("The file is not UTF-8 or GB18030 text."), {})], "file")


# ---- pages ---------------------------------------------------------------------------------------------------

DONE = {"saved": N_("Business hours saved."), "deleted": N_("Deleted."), "added": N_("Added."),
        "override": N_("Day/night switch changed."), "imported": N_("Imported %(n)d lines."),
        "schedule_deleted": N_("Schedule deleted.")}


class CalendarPage(PageHandler):
    """Base of the calendar pages: admin only, allow-listed query, messages after a change."""

    roles = ("admin",)
    query_params: set[str] = {"done", "n"}

    def check_query(self) -> None:
        """Unknown query parameters are refused (400 naming them)."""
        unknown = sorted(set(self.request.query_arguments) - self.query_params)
        if unknown:
            raise tornado.web.HTTPError(400, reason=f"unknown parameter {unknown[0]!r}")

    def done_message(self) -> str | None:
        """The confirmation of the change that led here."""
        key = self.get_query_argument("done", "")
        if key not in DONE:
            return None
        try:
            n = int(self.get_query_argument("n", "0"))
        except ValueError:
            n = 0
        return self.locale.translate(DONE[key]) % ({"n": n} if "%(n)d" in DONE[key] else {})

    def problems(self, exc: Invalid) -> list[str]:
        """The problems in the user's language."""
        return [p.text(self.locale.translate) for p in exc.problems]

    async def switch_card(self) -> dict:
        """The override mode and each schedule's effective state (for the switch card)."""
        ov = await self.services["store"].read(overview)
        states = await effective_states(self.services, list(ov["schedules"]))
        return {"mode": ov["override"], "states": states}


class HoursPage(CalendarPage):
    """Weekly business hours per schedule, and the day/night switch with the state the flows see now."""

    title = N_("Business hours")
    query_params = {"done", "n", "schedule"}

    async def get(self) -> None:
        """One schedule's week (office unless chosen)."""
        self.check_query()
        schedule = self.get_query_argument("schedule", DEFAULT_SCHEDULE)
        if not re.fullmatch(NAME, schedule):
            raise tornado.web.HTTPError(400, reason="schedule: lower-case letters, digits and _")
        await self.show(schedule, None, None, [])

    async def show(self, schedule: str, texts: list[str] | None, new_name: str | None, errors: list[str]) -> None:
        """Render the page (after a failed save: with what the user typed and the problems)."""
        ov = await self.services["store"].read(overview)
        names = sorted(set(ov["schedules"]) | {schedule})
        states = await effective_states(self.services, names)
        self.render("calendar_hours.html", schedule=schedule, names=names, schedules=ov["schedules"],
                    texts=texts if texts is not None else ov["schedules"].get(schedule, [""] * 7),
                    switch={"mode": ov["override"], "states": states}, days=DAYS, errors=errors,
                    new_name=new_name or "", done=self.done_message())

    async def post(self) -> None:
        """Save one schedule's week."""
        raw_name = self.get_body_argument("new_schedule", "").strip() or self.get_body_argument("schedule", "")
        texts = [self.get_body_argument(f"day{d}", "").strip()[:200] for d in range(7)]
        try:
            schedule = check_schedule(raw_name)
            week = parse_week(texts)
        except Invalid as exc:
            self.set_status(400)
            current = raw_name if re.fullmatch(NAME, raw_name or "") else DEFAULT_SCHEDULE
            await self.show(current, texts, self.get_body_argument("new_schedule", ""), self.problems(exc))
            return
        await self.services["store"].write(save_week, schedule, week, self.actor, self.address)
        self.redirect(f"/config/hours?schedule={schedule}&done=saved")


class HoursDeletePage(CalendarPage):
    """POST /config/hours/delete: remove a schedule's hours."""

    async def post(self) -> None:
        """Delete and go back to the office schedule."""
        try:
            schedule = check_schedule(self.get_body_argument("schedule", ""))
        except Invalid as exc:
            raise tornado.web.HTTPError(400, reason=exc.api_message()) from None
        await self.services["store"].write(delete_week, schedule, self.actor, self.address)
        self.redirect("/config/hours?done=schedule_deleted")


class OverridePage(CalendarPage):
    """POST /config/override: force open (day), force closed (night) or automatic."""

    async def post(self) -> None:
        """Flip the switch and go back."""
        mode = self.get_body_argument("mode", "")
        if mode not in MODES:
            raise tornado.web.HTTPError(400, reason="mode: use auto, day or night")
        await self.services["store"].write(switch_override, mode, self.actor, self.address)
        back = self.get_body_argument("back", "/config/hours")
        back = back if back in ("/config/hours", "/config/holidays") else "/config/hours"
        self.redirect(f"{back}?done=override")


class HolidaysPage(CalendarPage):
    """Holidays and adjusted working days: list by year, add, delete, import a list."""

    title = N_("Holidays")
    query_params = {"done", "n", "year"}

    async def get(self) -> None:
        """The list (this year and later by default: all years)."""
        self.check_query()
        year = self.get_query_argument("year", "")
        if year and not re.fullmatch(r"\d{4}", year):
            raise tornado.web.HTTPError(400, reason="year: four digits")
        await self.show(year, {}, [], "", [])

    async def show(self, year: str, form: dict, add_errors: list[str], text: str, import_errors: list[str]) -> None:
        """Render (after a failed add or import: with the input and the problems)."""
        data = await self.services["store"].read(list_holidays, year or None)
        switch = await self.switch_card()
        self.render("calendar_holidays.html", year=year, data=data, days=DAYS, form=form, add_errors=add_errors,
                    text=text, import_errors=import_errors, done=self.done_message(), switch=switch)

    async def post(self) -> None:
        """Add one holiday."""
        form = {k: self.get_body_argument(k, "").strip() for k in ("day", "name")}
        form["workday"] = self.get_body_argument("workday", "") == "on"
        row, problems = holiday_fields(form["day"], form["name"], form["workday"])
        if row is None:
            self.set_status(400)
            await self.show("", form, [p.text(self.locale.translate) for p in problems], "", [])
            return
        await self.services["store"].write(put_holidays, [row], self.actor, self.address, "holiday.add")
        self.redirect(f"/config/holidays?year={row[0][:4]}&done=added")


class HolidayDeletePage(CalendarPage):
    """POST /config/holidays/delete: remove one day."""

    async def post(self) -> None:
        """Delete and go back to its year."""
        day = check_date(self.get_body_argument("day", ""))
        if day is None:
            raise tornado.web.HTTPError(400, reason="day: use YYYY-MM-DD")
        await self.services["store"].write(remove_holiday, day, self.actor, self.address)
        self.redirect(f"/config/holidays?year={day[:4]}&done=deleted")


class HolidayImportPage(CalendarPage):
    """POST /config/holidays/import: pasted text or an uploaded CSV; any bad line and nothing is imported."""

    body_limit = IMPORT_BODY_LIMIT

    title = N_("Holidays")

    async def post(self) -> None:
        """Import every line or none."""
        text = self.get_body_argument("text", "")
        try:
            text = uploaded_text(self)
            rows = await parse_import(parse_holiday_lines, text)
        except Invalid as exc:
            self.set_status(400)
            await self.show_import_error(text, exc)
            return
        await self.services["store"].write(put_holidays, rows, self.actor, self.address, "holiday.import")
        self.redirect(f"/config/holidays?done=imported&n={len(rows)}")

    async def show_import_error(self, text: str, exc: Invalid) -> None:
        """The holidays page with the import form refilled and every problem listed."""
        await HolidaysPage.show(self, "", {}, [], text[:MAX_UPLOAD], self.problems(exc))


class CalendarApiBase(BaseHandler):
    """Admin only; Invalid becomes 400 with the field and every problem."""

    roles = ("admin",)

    def invalid(self, exc: Invalid) -> None:
        """Answer 400 listing the problems."""
        self.write_json({"error": exc.api_message(), "status": 400,
                         "problems": [{"line": p.line, "message": p.text()} for p in exc.problems]}, 400)


class CalendarApi(CalendarApiBase):
    """GET /api/v1/calendar: schedules, the override switch, and what each schedule is now."""

    async def get(self) -> None:
        """Everything the hours page shows."""
        ov = await self.services["store"].read(overview)
        states = await effective_states(self.services, list(ov["schedules"]))
        self.write_json({"override": ov["override"],
                         "schedules": [{"name": n, "hours": h, "state": states.get(n)}
                                       for n, h in ov["schedules"].items()]})


class CalendarHoursApi(CalendarApiBase):
    """PUT/DELETE /api/v1/calendar/hours/{schedule}: replace or remove a schedule's week."""

    async def put(self, schedule: str) -> None:
        """Body {"hours": [seven texts or lists of "HH:MM-HH:MM", Monday first]}."""
        hours = self.json_body().get("hours")
        if not isinstance(hours, list) or len(hours) != 7:
            raise tornado.web.HTTPError(400, reason="hours: a list of 7 days, Monday first")
        texts = []
        for d, value in enumerate(hours):
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                texts.append(", ".join(value))
            elif isinstance(value, str):
                texts.append(value)
            else:
                raise tornado.web.HTTPError(400, reason=f"hours[{d}]: a text or a list of \"HH:MM-HH:MM\"")
        try:
            week = parse_week(texts)
        except Invalid as exc:
            return self.invalid(exc)
        result = await self.services["store"].write(save_week, schedule, week, self.actor, self.address)
        result["state"] = (await effective_states(self.services, [schedule])).get(schedule)
        self.write_json(result)

    async def delete(self, schedule: str) -> None:
        """Remove the schedule's hours (404 when it has none)."""
        if not await self.services["store"].write(delete_week, schedule, self.actor, self.address):
            raise tornado.web.HTTPError(404, reason=f"schedule {schedule!r} has no hours")
        self.write_json({"schedule": schedule, "deleted": True})


class CalendarOverrideApi(CalendarApiBase):
    """PUT /api/v1/calendar/override {"mode": "auto"|"day"|"night"}: the day/night switch."""

    async def put(self) -> None:
        """Flip the switch; answers with each schedule's state now."""
        mode = self.json_body().get("mode")
        if not isinstance(mode, str) or mode not in MODES:
            raise tornado.web.HTTPError(400, reason="mode: use auto, day or night")
        result = await self.services["store"].write(switch_override, mode, self.actor, self.address)
        ov = await self.services["store"].read(overview)
        result["states"] = await effective_states(self.services, list(ov["schedules"]))
        self.write_json(result)


class HolidaysApi(CalendarApiBase):
    """GET/POST /api/v1/holidays: list (?year=) and add one."""

    async def get(self) -> None:
        """Holidays by date."""
        unknown = sorted(set(self.request.query_arguments) - {"year"})
        if unknown:
            raise tornado.web.HTTPError(400, reason=f"unknown parameter {unknown[0]!r}")
        year = self.get_query_argument("year", "")
        if year and not re.fullmatch(r"\d{4}", year):
            raise tornado.web.HTTPError(400, reason="year: four digits")
        self.write_json(await self.services["store"].read(list_holidays, year or None))

    async def post(self) -> None:
        """Body {"day": "YYYY-MM-DD", "name": "...", "workday": false}; an existing day is replaced."""
        b = self.json_body()
        workday = b.get("workday", False)
        if not isinstance(workday, bool):
            raise tornado.web.HTTPError(400, reason="workday: true or false")
        row, problems = holiday_fields(str(b.get("day") or ""), str(b.get("name") or ""), workday)
        if row is None:
            field = "day" if problems[0].template.startswith("%(value)s is not a real date") else "name"
            return self.invalid(Invalid(problems, field))
        result = await self.services["store"].write(put_holidays, [row], self.actor, self.address, "holiday.add")
        self.write_json({"day": row[0], "name": row[1], "workday": row[2], **result}, 201)


class HolidayApi(CalendarApiBase):
    """DELETE /api/v1/holidays/{day}."""

    async def delete(self, day: str) -> None:
        """Remove one day (404 when it is not a holiday)."""
        if check_date(day) is None:
            raise tornado.web.HTTPError(400, reason="day: not a real date")
        if not await self.services["store"].write(remove_holiday, day, self.actor, self.address):
            raise tornado.web.HTTPError(404, reason=f"{day} is not in the holiday list")
        self.write_json({"day": day, "deleted": True})


class LinesImportApi(CalendarApiBase):
    """POST {"text": "..."}: import lines, all or none (``parse`` checks every line, ``save`` writes them)."""

    body_limit = IMPORT_BODY_LIMIT

    parse: Any = None
    save: Any = None
    action = ""

    async def post(self) -> None:
        """Import, or 400 listing every bad line."""
        text = self.json_body().get("text")
        if not isinstance(text, str):
            raise tornado.web.HTTPError(400, reason="text: the lines to import")
        try:
            rows = await parse_import(type(self).parse, text)
        except Invalid as exc:
            return self.invalid(exc)
        result = await self.services["store"].write(type(self).save, rows, self.actor, self.address, self.action)
        self.write_json({"imported": len(rows), **result})


class HolidaysImportApi(LinesImportApi):
    """POST /api/v1/holidays/import {"text": "YYYY-MM-DD,name[,workday]\\n..."}: all lines or none."""

    parse = staticmethod(parse_holiday_lines)
    save = staticmethod(put_holidays)
    action = "holiday.import"


PAGE_ROUTES = [
    (r"/config/hours", HoursPage),
    (r"/config/hours/delete", HoursDeletePage),
    (r"/config/override", OverridePage),
    (r"/config/holidays", HolidaysPage),
    (r"/config/holidays/delete", HolidayDeletePage),
    (r"/config/holidays/import", HolidayImportPage),
]
ROUTES = [
    (r"/api/v1/calendar", CalendarApi),
    (r"/api/v1/calendar/hours/([a-z][a-z0-9_]{0,47})", CalendarHoursApi),
    (r"/api/v1/calendar/override", CalendarOverrideApi),
    (r"/api/v1/holidays", HolidaysApi),
    (r"/api/v1/holidays/import", HolidaysImportApi),
    (r"/api/v1/holidays/([0-9]{4}-[0-9]{2}-[0-9]{2})", HolidayApi),
]
