"""Scheduled report mail in the API: the schedules with their last period sent, send one now, and the mailer."""
from __future__ import annotations

import tornado.web

from .base import BaseHandler
from .reports import ROLES


class SchedulesApi(BaseHandler):
    """GET /api/v1/reports/schedules: the mailed reports of hotline.yaml, with the last period sent."""

    roles = ROLES

    async def get(self) -> None:
        """Each schedule and when it last went out."""
        from ..mailreports import _setting
        out = []
        for sch in self.services["config"]["report_schedules"]:
            last = await self.services["store"].read(_setting, f"report_schedule:{sch['name']}")
            out.append({**sch, "last_period_sent": last})
        self.write_json({"smtp": bool(self.services["config"]["mail"]["smtp_host"]), "schedules": out})


class ScheduleSendApi(BaseHandler):
    """POST /api/v1/reports/schedules/{name}/send: mail one schedule now (checks the mail setup)."""

    roles = ("admin",)

    async def post(self, name: str) -> None:
        """Send it; 502 when the SMTP server refuses (the journal says why)."""
        cfg = self.services["config"]
        schedule = next((s for s in cfg["report_schedules"] if s["name"] == name), None)
        if schedule is None:
            raise tornado.web.HTTPError(404, reason="no such schedule")
        if not cfg["mail"]["smtp_host"]:
            raise tornado.web.HTTPError(409, reason="mail.smtp_host is not set in hotline.yaml")
        from ..mailreports import ReportMailer
        ok = await ReportMailer(self.services).send_now(schedule)
        await self.audit("report.mail_sent" if ok else "report.mail_failed", name)
        if not ok:
            raise tornado.web.HTTPError(502, reason="the SMTP server did not take the mail (see the log)")
        self.write_json({"schedule": name, "sent": True})


def on_start(services: dict) -> None:
    """Start mailing scheduled reports (when a schedule and an SMTP server are configured)."""
    import asyncio
    from ..mailreports import ReportMailer
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return   # an application built outside the daemon (route listing): nothing to run
    if "config" in services and services.get("store") is not None:
        services["report_mailer"] = mailer = ReportMailer(services)
        mailer.start()


ROUTES = [(r"/api/v1/reports/schedules", SchedulesApi),
          (r"/api/v1/reports/schedules/([a-z][a-z0-9_]{0,47})/send", ScheduleSendApi)]
