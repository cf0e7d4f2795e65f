"""Hotline's class 2 / 2.0 fax modem driver, as the ``class2`` sender of the outbound queue, against the virtual
modem's fax classes (checked by efax in tests/drivers/modem/test_fax_class2.py): a 2-page document arrives at the
far fax machine pixel for pixel, pages are counted as the far machine confirms them, and the modem's dial results
and hang-up codes become the queue's reasons."""
from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hotline.daemon.box import localtime
from hotline.daemon.box.config import ConfigError, parse_config
from hotline.daemon.fax.class2 import Class2Sender, transmission
from hotline.daemon.fax import jobs
from hotline.daemon.fax.jobs import FaxReason
from hotline.daemon.fax.library import FaxLibrary
from hotline.daemon.fax.queue import FaxQueue
from hotline.daemon.fax.registry import make_sender
from hotline.daemon.fax.sender import FaxDocument
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store
from hotline.drivers.modem import virtual
from hotline.drivers.modem.faxclass2 import Class2Result
from hotline.drivers.modem.virtual.far_fax import FarFax
from hotline.fax.tiff import page_bitmaps

TWO_PAGES = b"%!PS\n/Helvetica findfont 30 scalefont setfont\n1 1 2 { /n exch def 72 600 moveto (Page ) show " \
            b"n 3 string cvs show showpage } for\n"


@pytest.fixture
def line(request, monkeypatch):
    """A virtual line named after the test, forgotten afterwards (the header's time zone fixed: no database here)."""
    monkeypatch.setitem(localtime._known, "box", "Asia/Shanghai")
    name = f"c2-{request.node.name}"[:60]
    yield name
    virtual.forget(name)


def _send(sender: Class2Sender, tmp_path: Path, number: str = "5550100") -> tuple:
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "two.ps"
    src.write_bytes(TWO_PAGES)
    pages: list[tuple[int, int | None]] = []
    connected: list[int] = []

    async def go():
        return await sender.send(number, FaxDocument("two", src, tmp_path / "job"),
                                 lambda n, total: pages.append((n, total)), connected.append)
    return asyncio.run(go()), pages, connected


def test_failures_are_told_in_the_queue_s_words(line: str, tmp_path: Path) -> None:
    """Busy -> busy; a person answers -> +FHNG:11, not a fax; the far machine refuses a page -> transmission with
    the hang-up code's meaning; no modem configured -> no engine."""
    virtual.register()
    far = virtual.far_end(line)
    far.fax = FarFax()
    sender = Class2Sender({"modem_port": f"virtualmodem://conexant?name={line}"})
    far.busy_tone()
    t, pages, _ = _send(sender, tmp_path / "busy", "5")
    assert (t.reason, t.pages_sent, pages) == (FaxReason.BUSY, 0, [])
    far.silence()
    far.fax = None
    far.dialled.clear()
    threading.Thread(target=lambda: far.wait_dialled(10) and far.answer(), daemon=True).start()
    t, pages, connected = _send(sender, tmp_path / "person", "6")
    assert (t.reason, pages, connected) == (FaxReason.NOT_A_FAX, [], [])
    assert t.detail.startswith("+FHNG:11 no answer")
    far.fax = FarFax(reject_pages=True)
    t, pages, connected = _send(sender, tmp_path / "reject", "7")
    assert (t.reason, t.pages_sent, pages, connected) == (FaxReason.TRANSMISSION, 0, [], [2])
    assert t.detail.startswith("+FHNG:50 unspecified transmit phase D error")
    assert "modem_port" in Class2Sender({}).unavailable()


def test_hang_up_codes_map_to_reasons() -> None:
    """The modem's own words, table by table: phase A is "not a fax", later phases keep the pages confirmed."""
    r = Class2Result("2", pages_sent=1, pages_total=3, hangup=54, dial_result="OK")
    t = transmission(r)
    assert (t.reason, t.pages_sent, t.pages_total) == (FaxReason.TRANSMISSION, 1, 3)
    assert t.detail == "+FHNG:54 no response to EOP repeated three times; 1 of 3 pages confirmed"
    assert transmission(Class2Result("2.0", pages_total=2, dial_result="NO ANSWER")).reason is FaxReason.NO_ANSWER
    assert transmission(Class2Result("2", pages_total=2, hangup=4, dial_result="NO CARRIER")).reason \
        is FaxReason.NO_ANSWER
    assert transmission(Class2Result("2", pages_total=2, hangup=10, dial_result="OK")).reason is FaxReason.NOT_A_FAX
    assert transmission(Class2Result("2", pages_sent=2, pages_total=2, hangup=0, dial_result="OK")).ok


class _Engine:
    """The media engine's clock as the queue uses it (no calls are made on this path)."""

    now = staticmethod(time.time)
    wait_for = staticmethod(asyncio.wait_for)


class _Journal:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def emit(self, kind: str, call_uuid: str | None, **fields) -> None:
        self.events.append((kind, fields))


def test_the_queue_sends_a_job_through_the_modem_without_a_trunk(line: str, tmp_path: Path) -> None:
    """A queued job with ``fax.sender: class2`` (the entry point) on a class 2.0 modem (``auto`` picks 2.0): the
    queue needs no trunk, the job goes dialling -> sending -> sent with 2 of 2 pages confirmed, each journaled;
    the far fax machine has both pages of the prepared document, pixel for pixel, header line included."""
    virtual.register()
    far = virtual.far_end(line)
    far.fax = FarFax()
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "two.ps").write_bytes(b"%!PS\n%%Page: 1 1\n" + TWO_PAGES[4:] + b"%%Page: 2 2\n")
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.open()
    try:
        store.write_sync(migrations.upgrade, store.db)
        job = store.write_sync(jobs.create_out, "two", "5550100")
        journal = _Journal()
        sender = make_sender("class2", {"modem_port": f"virtualmodem://usr?name={line}", "modem_class": "auto",
                                        "ident": "+86 10 8001", "header_name": "Hotline QA"})
        assert isinstance(sender, Class2Sender) and sender.unavailable() is None
        queue = FaxQueue(store, journal, None, None, _Engine(), sender, FaxLibrary(shipped, tmp_path / "up"),
                         tmp_path / "spool")

        async def run() -> dict:
            assert await queue.pass_once() == 1
            assert await queue.pass_once() == 0          # one modem, one job at a time
            return await asyncio.wait_for(queue.active[job["id"]], 30)
        row = asyncio.run(run())
    finally:
        store.close()
    assert (row["status"], row["pages"], row["pages_total"], row["reason"]) == ("sent", 2, 2, None)
    kinds = [k for k, _ in journal.events]
    assert kinds == ["fax.dialling", "fax.sending", "fax.page", "fax.page", "fax.sent"], kinds
    assert far.dialled == ["5550100"] and far.fax.sessions == 1
    assert "> AT+FCLASS=2.0" in sender.last_transcript
    job_dir = tmp_path / "spool" / "fax" / "jobs" / str(job["id"])
    assert (job_dir / "page-2.png").is_file()
    assert far.fax.save_received(tmp_path / "got.tif") == 2
    for sent, got in zip(page_bitmaps(job_dir / "document.tif"), page_bitmaps(tmp_path / "got.tif")):
        assert got[:20].any() and np.array_equal(sent, got)


def test_the_class2_settings_are_part_of_the_configuration() -> None:
    """hotline.yaml takes ``sender: class2`` with its modem settings (and refuses a class it does not know); the
    daemon's sender is made from them."""
    text = (Path(__file__).parents[2] / "etc" / "hotline.yaml").read_text()
    assert "  sender: spandsp\n" in text
    mine = text.replace("  sender: spandsp\n", '  sender: class2\n  modem_port: /dev/ttyACM0\n  modem_class: "2.0"\n')
    fax = dict(parse_config(mine, "hotline.yaml")["fax"])
    sender = make_sender(fax.pop("sender"), fax)
    assert isinstance(sender, Class2Sender) and (sender.port, sender.fclass) == ("/dev/ttyACM0", "2.0")
    with pytest.raises(ConfigError, match="fax.modem_class: expected one of auto, 2, 2.0"):
        parse_config(mine.replace('modem_class: "2.0"', "modem_class: 1"), "hotline.yaml")
