"""What FXO and FXS machines share: the hardware seam, the event sink, the signalling audio they send, detector needs."""
from __future__ import annotations

import collections
import enum
from typing import Callable

import numpy as np

from ..base import FRAME_SAMPLES, LineEvent, ToneKind
from ..common.callerid import CallerId
from ..common.tones import ToneGenerator
from .hardware import AnalogHardware
from .profiles import AnalogSettings

__all__ = ["Listen", "AnalogPort"]


class Listen(enum.Flag):
    """Which detectors a port needs on its inbound audio this tick (the bank runs each for all ports at once)."""

    NONE = 0
    CALLER_ID = enum.auto()  # caller-ID receiver (FSK and DTMF)
    PROGRESS = enum.auto()  # call-progress tones and voice
    DIGITS = enum.auto()  # DTMF digits dialled on a phone


class AnalogPort:
    """Base of the FXO and FXS machines: not thread-safe, every call comes from one thread with a ``now`` in seconds."""

    def __init__(self, name: str, hw: AnalogHardware, sink: Callable[[LineEvent], None],
                 settings: AnalogSettings | None = None) -> None:
        self.name = name
        self.hw = hw
        self.sink = sink
        self.settings = settings or AnalogSettings()
        self.epoch = 0  # bumped when the detectors must start afresh on this port
        self._audio: collections.deque[np.ndarray] = collections.deque()  # signalling audio to send
        self._offset = 0
        self._tone: ToneGenerator | None = None  # a tone played after the queued audio, until stopped

    # ---- what the bank reads -----------------------------------------------------------------
    @property
    def listen(self) -> Listen:
        """The detectors this port needs now."""
        return Listen.NONE

    @property
    def owns_audio(self) -> bool:
        """True while the port sends its own signalling audio (the driver sends it instead of the engine's)."""
        return bool(self._audio) or self._tone is not None

    def status(self) -> dict:
        """State for the panel (subclasses add theirs)."""
        return {"port": self.name}

    def poll(self, now: float) -> None:
        """Once per 20 ms tick: timers, then one frame of signalling audio to the hardware if there is any."""
        self._timers(now)
        frame = self._next_frame()
        if frame is not None:
            self.hw.send_audio(frame)

    def _timers(self, now: float) -> None:
        """Subclasses: act on deadlines that passed."""

    # ---- detector findings the bank delivers (a port ignores what it has no use for) ----------
    def on_callerid(self, caller: CallerId, fmt: str, now: float) -> None:
        """A caller-ID message was decoded on the line."""

    def on_tone(self, kind: ToneKind, ended: bool, now: float) -> None:
        """A call-progress tone was found (``ended`` False) or stopped (True)."""

    def on_voice(self, voiced: bool, now: float) -> None:
        """One frame of the line was (or was not) voice: loud and no tone."""

    def on_digit(self, digit: str, duration_ms: float, now: float) -> None:
        """A DTMF digit was dialled on the line."""

    # ---- signalling audio -------------------------------------------------------------------
    def _queue_audio(self, samples: np.ndarray) -> None:
        """Send these samples, 160 at a time, from the next tick on."""
        if len(samples):
            self._audio.append(np.asarray(samples, dtype=np.int16))

    def _play_tone(self, tone: str | None) -> None:
        """Play a tone of the country's profile (dial, busy, ...) after the queued audio, or stop it (None)."""
        self._tone = None if tone is None else ToneGenerator.for_profile(self.settings.profile.tones.upper(), tone)

    def _stop_audio(self) -> None:
        """Drop every queued sample and the tone."""
        self._audio.clear()
        self._offset = 0
        self._tone = None

    @property
    def _sending(self) -> bool:
        """Queued samples remain (the tone does not count)."""
        return bool(self._audio)

    def _next_frame(self) -> np.ndarray | None:
        """The next frame of signalling audio, zero-padded at the end of the queue; None when there is none."""
        if not self._audio:
            return self._tone.next_frame() if self._tone is not None else None
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        pos = 0
        while pos < FRAME_SAMPLES and self._audio:
            chunk = self._audio[0]
            take = min(FRAME_SAMPLES - pos, len(chunk) - self._offset)
            frame[pos:pos + take] = chunk[self._offset:self._offset + take]
            pos += take
            self._offset += take
            if self._offset >= len(chunk):
                self._audio.popleft()
                self._offset = 0
        return frame

    def _fresh_detectors(self) -> None:
        """Ask the bank to reset this port's detectors before the next tick."""
        self.epoch += 1
