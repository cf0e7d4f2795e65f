"""Sending and receiving a fax through a class 2 or 2.0 fax modem (the modem runs T.30): dial, +FDT each page as
DLE-shielded MH data, +FET / DLE ppm, and read the modem's +FPTS/+FPS and +FHNG/+FHS; or answer (ATA in the fax
class, also on a call already off hook in voice) and take each page with +FDR. Blocking: run it in a thread.

Speaks to the modem through drivers/modem/port.Port (any device path or pyserial URL, the emulator's
``virtualmodem://`` included). Hang-up codes are the same numbers in both classes (decimal in class 2, hex in 2.0)."""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from hotline.drivers.modem import dle
from hotline.drivers.modem.port import Port, PortGone
from hotline.drivers.common.t4 import T4Page, reverse

__all__ = ["Class2Fax", "Class2Result", "Class2Error", "HANGUP_TEXT", "hangup_text", "Phase", "hangup_phase"]

FINALS = ("OK", "CONNECT", "ERROR", "NO CARRIER", "BUSY", "NO DIALTONE", "NO DIAL TONE", "NO ANSWER")
DLE_ETX = bytes((0x10, 0x03))
PPM_2_0 = {0: b"\x10,", 1: b"\x10;", 2: b"\x10."}
XON = 0x11
DC2 = 0x12
WIDTHS = (1728, 2048, 2432, 1216, 864)   # +FDCS WD values

# EIA/TIA-592 (class 2) and T.32 (class 2.0) hang-up status codes
HANGUP_TEXT = {
    0: "normal end of call", 1: "ring detected without a successful handshake", 2: "call aborted (+FK or CAN)",
    3: "no loop current", 4: "ringback detected, no answer", 5: "ringback detected, answer without CED",
    10: "unspecified phase A error", 11: "no answer: no fax machine (T.30 T1 timeout)",
    20: "unspecified transmit phase B error", 21: "the remote cannot receive or send",
    22: "COMREC error in transmit phase B", 23: "COMREC invalid command received", 24: "RSPREC error",
    25: "DCS sent three times without response", 26: "DIS/DTC received three times: DCS not recognised",
    27: "failure to train at 2,400 bit/s or +FMINSP", 28: "RSPREC invalid response received",
    40: "unspecified transmit phase C error", 43: "send fax data underflow",
    50: "unspecified transmit phase D error", 51: "RSPREC error", 52: "no response to MPS repeated three times",
    53: "invalid response to MPS", 54: "no response to EOP repeated three times", 55: "invalid response to EOP",
    56: "no response to EOM repeated three times", 57: "invalid response to EOM",
    58: "unable to continue after PIN or PIP",
    70: "unspecified receive phase B error", 71: "RSPREC error", 72: "COMREC error",
    73: "T.30 T2 timeout, expected page not received", 74: "T.30 T1 timeout after EOM received",
    90: "unspecified receive phase C error", 91: "missing EOL after 5 seconds", 92: "bad CRC or frame (ECM)",
    93: "DTE to DCE data underflow", 100: "unspecified receive phase D error", 101: "RSPREC invalid response",
    102: "COMREC invalid response", 103: "unable to continue after PIN or PIP",
}


class Phase:
    """Where a hang-up code says the call stopped (the code's tens)."""

    CALL = "call"            # 1-5: the line, before T.30
    HANDSHAKE = "handshake"  # 10-11: phase A, no fax machine
    NEGOTIATION = "negotiation"   # 20-28, 70-74: phase B
    PAGES = "pages"          # 40-58, 90-103: phases C and D


def hangup_text(code: int) -> str:
    """The meaning of a hang-up status code (with the code)."""
    return f"+FHNG:{code} {HANGUP_TEXT.get(code, 'unknown hang-up code')}"


def hangup_phase(code: int) -> str:
    """Phase of a non-zero hang-up code."""
    if code < 10:
        return Phase.CALL
    if code < 20:
        return Phase.HANDSHAKE
    if code < 40 or 70 <= code < 90:
        return Phase.NEGOTIATION
    return Phase.PAGES


class Class2Error(Exception):
    """The modem does not do class 2/2.0, or stopped answering."""


@dataclass
class Class2Result:
    """What a send achieved: pages the far machine confirmed, the hang-up code, and the dial result."""

    fclass: str
    pages_sent: int = 0
    pages_total: int = 0
    hangup: int | None = None        # +FHNG/+FHS code (None: the modem reported none)
    dial_result: str = ""            # OK, BUSY, NO CARRIER, NO DIALTONE, NO ANSWER, ERROR
    remote_ident: str = ""
    transcript: list[str] = field(default_factory=list)
    received: list[T4Page] = field(default_factory=list)   # pages taken in a receive, in order

    @property
    def ok(self) -> bool:
        """Every page was confirmed and the call ended normally."""
        return self.pages_total > 0 and self.pages_sent == self.pages_total and self.hangup in (0, None)


class Class2Fax:
    """One class 2/2.0 fax modem on an open Port; ``send`` runs a whole call (blocking)."""

    def __init__(self, port: Port, fclass: str = "auto", ident: str = "", fine: bool = True,
                 command_timeout: float = 5.0, page_timeout: float = 120.0, dial_timeout: float = 90.0,
                 abort: threading.Event | None = None):
        if fclass not in ("auto", "2", "2.0"):
            raise ValueError(f"fax modem class {fclass!r}: use auto, 2 or 2.0")
        self.port, self.fclass, self.ident, self.fine = port, fclass, ident, fine
        self.command_timeout, self.page_timeout, self.dial_timeout = command_timeout, page_timeout, dial_timeout
        self.abort = abort or threading.Event()
        self._buf = bytearray()
        self.transcript: list[str] = []

    # -- lines and commands ----------------------------------------------------------------------------
    def _fill(self, deadline: float) -> bool:
        if self.abort.is_set():
            raise Class2Error("stopped")
        if time.monotonic() > deadline:
            return False
        self._buf += self.port.read()
        return True

    def _line(self, deadline: float) -> str | None:
        while True:
            i = self._buf.find(b"\n")
            j = self._buf.find(b"\r")
            k = min(x for x in (i, j) if x >= 0) if i >= 0 or j >= 0 else -1
            if k >= 0:
                text = self._buf[:k].decode("latin-1").strip().strip("\x11\x13")
                crlf = k == j and self._buf[k + 1:k + 2] == b"\n"   # CR LF ends one line (page data may follow)
                del self._buf[:k + 2 if crlf else k + 1]
                if text:
                    self.transcript.append("< " + text)
                    return text
                continue
            if not self._fill(deadline):
                return None

    def command(self, text: str, timeout: float | None = None) -> tuple[str, list[str]]:
        """Send AT<text>; return (final result, information lines). Class2Error when no final result comes."""
        self.transcript.append("> AT" + text)
        self.port.write(f"AT{text}\r".encode("ascii"))
        return self.responses(timeout or self.command_timeout, text)

    def responses(self, timeout: float, what: str = "data") -> tuple[str, list[str]]:
        """Read lines until a final result code."""
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        while True:
            line = self._line(deadline)
            if line is None:
                raise Class2Error(f"the modem gave no final result to {what} within {timeout:g} s "
                                  f"(got {lines[-5:]})")
            if line.upper().startswith("AT") or line == "RING":
                continue
            if line.upper() in FINALS:
                return line.upper(), lines
            lines.append(line)

    def _wait_byte(self, byte: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            k = self._buf.find(bytes((byte,)))
            if k >= 0:
                del self._buf[:k + 1]
                return True
            if not self._fill(deadline):
                return False

    # -- the call --------------------------------------------------------------------------------------
    def setup(self) -> str:
        """Echo off, pick and set the class, bit order, ident and capabilities; returns the class used."""
        self.command("E0V1Q0")
        final, lines = self.command("+FCLASS=?")
        offered = {c.strip() for line in lines for c in line.replace("(", "").replace(")", "").split(",")}
        want = self.fclass if self.fclass != "auto" else ("2.0" if "2.0" in offered else "2")
        if final != "OK" or want not in offered:
            raise Class2Error(f"the modem offers fax classes {sorted(offered)} (AT+FCLASS=?), not class {want}")
        self.fclass = want
        c20 = want == "2.0"
        for cmd in (f"+FCLASS={want}", "+FCR=1", "+FBO=0" if c20 else "+FBOR=0",
                    f'{"+FLI" if c20 else "+FLID"}="{self.ident}"',
                    f'{"+FCC" if c20 else "+FDCC"}={1 if self.fine else 0},5,0,2,0,0,0,0'):
            final, _ = self.command(cmd)
            if final != "OK":
                raise Class2Error(f"the modem refused AT{cmd} ({final})")
        return want

    def send(self, number: str, pages: list[T4Page], on_page: Callable[[int], None] | None = None,
             on_connected: Callable[[], None] | None = None) -> Class2Result:
        """Dial `number` and send the pages; the far machine's confirmations counted page by page
        (``on_connected`` when a fax machine answered, ``on_page(n)`` after each confirmed page)."""
        if not pages:
            raise ValueError("no pages to send")
        fclass = self.setup()
        c20 = fclass == "2.0"
        result = Class2Result(fclass, pages_total=len(pages), transcript=self.transcript)
        try:
            final, lines = self.command(f"DT{number}", self.dial_timeout)
            result.dial_result = final
            self._note(result, lines)
            if final != "OK" or result.hangup is not None:
                return result
            if on_connected is not None:
                on_connected()
            for n, page in enumerate(pages, 1):
                last = n == len(pages)
                final, lines = self.command("+FDT", self.page_timeout)
                self._note(result, lines)
                if final != "CONNECT":
                    return result
                if not c20 and not self._wait_byte(XON, 5.0):
                    raise Class2Error("no XON from the modem after +FDT's CONNECT")
                data = dle.shield(page.data)
                for i in range(0, len(data), 4096):
                    self.port.write(data[i:i + 4096])
                if c20:
                    self.port.write(PPM_2_0[2 if last else 0])
                    final, lines = self.responses(self.page_timeout, "the end of page")
                else:
                    self.port.write(DLE_ETX)
                    final, lines = self.responses(self.page_timeout, "the end of page")
                    if final == "OK":
                        final, lines2 = self.command(f"+FET={2 if last else 0}", self.page_timeout)
                        lines += lines2
                status = self._note(result, lines)
                if status == 1:
                    result.pages_sent = n
                    if on_page is not None:
                        on_page(n)
                if status != 1 or result.hangup is not None:
                    return result
            return result
        finally:
            self.hang_up(result)

    def receive(self, rx_msb: bool = False, on_page: Callable[[int], None] | None = None,
                on_connected: Callable[[], None] | None = None) -> Class2Result:
        """Answer the call as fax (ATA in the fax class: a ringing call, or one already off hook in voice) and take
        pages with +FDR until the far machine ends (EOP, +FHNG:0) or the call fails; ``result.received`` holds
        the pages (MH data in wire order). ``rx_msb``: the modem sends class 2 page data MSB first whatever +FBOR
        says (profiles.Quirk.CLASS2_RX_MSB)."""
        fclass = self.setup()
        c20 = fclass == "2.0"
        flip = rx_msb and not c20
        result = Class2Result(fclass, transcript=self.transcript)
        session = [1, 5, 0, 2, 0, 0, 0, 0]
        try:
            final, lines = self.command("A", self.dial_timeout)
            result.dial_result = final
            self._note(result, lines)
            self._session(lines, session)
            if final != "OK" or result.hangup is not None:
                return result
            if on_connected is not None:
                on_connected()
            while result.hangup is None:
                final, lines = self.command("+FDR", self.page_timeout)
                self._note(result, lines)
                self._session(lines, session)
                if final != "CONNECT":
                    return result
                self.port.write(bytes((DC2,)))
                data = self._page_data(time.monotonic() + self.page_timeout)
                final, lines = self.responses(self.page_timeout, "the end of the received page")
                status = self._note(result, lines)
                page = T4Page(reverse(data) if flip else data, WIDTHS[session[2]] if session[2] < len(WIDTHS)
                              else 1728, session[0] >= 1)
                if status in (1, None) and page.rows > 0:
                    result.received.append(page)
                    result.pages_sent = result.pages_total = len(result.received)
                    if on_page is not None:
                        on_page(len(result.received))
                self.command(f"{'+FPS' if c20 else '+FPTS'}={1 if status in (1, None) else 2}")
            return result
        finally:
            self.hang_up(result)

    @staticmethod
    def _session(lines: list[str], session: list[int]) -> None:
        """Take the negotiated session parameters (+FDCS / +FCS: VR,BR,WD,...) out of information lines."""
        for line in lines:
            m = re.match(r"\+F(?:DCS|CS):\s*([\d,\s]+)", line)
            if m:
                for i, v in enumerate(p.strip() for p in m.group(1).split(",")[:8]):
                    if v.isdigit():
                        session[i] = int(v)

    def _page_data(self, deadline: float) -> bytes:
        """One page's data after +FDR's CONNECT: DLE-shielded up to DLE ETX, returned unshielded."""
        out = bytearray()
        while not self._buf and self._fill(deadline):
            pass
        if self._buf[:1] == b"\n":    # the LF of CONNECT's CR LF, split from its CR (page data opens with EOL)
            del self._buf[:1]
        i = 0
        while True:
            while i < len(self._buf):
                b = self._buf[i]
                if b != dle.DLE:
                    out.append(b)
                    i += 1
                    continue
                if i + 1 >= len(self._buf):
                    break
                code = self._buf[i + 1]
                i += 2
                if code == dle.DLE:
                    out.append(dle.DLE)
                elif code == 0x1A:       # DLE SUB: two DLEs (class 2.0)
                    out += bytes((dle.DLE, dle.DLE))
                elif code == 0x03:       # DLE ETX: the end of the page
                    del self._buf[:i]
                    return bytes(out)
            del self._buf[:i]
            i = 0
            if not self._fill(deadline):
                raise Class2Error(f"the page's data did not end (no DLE ETX) within {self.page_timeout:g} s")

    def _note(self, result: Class2Result, lines: list[str]) -> int | None:
        """Take the remote ident, hang-up code and page status out of information lines; returns the page status."""
        status = None
        for line in lines:
            m = re.match(r"\+F(?:CSI|CI|TSI|TI):\s*\"?([^\"]*)\"?", line)
            if m:
                result.remote_ident = m.group(1).strip()
            m = re.match(r"\+FHNG:\s*(\d+)", line)
            if m:
                result.hangup = int(m.group(1))
            m = re.match(r"\+FHS:\s*([0-9A-Fa-f]+)", line)
            if m:
                result.hangup = int(m.group(1), 16)
            m = re.match(r"\+FP(?:T)?S:\s*(\d+)", line)
            if m:
                status = int(m.group(1))
        return status

    def hang_up(self, result: Class2Result) -> None:
        """End the call: +FK/+FKS when the modem has not hung up itself, then ATH (never raises)."""
        self.abort = threading.Event()    # a stopped send still hangs up
        try:
            if result.hangup is None and result.dial_result == "OK":
                self.command("+FKS" if self.fclass == "2.0" else "+FK", 10.0)
            self.command("H0")
        except (Class2Error, PortGone):
            pass
