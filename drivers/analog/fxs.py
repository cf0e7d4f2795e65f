"""The FXS machine: an agent's phone on a station port; ringing with caller ID, off hook, dial tone, digits, flash, MWI.

Ringing follows the country's cadence; caller ID goes to the phone as audio: FSK in the first pause
(``cid_delay_ms`` after the first ring), DTMF before the first ring. Lifting the handset posts
``OffHook`` (an answer while ringing, a new call otherwise). Going on hook is a hook flash when the
handset comes back within ``flash_min_ms``..``flash_max_ms`` (``Flashed``), a bounce when sooner,
and a hang-up (``HungUp``) when later; hardware that times flashes itself (``WINKFLASH``) sets
``flash_max_ms`` to 0 and its ``ONHOOK`` is final at once.
"""
from __future__ import annotations

import enum
from typing import Callable

from ..base import DigitReceived, Flashed, HangupCause, HungUp, LineDown, LineEvent, LineUp, OffHook
from ..common.callerid import Absence, CallerId, MessageError
from ..common.callerid_audio import CidStandard, generate_callerid
from .hardware import AnalogHardware
from .mwi import mwi_audio
from .port import AnalogPort, Listen
from .profiles import AnalogSettings
from .signals import LineSignal as S

__all__ = ["FxsState", "FxsPort"]

_CID_TO_RING = 0.3  # DTMF caller ID ends this long before the first ring
_DTMF = (CidStandard.DTMF_A, CidStandard.DTMF_D)


class FxsState(enum.Enum):
    """Where a station port is."""

    IDLE = "idle"
    RINGING = "ringing"
    OFFHOOK = "offhook"  # the handset is up: dialling or in a call
    HOOK_PENDING = "hook_pending"  # on hook for now: a flash or a hang-up, not decided yet
    RELEASED = "released"  # the box ended the call and the handset is still up
    DOWN = "down"


class _Ring(enum.Enum):
    CID_FIRST = "cid_first"  # DTMF caller ID before the first ring
    ON = "on"
    OFF = "off"


class FxsPort(AnalogPort):
    """One FXS port (a phone)."""

    def __init__(self, name: str, hw: AnalogHardware, sink: Callable[[LineEvent], None],
                 settings: AnalogSettings | None = None) -> None:
        super().__init__(name, hw, sink, settings)
        self.state = FxsState.IDLE
        self._phase = _Ring.OFF
        self._phase_end: float | None = None
        self._cid_pending = None  # FSK caller ID waiting for the first pause
        self._cid_at = 0.0
        self._before_hook = FxsState.OFFHOOK  # HOOK_PENDING: the state a flash returns to
        self._onhook_at = 0.0
        self._collecting = False
        self._was_collecting = False
        self._last_digit = 0.0
        self.digits = ""  # collected since the last off hook or flash
        self._mwi: bool | None = None  # a message-waiting change to send once the phone is idle
        self.counts = {"rings": 0, "offhooks": 0, "flashes": 0, "digits": 0}

    @property
    def listen(self) -> Listen:
        """DTMF digits while the port collects them."""
        return Listen.DIGITS if self.state is FxsState.OFFHOOK and self._collecting else Listen.NONE

    def status(self) -> dict:
        """State for the panel."""
        return {"port": self.name, "kind": "fxs", "state": self.state.value, "digits": self.digits, **self.counts}

    # ---- commands ---------------------------------------------------------------------------
    def ring(self, caller_id: str, caller_name: str, now: float) -> None:
        """Ring the phone, sending it caller ID; HungUp(BUSY) when it is off hook."""
        if self.state is FxsState.DOWN:
            self.sink(HungUp(self.name, cause=HangupCause.LINE_DOWN))
            return
        if self.state is not FxsState.IDLE:
            self.sink(HungUp(self.name, cause=HangupCause.BUSY))
            return
        self._stop_audio()
        self.state = FxsState.RINGING
        self.counts["rings"] += 1
        standard = self.settings.send_standard
        audio = self._callerid_audio(caller_id, caller_name, standard)
        if audio is not None and standard in _DTMF:
            self._queue_audio(audio)
            self._phase, self._phase_end = _Ring.CID_FIRST, None
        else:
            self._cid_pending = audio
            self._ring_on(now)

    def _callerid_audio(self, number: str, name: str, standard: CidStandard):
        """The caller-ID audio for the phone, or None when the caller cannot be sent in this standard."""
        try:
            digits = "".join(c for c in number if c.isdigit()) if standard in _DTMF else number
            cid = CallerId(number=digits, name="" if standard in _DTMF else name,
                           number_absent=None if digits else Absence.UNAVAILABLE)
            return generate_callerid(cid, standard)
        except MessageError:
            return None  # the phone rings without caller ID rather than not at all

    def stop_ring(self, now: float) -> None:
        """Stop ringing (the caller gave up or another phone answered)."""
        if self.state is FxsState.RINGING:
            self._ring_stop()
            self._reset(FxsState.IDLE)

    def hangup(self, now: float) -> None:
        """The box ends the call: busy tone until the handset goes down."""
        if self.state is FxsState.RINGING:
            self.stop_ring(now)
        elif self.state is FxsState.OFFHOOK:
            self._reset(FxsState.RELEASED)
            if self.settings.station_hangup_tone:
                self._play_tone("busy")
        elif self.state is FxsState.HOOK_PENDING:
            self._before_hook = FxsState.RELEASED

    def message_waiting(self, on: bool, now: float) -> None:
        """Light or clear the phone's message-waiting lamp (FSK, sent when the phone is idle)."""
        if self.settings.mwi:
            self._mwi = on

    # ---- hardware signals -------------------------------------------------------------------
    def on_signal(self, signal: S, now: float, detail: str = "") -> None:
        """One signal from the hardware; ``detail`` says more about an alarm (it becomes LineDown's reason)."""
        if signal is S.ALARM:
            if self.state is not FxsState.DOWN:
                self._ring_stop()
                self._reset(FxsState.DOWN)
                self.sink(LineDown(self.name, reason=detail or "alarm"))
            return
        if signal is S.NOALARM:
            if self.state is FxsState.DOWN:
                self._reset(FxsState.IDLE)
                self.sink(LineUp(self.name))
            return
        if signal is S.OFFHOOK:
            self._offhook(now)
        elif signal is S.ONHOOK:
            if self.state in (FxsState.OFFHOOK, FxsState.RELEASED):
                self._before_hook, self._onhook_at = self.state, now
                self._was_collecting = self._collecting
                self._reset(FxsState.HOOK_PENDING)
                if not self.settings.flash_max_ms:
                    self._hung_up()
        elif signal is S.WINKFLASH:
            if self.state is FxsState.OFFHOOK:
                self._flashed(now)

    def _offhook(self, now: float) -> None:
        if self.state in (FxsState.IDLE, FxsState.RINGING):
            answering = self.state is FxsState.RINGING
            self._ring_stop()
            self._reset(FxsState.OFFHOOK)
            self.counts["offhooks"] += 1
            self.sink(OffHook(self.name))
            if self.settings.station_dialtone and not answering:
                self._collect(now)
        elif self.state is FxsState.HOOK_PENDING:
            down_for = (now - self._onhook_at) * 1000
            back = self._before_hook
            self._reset(back)
            if back is FxsState.RELEASED and self.settings.station_hangup_tone:
                self._play_tone("busy")
            if back is FxsState.OFFHOOK:
                if down_for >= self.settings.flash_min_ms:
                    self._flashed(now)
                elif self._was_collecting:
                    self._collecting = True  # a bounce: digit collection goes on

    def _flashed(self, now: float) -> None:
        self.counts["flashes"] += 1
        self.sink(Flashed(self.name))
        if self.settings.station_dialtone:
            self._collect(now)

    def _collect(self, now: float) -> None:
        """Dial tone and digit collection until the first digit (tone) and the digit timeout (digits)."""
        self._fresh_detectors()
        self._collecting, self.digits, self._last_digit = True, "", now
        self._play_tone("dial")

    def _hung_up(self) -> None:
        """The handset stayed down: the call is over."""
        if self._before_hook is FxsState.OFFHOOK:
            self.sink(HungUp(self.name, cause=HangupCause.NORMAL))
        self._reset(FxsState.IDLE)

    # ---- detector findings -------------------------------------------------------------------
    def on_digit(self, digit: str, duration_ms: float, now: float) -> None:
        """A DTMF digit dialled on the phone."""
        if self.state is not FxsState.OFFHOOK or not self._collecting:
            return
        self._play_tone(None)
        self.digits += digit
        self._last_digit = now
        self.counts["digits"] += 1
        self.sink(DigitReceived(self.name, digit=digit, duration_ms=duration_ms))

    # ---- timers -----------------------------------------------------------------------------
    def _timers(self, now: float) -> None:
        state = self.state
        if state is FxsState.RINGING:
            self._ring_timers(now)
        elif state is FxsState.HOOK_PENDING:
            if (now - self._onhook_at) * 1000 > self.settings.flash_max_ms:
                self._hung_up()
        elif state is FxsState.OFFHOOK and self._collecting:
            if self.digits and now - self._last_digit >= self.settings.digit_timeout:
                self._collecting = False
        elif state is FxsState.IDLE and self._mwi is not None and not self._sending:
            self._queue_audio(mwi_audio(self._mwi, self.settings.send_standard))
            self._mwi = None

    def _ring_timers(self, now: float) -> None:
        profile = self.settings.profile
        if self._phase is _Ring.CID_FIRST:
            if self._sending:
                return
            if self._phase_end is None:
                self._phase_end = now + _CID_TO_RING
            if now >= self._phase_end:
                self._ring_on(now)
        elif self._phase is _Ring.ON:
            if self._phase_end is not None and now >= self._phase_end:
                self.hw.ring(False)
                self._phase, self._phase_end = _Ring.OFF, now + profile.ring_off_ms / 1000
                self._cid_at = now + profile.cid_delay_ms / 1000
        else:
            if self._cid_pending is not None and now >= self._cid_at:
                self._queue_audio(self._cid_pending)
                self._cid_pending = None
            if self._phase_end is not None and now >= self._phase_end and not self._sending \
                    and self._cid_pending is None:
                self._ring_on(now)

    def _ring_on(self, now: float) -> None:
        self.hw.ring(True)
        self._phase, self._phase_end = _Ring.ON, now + self.settings.profile.ring_on_ms / 1000

    def _ring_stop(self) -> None:
        """Ringing voltage off if it is on, caller ID and other audio dropped."""
        if self.state is FxsState.RINGING and self._phase is _Ring.ON:
            self.hw.ring(False)
        self._phase, self._phase_end, self._cid_pending = _Ring.OFF, None, None
        self._stop_audio()

    def _reset(self, state: FxsState) -> None:
        self.state = state
        self._collecting = False
        if state is not FxsState.RINGING:
            self._phase, self._phase_end, self._cid_pending = _Ring.OFF, None, None
        self._stop_audio()
        self._fresh_detectors()
