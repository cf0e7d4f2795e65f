"""DTMF caller ID: ``A<number>C`` / ``D<number>C`` digit strings (ETSI, China, Taiwan), their audio and detection.

Framing A (ETSI variant 1, much of China): ``A<number>[D<redirecting number>][B<code>]C``; the code
``00`` says the number is unavailable, ``10`` that it is private; ``A<number>#`` ends some lines too.
Framing D (Taiwan, Kuwait, parts of China): ``D<number>C``; ``D1#`` private, ``D2#``/``D3#``
unavailable. Digits are found with the product's DTMF detector at a lowered level floor (the line
is quiet while on hook) and grouped into a message when they follow each other closely.
"""
from __future__ import annotations

import re

import numpy as np

from .callerid import Absence, CallerId, MessageError
from .callerid_fsk import Finding
from .dtmf import FRAME, DtmfDetector, DtmfParams
from .tones import dtmf_tone

__all__ = ["FRAMINGS", "dtmf_callerid_digits", "dtmf_callerid", "parse_dtmf_callerid", "detect_dtmf_callerid",
           "dtmf_digits", "DtmfCidAssembler", "CID_DTMF_PARAMS"]

FRAMINGS = ("A", "D")
_MAX_PAUSE_MS = 400.0  # a longer silence between digits ends a message
CID_DTMF_PARAMS = DtmfParams(min_level_dbm0=-48.0)  # the line is quiet on hook: a lower floor than in calls
_A_FRAME = re.compile(r"A(?P<number>[0-9]*)(?:D(?P<redirect>[0-9]*))?(?:B(?P<code>[0-9]{2}))?[C#]")
_B_FRAME = re.compile(r"B(?P<code>[0-9]{2})C")
_D_FRAME = re.compile(r"D(?P<number>[0-9]*)[C#]")
_CODES = {"00": Absence.UNAVAILABLE, "10": Absence.PRIVATE}


def dtmf_callerid_digits(cid: CallerId, framing: str = "A") -> str:
    """The digit string that carries ``cid`` in framing A or D."""
    if framing not in FRAMINGS:
        raise MessageError(f"DTMF caller-ID framing {framing!r}: A or D expected")
    if cid.number and not cid.number.isdigit():
        raise MessageError(f"DTMF caller ID carries digits only, not {cid.number!r}")
    if framing == "A":
        if cid.number:
            return f"A{cid.number}C"
        return "B10C" if cid.number_absent is Absence.PRIVATE else "B00C"
    if cid.number:
        return f"D{cid.number}C"
    return "D1#" if cid.number_absent is Absence.PRIVATE else "D3#"


def parse_dtmf_callerid(digits: str) -> tuple[str, CallerId]:
    """(framing, caller) of one complete digit string; MessageError when it is not caller ID."""
    if m := _A_FRAME.fullmatch(digits):
        number, code = m.group("number"), m.group("code")
        if number:
            return "A", CallerId(number=number)
        if code in _CODES:
            return "A", CallerId(number_absent=_CODES[code])
    elif m := _B_FRAME.fullmatch(digits):
        if m.group("code") in _CODES:
            return "A", CallerId(number_absent=_CODES[m.group("code")])
    elif m := _D_FRAME.fullmatch(digits):
        number = m.group("number")
        if digits.endswith("#") and number in ("1", "2", "3"):
            return "D", CallerId(number_absent=Absence.PRIVATE if number == "1" else Absence.UNAVAILABLE)
        if number and digits.endswith("C"):
            return "D", CallerId(number=number)
    raise MessageError(f"{digits!r} is not a DTMF caller-ID string")


def dtmf_callerid(cid: CallerId, framing: str = "A", level_dbm0: float = -7.0, on_ms: float = 70.0,
                  off_ms: float = 70.0) -> np.ndarray:
    """The audio (int16) of a DTMF caller-ID string: each digit ``on_ms`` on, ``off_ms`` off; level per tone."""
    pause = np.zeros(int(round(off_ms * 8)), dtype=np.int16)
    parts = []
    for key in dtmf_callerid_digits(cid, framing):
        parts += [dtmf_tone(key, on_ms, level_dbm0), pause]
    return np.concatenate(parts)


def dtmf_digits(samples: np.ndarray) -> list[tuple[int, str]]:
    """(start sample, key) of every DTMF digit in the audio, by the product's detector, 20 ms at a time."""
    x = np.clip(np.rint(np.asarray(samples, dtype=np.float64)), -32768, 32767)
    frames = -(-(x.size + 1600) // FRAME)
    padded = np.zeros(frames * FRAME, dtype=np.int16)
    padded[:x.size] = x
    ticks = padded.reshape(frames, 1, FRAME)
    detector = DtmfDetector(1, params=CID_DTMF_PARAMS)
    found = []
    for tick in ticks:
        if tick.any() or detector.status()["tracking"]:
            found += [(hit.start_sample, hit.digit) for hit in detector.process(tick)]
        else:
            detector.process(tick)
    return found


class DtmfCidAssembler:
    """Turns one line's digits, as they are detected, into caller-ID messages."""

    def __init__(self) -> None:
        self._digits: list[tuple[int, str]] = []  # since the start letter

    def reset(self) -> None:
        """Forget a message in progress."""
        self._digits = []

    def push(self, sample: int, key: str) -> Finding | None:
        """One more digit (its start sample); the message it completes, if any."""
        pending = self._digits
        if pending and sample - pending[-1][0] > (_MAX_PAUSE_MS + 200) * 8:
            pending = []  # too long since the previous digit: a new attempt
        if not pending or key == "A" or (key == "D" and pending[0][1] == "D"):
            self._digits = [(sample, key)] if key in "ABD" else []  # a new message (the one before was cut short)
            return None
        pending.append((sample, key))
        self._digits = pending
        if key not in "C#":
            return None
        self._digits = []
        try:
            framing, cid = parse_dtmf_callerid("".join(d for _, d in pending))
        except MessageError:
            return None
        return Finding(pending[0][0], f"dtmf-{framing.lower()}", cid)


def detect_dtmf_callerid(samples: np.ndarray) -> list[Finding]:
    """Every complete DTMF caller-ID string in the audio."""
    assembler = DtmfCidAssembler()
    found = [assembler.push(sample, key) for sample, key in dtmf_digits(samples)]
    return [f for f in found if f is not None]
