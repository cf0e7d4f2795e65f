"""What happens after a fax is received, and voicemail to e-mail: a real SMTP server on loopback (aiosmtpd) gets
the fax's PDF (made by ghostscript and render_received) and the voicemail's audio; the fax is filed with the
caller's customer and open ticket; a refused mail is kept, shown and retried with backoff; the fax counts in
the reports."""
from __future__ import annotations

import asyncio
import email
import email.header
import email.policy
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from hotline.daemon.box.config import load_config
from hotline.daemon.fax import jobs
from hotline.daemon.fax.delivery import FaxDelivery, InboxSettings
from hotline.daemon.mail.outbox import MailKind, Outbox, backoff, mail_state
from hotline.daemon.mail.voicemail import VoicemailMailer, VoicemailMailSettings
from hotline.daemon.service import lookups
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store
from hotline.daemon.store.service_models import Customer, CustomerPhone, FaxJob, FaxStatus, Ticket, TicketHistory
from hotline.fax.documents import PageHeader, Resolution, to_fax_tiff
from hotline.fax.incoming import render_received
from hotline.webadmin import i18n  # noqa: F401 - loads the panel's translations, which the mails use

TWO_PAGES = b"""%!PS
/Helvetica findfont 48 scalefont setfont
1 1 2 { /n exch def 72 600 moveto (Page ) show n 3 string cvs show showpage } for
"""


class Journal:
    """Collects what would be journaled."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def emit(self, kind: str, /, call_uuid: str | None = None, **data) -> dict:
        self.events.append((kind, data))
        return data


class Sink:
    """An SMTP server's mailbox; ``refuse`` makes it answer 554 to every mail."""

    def __init__(self) -> None:
        self.messages: list = []
        self.refuse = False

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.refuse:
            return "554 5.3.0 mail system full (test)"
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos, msg))
        return "250 OK"


@pytest.fixture(scope="module")
def smtp():
    """A real SMTP server on a free loopback port."""
    import socket
    from aiosmtpd.controller import Controller
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    sink.port = port
    yield sink
    ctl.stop()


@pytest.fixture(scope="module")
def received(tmp_path_factory) -> Path:
    """A two-page fax as the receive path leaves it: TIFF-F from ghostscript, then render_received (document.pdf,
    document-00n.png), made once for the module."""
    folder = tmp_path_factory.mktemp("rx")
    (folder / "two.ps").write_bytes(TWO_PAGES)
    tif = to_fax_tiff(folder / "two.ps", folder / "rx.tif", Resolution.NORMAL,
                      PageHeader("Far end", "010 5555", datetime(2026, 12, 7, 9, 30))).path
    render_received(tif, folder / "out", "document")
    return folder / "out"


@pytest.fixture
def store(request, tmp_path: Path):
    """A migrated store: SQLite, or PostgreSQL for a test parametrized with it (indirect)."""
    if getattr(request, "param", "sqlite") == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'hotline.db'}")
        s.open()
        s.write_sync(migrations.check, s.db, True)
        yield s
        s.close()
        return
    with request.getfixturevalue("fresh_pg_database")() as url:
        s = Store(url)
        s.open()
        s.write_sync(migrations.check, s.db, True)
        yield s
        s.close()


def mail_cfg(port: int, **kw) -> dict:
    return {"smtp_host": "127.0.0.1", "smtp_port": port, "starttls": False, "ssl": False, "username": None,
            "password_file": None, "sender": "hotline@box.example", "timeout": 10.0, "retry_seconds": 60.0,
            "retry_max_seconds": 3600.0, "max_attempts": 24, **kw}


def store_received_fax(store: Store, spool: Path, received: Path, caller: str | None, pages: int = 2) -> int:
    """What the receive path does: a FaxJob direction in, received, with its files under jobs/<id>/."""
    def make() -> int:
        job = jobs.create_in(caller, "call-1", now=time.time() - 30)
        jobs.transition(job["id"], FaxStatus.RECEIVED, pages=pages, pages_total=pages)
        return job["id"]
    job_id = store.write_sync(make)
    folder = jobs.job_dir(spool, job_id)
    folder.mkdir(parents=True)
    for f in received.iterdir():
        shutil.copyfile(f, folder / f.name)
    return job_id


def customer_with_ticket(number: str, open_ticket: bool) -> dict:
    """A customer with a phone, and an open ticket (database thread)."""
    c = Customer.create(name="王师傅", created_at=time.time(), updated_at=time.time())
    CustomerPhone.create(customer=c.id, number=number)
    t = lookups.create_ticket("repair", "卡纸", customer_id=c.id) if open_ticket else None
    return {"customer": c.id, "ticket_no": t["ticket_no"] if t else None}


def subject_of(msg) -> str:
    return str(email.header.make_header(email.header.decode_header(msg["Subject"])))


def pdf_pages(data: bytes, tmp: Path) -> int:
    """Pages ghostscript renders from a PDF (it parses, and has that many pages)."""
    (tmp / "mailed.pdf").write_bytes(data)
    subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dPDFSTOPONERROR", "-sDEVICE=pnggray", "-r20",
                    f"-sOutputFile={tmp}/m-%03d.png", str(tmp / "mailed.pdf")], check=True, timeout=60,
                   capture_output=True)
    return len(list(tmp.glob("m-*.png")))


@pytest.mark.parametrize("store", ["sqlite", "postgresql"], indirect=True)
def test_a_received_fax_is_mailed_with_its_pdf_and_filed_with_the_customer_and_open_ticket(
        store, smtp, received, tmp_path) -> None:
    spool = tmp_path / "spool"
    smtp.messages.clear()
    owner = store.write_sync(customer_with_ticket, "13800138000", True)
    known = store_received_fax(store, spool, received, "+86 138 0013 8000")
    stranger = store_received_fax(store, spool, received, "01062345678")
    journal = Journal()

    async def scenario() -> tuple:
        outbox = Outbox(store, mail_cfg(smtp.port), journal)
        en = FaxDelivery(store, outbox, InboxSettings(("inbox@example.com",), "en_US", False, "other",
                                                      "Asia/Shanghai"), spool, journal)
        filed = await en.deliver(known)
        again = await en.deliver(known)          # a second call files nothing twice and queues no second mail
        assert await outbox.run_due() == 1
        zh = FaxDelivery(store, outbox, InboxSettings(("inbox@example.com", "boss@example.com"), "zh_CN", True,
                                                      "enquiry", "Asia/Shanghai"), spool, journal)
        filed2 = await zh.deliver(stranger)
        assert await outbox.run_due() == 1
        return filed, again, filed2
    filed, again, filed2 = asyncio.run(scenario())

    # the known caller: their customer and open ticket, a history entry linking the fax
    assert filed["customer_id"] == owner["customer"] and filed["ticket_no"] == owner["ticket_no"]
    assert not filed["opened"] and again["already"]
    history = store.write_sync(lambda: [(h.action, h.actor, h.note) for h in TicketHistory.select().join(Ticket)
                                        .where(Ticket.ticket_no == owner["ticket_no"]).order_by(TicketHistory.id)])
    assert [h[0] for h in history] == ["opened", "fax"]
    assert f"fax #{known} from +86 138 0013 8000, 2 pages" in history[1][2]
    assert f"/api/v1/faxes/{known}/document.pdf" in history[1][2]
    # nobody knows the stranger: with new_ticket a ticket of the configured type is opened for their number
    assert filed2["customer_id"] is None and filed2["opened"]
    ticket = store.write_sync(lambda: Ticket.get(Ticket.ticket_no == filed2["ticket_no"]))
    assert ticket.type == "enquiry" and ticket.caller_number == "01062345678" and f"fax #{stranger}" in ticket.summary

    assert len(smtp.messages) == 2
    (rcpts, msg), (rcpts2, msg2) = smtp.messages
    assert rcpts == ["inbox@example.com"] and msg["From"] == "hotline@box.example"
    assert subject_of(msg) == "Fax from +86 138 0013 8000, 2 pages"
    body = msg.get_body(("plain",)).get_content()
    assert "Pages: 2" in body and "Customer: 王师傅" in body and f"Ticket: {owner['ticket_no']}" in body
    assert "(Asia/Shanghai)" in body
    (part,) = [p for p in msg.walk() if p.get_filename()]
    assert part.get_content_type() == "application/pdf" and part.get_filename().endswith(f"-{known}.pdf")
    pdf = part.get_payload(decode=True)
    assert pdf == (received / "document.pdf").read_bytes() and pdf_pages(pdf, tmp_path) == 2
    assert sorted(rcpts2) == ["boss@example.com", "inbox@example.com"]
    assert subject_of(msg2) == "来自 01062345678 的传真，共 2 页"
    assert f"工单：{filed2['ticket_no']}" in msg2.get_body(("plain",)).get_content()
    assert [k for k, _ in journal.events] == ["fax.filed", "mail.sent", "fax.filed", "mail.sent"]
    # the fax list shows where each fax went
    from hotline.webadmin.handlers.faxes import search_faxes
    f = {"direction": "in", "status": None, "number": None, "document": None, "since": None, "until": None,
         "sort": "-created_at", "page": 1, "per_page": 20}
    listed = {d["id"]: d for d in store.write_sync(search_faxes, f, spool, None)["faxes"]}
    assert listed[known]["mail"]["status"] == "sent" and listed[known]["ticket_id"] is not None
    assert listed[known]["customer_id"] == owner["customer"] and listed[known]["pdf_ready"]
    mine = store.write_sync(search_faxes, {**f, "customer": str(owner["customer"])}, spool, None)["faxes"]
    assert [d["id"] for d in mine] == [known]
    # the agent's screen pop for the customer's next call lists the fax they sent
    from hotline.webadmin.handlers.desk import pop_data
    pop = store.write_sync(pop_data, None, "13800138000", None)
    assert [(x["id"], x["direction"], x["status"]) for x in pop["history"]["faxes"]] == [(known, "in", "received")]


def test_a_refused_mail_is_kept_shown_and_retried_with_backoff_and_the_fax_stays(store, smtp, received,
                                                                                 tmp_path) -> None:
    spool = tmp_path / "spool"
    smtp.messages.clear()
    job = store_received_fax(store, spool, received, "13912345678")
    clock = [1_800_000_000.0]
    journal = Journal()

    async def scenario() -> list:
        outbox = Outbox(store, mail_cfg(smtp.port, max_attempts=3), journal, clock=lambda: clock[0])
        delivery = FaxDelivery(store, outbox, InboxSettings(("inbox@example.com",), "en_US"), spool, journal)
        await delivery.deliver(job)
        seen = []
        smtp.refuse = True
        try:
            assert await outbox.run_due() == 1                     # refused: kept, next try in 60 s
            seen.append(await store.read(mail_state, MailKind.FAX, [job]))
            clock[0] += 59
            assert await outbox.run_due() == 0                     # not yet
            clock[0] += 1
            assert await outbox.run_due() == 1                     # refused again: next in 120 s
            seen.append(await store.read(mail_state, MailKind.FAX, [job]))
            clock[0] += 120
            smtp.refuse = False
            assert await outbox.run_due() == 1                     # the server takes it
            seen.append(await store.read(mail_state, MailKind.FAX, [job]))
        finally:
            smtp.refuse = False
        return seen
    first, second, third = [s[job] for s in asyncio.run(scenario())]
    assert first["status"] == "pending" and first["attempts"] == 1 and "554" in first["error"]
    assert first["next_attempt_at"] == 1_800_000_000.0 + 60
    assert second["attempts"] == 2 and second["next_attempt_at"] == 1_800_000_000.0 + 60 + 120
    assert third["status"] == "sent" and third["attempts"] == 3 and third["error"] is None
    assert len(smtp.messages) == 1
    failed = [d for k, d in journal.events if k == "mail.failed"]
    assert [d["attempt"] for d in failed] == [1, 2] and "mail system full" in failed[0]["error"]
    assert store.write_sync(lambda: FaxJob.get_by_id(job).status) == "received"
    assert [backoff(n, 60, 3600) for n in (1, 2, 3, 7, 8)] == [60, 120, 240, 3600, 3600]


def test_a_mail_that_never_goes_is_marked_failed_with_its_reason_and_the_fax_is_kept(store, received,
                                                                                    tmp_path) -> None:
    import socket
    with socket.socket() as s:                 # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    spool = tmp_path / "spool"
    job = store_received_fax(store, spool, received, "13912345678")
    clock = [1_800_000_000.0]

    async def scenario() -> dict:
        outbox = Outbox(store, mail_cfg(dead, max_attempts=2), None, clock=lambda: clock[0])
        await FaxDelivery(store, outbox, InboxSettings(("inbox@example.com",), "en_US"), spool).deliver(job)
        await outbox.run_due()
        clock[0] += 61
        await outbox.run_due()
        clock[0] += 10_000
        assert await outbox.run_due() == 0      # given up: no more tries
        return (await store.read(mail_state, MailKind.FAX, [job]))[job]
    state = asyncio.run(scenario())
    assert state["status"] == "failed" and state["attempts"] == 2 and "refused" in state["error"].lower()
    assert state["next_attempt_at"] is None
    row = store.write_sync(lambda: FaxJob.get_by_id(job))
    assert row.status == "received" and (jobs.job_dir(spool, job) / "document.pdf").is_file()


def test_a_voicemail_is_mailed_to_its_mailbox_addresses_as_mp3_or_wav(store, smtp, tmp_path) -> None:
    from hotline.daemon.calls.flows import BoxServices
    smtp.messages.clear()
    t = np.arange(8000 * 2) / 8000.0
    audio = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)    # 2 s of tone
    journal = Journal()

    async def scenario() -> None:
        outbox = Outbox(store, mail_cfg(smtp.port), journal)
        settings = VoicemailMailSettings(("office@example.com",), {"sales": ("sales@example.com",)}, "mp3",
                                         "en_US", "Asia/Shanghai")
        services = BoxServices(store, journal, None, "Asia/Shanghai", [], spool=tmp_path / "spool")
        services.on_voicemail.append(VoicemailMailer(store, outbox, settings).on_voicemail)
        await services.create("voicemail", mailbox="sales", audio=audio, caller_number="13800138000",
                              call_uuid="vm-call-1")
        assert await outbox.run_due() == 1
        wav_settings = VoicemailMailSettings(("office@example.com",), {}, "wav", "zh_CN", "Asia/Shanghai")
        services.on_voicemail[:] = [VoicemailMailer(store, outbox, wav_settings).on_voicemail]
        await services.create("voicemail", mailbox="general", audio=audio, caller_number=None,
                              call_uuid="vm-call-2")
        assert await outbox.run_due() == 1
    asyncio.run(scenario())
    by_to = {tuple(r): m for r, m in smtp.messages}
    sales = by_to[("sales@example.com",)]
    assert subject_of(sales) == "Voicemail from 13800138000 in mailbox sales (2.0 s)"
    (part,) = [p for p in sales.walk() if p.get_filename()]
    mp3 = part.get_payload(decode=True)
    assert part.get_content_type() == "audio/mpeg" and part.get_filename().endswith(".mp3")
    assert (mp3[:3] == b"ID3" or mp3[0] == 0xFF) and len(mp3) > 1000
    office = by_to[("office@example.com",)]
    assert subject_of(office) == "来自 未知来电 的语音留言，信箱 general（2.0 秒）"
    assert "信箱：general" in office.get_body(("plain",)).get_content()
    (part,) = [p for p in office.walk() if p.get_filename()]
    wav = part.get_payload(decode=True)
    assert part.get_content_type() == "audio/wav" and wav[:4] == b"RIFF" and len(wav) == 44 + 2 * 16000
    assert len(mp3) < len(wav) / 2


def test_the_running_box_files_and_mails_a_received_fax_and_a_voicemail(smtp, received, tmp_path) -> None:
    """The assembly: the outbox runs as a component (woken by each new mail), the receive path's callback is
    services["fax_delivery"].deliver, and the flows' voicemail step (BoxServices.create) mails the message."""
    import socket
    import yaml
    from hotline.daemon.box.app import Hotline
    repo = Path(__file__).resolve().parents[2]
    smtp.messages.clear()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        web = s.getsockname()[1]
    cfg = yaml.safe_load((repo / "etc" / "hotline.yaml").read_text())
    cfg["paths"].update(state=str(tmp_path / "state"), prompts=str(tmp_path / "prompts"),
                        flows=str(repo / "etc" / "flows"),
                        prompt_manifest=str(repo / "etc" / "prompts" / "manifest.yaml"))
    cfg["web"]["listen"] = f"127.0.0.1:{web}"
    cfg["devices"] = [{"name": "sim0", "driver": "sim", "trunks": 2, "stations": ["1001"]}]
    cfg["logging"] = {"level": "error", "components": {}}
    cfg["mail"].update(smtp_host="127.0.0.1", smtp_port=smtp.port, sender="hotline@box.example")
    cfg["fax"]["inbox"].update(mail_to=["inbox@example.com"], language="en_US", new_ticket=True)
    cfg["voicemail"].update(mail_to=["office@example.com"], language="en_US")
    (tmp_path / "hotline.yaml").write_text(yaml.safe_dump(cfg))
    config = load_config(str(tmp_path / "hotline.yaml"), env={})

    async def main() -> tuple:
        app = Hotline(config, env={})
        app.build()
        await app.start()
        try:
            s = app.services
            store, spool = s["store"], config.path_for("spool")
            job = await asyncio.get_running_loop().run_in_executor(
                None, store_received_fax, store, spool, received, "13800138000")
            filed = await s["fax_delivery"].deliver(job)
            vm = await s["box"].create("voicemail", mailbox="general", audio=np.zeros(8000, np.int16),
                                       caller_number="13800138000", call_uuid="vm-box-1")
            deadline = time.monotonic() + 20
            while s["mail_outbox"].status()["sent"] < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return filed, vm, s["mail_outbox"].status()
        finally:
            await app.shutdown(drain=False)
    filed, vm, status = asyncio.run(main())
    assert filed["opened"] and filed["ticket_no"]
    subjects = sorted(subject_of(m) for _, m in smtp.messages)
    assert subjects == ["Fax from 13800138000, 2 pages", "Voicemail from 13800138000 in mailbox general (1.0 s)"]
    assert status["state"] == "up" and status["sent"] == 2


def test_faxes_count_in_the_reports_per_hour_and_day(store) -> None:
    from hotline.daemon.stats import reports, summary
    base = 1_800_000_000.0 - 1_800_000_000.0 % 86400 + 2 * 3600        # 10:00 in Shanghai
    events = [(base + 60, "fax.sent", {"id": 1, "direction": "out", "pages": 3}),
              (base + 120, "fax.queued", {"id": 2, "direction": "out", "reason": "busy"}),   # a retry: not counted
              (base + 3700, "fax.failed", {"id": 2, "direction": "out", "reason": "attempts", "pages": 1}),
              (base + 3800, "fax.received", {"id": 3, "direction": "in", "pages": 2}),
              (base + 3900, "fax.failed", {"id": 4, "direction": "in", "reason": "transmission"})]

    def write() -> None:
        import json
        for ts, kind, data in events:
            store.db.execute_sql("INSERT INTO events (ts, kind, call_uuid, line, data) VALUES (?, ?, NULL, NULL, ?)",
                                 (ts, kind, json.dumps(data)))
        summary.fold_batch(2)
    store.write_sync(write)
    hours = store.write_sync(reports.faxes, base, base + 86400, "hour", "Asia/Shanghai")["rows"]
    assert [(r["direction"], r["sent"], r["failed"], r["received"], r["pages"]) for r in hours] == [
        ("out", 1, 0, 0, 3), ("in", 0, 1, 1, 2), ("out", 0, 1, 0, 0)]
    day = store.write_sync(reports.faxes, base - 10 * 3600, base + 14 * 3600, "day", "Asia/Shanghai")["rows"]
    assert {r["direction"]: (r["sent"], r["failed"], r["received"]) for r in day} == {"out": (1, 1, 0),
                                                                                        "in": (0, 1, 1)}


def test_the_demo_history_faxes_are_in_the_fax_report(store) -> None:
    from hotline.daemon.stats import history, reports, summary
    repo = Path(__file__).resolve().parents[2]
    teams = [history.Team("printers", [1, 2]), history.Team("water", [3]), history.Team("sales", [4])]
    made: dict[str, int] = {}

    def write(events: list, cdrs: list) -> None:
        for e in events:
            if e[1].startswith("fax."):
                made[e[1]] = made.get(e[1], 0) + 1
        store.write_sync(lambda: store.db.cursor().executemany(
            "INSERT INTO events (ts, kind, call_uuid, line, data) VALUES (?, ?, ?, ?, ?)", events))
    import datetime as dt
    counts = history.generate(600, 3, teams, write, seed=1, flows_dir=repo / "etc" / "flows", trunks=4,
                              end=dt.date(2026, 12, 6), tz="Asia/Shanghai")
    while store.write_sync(summary.fold_batch, 4, 5000):
        pass
    rows = store.write_sync(reports.faxes, 0, 4e9, "total", "Asia/Shanghai")["rows"]
    assert made["fax.sent"] > made["fax.failed"] > 0 and counts["faxes"] == made["fax.sent"] + made["fax.failed"]
    assert made["fax.received"] == counts["faxes_received"] > 0
    assert [(r["direction"], r["sent"], r["failed"], r["received"], r["pages"]) for r in rows] == [
        ("in", 0, 0, made["fax.received"], made["fax.received"]),
        ("out", made["fax.sent"], made["fax.failed"], 0, 2 * made["fax.sent"])]


def test_mail_addresses_without_an_smtp_server_are_a_config_error_naming_the_key(tmp_path) -> None:
    from hotline.daemon.errors import ConfigError
    cfg = tmp_path / "hotline.yaml"
    cfg.write_text("fax:\n  inbox:\n    mail_to: [inbox@example.com]\n    new_ticket: maybe\n"
                   "voicemail:\n  mailboxes:\n    sales: {mail_to: [not-an-address]}\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(cfg))
    text = str(info.value)
    assert "hotline.yaml:3:14: fax.inbox.mail_to: mail needs an SMTP server: set mail.smtp_host" in text
    assert "fax.inbox.new_ticket" in text and "voicemail.mailboxes.sales.mail_to[0]" in text
    cfg.write_text("mail: {smtp_host: 127.0.0.1}\nfax:\n  inbox: {mail_to: [inbox@example.com], new_ticket: true}\n"
                   "voicemail: {attach: mp3, mailboxes: {sales: {mail_to: [s@example.com]}}}\n")
    loaded = load_config(str(cfg))
    assert InboxSettings.from_config(loaded).mail_to == ("inbox@example.com",)
    vm = VoicemailMailSettings.from_config(loaded)
    assert vm.recipients("sales") == ("s@example.com",) and vm.recipients("general") == () and vm.attach == "mp3"
