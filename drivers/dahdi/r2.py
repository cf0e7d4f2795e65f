"""MFC/R2 signalling of E1 CAS channels through libopenr2: one openr2 context per span (the variant, China by
default, with max ANI/DNIS digits and the caller category), one openr2 channel per DAHDI channel descriptor, and
libopenr2's events turned into the driver contract's events (Ringing with ANI and DNIS, AnswerConfirmed, Answered,
HungUp, LineDown/LineUp).

libopenr2 drives each channel itself through its descriptor: ABCD bits with DAHDI_SETTXBITS / DAHDI_GETRXBITS, MF
tones as audio it reads and writes, events with DAHDI_GETEVENT. Every openr2 call happens on the span's poller
thread (commands from the event loop are queued, see r2span.py); its event callbacks run there too.
"""
from __future__ import annotations

import ctypes
import enum
import logging
from dataclasses import dataclass
from typing import Any, Callable

from hotline.drivers.base import (Answered, AnswerConfirmed, HangupCause, HungUp, LineDown, LineEvent, LineUp,
                                  Progress, ProgressKind, Ringing, Seized)

from . import r2lib
from .r2lib import Category, Cause

log = logging.getLogger("hotline.drivers.dahdi.r2")


@dataclass(frozen=True)
class R2Settings:
    """What a technician sets for an MFC/R2 span (the defaults suit China's variant)."""

    variant: r2lib.Variant = r2lib.Variant.CHINA
    max_ani: int = 10
    max_dnis: int = 4
    category: Category = Category.NATIONAL_SUBSCRIBER
    ani: str = ""                    # the box's number sent as ANI on calls out
    immediate_accept: bool = False   # skip the group B signal (some exchanges want it)
    skip_category: bool = False      # do not ask for the category (group II) before the ANI
    double_answer: bool = False
    mf_back_timeout_ms: int = 0      # 0: the variant's own
    log_level: r2lib.LogLevel = r2lib.LogLevel.ERROR | r2lib.LogLevel.WARNING


def china_digits(dnis: str, ani: str) -> str:
    """The digit string libopenr2 1.3.3 must be given to call out on the China variant with an ANI: a Chinese
    exchange asks for the category after the first digit, then for the ANI, then for the rest of the number, all
    with signal A-1, and this library answers every A-1 from its DNIS string (it checks the DNIS request before the
    ANI request; fixed upstream after 1.3.3). So the string is: first digit, ANI, remaining digits; the exchange's
    ANI length must be the ANI's (r2_max_ani on its side)."""
    return dnis[:1] + ani + dnis[1:] if ani and dnis else dnis


class R2State(enum.Enum):
    """Where a channel's call is."""

    IDLE = "idle"
    INCOMING = "incoming"        # seized by the far end, ANI/DNIS arriving (MF)
    OFFERED = "offered"          # ANI and DNIS complete, accepted towards the far end, Ringing posted
    DIALING = "dialing"          # the box seized and sends DNIS/ANI (MF)
    RINGBACK = "ringback"        # the far end accepted the box's call
    CONNECTED = "connected"
    CLEARING = "clearing"        # disconnect sent or received, waiting for the line to go idle
    BLOCKED = "blocked"          # the far end blocks the channel
    DOWN = "down"                # span alarm


_CAUSES = {Cause.BUSY_NUMBER: HangupCause.BUSY, Cause.NETWORK_CONGESTION: HangupCause.CONGESTION,
           Cause.UNALLOCATED_NUMBER: HangupCause.REJECTED, Cause.OUT_OF_ORDER: HangupCause.CONGESTION,
           Cause.NO_ANSWER: HangupCause.NO_ANSWER, Cause.NORMAL_CLEARING: HangupCause.NORMAL,
           Cause.COLLECT_CALL_REJECTED: HangupCause.REJECTED, Cause.FORCED_RELEASE: HangupCause.NORMAL,
           Cause.NUMBER_CHANGED: HangupCause.REJECTED, Cause.UNSPECIFIED: HangupCause.NORMAL}
_TO_CAUSE = {HangupCause.BUSY: Cause.BUSY_NUMBER, HangupCause.CONGESTION: Cause.NETWORK_CONGESTION,
             HangupCause.REJECTED: Cause.BUSY_NUMBER, HangupCause.NO_ANSWER: Cause.NO_ANSWER}


class R2Handler:
    """What an openr2 channel's callbacks reach (R2Port for the box; the fake exchange has its own)."""

    def on_event(self, name: str, *args: Any) -> Any:
        """One openr2 callback by name (on_call_init, on_call_offered, ...) with its arguments."""
        raise NotImplementedError


class R2Context:
    """One openr2 context and its channels; callbacks find their handler by the channel pointer."""

    def __init__(self, settings: R2Settings, name: str = "r2"):
        self.lib = r2lib.library()
        self.settings, self.name = settings, name
        self.handlers: dict[int, R2Handler] = {}
        self._iface = self._event_interface()
        ptr = self.lib.openr2_context_new(None, ctypes.byref(self._iface), None, int(settings.variant),
                                          settings.max_ani, settings.max_dnis)
        if not ptr:
            raise r2lib.R2Error(f"{name}: libopenr2 refused variant {settings.variant.name} with max ANI "
                                f"{settings.max_ani} and max DNIS {settings.max_dnis}")
        self.ptr = ptr
        lib = self.lib
        lib.openr2_context_set_log_level(ptr, int(settings.log_level))
        lib.openr2_context_set_immediate_accept(ptr, int(settings.immediate_accept))
        lib.openr2_context_set_skip_category_request(ptr, int(settings.skip_category))
        lib.openr2_context_set_double_answer(ptr, int(settings.double_answer))
        if settings.mf_back_timeout_ms:
            lib.openr2_context_set_mf_back_timeout(ptr, settings.mf_back_timeout_ms)
        self._chan_log = r2lib.ON_CHANNEL_LOG(self._on_chan_log)

    def _event_interface(self) -> r2lib.EventInterface:
        def bind(name: str, proto: Any, default: Any = None) -> Any:
            def call(chan: int, *args: Any) -> Any:
                handler = self.handlers.get(chan or 0)
                if handler is None:
                    return default
                try:
                    out = handler.on_event(name, *args)
                except Exception:   # an exception must never unwind through C
                    log.exception("event=r2_callback_failed context=%s callback=%s", self.name, name)
                    return default
                return default if out is None else out
            return proto(call)
        iface = r2lib.EventInterface()
        for fname, proto in iface._fields_:
            if fname == "on_context_log":
                iface.on_context_log = proto(self._on_context_log)
            else:
                setattr(iface, fname, bind(fname, proto, 1 if fname == "on_dnis_digit_received" else None))
        return iface

    def _on_context_log(self, _ctx: int, level: int, fmt: bytes, ap: int) -> None:
        log.log(r2lib.log_level(level), "event=openr2 context=%s %s", self.name, r2lib.format_log(fmt, ap))

    def _on_chan_log(self, chan: int, level: int, fmt: bytes, ap: int) -> None:
        number = self.lib.openr2_chan_get_number(chan) if chan else 0
        log.log(r2lib.log_level(level), "event=openr2 context=%s channel=%d %s", self.name, number,
                r2lib.format_log(fmt, ap))

    def channel(self, fd: int, handler: R2Handler) -> int:
        """An openr2 channel over an open DAHDI CAS channel's descriptor, idle; R2Error saying why not."""
        lib = self.lib
        chan = lib.openr2_chan_new_from_fd(self.ptr, fd, None, None)
        if not chan:
            err = lib.openr2_context_get_last_error(self.ptr)
            raise r2lib.R2Error(f"libopenr2 cannot use the channel: {r2lib.text(lib.openr2_context_error_string(err))}"
                                " (is it cas= in /etc/dahdi/system.conf?)")
        self.handlers[chan] = handler
        lib.openr2_chan_set_logging_func(chan, self._chan_log)
        lib.openr2_chan_set_log_level(chan, int(self.settings.log_level))
        lib.openr2_chan_disable_read(chan)     # idle: the span poller reads the channel; MF phases enable it
        lib.openr2_chan_set_idle(chan)
        lib.openr2_chan_handle_cas(chan)       # the far end's bits as they are now (no event tells us)
        return chan

    def delete(self) -> None:
        """Delete the context and with it every channel (their descriptors stay open: the driver closes them)."""
        self.handlers.clear()
        if self.ptr:
            self.lib.openr2_context_delete(self.ptr)
            self.ptr = None


class R2Port(R2Handler):
    """The box's side of one R2 channel: commands from the line (on the poller thread) and openr2's events as
    LineEvents."""

    def __init__(self, name: str, ctx: R2Context, fd: int, sink: Callable[[LineEvent], None],
                 alarm_reason: Callable[[bool], str] = lambda on: ""):
        self.name, self.ctx, self.lib, self.sink = name, ctx, ctx.lib, sink
        self.alarm_reason = alarm_reason
        self.state = R2State.IDLE
        self.ani = self.dnis = ""
        self.category = ""
        self.counts = {"incoming": 0, "outgoing": 0, "answered": 0, "protocol_errors": 0}
        self.last_error = ""
        self.accepted = self.answer_pending = False
        self.chan = ctx.channel(fd, self)

    # ---- state the poller asks for ---------------------------------------------------------------------------
    @property
    def mf(self) -> bool:
        """openr2 reads and writes the channel's audio itself now (MF tones): the poller leaves it alone."""
        return bool(self.lib.openr2_chan_get_read_enabled(self.chan))

    def process(self) -> None:
        """Let openr2 handle what the channel has: events (bits, alarms), MF audio in and out, due timers."""
        self.lib.openr2_chan_process_event(self.chan)

    def due(self) -> bool:
        """Whether one of openr2's timers is due."""
        ms = self.lib.openr2_chan_get_time_to_next_event(self.chan)
        return ms == 0 or 0 < ms <= 1

    def status(self) -> dict:
        """For the panel: state, the last call's ANI/DNIS, the line's bits, counters."""
        lib = self.lib
        return {"port": self.name, "kind": "r2", "state": self.state.value, "ani": self.ani, "dnis": self.dnis,
                "category": self.category, "rx_cas": r2lib.text(lib.openr2_chan_get_rx_cas_string(self.chan)),
                "tx_cas": r2lib.text(lib.openr2_chan_get_tx_cas_string(self.chan)),
                "r2_state": r2lib.text(lib.openr2_chan_get_r2_state_string(self.chan)),
                "last_error": self.last_error, **self.counts}

    # ---- commands (poller thread) -----------------------------------------------------------------------------
    def answer(self) -> None:
        """Answer the offered call (the far end stops its ringback) once openr2 finished accepting it;
        AnswerConfirmed follows."""
        if self.state is R2State.OFFERED:
            if not self.accepted:
                self.answer_pending = True
                return
            if self.lib.openr2_chan_answer_call(self.chan) == 0:
                self.state = R2State.CONNECTED
                self.counts["answered"] += 1
                self.sink(AnswerConfirmed(self.name))

    def hangup(self, cause: HangupCause = HangupCause.NORMAL) -> None:
        """Clear the call from the box's side (clear-forward or clear-back as the direction wants)."""
        if self.state in (R2State.IDLE, R2State.CLEARING, R2State.BLOCKED, R2State.DOWN):
            return
        self.state = R2State.CLEARING
        self.lib.openr2_chan_disconnect_call(self.chan, int(_TO_CAUSE.get(cause, Cause.NORMAL_CLEARING)))

    def dial(self, number: str, ani: str, category: Category) -> None:
        """Seize and send DNIS ``number`` and the ANI by MF; Progress(RINGBACK) on accept, then Answered, or
        HungUp with the far end's reason."""
        if self.state is not R2State.IDLE:
            self.sink(HungUp(self.name, cause=HangupCause.BUSY if self.state is not R2State.DOWN
                             else HangupCause.LINE_DOWN))
            return
        self.lib.openr2_chan_enable_read(self.chan)
        if self.lib.openr2_chan_make_call(self.chan, ani.encode(), number.encode(), int(category)) != 0:
            self.lib.openr2_chan_disable_read(self.chan)
            self.sink(HungUp(self.name, cause=HangupCause.CONGESTION))
            return
        self.state, self.ani, self.dnis = R2State.DIALING, ani, number
        self.counts["outgoing"] += 1

    def set_down(self, reason: str) -> None:
        """Start down (the span was in alarm at open)."""
        self.state = R2State.DOWN

    # ---- openr2's events (poller thread, inside process/commands) ------------------------------------------------
    def on_event(self, name: str, *args: Any) -> Any:
        """Dispatch one openr2 callback."""
        return getattr(self, name)(*args)

    def on_call_init(self) -> None:
        self.lib.openr2_chan_enable_read(self.chan)   # the MF digits arrive as audio openr2 reads itself
        self.state, self.ani, self.dnis, self.category = R2State.INCOMING, "", "", ""
        self.accepted = self.answer_pending = False
        self.counts["incoming"] += 1
        self.sink(Seized(self.name))

    def on_call_offered(self, ani: bytes, dnis: bytes, category: int) -> None:
        self.ani, self.dnis = r2lib.text(ani), r2lib.text(dnis)
        self.category = r2lib.text(self.lib.openr2_proto_get_category_string(category))
        log.info("event=r2_call_offered line=%s ani=%s dnis=%s category=%s", self.name, self.ani, self.dnis,
                 self.category)
        self.state = R2State.OFFERED
        self.lib.openr2_chan_accept_call(self.chan, int(r2lib.CallMode.NO_CHARGE))  # the caller hears ringback
        self.sink(Ringing(self.name, caller_id=self.ani, dialed=self.dnis))

    def on_call_accepted(self, mode: int) -> None:
        self.lib.openr2_chan_disable_read(self.chan)  # MF is over: the call's audio goes through the poller
        if self.state is R2State.DIALING:
            self.state = R2State.RINGBACK
            self.sink(Progress(self.name, kind=ProgressKind.RINGBACK))
        elif self.state is R2State.OFFERED:
            self.accepted = True
            if self.answer_pending:
                self.answer()

    def on_call_answered(self) -> None:
        if self.state is R2State.RINGBACK:
            self.state = R2State.CONNECTED
            self.sink(Answered(self.name))

    def on_call_disconnect(self, cause: int) -> None:
        """The far end cleared (or refused the box's call): tell the box and complete the clearing."""
        was = self.state
        self.state = R2State.CLEARING
        self.lib.openr2_chan_disable_read(self.chan)
        if was not in (R2State.CLEARING, R2State.IDLE, R2State.DOWN):
            try:
                why = _CAUSES.get(Cause(cause), HangupCause.NORMAL)
            except ValueError:
                why = HangupCause.NORMAL
            self.sink(HungUp(self.name, cause=why))
        self.lib.openr2_chan_disconnect_call(self.chan, int(Cause.NORMAL_CLEARING))

    def on_call_end(self) -> None:
        self.lib.openr2_chan_disable_read(self.chan)
        if self.state is not R2State.DOWN:
            self.state = R2State.IDLE

    def on_call_read(self, buf: int, n: int) -> None:
        pass   # the call's audio is read by the span poller (openr2's read is off once MF is over)

    def on_hardware_alarm(self, alarm: int) -> None:
        reason = self.alarm_reason(bool(alarm))
        if alarm:
            if self.state is not R2State.DOWN:
                in_call = self.state not in (R2State.IDLE, R2State.BLOCKED, R2State.CLEARING)
                self.lib.openr2_chan_disable_read(self.chan)
                self.state = R2State.DOWN
                self.sink(LineDown(self.name, reason=reason or "alarm"))
                if in_call:
                    log.warning("event=r2_call_lost line=%s reason=%r", self.name, reason)
        elif self.state is R2State.DOWN:
            self.lib.openr2_chan_set_idle(self.chan)
            self.state = R2State.IDLE
            self.sink(LineUp(self.name))

    def on_os_error(self, code: int) -> None:
        log.warning("event=r2_os_error line=%s errno=%d", self.name, code)

    def on_protocol_error(self, error: int) -> None:
        self.last_error = r2lib.text(self.lib.openr2_proto_get_error(error))
        self.counts["protocol_errors"] += 1
        log.warning("event=r2_protocol_error line=%s error=%r state=%s", self.name, self.last_error, self.state.value)
        if self.state not in (R2State.IDLE, R2State.DOWN, R2State.BLOCKED):
            if self.state is not R2State.CLEARING:
                self.sink(HungUp(self.name, cause=HangupCause.CONGESTION))
            self.state = R2State.IDLE
            self.lib.openr2_chan_disable_read(self.chan)
            self.lib.openr2_chan_set_idle(self.chan)

    def on_line_blocked(self) -> None:
        if self.state is R2State.IDLE:
            self.state = R2State.BLOCKED
            self.sink(LineDown(self.name, reason="blocked by the far end (R2)"))

    def on_line_idle(self) -> None:
        if self.state is R2State.BLOCKED:
            self.state = R2State.IDLE
            self.sink(LineUp(self.name))

    def on_dnis_digit_received(self, digit: bytes) -> int:
        return 1   # ask for more until max DNIS (or the far end says there are no more)

    def on_ani_digit_received(self, digit: bytes) -> None:
        pass

    def on_billing_pulse_received(self) -> None:
        pass
