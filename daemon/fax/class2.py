"""The ``class2`` fax sender: queued faxes go out through a class 2 / 2.0 fax modem, which dials and runs T.30
itself (drivers/modem/faxclass2.py, on a worker thread). The box only hands it the pages as MH data.

Configure ``fax.sender: class2`` with ``fax.modem_port`` (a device path, a /dev/serial/by-id name or a pyserial
URL such as ``virtualmodem://conexant?name=fax0``) and ``fax.modem_class`` (``auto``, ``2`` or ``2.0``). The
document is prepared as for the software engine (TIFF-F with the header line, PDF and page images for the panel).
A page counts only when the far machine confirmed it (+FPTS/+FPS); a failure says why in the modem's hang-up
code (+FHNG/+FHS), mapped to the queue's reasons.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import threading
from typing import Callable

from hotline.drivers.modem.faxclass2 import Class2Error, Class2Fax, Class2Result, Phase, hangup_phase, hangup_text
from hotline.drivers.modem.port import Port, PortGone
from hotline.fax.documents import Resolution
from hotline.fax.t4 import T4Page, read_t4_pages
from hotline.fax.tools import DocumentError

from .engine import SpandspSender
from .jobs import FaxError, FaxReason
from .sender import FaxDocument, FaxLine, Transmission

log = logging.getLogger("hotline.fax")

__all__ = ["Class2Sender", "make_sender", "transmission"]


class Class2Sender:
    """Sends queued faxes through one class 2/2.0 fax modem; the queue runs one job at a time on it."""

    name = "class2"
    dials = True     # the queue gives it the number, not a trunk's call (sender.py: DialingSender)
    lines = 1

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

    def accepts(self, line: FaxLine) -> bool:
        """Never a trunk's call: the modem has its own line."""
        return False

    async def transmit(self, line: FaxLine, document: FaxDocument,
                       on_page: Callable[[int, int | None], None]) -> Transmission:
        """Not used: this sender dials itself (``send``)."""
        return Transmission(0, document.pages, FaxReason.ERROR, "the class2 sender dials itself", retry=False)

    async def send(self, number: str, document: FaxDocument, on_page: Callable[[int, int | None], None],
                   on_connected: Callable[[int], None]) -> Transmission:
        """Prepare the document, then dial and send on the modem's thread; ``on_connected(total)`` when a fax
        machine answered, ``on_page(sent, total)`` after each confirmed page. Cancelling hangs the modem up."""
        loop = asyncio.get_running_loop()
        try:
            tiff, total = await loop.run_in_executor(None, self.documents.prepare, document)
            pages = await loop.run_in_executor(None, read_t4_pages, tiff)
        except (DocumentError, OSError) as exc:
            return Transmission(0, document.pages, FaxReason.DOCUMENT_MISSING, f"{document.name}: {exc}", retry=False)
        abort = threading.Event()

        def confirmed(n: int) -> None:
            loop.call_soon_threadsafe(on_page, n, total)

        def connected() -> None:
            loop.call_soon_threadsafe(on_connected, total)
        work = loop.run_in_executor(None, self.send_blocking, number, pages, confirmed, connected, abort)
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            abort.set()     # the modem thread sends +FK and ATH, then ends
            await asyncio.wait({work}, timeout=15)
            raise

    def send_blocking(self, number: str, pages: list[T4Page], confirmed: Callable[[int], None],
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
