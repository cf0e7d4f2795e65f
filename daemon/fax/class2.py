"""The ``class2`` fax sender: queued faxes go out through a class 2 / 2.0 fax modem, which dials and runs T.30
itself (drivers/modem/faxclass2.py, on a worker thread). The box only hands it the pages as MH data.

Configure ``fax.sender: class2`` with ``fax.modem_port`` (a device path, a /dev/serial/by-id name or a pyserial
URL such as ``virtualmodem://conexant?name=fax0``) and ``fax.modem_class`` (``auto``, ``2`` or ``2.0``). The
document is prepared as for the software engine (TIFF-F with the header line, PDF and page images for the panel).
A page counts only when the far machine confirmed it (+FPTS/+FPS); a failure says why in the modem's hang-up
code (+FHNG/+FHS), mapped to the queue's reasons.
"""
from __future__ import annotations

import logging
import shutil
import threading
from typing import Callable

from hotline.drivers.modem.faxclass2 import Class2Error, Class2Fax, Class2Result, Phase, hangup_phase, hangup_text
from hotline.drivers.modem.port import Port, PortGone
from hotline.fax.documents import Resolution
from hotline.fax.t4 import T4Page, read_t4_pages

from .engine import SpandspSender
from .jobs import FaxError, FaxReason
from .modemsender import ModemSender
from .sender import FaxDocument, Transmission

log = logging.getLogger("hotline.fax")

__all__ = ["Class2Sender", "make_sender", "transmission"]


class Class2Sender(ModemSender):
    """Sends queued faxes through one class 2/2.0 fax modem; the queue runs one job at a time on it."""

    name = "class2"

    def __init__(self, settings: dict):
        self.port = str(settings.get("modem_port") or "")
        self.fclass = str(settings.get("modem_class", "auto"))
        if self.fclass not in ("auto", "2", "2.0"):
            raise FaxError(f"fax settings: modem_class {self.fclass!r}: use auto, 2 or 2.0")
        self.documents = SpandspSender(settings)     # document preparation only (header, TIFF-F, PDF, PNG)
        self.page_timeout = float(settings.get("modem_page_timeout", 180.0))
        self.last_transcript: list[str] = []    # the last call's AT dialogue (for the log and tests)

    def unavailable(self) -> str | None:
        """Why nothing can be sent (no modem configured, no ghostscript), or None."""
        if not self.port:
            return "no fax engine: fax.modem_port (the class 2 fax modem) is not set"
        if shutil.which("gs") is None:
            return "no fax engine: ghostscript (gs) is not installed"
        return None

    def load(self, document: FaxDocument) -> tuple[list[T4Page], int]:
        """The document prepared (TIFF-F with the header line, PDF, page images) and read as MH pages."""
        tiff, total = self.documents.prepare(document)
        return read_t4_pages(tiff), total

    def send_blocking(self, number: str, pages: list[T4Page], total: int, confirmed: Callable[[int], None],
                      connected: Callable[[], None], abort: threading.Event) -> Transmission:
        """One call on the modem (blocking: a worker thread)."""
        port = Port(self.port)
        try:
            port.open()
            fine = pages[0].fine if pages else self.documents.settings.resolution is Resolution.FINE
            fax = Class2Fax(port, self.fclass, self.documents.settings.ident, fine=fine,
                            page_timeout=self.page_timeout, abort=abort)
            self.last_transcript = fax.transcript
            result = fax.send(number, pages, confirmed, connected)
        except (Class2Error, PortGone) as exc:
            log.warning("event=fax_modem_failed port=%s error=%s", self.port, exc)
            return Transmission(0, len(pages), FaxReason.ERROR, f"fax modem {self.port}: {exc}"[:200])
        finally:
            port.close()
        log.info("event=fax_sent sender=class2 class=%s number=%s dial=%s pages=%s/%s hangup=%s remote=%r",
                 result.fclass, number, result.dial_result, result.pages_sent, result.pages_total, result.hangup,
                 result.remote_ident)
        return transmission(result)


def transmission(result: Class2Result) -> Transmission:
    """What the queue records for a finished modem call (dial result and hang-up code -> reason)."""
    total = result.pages_total
    if result.ok:
        return Transmission(result.pages_sent, total)
    dial = result.dial_result
    if dial == "BUSY":
        return Transmission(0, total, FaxReason.BUSY, "the number was busy")
    if dial in ("NO ANSWER", "NO DIALTONE", "NO DIAL TONE"):
        return Transmission(0, total, FaxReason.NO_ANSWER, dial.lower())
    code = result.hangup
    if code is None:
        what = f"the modem answered {dial} to the dial" if dial != "OK" else "the modem ended without a hang-up code"
        return Transmission(result.pages_sent, total, FaxReason.NO_ANSWER if dial != "OK" else FaxReason.TRANSMISSION,
                            what)
    detail = hangup_text(code)
    if result.pages_sent:
        detail += f"; {result.pages_sent} of {total} pages confirmed"
    phase = hangup_phase(code) if code else Phase.PAGES
    if phase == Phase.HANDSHAKE and not result.pages_sent:
        return Transmission(0, total, FaxReason.NOT_A_FAX, detail)
    if code == 4:
        return Transmission(0, total, FaxReason.NO_ANSWER, detail)
    return Transmission(result.pages_sent, total, FaxReason.TRANSMISSION, detail)


def make_sender(settings: dict) -> Class2Sender:
    """The ``hotline.fax_senders`` entry point ``class2``."""
    return Class2Sender(settings)
