"""DLE shielding of V.253 voice streams: shield outgoing audio, split incoming bytes into audio and events.

Pure code, no I/O. Codes follow ITU-T V.253 (voice DCE) as implemented by the
modems vgetty drives (mgetty voice/libvoice/IS_101.c lists the same letters);
the Si2493 (AN93 table 112), ZyXEL Omni and Rockwell RC56 manuals agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

DLE = 0x10
ETX = 0x03
SUB = 0x1A   # DLE SUB stands for two data DLEs (DLE DLE DLE DLE) on some chipsets
CAN = 0x18   # DTE -> DCE: clear the transmit buffer
NUL = 0x00   # DTE -> DCE: no-op that refreshes the inactivity timer

DTMF_DIGITS = "0123456789*#ABCD"


class DleKind(Enum):
    """What a DLE code means (V.253 simple event reports and DTE actions)."""

    DTMF = "dtmf"                      # DLE 0-9 * # A-D (inside DLE / .. DLE ~ or plain)
    DTMF_END = "dtmf_end"              # DLE ~: the tone stopped (digit attached if known)
    ANSWER_TONE = "answer_tone"        # a: V.25/T.30 2100 Hz answer tone
    BELL_ANSWER_TONE = "bell_answer"   # f: 2225 Hz Bell answer tone
    BUSY = "busy"                      # b (K on some Rockwell parts)
    FAX_CNG = "fax_cng"                # c: T.30 fax calling tone, 1100 Hz
    DIAL_TONE = "dial_tone"            # d
    DATA_CALLING_TONE = "data_calling"  # e: V.25 data calling tone, 1300 Hz
    SILENCE = "silence"                # s: no voice energy at all for +VSD time
    QUIET = "quiet"                    # q: voice, then silence for +VSD time
    RING = "ring"                      # R
    RINGBACK = "ringback"              # r
    LOOP_BREAK = "loop_break"          # l: loop current interrupted (remote hang-up)
    POLARITY_REVERSAL = "polarity"     # L
    HANDSET_ON_HOOK = "handset_on"     # h
    HANDSET_OFF_HOOK = "handset_off"   # H
    SIT_TONE = "sit_tone"              # J
    BONG_TONE = "bong_tone"            # $
    CALL_WAITING = "call_waiting"      # w
    VOICE = "voice"                    # v / V: voice energy detected
    BUFFER_OVERRUN = "overrun"         # o
    BUFFER_UNDERRUN = "underrun"       # u
    INVALID_FORMAT = "invalid_format"  # E
    LOST_DATA = "lost_data"            # Y
    TIMING_MARK = "timing_mark"        # T
    END_OF_STREAM = "end_of_stream"    # ETX
    ABORT = "abort"                    # ! (receive abort) and ^ (some chipsets)
    CLEAR_BUFFER = "clear_buffer"      # CAN (DTE -> DCE)
    NOOP = "noop"                      # NUL (DTE -> DCE)
    UNKNOWN = "unknown"                # anything else: reported, never raised


# One meaning per code byte; several letters share a meaning on some chipsets.
CODES: dict[int, DleKind] = {
    ord("a"): DleKind.ANSWER_TONE, ord("f"): DleKind.BELL_ANSWER_TONE,
    ord("b"): DleKind.BUSY, ord("K"): DleKind.BUSY,
    ord("c"): DleKind.FAX_CNG, ord("d"): DleKind.DIAL_TONE,
    ord("e"): DleKind.DATA_CALLING_TONE,
    ord("s"): DleKind.SILENCE, ord("q"): DleKind.QUIET,
    ord("R"): DleKind.RING, ord("r"): DleKind.RINGBACK,
    ord("l"): DleKind.LOOP_BREAK, ord("L"): DleKind.POLARITY_REVERSAL,
    ord("h"): DleKind.HANDSET_ON_HOOK, ord("H"): DleKind.HANDSET_OFF_HOOK,
    ord("J"): DleKind.SIT_TONE, ord("$"): DleKind.BONG_TONE,
    ord("w"): DleKind.CALL_WAITING, ord("v"): DleKind.VOICE, ord("V"): DleKind.VOICE,
    ord("o"): DleKind.BUFFER_OVERRUN, ord("u"): DleKind.BUFFER_UNDERRUN,
    ord("E"): DleKind.INVALID_FORMAT, ord("Y"): DleKind.LOST_DATA,
    ord("T"): DleKind.TIMING_MARK,
    ETX: DleKind.END_OF_STREAM, ord("!"): DleKind.ABORT, ord("^"): DleKind.ABORT,
    CAN: DleKind.CLEAR_BUFFER, NUL: DleKind.NOOP,
}

_DTMF_START = ord("/")
_DTMF_STOP = ord("~")
_DIGIT_CODES = frozenset(DTMF_DIGITS.encode())


@dataclass(frozen=True)
class DleEvent:
    """One DLE code found in a stream: its meaning, the raw code byte and, for DTMF, the digit."""

    kind: DleKind
    code: int
    digit: str | None = None


def shield(data: bytes) -> bytes:
    """Return audio bytes with every DLE doubled, ready to send inside +VTX."""
    return data.replace(b"\x10", b"\x10\x10")


def dle(code: str | int) -> bytes:
    """Return the two bytes DLE+code for a code given as a character or a byte value."""
    value = ord(code) if isinstance(code, str) else code
    return bytes((DLE, value))


def dtmf_report(digit: str) -> bytes:
    """Return the bracketed report a V.253 modem sends for one DTMF digit: DLE / DLE d DLE ~."""
    if len(digit) != 1 or digit not in DTMF_DIGITS:
        raise ValueError(f"dtmf_report: {digit!r} is not one of {DTMF_DIGITS}")
    return dle("/") + dle(digit) + dle("~")


class DleDecoder:
    """Incremental decoder: feed() raw bytes, get audio runs (bytes) and DleEvents in stream order.

    State survives chunk boundaries (a chunk may end on a lone DLE). Inside a
    DLE / .. DLE ~ bracket the digit, which modems repeat every ~70 ms while
    the key is held, is reported once; DLE ~ reports DTMF_END with that digit.
    """

    def __init__(self) -> None:
        self._pending_dle = False
        self._in_bracket = False
        self._bracket_digit: str | None = None

    def reset(self) -> None:
        """Forget any half-read code and DTMF bracket (e.g. after the port was reopened)."""
        self._pending_dle = False
        self._in_bracket = False
        self._bracket_digit = None

    def feed(self, chunk: bytes) -> list[bytes | DleEvent]:
        """Decode one chunk; never raises on any byte sequence."""
        out: list[bytes | DleEvent] = []
        audio = bytearray()
        i = 0
        n = len(chunk)
        if self._pending_dle and n:
            self._pending_dle = False
            self._code(chunk[0], audio, out)
            i = 1
        while i < n:
            j = chunk.find(DLE, i)
            if j < 0:
                audio += chunk[i:]
                break
            audio += chunk[i:j]
            if j + 1 >= n:
                self._pending_dle = True
                break
            self._code(chunk[j + 1], audio, out)
            i = j + 2
        if audio:
            out.append(bytes(audio))
        return out

    def _code(self, code: int, audio: bytearray, out: list[bytes | DleEvent]) -> None:
        """Handle the byte after a DLE: data bytes go to audio, events end the current audio run."""
        if code == DLE:
            audio.append(DLE)
            return
        if code == SUB:
            audio += b"\x10\x10"
            return
        if code == _DTMF_START:
            self._in_bracket, self._bracket_digit = True, None
            return
        event = self._event(code)
        if event is None:
            return
        if audio:
            out.append(bytes(audio))
            audio.clear()
        out.append(event)

    def _event(self, code: int) -> DleEvent | None:
        """Map one code to an event, or None for a repeated digit inside a bracket."""
        if code in _DIGIT_CODES:
            digit = chr(code)
            if self._in_bracket:
                if self._bracket_digit is not None:
                    return None
                self._bracket_digit = digit
            return DleEvent(DleKind.DTMF, code, digit)
        if code == _DTMF_STOP:
            digit, self._in_bracket, self._bracket_digit = self._bracket_digit, False, None
            return DleEvent(DleKind.DTMF_END, code, digit)
        return DleEvent(CODES.get(code, DleKind.UNKNOWN), code)
