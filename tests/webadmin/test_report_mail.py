"""Scheduled reports reach a real SMTP server (aiosmtpd on loopback) as an XLSX workbook, once per period,
with the same figures as the reports API; a refused mail is reported, not lost silently."""
from __future__ import annotations

import datetime as dt
import email
import email.header
import io
import socket
import subprocess
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_daily_report_is_mailed_once_with_the_reports_figures(daemon_factory, hotline_bin, tmp_path, client,
                                                               password) -> None:
    from aiosmtpd.controller import Controller
    from openpyxl import load_workbook

    class Sink:
        def __init__(self) -> None:
            self.messages: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
            return "250 OK"
    sink = Sink()
    port = free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        cfg = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())
        cfg["mail"] = {"smtp_host": "127.0.0.1", "smtp_port": port, "sender": "hotline@box.example"}
        cfg["report_schedules"] = [{"name": "managers", "every": "day", "at": "00:00", "reports": ["queues", "agents", "faxes"],
                                    "to": ["boss@example.com", "lead@example.com"], "language": "en_US"}]
        config = tmp_path / "hotline.yaml"
        config.write_text(yaml.safe_dump(cfg))
        d = daemon_factory(config=config, start=False)
        d.state.mkdir(parents=True, exist_ok=True)
        run = lambda *a, **kw: subprocess.run([hotline_bin, "-c", str(config), *a], env=d.env, check=True,  # noqa: E731
                                              capture_output=True, text=True, timeout=300, **kw)
        run("acd", "import", str(REPO / "etc" / "queues.yaml"))
        run("demo-data", "--history-only", "--calls", "600", "--days", "3")
        for name, role in (("admin", "admin"), ("sup", "supervisor")):
            run("user", "add", name, "--role", role, "--password-stdin", "--language", "en_US", input=password + "\n")
        d.start()
        deadline = time.monotonic() + 30
        while not sink.messages and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(sink.messages) == 1, "the daily report was not mailed at start-up"
        rcpts, msg = sink.messages[0]
        yesterday = (dt.datetime.now(ZoneInfo("Asia/Shanghai")).date() - dt.timedelta(days=1)).isoformat()
        assert sorted(rcpts) == ["boss@example.com", "lead@example.com"]
        assert msg["Subject"] == f"Hotline report: managers {yesterday}" and msg["From"] == "hotline@box.example"
        (part,) = [p for p in msg.walk() if p.get_filename()]
        assert part.get_filename() == f"hotline-managers-{yesterday}.xlsx"
        wb = load_workbook(io.BytesIO(part.get_payload(decode=True)))
        assert wb.sheetnames == ["Queues and service level", "Agents", "Faxes"]
        ws = wb["Queues and service level"]
        header = [c.value for c in ws[4]]
        offered = sum(r[header.index("Offered")] for r in ws.iter_rows(min_row=5, values_only=True))
        sup = client(d.url)
        sup.login("sup")
        api = sup.api("GET", f"/reports/queues?from={yesterday}&to={yesterday}&group=total").json()
        assert offered == sum(r["offered"] for r in api["rows"]) > 0
        header = [c.value for c in wb["Faxes"][4]]
        assert header == ["Period", "Direction", "Faxes sent", "Faxes failed", "Faxes received", "Pages"]
        # once per period: a restart does not send it again
        d.stop()
        d.start()
        time.sleep(3)
        assert len(sink.messages) == 1
        sched = sup.api("GET", "/reports/schedules").json()
        assert sched["smtp"] and sched["schedules"][0]["last_period_sent"] == yesterday
        admin = client(d.url)
        admin.login("admin")
        assert sup.api("POST", "/reports/schedules/managers/send", {}).status == 403
        assert admin.api("POST", "/reports/schedules/managers/send", {}).status == 200
        assert len(sink.messages) == 2
        smtp.stop()                                           # the mail server is gone: refused, said, audited
        smtp = None
        r = admin.api("POST", "/reports/schedules/managers/send", {})
        assert r.status == 502 and "SMTP" in r.json()["error"]
        audit = admin.api("GET", "/audit?action=report.").json()["entries"]
        assert [e["action"] for e in audit[:2]] == ["report.mail_failed", "report.mail_sent"]
    finally:
        if smtp is not None:
            smtp.stop()


def test_an_agent_emails_a_knowledge_base_article(prepared_box, client) -> None:
    from aiosmtpd.controller import Controller

    class Sink:
        def __init__(self) -> None:
            self.messages: list = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
            return "250 OK"
    sink = Sink()
    port = free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        box = prepared_box(config={"mail": {"smtp_host": "127.0.0.1", "smtp_port": port,
                                            "sender": "hotline@box.example"}})
        sup = client(box.url)
        sup.login("sup")
        art = sup.api("POST", "/kb/articles", {"title": "打印机卡纸怎么办", "body": "打开前盖，取出卡住的纸。"})
        assert art.status == 201, art.text
        aid = art.json()["id"]
        agent = client(box.url)
        agent.login("agent1")
        assert "E-mail to a caller" in agent.get(f"/kb/{aid}").text
        bad = agent.api("POST", f"/kb/articles/{aid}/email", {"to": "not-an-address"})
        assert bad.status == 400 and bad.json()["error"].startswith("to:")
        ok = agent.api("POST", f"/kb/articles/{aid}/email", {"to": "zhang.wei@example.com"})
        assert ok.status == 200, ok.text
        rcpts, msg = sink.messages[0]
        subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
        assert rcpts == ["zhang.wei@example.com"] and subject == "打印机卡纸怎么办"
        assert "取出卡住的纸" in msg.get_payload(decode=True).decode("utf-8")
        admin = client(box.url)
        admin.login("admin")
        entry = admin.api("GET", "/audit?action=kb.article_emailed").json()["entries"][0]
        assert entry["user"] == "agent1" and entry["after"]["to"] == "zhang.wei@example.com"
    finally:
        smtp.stop()


def test_emailing_without_a_mail_server_says_so(panel_box, client) -> None:
    sup = client(panel_box.url)
    sup.login("sup")
    aid = sup.api("POST", "/kb/articles", {"title": "Toner", "body": "Shake it."}).json()["id"]
    r = sup.api("POST", f"/kb/articles/{aid}/email", {"to": "a@example.com"})
    assert r.status == 409 and "mail.smtp_host" in r.json()["error"]
    assert "Mail is not set up" in sup.get(f"/kb/{aid}").text
