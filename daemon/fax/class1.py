"""The ``class1`` fax sender, and receiving on a class 1 fax modem line: the box runs T.30 itself (spandsp's T.30
engine) and the modem only modulates (drivers/modem/faxclass1.py, on a worker thread).

Configure ``fax.sender: class1`` with ``fax.modem_port`` (a device path, a /dev/serial/by-id name or a pyserial
URL); ``fax.ecm``, ``fax.ident``, ``fax.dial_timeout`` and ``fax.transmit_timeout`` apply as for the software engine.
The document is prepared as for the software engine (TIFF-F with the header line, PDF and page images for the
panel). A page counts only when the far machine confirmed it (T.30's MCF); a failure says why in T.30's words or
the modem's (BUSY, NO CARRIER, no fax machine), mapped to the queue's reasons.

``receive_blocking`` answers a ringing class 1 port (ATA) and takes the fax into a TIFF, ``fax_result`` turns the
outcome into the software engine's FaxResult; a modem line of the daemon receives through drivers/modem/faxreceive.py.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

import serial

from hotline.drivers.modem.faxclass1 import Class1Error, Class1Fax, Class1Result, Failure
from hotline.drivers.modem.port import Port, PortGone, is_url
from hotline.fax.session import FaxDirection, FaxOutcome, FaxResult

from .engine import SpandspSender
from .jobs import FaxError, FaxReason
from .modemsender import ModemSender
from .sender import FaxDocument, Transmission

log = logging.getLogger("hotline.fax")

__all__ = ["Class1Sender", "make_sender", "transmission", "receive_blocking", "fax_result", "open_port"]


def _hardware_flow(url: str, **kwargs):
    """pyserial's opener with RTS/CTS on device nodes: class 1 image data must wait while the modem's buffer is
    full (a pty ignores it; a URL port has its own pacing)."""
    return serial.serial_for_url(url, rtscts=not is_url(url), **kwargs)


def open_port(port: str) -> Port:
    """The modem's port, opened with hardware flow control (PortGone when it cannot be opened)."""
    p = Port(port, opener=_hardware_flow)
    p.open()
    return p


class Class1Sender(ModemSender):
    """Sends queued faxes through one class 1 fax modem; the queue runs one job at a time on it."""

    name = "class1"

    def __init__(self, settings: dict):
        self.port = str(settings.get("modem_port") or "")
        self.documents = SpandspSender(settings)     # document preparation only (header, TIFF-F, PDF, PNG)
        self.ecm = bool(settings.get("ecm", True))
        self.ident = str(settings.get("ident") or "")
        self.dial_timeout = float(settings.get("dial_timeout", 60.0))
        self.time_limit = float(settings.get("transmit_timeout", 900.0))
        if len(self.ident) > 20 or any(c not in "0123456789+ " for c in self.ident):
            raise FaxError(f"fax settings: ident {self.ident!r}: up to 20 digits, '+' and spaces")
        self.last_transcript: list[str] = []    # the last call's AT dialogue (for the log and tests)
        self.last_result: Class1Result | None = None

    def unavailable(self) -> str | None:
        """Why nothing can be sent (no modem configured, no libspandsp, no ghostscript), or None."""
        if not self.port:
            return "no fax engine: fax.modem_port (the class 1 fax modem) is not set"
        return self.documents.unavailable()      # T.30 and the documents need what the software engine needs

    def load(self, document: FaxDocument) -> tuple[Path, int]:
        """The document prepared: TIFF-F with the header line (and PDF, page images for the panel)."""
        return self.documents.prepare(document)

    def send_blocking(self, number: str, tiff: Path, total: int, confirmed: Callable[[int], None],
                      connected: Callable[[], None], abort: threading.Event) -> Transmission:
        """One call on the modem (blocking: a worker thread)."""
        port: Port | None = None
        try:
            port = open_port(self.port)
            fax = Class1Fax(port, self.ident, ecm=self.ecm, dial_timeout=self.dial_timeout,
                            time_limit=self.time_limit, abort=abort)
            self.last_transcript = fax.transcript
            result = fax.send(number, tiff, on_page=confirmed, on_connected=connected)
        except (Class1Error, PortGone) as exc:
            log.warning("event=fax_modem_failed port=%s error=%s", self.port, exc)
            return Transmission(0, total, FaxReason.ERROR, f"fax modem {self.port}: {exc}"[:200])
        finally:
            if port is not None:
                port.close()
        self.last_result = result
        log.info("event=fax_sent sender=class1 number=%s dial=%s pages=%s/%s code=%s reason=%r remote=%r",
                 number, result.dial_result, result.pages, total, result.code, result.reason, result.remote_ident)
        return transmission(result, total)


def transmission(result: Class1Result, total: int) -> Transmission:
    """What the queue records for a finished class 1 call (the failure kind and T.30's words -> reason)."""
    if result.ok and result.pages == total:
        return Transmission(result.pages, total)
    detail = result.reason
    if result.pages:
        detail += f"; {result.pages} of {total} pages confirmed"
    if result.failure is Failure.DIAL:
        if result.dial_result == "BUSY":
            return Transmission(0, total, FaxReason.BUSY, "the number was busy")
        return Transmission(0, total, FaxReason.NO_ANSWER, detail)
    if result.failure is Failure.NOT_A_FAX and not result.pages:
        return Transmission(0, total, FaxReason.NOT_A_FAX, detail)
    if result.failure in (Failure.MODEM, Failure.INTERNAL):
        return Transmission(result.pages, total, FaxReason.ERROR, f"fax modem: {detail}"[:200])
    return Transmission(result.pages, total, FaxReason.TRANSMISSION, detail)


def make_sender(settings: dict) -> Class1Sender:
    """The ``hotline.fax_senders`` entry point ``class1``."""
    return Class1Sender(settings)


def receive_blocking(port: str | Port, tiff: Path, settings: dict | None = None,
                     on_page: Callable[[int], None] | None = None, on_connected: Callable[[], None] | None = None,
                     abort: threading.Event | None = None) -> Class1Result:
    """Answer the ringing class 1 line on ``port`` and receive into ``tiff`` (blocking: a worker thread). ``port``
    is a port name (opened and closed here) or a Port the caller already holds open (a modem line's driver).
    The result has the pages, the TIFF (None when no page came), the far machine's ident and, when it failed,
    the reason."""
    s = settings or {}
    opened: Port | None = None
    name = port.name if isinstance(port, Port) else port
    try:
        if isinstance(port, Port):
            use = port
        else:
            use = opened = open_port(port)
        fax = Class1Fax(use, str(s.get("ident") or ""), ecm=bool(s.get("ecm", True)),
                        time_limit=float(s.get("transmit_timeout", 900.0)), abort=abort)
        return fax.receive(Path(tiff), on_page=on_page, on_connected=on_connected)
    except (Class1Error, PortGone) as exc:
        log.warning("event=fax_modem_failed port=%s error=%s", name, exc)
        return Class1Result(False, failure=Failure.MODEM, reason=f"fax modem {name}: {exc}"[:200])
    finally:
        if opened is not None:
            opened.close()


def fax_result(result: Class1Result) -> FaxResult:
    """The software engine's FaxResult for a class 1 call (what the inbox and the queue's records take)."""
    if result.ok:
        outcome = FaxOutcome.SUCCESS
    elif result.failure is Failure.TIMEOUT:
        outcome = FaxOutcome.TIMED_OUT
    elif result.failure is Failure.STOPPED:
        outcome = FaxOutcome.CANCELLED
    else:
        outcome = FaxOutcome.FAILED
    return FaxResult(outcome=outcome, direction=FaxDirection.SEND if result.calling else FaxDirection.RECEIVE,
                     pages=result.pages, bit_rate=result.bit_rate, ecm=result.ecm, remote_ident=result.remote_ident,
                     reason=result.reason, code=result.code, tiff=result.tiff, seconds=result.seconds,
                     cpu_seconds=0.0, log=result.log)
