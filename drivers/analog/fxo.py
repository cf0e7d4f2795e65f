"""The FXO machine: a trunk from the exchange, incoming calls with caller ID, outgoing calls, hang-up detection.

Incoming: the first ring, a polarity reversal or caller-ID audio on the idle line seizes it (``Seized``);
``Ringing`` follows once caller ID is final: at once when the message arrives after the first ring, at
the first ring when it came before (DTMF caller ID, polarity reversal then FSK), at the second ring or
a timeout when none came. No ring for ``ring_timeout`` means the caller gave up (``HungUp``).
Outgoing: off hook, dial tone (waited for or not), in-band DTMF, then answer supervision by polarity,
by call progress (voice, or ringback that stops) or at once. In a call, the far end's hang-up is a loop
current drop, a polarity reversal (where configured) or a busy, congestion or dial tone on the line.
"""
from __future__ import annotations

import enum
from typing import Callable

import numpy as np

from ..base import (Answered, AnswerConfirmed, HangupCause, HungUp, LineDown, LineEvent, LineUp, Progress,
                    ProgressKind, Ringing, Seized, ToneDetected, ToneKind)
from ..common.callerid import CallerId
from ..common.tones import dtmf_tone
from .hardware import AnalogHardware
from .port import AnalogPort, Listen
from .profiles import AnalogSettings, AnswerMode, CidMode
from .signals import LineSignal as S

__all__ = ["FxoState", "FxoPort", "DIAL_CHARS"]

DIAL_CHARS = frozenset("0123456789*#ABCD,")  # "," is a one-second pause
_RING_STUCK = 10.0  # a ring longer than this lost its RING_END
_ONHOOK_GUARD = 0.5  # after the box hangs up, polarity and caller-ID leftovers are not a new call
_VOICE_AFTER_DIAL = 0.3  # our own digits' echo is not the far end's voice
_FRAME_S = 0.02


class FxoState(enum.Enum):
    """Where an FXO port is in a call."""

    IDLE = "idle"
    SEIZED = "seized"  # incoming: caller ID is being collected
    RINGING = "ringing"  # incoming: Ringing posted, the box has not answered
    REFUSED = "refused"  # incoming: the box refused; wait for the rings to stop
    SEIZING = "seizing"  # outgoing: off hook, before dialling
    DIALING = "dialing"
    AWAITING_ANSWER = "awaiting_answer"
    CONNECTED = "connected"
    DOWN = "down"


_OFFHOOK = (FxoState.SEIZING, FxoState.DIALING, FxoState.AWAITING_ANSWER, FxoState.CONNECTED)
_INCOMING = (FxoState.SEIZED, FxoState.RINGING, FxoState.REFUSED)


class FxoPort(AnalogPort):
    """One FXO port (a line from the exchange)."""

    def __init__(self, name: str, hw: AnalogHardware, sink: Callable[[LineEvent], None],
                 settings: AnalogSettings | None = None) -> None:
        super().__init__(name, hw, sink, settings)
        self.state = FxoState.IDLE
        self.caller: CallerId | None = None
        self.caller_format = ""
        self._rings = 0
        self._ring_on = False
        self._last_ring = 0.0  # last ring edge, or the seizure
        self._cid_deadline: float | None = None
        self._offered = False
        self._deadline = 0.0  # SEIZING: dial; AWAITING_ANSWER: give up
        self._offhook_at = 0.0
        self._guard_until = 0.0
        self._flash_until = 0.0
        self._dial_done_at = 0.0
        self._number = ""
        self._voice = 0
        self._ringback = False
        self.counts = {"incoming": 0, "outgoing": 0, "answered": 0, "busy_hangups": 0}

    # ---- what the bank reads -----------------------------------------------------------------
    @property
    def listen(self) -> Listen:
        """Caller ID while idle or collecting it; call progress while off hook."""
        if self.state in (FxoState.IDLE, FxoState.SEIZED) and self.settings.callerid is CidMode.AUTO:
            return Listen.CALLER_ID
        if self.state in _OFFHOOK:
            return Listen.PROGRESS
        return Listen.NONE

    def status(self) -> dict:
        """State for the panel: where the port is, the caller, counters."""
        return {"port": self.name, "kind": "fxo", "state": self.state.value,
                "caller_id": self.caller.number if self.caller else "", "caller_format": self.caller_format,
                **self.counts}

    # ---- hardware signals ------------------------------------------------------------------
    def on_signal(self, signal: S, now: float, detail: str = "") -> None:
        """One signal from the hardware; ``detail`` says more about an alarm (it becomes LineDown's reason)."""
        if signal is S.ALARM:
            if self.state is not FxoState.DOWN:
                if self.state in _OFFHOOK:
                    self.hw.onhook()
                self._stop_audio()
                self._reset(FxoState.DOWN, now)
                self.sink(LineDown(self.name, reason=detail or "alarm"))
            return
        if signal is S.NOALARM:
            if self.state is FxoState.DOWN:
                self._reset(FxoState.IDLE, now)
                self.sink(LineUp(self.name))
            return
        if self.state is FxoState.DOWN:
            return
        if signal is S.RING_BEGIN:
            self._ring_begin(now)
        elif signal is S.RING_END:
            if self._ring_on:
                self._ring_on = False
                self._last_ring = now
                if self.state is FxoState.SEIZED and self._rings == 1 and self._cid_deadline is None:
                    self._cid_deadline = now + self.settings.profile.ring_off_ms / 1000 + 0.5
        elif signal is S.POLARITY:
            self._polarity(now)
        elif signal is S.ONHOOK:  # loop current dropped
            if self.state in _OFFHOOK and now >= self._flash_until:
                self._far_gone(HangupCause.NORMAL, now)
        elif signal is S.DIALCOMPLETE:
            if self.state is FxoState.DIALING and not self._sending:
                self._dialled(now)
        # OFFHOOK, WINKFLASH and HOOKCOMPLETE say nothing about an FXO line's call

    def _ring_begin(self, now: float) -> None:
        if self.state is FxoState.IDLE:
            self._seize(now)
        elif self.state not in _INCOMING:
            return  # off hook: a ring cannot be real (glare is settled by whoever seized first)
        self._rings += 1
        self._ring_on = True
        self._last_ring = now
        if self.state is FxoState.SEIZED and (self.caller is not None or self._rings >= 2
                                              or self.settings.callerid is CidMode.NONE):
            self._ringing()

    def _polarity(self, now: float) -> None:
        if self.state is FxoState.IDLE:
            if now >= self._guard_until:
                self._seize(now)  # polarity reversal, then FSK caller ID, then the ring
        elif self.state is FxoState.AWAITING_ANSWER and self.settings.answer is AnswerMode.POLARITY:
            if now - self._offhook_at >= self.settings.polarity_guard:
                self._answered()
        elif self.state is FxoState.CONNECTED and self.settings.hangup_on_polarity:
            if now - self._offhook_at >= self.settings.polarity_guard and now >= self._flash_until:
                self._far_gone(HangupCause.NORMAL, now)

    # ---- detector findings (from the bank) ---------------------------------------------------
    def on_callerid(self, caller: CallerId, fmt: str, now: float) -> None:
        """A caller-ID message was decoded on the line."""
        if self.state is FxoState.IDLE:
            if now < self._guard_until:
                return
            self._seize(now)
        if self.state is not FxoState.SEIZED or self.caller is not None:
            return  # repeats and late messages are ignored
        self.caller, self.caller_format = caller, fmt
        if self._rings >= 1:
            self._ringing()

    def on_tone(self, kind: ToneKind, ended: bool, now: float) -> None:
        """A call-progress tone was found (``ended`` False) or stopped (True)."""
        if ended:
            if self.state is FxoState.AWAITING_ANSWER and kind is ToneKind.RINGBACK \
                    and self.settings.answer is AnswerMode.PROGRESS:
                self._answered()  # ringback stops when the far end picks up
            return
        if self.state is FxoState.SEIZING:
            if kind is ToneKind.DIAL:
                self._start_dialing(now)
        elif self.state in (FxoState.DIALING, FxoState.AWAITING_ANSWER):
            if kind is ToneKind.BUSY:
                self._far_gone(HangupCause.BUSY, now)
            elif kind in (ToneKind.CONGESTION, ToneKind.SIT):
                self._far_gone(HangupCause.CONGESTION, now)
            elif kind is ToneKind.RINGBACK and self.state is FxoState.AWAITING_ANSWER:
                if not self._ringback:
                    self._ringback = True
                    self.sink(Progress(self.name, kind=ProgressKind.RINGBACK))
            elif kind is ToneKind.FAX_CED and self.state is FxoState.AWAITING_ANSWER:
                self._answered()  # a fax machine answered
                self.sink(ToneDetected(self.name, kind=kind))
        elif self.state is FxoState.CONNECTED:
            if self.settings.busy_disconnect and kind in (ToneKind.BUSY, ToneKind.CONGESTION, ToneKind.DIAL):
                self.counts["busy_hangups"] += 1
                self._far_gone(HangupCause.NORMAL, now)
            else:
                self.sink(ToneDetected(self.name, kind=kind))

    def on_voice(self, voiced: bool, now: float) -> None:
        """One frame of the line was (or was not) voice: loud and no tone."""
        if self.state is not FxoState.AWAITING_ANSWER or self.settings.answer is not AnswerMode.PROGRESS:
            return
        if now < self._dial_done_at + _VOICE_AFTER_DIAL:
            return
        self._voice = self._voice + 1 if voiced else max(0, self._voice - 1)
        if self._voice * _FRAME_S * 1000 >= self.settings.voice_ms:
            self._answered()

    # ---- commands from the driver's Line -------------------------------------------------------
    def answer(self, now: float) -> None:
        """Answer the incoming call once it rang (off hook); the answer is confirmed at once."""
        if self.state is FxoState.RINGING:
            self.hw.offhook()
            self.state = FxoState.CONNECTED
            self._offhook_at = now
            self._fresh_detectors()
            self.counts["answered"] += 1
            self.sink(AnswerConfirmed(self.name))

    def hangup(self, now: float) -> None:
        """End the call from the box's side (on hook), or refuse an incoming call (let it ring out)."""
        if self.state in _OFFHOOK:
            self.hw.onhook()
            self._stop_audio()
            self._reset(FxoState.IDLE, now)
        elif self.state in (FxoState.SEIZED, FxoState.RINGING):
            self.state = FxoState.REFUSED  # an analog line cannot refuse: it rings until the caller gives up

    def dial(self, number: str, now: float) -> None:
        """Seize the line and dial ``number`` (digits, * # A-D, "," for a pause); HungUp(BUSY) when in use."""
        bad = sorted(set(number) - DIAL_CHARS)
        if bad:
            raise ValueError(f"{self.name}: cannot dial {number!r}: {''.join(bad)!r} is not 0-9 * # A-D or ','")
        if self.state is not FxoState.IDLE:
            self.sink(HungUp(self.name, cause=HangupCause.BUSY))
            return
        self.hw.offhook()
        self._reset(FxoState.SEIZING, now)
        self._offhook_at = now
        self._number = number
        s = self.settings
        self._deadline = now + (s.dialtone_timeout if s.wait_dialtone else s.dial_delay)
        self.counts["outgoing"] += 1

    def flash(self, now: float) -> None:
        """A hook flash on the line in a call (the exchange's transfer or call waiting)."""
        if self.state is FxoState.CONNECTED:
            self.hw.flash()
            self._flash_until = now + self.settings.flash_ms / 1000 + 0.2

    # ---- timers -----------------------------------------------------------------------------
    def _timers(self, now: float) -> None:
        state = self.state
        if state in _INCOMING:
            if self._ring_on and now - self._last_ring > _RING_STUCK:
                self._ring_on = False
            if not self._ring_on and now - self._last_ring > self.settings.ring_timeout_s:
                if state is not FxoState.REFUSED or not self._offered:
                    self.sink(HungUp(self.name, cause=HangupCause.NORMAL))
                self._reset(FxoState.IDLE, now)
            elif state is FxoState.SEIZED and self._cid_deadline is not None and now >= self._cid_deadline:
                self._ringing()
        elif state is FxoState.SEIZING:
            if now >= self._deadline:
                if self.settings.wait_dialtone:
                    self._far_gone(HangupCause.CONGESTION, now)
                else:
                    self._start_dialing(now)
        elif state is FxoState.DIALING:
            if not self._sending:
                self._dialled(now)
        elif state is FxoState.AWAITING_ANSWER:
            if now >= self._deadline:
                self._far_gone(HangupCause.NO_ANSWER, now)

    # ---- transitions -----------------------------------------------------------------------
    def _reset(self, state: FxoState, now: float) -> None:
        """Enter ``state`` with nothing of the last call left."""
        if self.state in _OFFHOOK or state is FxoState.IDLE:
            self._guard_until = now + _ONHOOK_GUARD
        self.state = state
        self.caller, self.caller_format = None, ""
        self._rings, self._ring_on, self._cid_deadline = 0, False, None
        self._offered = False  # Ringing was posted for this call
        self._voice, self._ringback = 0, False
        self._flash_until = 0.0
        self._fresh_detectors()

    def _seize(self, now: float) -> None:
        self._reset(FxoState.SEIZED, now)
        self._last_ring = now
        self.counts["incoming"] += 1
        self.sink(Seized(self.name))

    def _ringing(self) -> None:
        self.state = FxoState.RINGING
        self._offered = True
        cid = self.caller or CallerId()
        self.sink(Ringing(self.name, caller_id=cid.number, caller_name=cid.name))

    def _start_dialing(self, now: float) -> None:
        s = self.settings
        gap = np.zeros(int(round(s.dtmf_off_ms * 8)), dtype=np.int16)
        pause = np.zeros(8000, dtype=np.int16)
        for key in self._number:
            if key == ",":
                self._queue_audio(pause)
            else:
                self._queue_audio(np.concatenate([dtmf_tone(key, s.dtmf_on_ms, s.dtmf_level_dbm0), gap]))
        self.state = FxoState.DIALING
        if not self._sending:
            self._dialled(now)

    def _dialled(self, now: float) -> None:
        self._stop_audio()
        self._dial_done_at = now
        if self.settings.answer is AnswerMode.IMMEDIATE:
            self._answered()
            return
        self.state = FxoState.AWAITING_ANSWER
        self._deadline = now + self.settings.no_answer

    def _answered(self) -> None:
        self.state = FxoState.CONNECTED
        self.sink(Answered(self.name))

    def _far_gone(self, cause: HangupCause, now: float) -> None:
        """The call is over from the line's side: on hook and tell the box why."""
        self.hw.onhook()
        self._stop_audio()
        self._reset(FxoState.IDLE, now)
        self.sink(HungUp(self.name, cause=cause))
