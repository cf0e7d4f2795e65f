"""Scheduled reports: an XLSX workbook (one sheet per report) mailed through the configured SMTP server.

``report_schedules:`` in hotline.yaml says what to send, to whom, for which period (yesterday, last week,
last month) and at what local time. A schedule is sent once per period: the last period sent is kept in the
settings table, so a restart neither skips nor repeats a mail. Sending runs off the event loop; the outcome is
journaled (``report.mailed`` / ``report.mail_failed``). ``POST /api/v1/reports/schedules/{name}/send`` sends
one at once (for testing the mail setup).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import smtplib
from typing import Any
from zoneinfo import ZoneInfo

import tornado.locale

from hotline.daemon.mail.smtp import send_mail
from hotline.daemon.store.models import Setting

log = logging.getLogger("hotline.web.mail")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def period_for(every: str, now: dt.datetime) -> tuple[dt.date, dt.date, str]:
    """(first day, last day, key) of the finished period a schedule reports at ``now`` (local time)."""
    today = now.date()
    if every == "day":
        day = today - dt.timedelta(days=1)
        return day, day, day.isoformat()
    if every == "week":
        monday = today - dt.timedelta(days=today.weekday() + 7)
        return monday, monday + dt.timedelta(days=6), f"{monday.isocalendar()[0]}-W{monday.isocalendar()[1]:02d}"
    first_this = today.replace(day=1)
    last = first_this - dt.timedelta(days=1)
    return last.replace(day=1), last, last.strftime("%Y-%m")


def workbook(schedule: dict, first: dt.date, last: dt.date, tz: str, locale: tornado.locale.Locale) -> bytes:
    """One sheet per report of the schedule (runs in a store read)."""
    from .handlers.reports import REPORTS, export_lines, flatten, run_report
    from .xlsx import workbook as make
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(first, dt.time(), zone).timestamp()
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), zone).timestamp()
    p = {"first": first, "last": last, "start": start, "end": end, "group": "day" if first != last else "hour",
         "queues": [], "agents": [], "page": 1, "sort": "offered_at", "desc": True, "caller": None,
         "outcome": None, "tz": tz}
    sheets = []
    for name in schedule["reports"]:
        header, rows = flatten(name, run_report(name, p)["rows"], locale, tz)
        sheets.append((locale.translate(REPORTS[name][0]), f"{first} – {last} ({tz})", header,
                       export_lines(rows)))
    return make(sheets)


def send(mail: dict, schedule: dict, subject: str, body: str, attachment: bytes, filename: str) -> None:
    """Deliver one scheduled report (blocking: runs in a worker thread)."""
    send_mail(mail, schedule["to"], subject, body, [(filename, XLSX, attachment)])


class ReportMailer:
    """Checks every minute which schedules are due and mails them."""

    def __init__(self, services: dict[str, Any]):
        self.services = services
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        """Begin checking (only when there is something to send)."""
        cfg = self.services["config"]
        if cfg["report_schedules"] and cfg["mail"]["smtp_host"]:
            self.task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("event=report_schedule_failed")
            await asyncio.sleep(60)

    async def tz(self) -> str:
        """The box's timezone for reports."""
        from .handlers.reports import box_timezone
        return await box_timezone(self.services)

    async def run_due(self, now: dt.datetime | None = None) -> list[str]:
        """Send every schedule whose time has come and whose last period was not sent yet; names sent."""
        cfg = self.services["config"]
        zone = ZoneInfo(await self.tz())
        now = now or dt.datetime.now(zone)
        sent = []
        for schedule in cfg["report_schedules"]:
            hh, mm = (int(x) for x in schedule["at"].split(":"))
            if (now.hour, now.minute) < (hh, mm):
                continue
            _, _, key = period_for(schedule["every"], now)
            last = await self.services["store"].read(_setting, f"report_schedule:{schedule['name']}")
            if last == key:
                continue
            if await self.send_now(schedule, now):
                sent.append(schedule["name"])
        return sent

    async def send_now(self, schedule: dict, now: dt.datetime | None = None) -> bool:
        """Build and mail one schedule's workbook for its last finished period; journaled either way."""
        cfg = self.services["config"]
        tz = await self.tz()
        now = now or dt.datetime.now(ZoneInfo(tz))
        first, last, key = period_for(schedule["every"], now)
        locale = tornado.locale.get(schedule["language"] or cfg["locale"]["language"])
        stats = self.services.get("stats")
        if stats is not None:
            await stats.catch_up()
        data = await self.services["store"].read(workbook, schedule, first, last, tz, locale)
        title = locale.translate("Hotline report")
        subject = f"{title}: {schedule['name']} {first}" + (f" – {last}" if last != first else "")
        body = locale.translate("The call-center figures for %(period)s are attached.") % {
            "period": f"{first} – {last}" if last != first else str(first)}
        filename = f"hotline-{schedule['name']}-{key}.xlsx"
        journal = self.services.get("journal")
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, send, cfg["mail"], schedule, subject, body, data, filename)
        except (OSError, smtplib.SMTPException) as exc:
            log.error("event=report_mail_failed schedule=%s error=%r", schedule["name"], str(exc))
            if journal is not None:
                journal.emit("report.mail_failed", schedule=schedule["name"], period=key, error=str(exc)[:200])
            return False
        await self.services["store"].write(_put_setting, f"report_schedule:{schedule['name']}", key)
        if journal is not None:
            journal.emit("report.mailed", schedule=schedule["name"], period=key, to=len(schedule["to"]),
                         bytes=len(data))
        log.info("event=report_mailed schedule=%s period=%s", schedule["name"], key)
        return True


def _setting(name: str) -> str | None:
    row = Setting.get_or_none(Setting.name == name)
    return row.value if row else None


def _put_setting(name: str, value: str) -> None:
    Setting.delete().where(Setting.name == name).execute()
    Setting.create(name=name, value=value)
