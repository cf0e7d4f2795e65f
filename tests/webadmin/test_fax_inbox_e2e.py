"""Scenario, end to end: a customer with an open ticket faxes the box. An independent spandsp fax terminal calls the
shipped line 8001 from the customer's number through the media WebSocket and sends a 2-page ghostscript document;
the box takes it (CNG in the IVR), lists it in GET /api/v1/faxes as received, mails its PDF to the configured inbox
address through a real SMTP server on loopback (aiosmtpd), and files it with the customer and their open ticket
(the ticket's history and the customer's faxes, as the panel shows them). The transfer itself (pixels, ECM, noise)
is checked in test_fax_receive_e2e.py; here only what the office notices."""
from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from hotline.drivers.common import spandsp

from tests.unit.test_fax_mail import Sink, pdf_pages, subject_of
from tests.webadmin.test_fax_engine_e2e import FarTerminal
from tests.webadmin.test_fax_receive_e2e import caller, ghostscript_fax
from tests.webadmin.test_media_pages import wait_for

CUSTOMER_NUMBER = "13912345678"     # the number test_fax_receive_e2e's caller() calls from
INBOX = "faxes@office.example"


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) on a free loopback port; its ``messages`` are what it accepted."""
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


def test_a_customers_fax_reaches_the_inbox_the_mail_and_their_open_ticket(prepared_box, client, qa, smtp,
                                                                          tmp_path: Path) -> None:
    """The fax is in the inbox (direction in, received, 2 pages, the caller's number, its PDF); one mail to the
    inbox address says who sent it, names the customer and the ticket, with the 2-page PDF attached; the ticket's
    history has the fax (with the link to its PDF) and the fax is listed under the customer."""
    inbox = {"mail_to": [INBOX], "language": "en_US", "new_ticket": False, "ticket_type": "other"}
    box = prepared_box(config={"mail": {"smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                        "sender": "hotline@box.example"},
                               "fax": {"ident": "+86 10 8001", "inbox": inbox}})
    agent = client(box.url)
    agent.login("agent1")
    customer = agent.api("POST", "/customers", {"name": "Wang Fang", "phones": [CUSTOMER_NUMBER]})
    assert customer.status == 201, customer.text
    customer = customer.json()
    ticket = agent.api("POST", "/tickets", {"type": "repair", "priority": "normal", "caller_number": CUSTOMER_NUMBER,
                                            "summary": "Printer jams: sending the service report by fax",
                                            "customer_id": customer["id"]})
    assert ticket.status == 201, ticket.text
    ticket = ticket.json()
    assert ticket["status"] == "open", ticket
    far = FarTerminal(tmp_path / "unused.tif", ecm=True, seed=11, tx_file=ghostscript_fax(tmp_path))
    try:
        call = asyncio.run(caller(box, qa(box), "8001", far))
    finally:
        far.close()
    assert far.code == spandsp.T30_ERR_OK and far.stats.pages_tx == 2, spandsp.completion_text(far.code or -1)

    # the inbox: received, 2 pages, from the customer's number, with its PDF
    fax = wait_for("the fax filed", lambda: [f for f in agent.api("GET", "/faxes?direction=in").json()["faxes"]
                                             if f["call_uuid"] == call and f.get("ticket_id")], timeout=30)[0]
    assert (fax["direction"], fax["status"], fax["pages"], fax["caller_id"]) == \
        ("in", "received", 2, CUSTOMER_NUMBER), fax
    assert (fax["customer_id"], fax["ticket_id"]) == (customer["id"], ticket["id"]), fax
    pdf = agent.request("GET", fax["pdf_url"])
    assert pdf.status == 200 and pdf.body.startswith(b"%PDF-")

    # the mail: one, to the inbox address, naming the caller, the customer and the ticket, the PDF attached
    wait_for("the mail", lambda: smtp.messages, timeout=30)
    assert len(smtp.messages) == 1, [subject_of(m) for _, m in smtp.messages]
    rcpts, msg = smtp.messages[0]
    assert rcpts == [INBOX] and msg["From"] == "hotline@box.example"
    assert subject_of(msg) == f"Fax from {CUSTOMER_NUMBER}, 2 pages"
    body = msg.get_body(("plain",)).get_content()
    assert "Customer: Wang Fang" in body and f"Ticket: {ticket['ticket_no']}" in body, body
    (part,) = [p for p in msg.walk() if p.get_filename()]
    assert part.get_content_type() == "application/pdf" and part.get_filename().endswith(f"-{fax['id']}.pdf")
    attached = part.get_payload(decode=True)
    (tmp_path / "pdf").mkdir()
    assert attached == pdf.body and pdf_pages(attached, tmp_path / "pdf") == 2
    mailed = wait_for("mail sent", lambda: [f for f in agent.api("GET", "/faxes?direction=in").json()["faxes"]
                                            if f["id"] == fax["id"] and (f.get("mail") or {}).get("status") == "sent"])
    assert mailed

    # the ticket and the customer, as the panel shows them
    shown = agent.api("GET", f"/tickets/{ticket['id']}").json()
    notes = [h for h in shown["history"] if h["action"] == "fax"]
    assert len(notes) == 1 and f"fax #{fax['id']} from {CUSTOMER_NUMBER}, 2 pages" in notes[0]["note"], shown
    assert f"/api/v1/faxes/{fax['id']}/document.pdf" in notes[0]["note"]
    assert shown["status"] == "open"       # filed on the open ticket: no new ticket, the ticket stays open
    assert [t["id"] for t in agent.api("GET", f"/customers/{customer['id']}/history").json()["tickets"]] == \
        [ticket["id"]]
    mine = agent.api("GET", f"/faxes?customer={customer['id']}").json()["faxes"]
    assert [f["id"] for f in mine] == [fax["id"]]
