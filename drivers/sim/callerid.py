"""The simulated exchange's caller ID as real audio (``callerid_audio: true``): each incoming call sends its caller's
number and name as FSK or DTMF before it rings, and the card's caller-ID receiver, the same one analog ports run,
decodes it; ``Ringing`` carries what the receiver found, so a test sees exactly what a real line would give."""
from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from hotline.drivers.base import FRAME_SAMPLES
from hotline.drivers.common.callerid import Absence, CallerId, MessageError
from hotline.drivers.common.callerid_audio import CidStandard, generate_callerid
from hotline.drivers.common.callerid_receiver import CallerIdReceiver

__all__ = ["SimCallerId", "callerid_audio"]

_SLOTS = 16  # calls whose caller ID is on the line at the same time (more wait for a slot)
_GIVE_UP_FRAMES = 25  # 0.5 s after the audio without a message: the line sent none the box could read
_LEAD_FRAMES = 5  # 100 ms of quiet line before the message


def callerid_audio(number: str, name: str, standard: CidStandard) -> np.ndarray:
    """The caller-ID audio of one call (no number: "unavailable"); ValueError names what the standard cannot carry."""
    dtmf = standard in (CidStandard.DTMF_A, CidStandard.DTMF_D)
    try:
        cid = CallerId(number=number, name="" if dtmf else name, number_absent=None if number else Absence.UNAVAILABLE)
        return generate_callerid(cid, standard)
    except MessageError as exc:
        raise ValueError(f"caller {number!r} / {name!r} cannot be sent as {standard.value} caller ID: {exc}") from None


@dataclass
class _Sending:
    line: Any  # the SimLine
    session: int
    dialed: str
    audio: np.ndarray
    pos: int = 0


class SimCallerId:
    """Sends each ringing call's caller-ID audio, 20 ms per tick, through one vectorised caller-ID receiver."""

    def __init__(self, decoded: Callable[[Any, int, str, CallerId | None], None], standard: CidStandard) -> None:
        self._decoded = decoded  # (line, session, dialed, caller or None): the card rings the box if still calling
        self.standard = standard
        self.receiver = CallerIdReceiver(_SLOTS)
        self.free = list(range(_SLOTS))
        self.active: dict[int, _Sending] = {}
        self.waiting: collections.deque[_Sending] = collections.deque()
        self.decoded = 0
        self.missed = 0

    def start(self, line: Any, number: str, name: str, dialed: str) -> None:
        """A call rings in on ``line``: send its caller ID (ValueError when the standard cannot carry it)."""
        audio = np.concatenate([np.zeros(_LEAD_FRAMES * FRAME_SAMPLES, np.int16),
                                callerid_audio(number, name, self.standard)])
        sending = _Sending(line, line.far.session, dialed, audio)
        if self.free:
            self._assign(sending)
        else:
            self.waiting.append(sending)

    def _assign(self, sending: _Sending) -> None:
        slot = self.free.pop()
        self.receiver.reset(slot)
        self.active[slot] = sending

    def tick(self) -> None:
        """One 20 ms frame of every caller ID in flight; Ringing for each message the receiver completes."""
        if not self.active:
            return
        frames = np.zeros((_SLOTS, FRAME_SAMPLES), dtype=np.int16)
        for slot, s in self.active.items():
            chunk = s.audio[s.pos:s.pos + FRAME_SAMPLES]
            frames[slot, :len(chunk)] = chunk
            s.pos += FRAME_SAMPLES
        found = {slot: f.callerid for slot, f in self.receiver.process(frames) if slot in self.active}
        for slot, cid in found.items():
            self._finish(slot, cid)
        for slot in [k for k, s in self.active.items() if s.pos >= len(s.audio) + _GIVE_UP_FRAMES * FRAME_SAMPLES]:
            self._finish(slot, None)

    def _finish(self, slot: int, cid: CallerId | None) -> None:
        s = self.active.pop(slot)
        self.free.append(slot)
        if self.waiting:
            self._assign(self.waiting.popleft())
        if cid is None:
            self.missed += 1
        else:
            self.decoded += 1
        self._decoded(s.line, s.session, s.dialed, cid)

    def pending(self, line: Any) -> bool:
        """The line's caller ID is still being sent (the call has not rung yet)."""
        return any(s.line is line for s in list(self.active.values()) + list(self.waiting))

    def status(self) -> dict:
        """Counters for the card's status."""
        return {"standard": self.standard.value, "in_flight": len(self.active) + len(self.waiting),
                "decoded": self.decoded, "missed": self.missed}
