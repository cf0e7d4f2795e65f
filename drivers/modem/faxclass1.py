"""Sending and receiving a fax through a class 1 fax modem (ITU-T T.31): Hotline runs T.30 itself (spandsp's T.30
engine through ctypes, drivers/common/spandsp_t30.py) and the modem only modulates: +FTH/+FRH carry the V.21 HDLC
frames, +FTM/+FRM the training check, the image data and the ECM frames (framed by Hotline, class1hdlc.py), +FTS
the silence between signals. Blocking: run it on a worker thread.

Class1Fax sets the modem up (class 1, the modems it offers both ways), opens T.30 for one call, runs the front
end's loop (class1fe.py) and collects the result: pages T.30 counted, its completion code and words, or why the
modem or the line failed (Failure).
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from hotline.drivers.common import spandsp, spandsp_t30

from .class1fe import CAN, Class1FrontEnd, Failure, Step, Stopped
from .class1link import DLE_ETX, Modulation, Result, modems_offered, parse_codes
from .port import Port, PortGone

if TYPE_CHECKING:
    from .faxreceive import FaxReceiveRequest, FaxReceiveResult
    from .profiles import ChipsetProfile

log = logging.getLogger("hotline.fax.class1")

__all__ = ["Class1Fax", "Class1Result", "Class1Error", "Failure"]

SUPPORT = {Modulation.V27TER: spandsp.Modems.V27TER, Modulation.V29: spandsp.Modems.V29,
           Modulation.V17: spandsp.Modems.V17}


class Class1Error(Exception):
    """The modem does not do class 1, or stopped answering during setup."""


@dataclass
class Class1Result:
    """What a call achieved: pages T.30 counted (confirmed sent, or received), T.30's completion code and words."""

    calling: bool
    pages: int = 0
    pages_total: int = 0
    code: int = -1                     # T.30 completion code (0 = OK; -1: T.30 never finished)
    reason: str = ""
    failure: Failure = Failure.NONE
    dial_result: str = ""              # the modem's answer to ATD / ATA: CONNECT, BUSY, NO CARRIER ...
    remote_ident: str = ""
    tiff: Path | None = None           # the received fax (None when no page arrived) or the sent document
    bit_rate: int = 0
    ecm: bool = False
    seconds: float = 0.0
    transcript: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when T.30 finished without error."""
        return self.code == spandsp.T30_ERR_OK and self.failure is Failure.NONE


class Class1Fax(Class1FrontEnd):
    """T.30 over a class 1 fax modem on an open Port; ``send`` or ``receive`` runs one whole call (blocking)."""

    def __init__(self, port: Port, ident: str = "", ecm: bool = True, modems: spandsp.Modems | None = None,
                 command_timeout: float = 5.0, dial_timeout: float = 60.0, answer_timeout: float = 20.0,
                 time_limit: float = 900.0, abort: threading.Event | None = None):
        if len(ident) > 20 or any(c not in "0123456789+ " for c in ident):
            raise ValueError(f"fax ident {ident!r}: up to 20 characters of digits, '+' and spaces")
        super().__init__(port, command_timeout, dial_timeout, answer_timeout, abort)
        self.ident, self.ecm, self.modems, self.time_limit = ident, ecm, modems, time_limit
        self.offered: set[Modulation] = set()

    # -- plain AT commands (before and after the call) ------------------------------------------------------
    def command(self, text: str, timeout: float | None = None) -> tuple[Result, list[str]]:
        """Send AT<text> and wait for its final result (Class1Error when none comes in time)."""
        self._write(f"AT{text}\r".encode("ascii"), "AT" + text)
        deadline = time.monotonic() + (timeout or self.command_timeout)
        lines: list[str] = []
        while time.monotonic() < deadline:
            line = self.reader.line()
            if line is None:
                self._read()
                continue
            self.transcript.append("< " + line)
            result = Result.parse(line)
            if result in (None, Result.RING) or line.upper().startswith("AT"):
                if result is None and not line.upper().startswith("AT"):
                    lines.append(line)
                continue
            return result, lines
        raise Class1Error(f"the modem gave no result to AT{text} within {timeout or self.command_timeout:g} s"
                          f" (last lines {lines[-3:]})")

    def setup(self) -> set[Modulation]:
        """Echo off, class 1, and the image modems the modem offers both ways (+FTM=? and +FRM=?)."""
        self.command("E0V1Q0")
        for cmd in ("+FCLASS=1",):
            result, _ = self.command(cmd)
            if result is not Result.OK:
                raise Class1Error(f"the modem refused AT{cmd} ({result.value}): it is not a class 1 fax modem")
        codes: list[set[int]] = []
        for cmd in ("+FTM=?", "+FRM=?"):
            result, lines = self.command(cmd)
            if result is not Result.OK:
                raise Class1Error(f"the modem refused AT{cmd} ({result.value})")
            codes.append(parse_codes(lines))
        self.offered = modems_offered(codes[0]) & modems_offered(codes[1])
        if not self.offered:
            raise Class1Error(f"the modem offers no whole fax modem (+FTM=? {sorted(codes[0])}, "
                              f"+FRM=? {sorted(codes[1])})")
        return self.offered

    # -- the call ------------------------------------------------------------------------------------------
    def send(self, number: str, tiff: Path, page_header: str | None = None,
             on_page: Callable[[int], None] | None = None,
             on_connected: Callable[[], None] | None = None) -> Class1Result:
        """Dial ``number`` and send the TIFF-F ``tiff``; ``on_connected`` once a fax machine spoke T.30,
        ``on_page(n)`` after each page the far machine confirmed."""
        if not Path(tiff).is_file():
            raise ValueError(f"{tiff}: no such document to send")
        if not number or any(c not in "0123456789*#,+WPTwpt " for c in number):
            raise ValueError(f"fax number {number!r}: digits, * # , + W P only")
        return self._call(True, Path(tiff), number, page_header, on_page, on_connected)

    def receive(self, tiff: Path, on_page: Callable[[int], None] | None = None,
                on_connected: Callable[[], None] | None = None) -> Class1Result:
        """Answer the ringing call (ATA) and receive into ``tiff`` (written only when a page arrived);
        ``on_connected`` once answered, ``on_page(n)`` after each page."""
        if not Path(tiff).parent.is_dir():
            raise ValueError(f"{Path(tiff).parent}: no such folder for the received fax")
        return self._call(False, Path(tiff), "", None, on_page, on_connected)

    def _call(self, calling: bool, tiff: Path, number: str, page_header: str | None,
              on_page: Callable[[int], None] | None, on_connected: Callable[[], None] | None) -> Class1Result:
        offered = self.setup()
        result = Class1Result(calling, transcript=self.transcript)
        self._result, self._on_page, self._on_connected = result, on_page, on_connected
        self._number = number
        part = Path(f"{tiff}.part")
        started = time.monotonic()
        lib = spandsp.library()
        self._open_t30(calling, offered)
        t30 = self._t30
        lib.t30_set_tx_ident(t30, self.ident.encode("ascii"))
        lib.t30_set_ecm_capability(t30, 1 if self.ecm else 0)
        if page_header is not None:
            lib.t30_set_tx_page_header_info(t30, page_header.encode("ascii", "replace")[:50])
        if calling:
            lib.t30_set_tx_file(t30, os.fsencode(tiff), -1, -1)
        else:
            part.unlink(missing_ok=True)
            lib.t30_set_rx_file(t30, os.fsencode(part), -1)
        try:
            self._loop(started + self.time_limit)
        except Stopped:
            self._fail(Failure.STOPPED, "stopped")
        except PortGone as exc:
            self._fail(Failure.MODEM, f"the modem's port failed: {exc}")
        except Exception as exc:    # a fault here must end this call with a reason, not leave the modem off hook
            log.exception("class 1 fax: the call failed")
            self._fail(Failure.INTERNAL, f"internal error: {exc}"[:200])
        finally:
            self._close(result, tiff, part, started)
        return result

    def _open_t30(self, calling: bool, offered: set[Modulation]) -> None:
        lib, t30lib = spandsp.library(), spandsp_t30.library()
        handlers = [spandsp_t30.SetTypeHandler(self._on_set_rx), spandsp_t30.SetTypeHandler(self._on_set_tx),
                    spandsp_t30.SendHdlcHandler(self._on_send_hdlc), spandsp.PhaseEHandler(self._on_phase_e),
                    spandsp.PhaseDHandler(self._on_phase_d), spandsp.MessageHandler(self._on_log)]
        self._callbacks += handlers
        t30 = t30lib.t30_init(None, 1 if calling else 0, handlers[0], None, handlers[1], None, handlers[2], None)
        if not t30:
            raise Class1Error("spandsp's t30_init returned NULL")
        self._t30 = t30
        logging_state = lib.t30_get_logging_state(t30)
        lib.span_log_set_message_handler(logging_state, handlers[5])
        lib.span_log_set_level(logging_state, int(spandsp.LogLevel.FLOW) | spandsp.LogLevel.SHOW_PROTOCOL)
        modems = spandsp.Modems(0)
        for m in offered:
            modems |= SUPPORT[m]
        if self.modems is not None:
            modems &= self.modems
        if not modems:
            raise Class1Error("none of the allowed fax modems is offered by this modem")
        lib.t30_set_supported_modems(t30, int(modems))
        lib.t30_set_phase_e_handler(t30, handlers[3], None)
        lib.t30_set_phase_d_handler(t30, handlers[4], None)

    def _close(self, result: Class1Result, tiff: Path, part: Path, started: float) -> None:
        """Hang up if still off hook, collect T.30's figures, free it, keep the received TIFF if a page came."""
        self._finished = True
        if self._line_used:
            self._hang_up()
        for codec in (self._encoder, self._decoder):
            if codec is not None:
                codec.close()
        self._encoder = self._decoder = None
        lib = spandsp.library()
        stats = spandsp.T30Stats()
        if self._t30 is not None:
            if self._code is None:
                lib.t30_terminate(self._t30)
            lib.t30_get_transfer_statistics(self._t30, ctypes.byref(stats))
            raw = lib.t30_get_rx_ident(self._t30)
            result.remote_ident = raw.decode("ascii", "replace").strip() if raw else ""
            spandsp_t30.library().t30_free(self._t30)
            self._t30 = None
        result.pages = stats.pages_tx if result.calling else stats.pages_rx
        result.pages_total = stats.pages_in_file if result.calling else result.pages
        result.bit_rate = stats.bit_rate if result.pages else 0
        result.ecm = bool(stats.error_correcting_mode)
        result.seconds = time.monotonic() - started
        result.log = list(self._log)
        if self._code is not None:
            result.code = self._code
            if self._code != spandsp.T30_ERR_OK and result.failure is Failure.NONE:
                result.failure = Failure.NOT_A_FAX if not self._heard_far else Failure.PROTOCOL
                result.reason = spandsp.completion_text(self._code)
        if not result.reason:
            result.reason = spandsp.completion_text(self._code) if self._code is not None else "no T.30 result"
        if result.calling:
            result.tiff = tiff
        elif result.pages > 0 and part.exists():
            os.replace(part, tiff)
            result.tiff = tiff
        else:
            part.unlink(missing_ok=True)
        log.info("event=modem_t30_done calling=%s pages=%s code=%s failure=%s reason=%r remote=%r",
                 result.calling, result.pages, result.code, result.failure.value, result.reason, result.remote_ident)

    def _hang_up(self) -> None:
        """ATH0 (a receive still running is stopped first); never raises."""
        self._offhook = False
        try:
            if self._step in (Step.HDLC_RX, Step.DATA_RX, Step.DIAL, Step.ANSWER) and self._sub != "result":
                self._write(CAN, "<CAN>")       # stops a receive or a dial still waiting
                time.sleep(0.1)
            elif self._step in (Step.HDLC_TX, Step.DATA_TX) or self._tx_code is not None:
                self._write(DLE_ETX, "<DLE ETX>")   # ends a transmission the modem may still wait on
                time.sleep(0.1)
            self.reader.clear()
            self.command("H0", 5.0)
        except (Class1Error, PortGone, Stopped):
            pass


def _receive_on_line(port: Port, fclass: str, req: FaxReceiveRequest, profile: ChipsetProfile) -> FaxReceiveResult:
    """A modem line's fax receive in class 1 (the faxreceive registry's function): ATA as fax on the ringing call,
    or on a voice call already off hook after DLE c; the result in the registry's terms."""
    from .faxreceive import FaxReceiveResult
    out = FaxReceiveResult(fclass)

    def connected() -> None:
        out.connected = True
        if req.on_connected is not None:
            req.on_connected()
    try:
        fax = Class1Fax(port, req.ident, abort=req.abort, time_limit=max(60.0, req.page_timeout * 5))
        r = fax.receive(req.tiff, on_page=req.on_page, on_connected=connected)
    except (Class1Error, ValueError) as exc:      # no class 1 after all, or the modem went quiet in setup
        out.reason = f"fax modem: {exc}"[:200]
        return out
    out.transcript, out.remote_ident = r.transcript, r.remote_ident
    out.connected = out.connected or (r.failure is not Failure.NOT_A_FAX and r.code != -1)
    if r.pages > 0 and r.tiff is not None:
        out.pages, out.tiff = r.pages, r.tiff
    if not r.ok:      # hangup stays None: it holds class 2's +FHNG codes; T.30's words are in the reason
        out.reason = (r.reason or "the class 1 call failed")[:200]
    elif not r.pages:
        out.reason = "the call ended before a page came"
    return out


def _register() -> None:
    from .faxreceive import register_receiver
    register_receiver("1", _receive_on_line)
    register_receiver("1.0", _receive_on_line)


_register()
