"""What the daemon does with a line's traits: who may be bridged or queued, which DTMF source counts, de-duplication."""
from __future__ import annotations

import collections
from typing import Any

from hotline.drivers.base import AnswerSupervision, DtmfMode, Duplex, Line, LineTraits

DUPLICATE_WINDOW = 1.0  # seconds: the second report of a key (other source) within this window is the same press
HALF_DUPLEX_REASON = "half-duplex line: it can play or listen, never both, so it is never bridged or queued"


def traits(line: Line) -> LineTraits:
    """A line's traits (contract v1 lines without them count as full duplex, in-band DTMF, immediate answer)."""
    return getattr(line, "traits", None) or LineTraits()


def bridgeable(line: Line) -> bool:
    """Whether the line may be bridged to an agent or another line, or wait in a queue (full duplex only)."""
    return traits(line).duplex is Duplex.FULL


def inband_digits(line: Line) -> bool:
    """Whether digits detected in the line's audio count."""
    return traits(line).dtmf_in in (DtmfMode.INBAND, DtmfMode.BOTH)


def event_digits(line: Line) -> bool:
    """Whether DigitReceived events from the line count."""
    return traits(line).dtmf_in in (DtmfMode.EVENTS, DtmfMode.BOTH)


def confirms_answer(line: Line) -> bool:
    """Whether the line posts AnswerConfirmed after answer() (no audio may be sent before it)."""
    return traits(line).answer_supervision is AnswerSupervision.CONFIRMED


class DigitMerger:
    """One key press reported by two sources (in-band detection and out-of-band events) counts once.

    Each source keeps the keys it delivered first; a key from the other source that matches the oldest of
    them within DUPLICATE_WINDOW is the same press and is dropped. Repeated keys ("11") pair up in order.
    """

    def __init__(self) -> None:
        self.ahead: dict[str, collections.deque] = {"inband": collections.deque(), "event": collections.deque()}
        self.dropped = 0

    def accept(self, source: str, digit: str, now: float) -> bool:
        """True when the digit is new and must be delivered; False for the other source's duplicate."""
        other = self.ahead["event" if source == "inband" else "inband"]
        while other and now - other[0][1] > DUPLICATE_WINDOW:
            other.popleft()
        if other and other[0][0] == digit:
            other.popleft()
            self.dropped += 1
            return False
        mine = self.ahead[source]
        mine.append((digit, now))
        while len(mine) > 32:
            mine.popleft()
        return True


def describe(line: Any) -> dict:
    """A line's traits as plain values (panel, status)."""
    t = traits(line)
    return {"duplex": t.duplex.value, "dtmf_in": t.dtmf_in.value, "dtmf_out": t.dtmf_out.value,
            "answer_supervision": t.answer_supervision.value, "fax": t.fax.value, "caller_id_send": t.caller_id_send}
