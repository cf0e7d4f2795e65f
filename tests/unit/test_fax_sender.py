"""The spandsp fax sender's own parts with the real tools: documents prepared for the line and the panel, what a
finished session becomes for the queue (a silent far end is "not a fax", a broken document is not retried), and
the call's frame source ending when the session does."""
from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from hotline.daemon.box import localtime
from hotline.daemon.fax.engine import SessionPlayer, SpandspSender, transmission
from hotline.daemon.fax.jobs import FaxReason
from hotline.daemon.fax.sender import FaxDocument
from hotline.drivers.base import FRAME_SAMPLES
from hotline.drivers.common import spandsp
from hotline.fax.pool import FaxPool
from hotline.fax.session import FaxDirection, FaxError, FaxOutcome, FaxResult, FaxSession, FaxSettings
from hotline.fax.tiff import page_bitmaps, read_pages

TWO_PAGES = b"%!PS\n/Helvetica findfont 30 scalefont setfont\n1 1 2 { /n exch def 72 600 moveto (Page ) show " \
            b"n 3 string cvs show showpage } for\n"


@pytest.fixture(autouse=True)
def box_zone(monkeypatch) -> None:
    """The header line's date needs the box's zone, which the daemon reads from its database: none here."""
    monkeypatch.setitem(localtime._known, "box", "Asia/Shanghai")


def result(outcome: FaxOutcome, pages: int, reason: str, remote: str = "", code: int = 5) -> FaxResult:
    return FaxResult(outcome=outcome, direction=FaxDirection.SEND, pages=pages, bit_rate=14400 if pages else 0,
                     ecm=True, remote_ident=remote, reason=reason, code=0 if outcome is FaxOutcome.SUCCESS else code,
                     tiff=None, seconds=10.0, cpu_seconds=0.1)


def test_a_document_is_prepared_for_the_line_and_the_panel(tmp_path: Path) -> None:
    """PostScript -> document.tif (TIFF-F, header line with the configured name) plus document.pdf and page-1/2.png
    in the job's folder, as the panel and API serve them."""
    src = tmp_path / "two.ps"
    src.write_bytes(TWO_PAGES)
    sender = SpandspSender({"ident": "+86 10 8001", "header_name": "Hotline QA", "resolution": "normal"})
    job = tmp_path / "jobs" / "7"
    tiff, pages = sender.prepare(FaxDocument("two", src, job))
    assert pages == 2 and tiff == job / "document.tif"
    assert [(p.width, p.length) for p in read_pages(tiff)] == [(1728, 1146)] * 2
    assert page_bitmaps(tiff)[0][:20].any()                      # the header line is printed
    assert (job / "document.pdf").read_bytes().startswith(b"%PDF-")
    assert sorted(p.name for p in job.iterdir()) == ["document.pdf", "document.tif", "page-1.png", "page-2.png"]


def test_a_document_that_cannot_be_faxed_fails_the_job_without_retries(tmp_path: Path) -> None:
    """A broken document and a TIFF that is not a fax page: document_missing naming the problem, retry=False; a
    TIFF of fax pages is sent as it is."""
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\ngarbage\n%%EOF\n")
    sender = SpandspSender({})
    line = type("Line", (), {"call_uuid": "c1"})()
    t = asyncio.run(sender.transmit(line, FaxDocument("broken", broken, tmp_path / "j1"), lambda *a: None))
    assert (t.reason, t.retry, t.pages_sent) == (FaxReason.DOCUMENT_MISSING, False, 0)
    assert "broken: " in t.detail and "gs could not read it" in t.detail
    narrow = tmp_path / "narrow.tif"
    narrow.write_bytes(b"II*\x00" + (8).to_bytes(4, "little") + (1).to_bytes(2, "little")
                       + (256).to_bytes(2, "little") + (3).to_bytes(2, "little") + (1).to_bytes(4, "little")
                       + (800).to_bytes(4, "little") + bytes(4))
    with pytest.raises(ValueError, match="1728 pixels wide"):
        sender.prepare(FaxDocument("narrow", narrow, tmp_path / "j2"))
    fax_tiff, _ = sender.prepare(FaxDocument("two", _write(tmp_path / "two.ps"), tmp_path / "j3"))
    again, pages = sender.prepare(FaxDocument("tif", fax_tiff, tmp_path / "j4"))
    assert pages == 2 and again.read_bytes() == fax_tiff.read_bytes()


def _write(path: Path) -> Path:
    path.write_bytes(TWO_PAGES)
    return path


def test_what_the_queue_is_told() -> None:
    """All pages confirmed: sent. Short: transmission with T.30's words and the pages that did go. Nothing of T.30
    came back (T0/T1 expired): not_a_fax. Hung up: transmission with the reason."""
    assert transmission(result(FaxOutcome.SUCCESS, 2, "OK", "555"), 2).ok
    t = transmission(result(FaxOutcome.FAILED, 1, "Received a DCN from remote after sending a page", "555"), 2)
    assert (t.ok, t.pages_sent, t.reason, t.detail) == \
        (False, 1, FaxReason.TRANSMISSION, "Received a DCN from remote after sending a page")
    t = transmission(result(FaxOutcome.FAILED, 0, spandsp.completion_text(2), code=spandsp.T30_ERR_T0_EXPIRED), 2)
    assert (t.reason, t.retry) == (FaxReason.NOT_A_FAX, True)
    assert spandsp.completion_text(spandsp.T30_ERR_T0_EXPIRED) == "Timed out waiting for initial communication"
    assert spandsp.completion_text(spandsp.T30_ERR_T1_EXPIRED) == "Timed out waiting for the first message"
    t = transmission(result(FaxOutcome.FAILED, 0, "Failed to train with any of the compatible modems", code=6), 2)
    assert t.reason is FaxReason.TRANSMISSION       # a fax machine did answer: the line is the problem
    t = transmission(result(FaxOutcome.CANCELLED, 1, "the far end hung up", "555"), 2)
    assert (t.reason, t.pages_sent, t.detail) == (FaxReason.TRANSMISSION, 1, "the far end hung up")
    t = transmission(result(FaxOutcome.SUCCESS, 1, "OK", "555"), 2)   # T.30 fine but a page short: never "sent"
    assert not t.ok and t.reason is FaxReason.TRANSMISSION


def test_a_silent_far_end_is_not_a_fax(tmp_path: Path) -> None:
    """A real calling session on a line where nobody answers with fax tones ends with T.30's own timer, and the
    queue hears not_a_fax (retried later), not a transmission error."""
    doc, _ = SpandspSender({}).prepare(FaxDocument("two", _write(tmp_path / "two.ps"), tmp_path / "job"))
    pool = FaxPool(threads=1, name="fax-test")
    try:
        s = pool.start(FaxSession(FaxSettings(FaxDirection.SEND, doc, calling=True)))
        silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        for step in range(1, 90 * 50):
            s.feed(silence)
            s.frame()
            s.wait_frames(step)
            if s.done:
                break
        t = transmission(s.future.result(10), 2)
    finally:
        pool.close()
    assert (t.reason, t.pages_sent, t.retry) == (FaxReason.NOT_A_FAX, 0, True), t.detail


def test_the_frame_source_feeds_the_session_and_ends_with_it(tmp_path: Path) -> None:
    """Each tick the player hands the session what was captured since the last one (emptying the capture list) and
    plays the session's audio; once the session ended and its audio is out it returns None (the play ends)."""
    s = FaxSession(FaxSettings(FaxDirection.RECEIVE, tmp_path / "rx.tif", calling=False))
    capture = type("Capture", (), {"frames": []})()
    player = SessionPlayer(s, capture)
    capture.frames += [np.full(FRAME_SAMPLES, 100, dtype=np.int16)] * 3
    out = player.next_frame()
    assert out is not None and out.shape == (FRAME_SAMPLES,) and capture.frames == []
    assert s.rx.fill()[0] == 3 * FRAME_SAMPLES        # queued for the fax thread
    pool = FaxPool(threads=1, name="fax-test")
    try:
        pool.start(s)
        s.cancel("test")
        s.future.result(10)
    finally:
        pool.close()
    assert player.next_frame() is None


def test_unusable_settings_are_refused_when_the_sender_is_made() -> None:
    """A bad ident or resolution fails at start-up (naming it), not in the middle of a call."""
    with pytest.raises(FaxError, match="ident"):
        SpandspSender({"ident": "HOTLINE"})
    with pytest.raises(FaxError, match="fax settings"):
        SpandspSender({"resolution": "superfine"})
