"""The bytes of a class 1 fax modem (ITU-T T.31): result lines, DLE-stuffed HDLC frames and image data, and the
+FTM/+FRM modulation codes. Pure code, no I/O: drivers/modem/faxclass1.py feeds it what the port read.

In command state the modem sends CR LF-framed result lines; after CONNECT to +FRH it sends one HDLC frame
(address, control, information, then the two FCS octets, which the DTE drops) and DLE ETX, then OK (good FCS) or
ERROR; after CONNECT to +FRM it streams image data until DLE ETX and NO CARRIER. Data the other way is stuffed the
same way (DLE doubled, DLE ETX at the end); for +FTH the modem adds the FCS itself.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from .dle import shield

__all__ = ["DLE", "ETX", "SUB", "DLE_ETX", "Result", "ModemReader", "stuff_frame", "modulation_code",
           "modems_offered", "Modulation", "parse_codes", "DataChunk", "is_final"]

DLE, ETX, SUB = 0x10, 0x03, 0x1A
DLE_ETX = bytes((DLE, ETX))
FINAL_BIT = 0x10        # the P/F bit of the HDLC control octet: the last frame of a command or response
MAX_LINE = 256          # a result line longer than this is garbage


class Result(enum.Enum):
    """Final result codes (and the few information lines) a class 1 modem sends."""

    OK = "OK"
    CONNECT = "CONNECT"
    ERROR = "ERROR"
    NO_CARRIER = "NO CARRIER"
    BUSY = "BUSY"
    NO_DIALTONE = "NO DIALTONE"
    NO_ANSWER = "NO ANSWER"
    FCERROR = "+FCERROR"       # +FRM saw V.21 instead of the high-speed carrier
    RING = "RING"
    FRH3 = "+FRH:3"            # +FAR=1: a V.21 frame arrived while waiting for +FRM

    @classmethod
    def parse(cls, line: str) -> "Result | None":
        """The result code a line is, or None for anything else (echo, information, garbage)."""
        text = line.strip().upper()
        if text == "NO DIAL TONE":
            return cls.NO_DIALTONE
        for r in cls:
            if text == r.value:
                return r
        return None


class Modulation(enum.Enum):
    """The image modems T.30 can ask for, with their +FTM/+FRM codes: (long train, short train) per bit rate."""

    V27TER = {2400: (24, 24), 4800: (48, 48)}
    V29 = {7200: (72, 72), 9600: (96, 96)}
    V17 = {7200: (73, 74), 9600: (97, 98), 12000: (121, 122), 14400: (145, 146)}


def modulation_code(modulation: Modulation, bit_rate: int, short_train: bool) -> int:
    """The +FTM/+FRM/+FTH/+FRH code for a modem at a bit rate (ValueError for a pair T.31 does not have)."""
    try:
        long_code, short_code = modulation.value[bit_rate]
    except KeyError:
        raise ValueError(f"{modulation.name} has no {bit_rate} bit/s mode") from None
    return short_code if short_train else long_code


def parse_codes(lines: list[str]) -> set[int]:
    """The codes in a +FTM=? / +FRM=? answer ("24,48,72,73,74,96,97,98,121,122,145,146", maybe in brackets)."""
    codes: set[int] = set()
    for line in lines:
        for part in line.replace("(", ",").replace(")", ",").replace("-", ",").split(","):
            part = part.strip()
            if part.isdigit():
                codes.add(int(part))
    return codes


def modems_offered(codes: set[int]) -> set[Modulation]:
    """The image modems a modem offers in both directions, from its +FTM/+FRM codes (all of a modem's rates)."""
    return {m for m in Modulation if all(long_code in codes for long_code, _ in m.value.values())}


def stuff_frame(frame: bytes) -> bytes:
    """One HDLC frame (address, control, information; no FCS) as the DTE sends it after +FTH's CONNECT."""
    return shield(frame) + DLE_ETX


@dataclass
class DataChunk:
    """Unstuffed bytes taken from a DLE-stuffed stream, and whether DLE ETX ended it."""

    data: bytes
    ended: bool


class ModemReader:
    """What the modem sent, read either as text lines (command state) or as a DLE-stuffed stream (after CONNECT to
    a receive): feed() bytes as they come, then take lines or data; nothing is lost between the two."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skip_lf = False     # a line ended in CR: an LF right after it belongs to that line
        self.garbage = 0          # bytes thrown away as unreadable lines

    def feed(self, data: bytes) -> None:
        """Add bytes read from the port."""
        self._buf += data

    def __len__(self) -> int:
        return len(self._buf)

    def clear(self) -> None:
        """Forget everything not read yet."""
        self._buf.clear()
        self._skip_lf = False

    def line(self) -> str | None:
        """The next non-empty text line (CR, LF or CR LF ended), or None until a whole one has arrived. XON/XOFF
        and other control bytes around it are dropped; an over-long run without an end is dropped as garbage."""
        while True:
            if self._skip_lf and self._buf:
                if self._buf[:1] == b"\n":
                    del self._buf[:1]
                self._skip_lf = False
            ends = [k for k in (self._buf.find(b"\r"), self._buf.find(b"\n")) if k >= 0]
            if not ends:
                if len(self._buf) > MAX_LINE:
                    self.garbage += len(self._buf)
                    self._buf.clear()
                return None
            k = min(ends)
            raw = bytes(self._buf[:k])
            self._skip_lf = self._buf[k] == 0x0D
            del self._buf[:k + 1]
            text = "".join(chr(b) for b in raw if 0x20 <= b < 0x7F).strip()
            if text:
                return text

    def data(self) -> DataChunk:
        """Unstuffed stream bytes available now, up to and including the end (DLE ETX; the bytes after it stay for
        line()). DLE DLE is one DLE, DLE SUB two; any other DLE pair is dropped; a lone DLE at the end waits."""
        if self._skip_lf and self._buf:      # the LF of CONNECT's CR LF may come in the next read
            if self._buf[:1] == b"\n":
                del self._buf[:1]
            self._skip_lf = False
        out = bytearray()
        buf = self._buf
        i, n = 0, len(buf)
        while i < n:
            k = buf.find(DLE, i)
            if k < 0:
                out += buf[i:]
                i = n
                break
            out += buf[i:k]
            if k + 1 >= n:
                i = k          # the code byte has not arrived yet
                break
            code = buf[k + 1]
            i = k + 2
            if code == ETX:
                del buf[:i]
                return DataChunk(bytes(out), True)
            if code == DLE:
                out.append(DLE)
            elif code == SUB:
                out += bytes((DLE, DLE))
        del buf[:i]
        return DataChunk(bytes(out), False)


def is_final(frame: bytes) -> bool:
    """True when an HDLC frame's control octet has the final bit (the last frame of a T.30 command/response)."""
    return len(frame) >= 2 and bool(frame[1] & FINAL_BIT)
