"""The minimal, direct mapping between a port's hook signals and the contract's events (FXO: a ring offers the
call, answer is off hook, loop drop is hang-up, DIALCOMPLETE is answer; FXS: off hook, on hook, flash, ring out).

This is the one module the shared analog layer (drivers/analog/) replaces: it sees a port only through the
channel's control methods (offhook, onhook, ring, flash, dial) and LineSignals, and posts contract events.
No caller ID, cadence or busy-tone logic lives here.
"""
from __future__ import annotations

import enum
import logging
import threading
from typing import Callable, Protocol

from hotline.drivers.analog.signals import LineSignal
from hotline.drivers.base import (Answered, Flashed, HangupCause, HungUp, LineDown, LineEvent, LineUp, OffHook,
                                  Ringing, Seized)

log = logging.getLogger("hotline.drivers.dahdi")

RING_GONE_S = 8.0  # an offered call whose rings stopped this long ago was abandoned by the caller


class PortControl(Protocol):
    """What signalling may do to a port (DahdiChannel)."""

    def offhook(self) -> None: ...
    def onhook(self) -> None: ...
    def ring(self, on: bool) -> None: ...
    def flash(self) -> None: ...
    def dial(self, digits: str) -> None: ...


class PortState(enum.Enum):
    """Where a port's call stands."""

    IDLE = "idle"
    OFFERED = "offered"          # FXO: ringing in, Ringing posted, not answered yet
    DIALING = "dialing"          # FXO: seized and dialling out
    UP = "up"                    # in a call (FXO answered / FXS off hook)
    RINGING_OUT = "ringing_out"  # FXS: the box rings the phone
    DOWN = "down"                # span alarm


class FxoSignalling:
    """An FXO port (a line from the exchange)."""

    def __init__(self, line: str, port: PortControl, post: Callable[[LineEvent], None], dialed: str = ""):
        self.line, self.port, self.post, self.dialed = line, port, post, dialed
        self.state = PortState.IDLE
        self.last_ring = 0.0
        self.lock = threading.Lock()

    def on_signal(self, signal: LineSignal, now: float, detail: str = "") -> None:
        """A hook signal from the card (poller thread)."""
        with self.lock:
            if signal is LineSignal.ALARM:
                self._down(detail)
            elif signal is LineSignal.NOALARM:
                if self.state is PortState.DOWN:
                    self.state = PortState.IDLE
                    self.post(LineUp(self.line))
            elif self.state is PortState.DOWN:
                return
            elif signal in (LineSignal.RING_BEGIN, LineSignal.RING_END):
                self.last_ring = now
                if self.state is PortState.IDLE and signal is LineSignal.RING_BEGIN:
                    self.state = PortState.OFFERED
                    self.post(Seized(self.line))
                    self.post(Ringing(self.line, dialed=self.dialed))
            elif signal is LineSignal.ONHOOK and self.state in (PortState.UP, PortState.DIALING):
                self.state = PortState.IDLE
                self.port.onhook()
                self.post(HungUp(self.line, cause=HangupCause.NORMAL))
            elif signal is LineSignal.DIALCOMPLETE and self.state is PortState.DIALING:
                self.state = PortState.UP
                self.post(Answered(self.line))

    def tick(self, now: float) -> None:
        """Timers (poller thread): a caller who stopped ringing before the box answered hung up."""
        with self.lock:
            if self.state is PortState.OFFERED and now - self.last_ring > RING_GONE_S:
                self.state = PortState.IDLE
                self.post(HungUp(self.line, cause=HangupCause.NO_ANSWER))

    def _down(self, reason: str) -> None:
        if self.state is not PortState.DOWN:
            if self.state is not PortState.IDLE:
                self.port.onhook()
            self.state = PortState.DOWN
            self.post(LineDown(self.line, reason=reason))

    # ---- commands (event loop) ------------------------------------------------------------------------------------
    def answer(self) -> None:
        """Off hook on the offered call."""
        with self.lock:
            if self.state is PortState.OFFERED:
                self.state = PortState.UP
                self.port.offhook()

    def hangup(self) -> None:
        """On hook."""
        with self.lock:
            if self.state is not PortState.DOWN:
                self.state = PortState.IDLE
                self.port.onhook()

    def dial(self, number: str) -> None:
        """Seize the line and dial in DTMF; DIALCOMPLETE counts as the answer (no answer supervision here)."""
        with self.lock:
            if self.state is not PortState.IDLE:
                self.post(HungUp(self.line, cause=HangupCause.BUSY))
                return
            self.state = PortState.DIALING
            self.port.offhook()
            self.port.dial("T" + number)

    def flash(self) -> None:
        """Hook flash towards the exchange."""
        self.port.flash()


class FxsSignalling:
    """An FXS port (an agent's phone)."""

    def __init__(self, line: str, port: PortControl, post: Callable[[LineEvent], None]):
        self.line, self.port, self.post = line, port, post
        self.state = PortState.IDLE
        self.lock = threading.Lock()

    def on_signal(self, signal: LineSignal, now: float, detail: str = "") -> None:
        """A hook signal from the phone (poller thread)."""
        with self.lock:
            if signal is LineSignal.ALARM:
                if self.state is not PortState.DOWN:
                    self.state = PortState.DOWN
                    self.post(LineDown(self.line, reason=detail))
            elif signal is LineSignal.NOALARM:
                if self.state is PortState.DOWN:
                    self.state = PortState.IDLE
                    self.post(LineUp(self.line))
            elif self.state is PortState.DOWN:
                return
            elif signal is LineSignal.OFFHOOK and self.state is not PortState.UP:
                self.state = PortState.UP  # the kernel stops the ringing itself
                self.post(OffHook(self.line))
            elif signal is LineSignal.ONHOOK and self.state is PortState.UP:
                self.state = PortState.IDLE
                self.post(HungUp(self.line, cause=HangupCause.NORMAL))
            elif signal is LineSignal.WINKFLASH and self.state is PortState.UP:
                self.post(Flashed(self.line))

    def tick(self, now: float) -> None:
        """No timers on a station."""

    # ---- commands (event loop) ------------------------------------------------------------------------------------
    def ring(self) -> None:
        """Ring the phone (the kernel plays the country's cadence)."""
        with self.lock:
            if self.state is PortState.IDLE:
                self.state = PortState.RINGING_OUT
                self.port.ring(True)
            elif self.state is not PortState.DOWN:
                self.post(HungUp(self.line, cause=HangupCause.BUSY))

    def stop_ring(self) -> None:
        """Stop ringing."""
        with self.lock:
            if self.state is PortState.RINGING_OUT:
                self.state = PortState.IDLE
                self.port.ring(False)

    def hangup(self) -> None:
        """The box ends the call: stop ringing; an off-hook phone stays off hook until the agent hangs up."""
        self.stop_ring()

    def answer(self) -> None:
        """Nothing to do: the phone answers by going off hook."""

    def flash(self) -> None:
        """A station cannot be flashed by the box."""
