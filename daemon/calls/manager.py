"""The call manager: one Call per call, one task per call, admission control, watchdog and drain."""
from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

from hotline.drivers.base import (Answered, AnswerConfirmed, DigitReceived, Flashed, HangupCause, HungUp, Line,
                                  LineDown, LineEvent, LineKind, LineUp, MediaQuality, OffHook, Progress, Ringing,
                                  ToneDetected, ToneKind)

from . import cdr
from .devices import DeviceManager
from .journal import Journal
from .linecaps import DigitMerger, confirms_answer, event_digits, inband_digits
from ..media.engine import Channel, MediaEngine
from .recording import Recorder, RecordingWriter
from .call_recording import CallRecordings
from .text import clean_text

log = logging.getLogger("hotline.calls")
KEYS_SHOWN = 32                    # the caller's last keys kept on a call for the panel (simulator console)


class CallState(enum.Enum):
    """Where a call is."""

    RINGING = "ringing"
    ANSWERED = "answered"
    BRIDGED = "bridged"
    ENDED = "ended"


class LegGone(Exception):
    """The far end of a leg hung up or its line went down."""

    def __init__(self, cause: HangupCause):
        super().__init__(cause.value)
        self.cause = cause


@dataclass(eq=False)
class Leg:
    """One line taking part in a call: the caller's trunk, a station, or an outbound trunk."""

    uuid: str
    line: Line
    role: str                      # caller | station | outbound
    call: "Call"
    channel: Channel | None = None
    digits: asyncio.Queue = field(default_factory=asyncio.Queue)
    answered: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    gone: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    flashes: asyncio.Queue = field(default_factory=asyncio.Queue)
    ended: bool = False
    far_gone: bool = False  # the far end hung up or the line went down (nothing to hang up on our side)
    dialed: str = ""        # outbound legs: the number dialled (follow-me maps it back to the agent)
    answering: bool = False  # answer() was sent; audio waits for the line's confirmation
    merger: DigitMerger = field(default_factory=DigitMerger)  # in-band and out-of-band reports of one key

    def lost(self, cause: HangupCause) -> None:
        """Mark the far end gone (hang-up, busy, line down)."""
        if not self.gone.done():
            self.gone.set_result(cause)
        if not self.answered.done():
            self.answered.set_exception(LegGone(cause))
            self.answered.exception()  # retrieved: no "never retrieved" warnings


@dataclass(eq=False)
class Call:
    """A call from ring to record."""

    uuid: str
    direction: str                 # inbound | internal | outbound
    caller: Leg | None = None
    caller_id: str = ""
    caller_name: str = ""
    dialed: str = ""
    state: CallState = CallState.RINGING
    offered_at: float = 0.0
    answered_at: float | None = None
    bridged_at: float | None = None
    ended_at: float | None = None
    cause: HangupCause | None = None
    legs: list[Leg] = field(default_factory=list)
    peer: Leg | None = None
    task: asyncio.Task | None = None
    recorder: Recorder | None = None
    vars: dict = field(default_factory=dict)
    end_done: asyncio.Event = field(default_factory=asyncio.Event)
    keys: str = ""                 # the caller's keys heard so far (the last KEYS_SHOWN): simulated callers only
    self_ending: bool = False      # the call's own task is ending it (CallManager.finish): not to be cancelled
    # False from the creation of the call's flow task until it first runs (a task cancelled before that never
    # runs, so its clean-up would not either); tasks others give the call (callbacks, fax jobs) leave it True
    started: bool = True
    # set (with the flow cancelled) when something else takes the call over, e.g. a fax receive after CNG:
    # the call's task runs it in place of the rest of the flow, then ends the call as usual
    takeover: Callable[["Call"], Awaitable[None]] | None = None

    def key_heard(self, leg: Leg, digit: str) -> None:
        """A key detected on a leg: to the leg's queue; the caller's keys are also remembered for the panel."""
        leg.digits.put_nowait(digit)
        if leg is self.caller:
            self.keys = (self.keys + digit)[-KEYS_SHOWN:]

    def summary(self) -> dict:
        """State for the API and the panel."""
        state = self.state.value
        if self.state is CallState.ENDED and not self.end_done.is_set():
            state = "ending"  # "ended" only once call.ended and the CDR are committed
        return {"uuid": self.uuid, "direction": self.direction, "state": state,
                "line": self.caller.line.name if self.caller else None, "caller_id": self.caller_id,
                "caller_name": self.caller_name, "dialed": self.dialed, "offered_at": self.offered_at,
                "answered_at": self.answered_at, "bridged_at": self.bridged_at, "ended_at": self.ended_at,
                "cause": self.cause.value if self.cause else None,
                "peer": self.peer.line.extension or self.peer.line.name if self.peer else None}


Flow = Callable[[Any], Awaitable[None]]


class CallManager(CallRecordings):
    """Creates calls from line events, runs their flows, ends them cleanly and durably."""

    def __init__(self, devices: DeviceManager, engine: MediaEngine, journal: Journal, store: Any,
                 recordings_dir: Path, config: Any, metrics: Any = None):
        self.devices = devices
        self.engine = engine
        self.journal = journal
        self.store = store
        self.recordings_dir = recordings_dir
        self.config = config
        self.metrics = metrics
        self.calls: dict[str, Call] = {}
        self.owner: dict[str, Leg] = {}
        # a caller ringing on a line whose last call is still ending (its far end hung up a moment ago): offered
        # once that call has released the line, instead of being dropped (the caller would ring for ever)
        self.pending_offers: dict[str, Ringing] = {}
        # station legs ringing right now, by line name, with the future a pickup resolves (call pickup *8)
        self.ringing: dict[str, tuple[Leg, asyncio.Future]] = {}
        self.refusing = False
        self.flow_for: Callable[[Call], Flow] | None = None
        self.context_factory: Callable[[Call, "CallManager"], Any] | None = None
        self.writer = RecordingWriter(self._call_soon, metrics)
        self.record_calls = True
        self.record_stereo = False
        self._watchdog: asyncio.Task | None = None
        self.finished: dict[str, dict] = {}
        self.refused: dict[str, str] = {}   # call uuid -> admission refusal reason (the newest 1000)
        self.on_call_ended: list[Callable[[Call], None]] = []
        self.on_leg_ended: list[Callable[[Leg], None]] = []  # the ACD frees an agent whose leg ended
        # the fax calling tone was heard on a caller's line (media tick or the modem's DLE c); the fax receiver
        # decides whether the call becomes a fax receive (None: nobody listens, the tone is only logged)
        self.on_fax_tone: Callable[[Call], None] | None = None
        # a line that answers every call as fax (a modem device with ``mode: fax``): its calls run this instead of
        # a flow (the fax receiver's modem receive); None: such calls go to their flow like any other
        self.on_fax_line: Callable[[Call], Awaitable[None]] | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Close calls a crash left open, repair recordings, start the writer and watchdog."""
        self.loop = asyncio.get_running_loop()
        closed = await self.store.write(cdr.close_interrupted, None)
        if closed:
            log.warning("event=closed_interrupted calls=%d", len(closed))
        await self._repair_recordings()
        self.writer.start()
        self._watchdog = self.loop.create_task(self._watchdog_loop())

    async def stop(self) -> None:
        """End every call (cause shutdown), then stop the writer."""
        self.refusing = True
        for call in list(self.calls.values()):
            await self.end(call, HangupCause.SHUTDOWN)
        if self._watchdog:
            self._watchdog.cancel()
        await asyncio.get_running_loop().run_in_executor(None, self.writer.stop)

    def status(self) -> dict:
        """Calls in progress."""
        return {"state": "draining" if self.refusing else "up", "active": len(self.calls)}

    def active_count(self) -> int:
        """Calls in progress."""
        return len(self.calls)

    def refuse_new(self) -> None:
        """Stop taking new calls (during drain)."""
        self.refusing = True

    async def drain(self, timeout: float) -> None:
        """Refuse new calls and wait (bounded) for the ones in progress to end by themselves."""
        self.refuse_new()
        deadline = time.monotonic() + timeout
        while self.calls and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if self.calls:
            log.warning("event=drain_timeout ending=%d", len(self.calls))

    def _call_soon(self, fn: Callable[[], None]) -> None:
        self.loop.call_soon_threadsafe(fn)

    # ---- line events ----------------------------------------------------------------------
    def on_line_event(self, event: LineEvent) -> None:
        """Route one driver event to the call or leg owning the line."""
        leg = self.owner.get(event.line)
        line = self.devices.lines.get(event.line)
        if isinstance(event, Ringing):
            if leg is None and line is not None:
                self.offer(line, event)
            elif leg is not None and leg.far_gone and not leg.ended:
                self.pending_offers[event.line] = event
            return
        if isinstance(event, HungUp) and self.pending_offers.pop(event.line, None) is not None:
            return   # the waiting caller gave up before the line was free
        if isinstance(event, LineDown):
            self.journal.emit("line.down", line=event.line, reason=clean_text(event.reason), ts=self.engine.now())
            if leg is not None:
                leg.far_gone = True
                leg.lost(HangupCause.LINE_DOWN)
                self._leg_lost(leg, HangupCause.LINE_DOWN)
            return
        if isinstance(event, LineUp):
            self.journal.emit("line.up", line=event.line, ts=self.engine.now())
            return
        if isinstance(event, MediaQuality):
            self.journal.emit("line.quality", leg.uuid if leg else None, event.line, ts=self.engine.now(),
                              parent=leg.call.uuid if leg else None, loss_pct=event.loss_pct,
                              jitter_ms=event.jitter_ms, far_loss_pct=event.far_loss_pct,
                              far_jitter_ms=event.far_jitter_ms)
            return
        if leg is None:
            if isinstance(event, OffHook) and line is not None and line.kind is LineKind.STATION:
                self.offer_internal(line)
            return
        if isinstance(event, (OffHook, Answered)):
            if not leg.answered.done():
                leg.answered.set_result(True)
        elif isinstance(event, HungUp):
            leg.far_gone = True
            leg.lost(event.cause)
            self._leg_lost(leg, event.cause)
        elif isinstance(event, AnswerConfirmed):
            if leg is leg.call.caller and leg.answering:
                self._answer_confirmed(leg.call)
        elif isinstance(event, DigitReceived):
            if event_digits(leg.line):
                self._digit(leg, "event", event.digit)
        elif isinstance(event, Flashed):
            by = leg.line.extension or leg.line.name
            action = event.action.value if event.action is not None else None
            leg.flashes.put_nowait(True if action is None else ("consult", event.target, by)
                                   if action == "consult" else (action, by))
        elif isinstance(event, ToneDetected):
            log.info("event=tone_detected line=%s tone=%s", event.line, event.kind.value)
            if event.kind is ToneKind.FAX_CNG and leg is leg.call.caller and self.on_fax_tone is not None:
                self.on_fax_tone(leg.call)
            elif event.kind in (ToneKind.BUSY, ToneKind.CONGESTION):  # many analog lines signal hang-up only so
                cause = HangupCause.BUSY if event.kind is ToneKind.BUSY else HangupCause.CONGESTION
                leg.lost(cause)
                self._leg_lost(leg, cause)
        elif isinstance(event, Progress):
            log.info("event=call_progress line=%s kind=%s", event.line, event.kind.value)

    def _digit(self, leg: Leg, source: str, digit: str) -> None:
        """A key from in-band detection or an out-of-band event; the second report of one press is dropped."""
        if source == "event" or inband_digits(leg.line) and event_digits(leg.line):
            if not leg.merger.accept(source, digit, self.engine.now()):
                return
        leg.call.key_heard(leg, digit)
        if source == "event" and self.metrics is not None:
            self.metrics.dtmf_digits.labels("signal").inc()

    def _leg_lost(self, leg: Leg, cause: HangupCause) -> None:
        call = leg.call
        if leg is call.caller and call.state is not CallState.ENDED:
            call.cause = cause
            if call.task is not None and not call.task.done() and call.started:
                call.task.cancel()
            else:   # no task, or one that has not run yet (its clean-up would never run if cancelled now)
                self.loop.create_task(self.end(call, cause))

    # ---- offering -------------------------------------------------------------------------
    def _admit(self) -> str | None:
        if self.refusing:
            return "draining"
        if self.engine.active + 2 > self.engine.capacity or len(self.calls) >= self.config["engine"]["max_channels"]:
            return "channel_limit"
        if self.engine.overloaded():
            return "overload"
        return None

    def _new_call(self, line: Line, direction: str, caller_id: str, caller_name: str, dialed: str) -> Call:
        call = Call(uuid=str(uuidlib.uuid4()), direction=direction, caller_id=caller_id, caller_name=caller_name,
                    dialed=dialed, offered_at=self.engine.now())
        call.caller = Leg(uuid=call.uuid, line=line, role="caller", call=call)
        call.legs.append(call.caller)
        self.journal.emit("call.offered", call.uuid, line.name, ts=call.offered_at, direction=direction,
                          caller_id=caller_id, caller_name=caller_name, dialed=dialed)
        return call

    def offer(self, line: Line, event: Ringing) -> Call:
        """A caller rings on a trunk: admit and run its flow, or refuse with busy. Text from the line that is
        not valid Unicode (a garbled caller ID) is replaced, never stored raw. A call without a dialled number
        takes the number of its line's device (``number:``)."""
        given = (event.caller_id, event.caller_name, event.dialed)
        caller_id, caller_name, dialed = (clean_text(v) for v in given)
        if (caller_id, caller_name, dialed) != given:
            log.warning("event=line_text_replaced line=%s caller_id=%r", line.name, caller_id)
        if not dialed:  # analog lines deliver no dialled number: the line's own number routes the call
            dialed = self.devices.number_of(line.name)
        call = self._new_call(line, "inbound", caller_id, caller_name, dialed)
        reason = self._admit()
        if reason is not None:
            call.state, call.cause, call.ended_at = CallState.ENDED, HangupCause.REJECTED, self.engine.now()
            line.reject(HangupCause.BUSY)
            self.journal.emit("call.refused", call.uuid, line.name, ts=call.ended_at, reason=reason)
            self.journal.emit("call.ended", call.uuid, line.name, ts=call.ended_at, cause="rejected")
            if self.metrics is not None:
                self.metrics.calls_refused.labels(reason).inc()
            log.warning("event=call_refused call=%s reason=%s", call.uuid, reason)
            self.refused[call.uuid] = reason
            if len(self.refused) > 1000:
                self.refused.pop(next(iter(self.refused)))
            self.finished[call.uuid] = call.summary()  # "ending" until the CDR is committed
            self.loop.create_task(self._finish_refused(call))
            return call
        self._start(call)
        return call

    async def _finish_refused(self, call: Call) -> None:
        try:
            await self._write_cdr(call.uuid)
        finally:
            call.end_done.set()
            self.finished[call.uuid] = call.summary()

    def offer_internal(self, station: Line) -> Call:
        """A station went off hook to dial: the call starts answered, the flow gives dial tone."""
        call = self._new_call(station, "internal", station.extension, "", "")
        if self._admit() is not None:
            station.hangup()
            call.state, call.cause, call.ended_at = CallState.ENDED, HangupCause.REJECTED, self.engine.now()
            self.journal.emit("call.ended", call.uuid, station.name, ts=call.ended_at, cause="rejected")
            self.loop.create_task(self._finish_refused(call))
            return call
        call.caller.answered.set_result(True)
        self._start(call)
        return call

    def _start(self, call: Call) -> None:
        self.calls[call.uuid] = call
        self.owner[call.caller.line.name] = call.caller
        self.devices.busy.add(call.caller.line.name)
        if self.on_fax_line is not None and call.direction == "inbound" \
                and getattr(call.caller.line, "answers_fax", False):
            call.takeover, flow, ctx = self.on_fax_line, None, None   # a fax line: no flow, the fax receive
            self.journal.emit("fax.line", call.uuid, call.caller.line.name, ts=self.engine.now())
            call.started = False
            call.task = self.loop.create_task(self._run(call, flow, ctx), name=f"call-{call.uuid}")
            return
        flow = self.flow_for(call) if self.flow_for else None
        ctx = self.context_factory(call, self) if self.context_factory else None
        call.started = False
        call.task = self.loop.create_task(self._run(call, flow, ctx), name=f"call-{call.uuid}")

    def take_over(self, call: Call, takeover: Callable[[Call], Awaitable[None]]) -> bool:
        """Stop the call's flow and run ``takeover(call)`` in its task instead (the call ends after it, as after
        a flow); False when the call is ending or already taken over."""
        if call.state is CallState.ENDED or call.takeover is not None or call.task is None or call.task.done():
            return False
        call.takeover = takeover
        if call.started:
            call.task.cancel()   # a task that has not run yet finds the takeover when it starts
        return True

    async def _run(self, call: Call, flow: Flow | None, ctx: Any) -> None:
        call.started = True
        if call.state is CallState.ENDED:
            return          # ended before this task first ran (the caller hung up at once): end() did it all
        try:
            try:
                if call.direction == "internal":
                    self.open_media(call.caller)
                if flow is not None and call.takeover is None:
                    await flow(ctx)
            except asyncio.CancelledError:
                if call.takeover is None or call.state is CallState.ENDED:
                    raise
                current = asyncio.current_task()
                while current is not None and current.cancelling():   # the take-over's cancel, not a hang-up
                    current.uncancel()
            if call.takeover is not None and call.state is not CallState.ENDED:
                await call.takeover(call)
        except asyncio.CancelledError:
            pass
        except LegGone as exc:
            call.cause = call.cause or exc.cause
        except Exception as exc:
            log.exception("event=flow_failed call=%s", call.uuid)
            self.journal.emit("call.error", call.uuid, ts=self.engine.now(), error=str(exc))
        finally:
            await self.finish(call, call.cause or HangupCause.NORMAL)

    async def finish(self, call: Call, cause: HangupCause) -> None:
        """End a call from inside its own task: shielded, so a cancel cannot cut the CDR short, and marked,
        so end() does not cancel the very task that is ending the call (a shielded end() runs in a task of
        its own, where "the current task" is not the call's)."""
        call.self_ending = True
        await asyncio.shield(self.end(call, cause))

    # ---- media and legs -------------------------------------------------------------------
    def open_media(self, leg: Leg) -> Channel:
        """Give a leg an audio channel (digits from its audio go to its digit queue)."""
        if leg.channel is None:
            dev = self.devices.device_of(leg.line.name)
            on_digit = (lambda d, ms, leg=leg: self._digit(leg, "inband", d)) if inband_digits(leg.line) else None
            leg.channel = self.engine.open_channel(leg.line.name, dev, on_digit)
        return leg.channel

    def answer(self, call: Call) -> asyncio.Future:
        """Answer the caller's line; audio (and recording, when the policy says so) starts only once the line
        confirmed the answer (AnswerConfirmed, or at once for lines with immediate answer supervision).
        Returns the caller leg's ``answered`` future, done at confirmation (LegGone if the caller left first)."""
        leg = call.caller
        if call.state is not CallState.RINGING or leg.answering:
            return leg.answered
        leg.answering = True
        leg.line.answer()  # a confirming line may post AnswerConfirmed from inside answer()
        if not confirms_answer(leg.line):
            self._answer_confirmed(call)
        return leg.answered

    def answered_by_line(self, call: Call) -> None:
        """The line answered by itself (a fax modem's ATA): the call counts as answered; no media opens."""
        if call.state is not CallState.RINGING:
            return
        call.caller.answering = True
        if not call.caller.answered.done():
            call.caller.answered.set_result(True)
        call.state, call.answered_at = CallState.ANSWERED, self.engine.now()
        self.journal.emit("call.answered", call.uuid, call.caller.line.name, ts=call.answered_at, by="fax_modem")

    def _answer_confirmed(self, call: Call) -> None:
        if call.state is not CallState.RINGING:
            return
        if not call.caller.answered.done():
            call.caller.answered.set_result(True)
        call.state, call.answered_at = CallState.ANSWERED, self.engine.now()
        ch = self.open_media(call.caller)
        self.journal.emit("call.answered", call.uuid, call.caller.line.name, ts=call.answered_at)
        if call.direction == "inbound" and self.on_fax_tone is not None and call.vars.get("fax_detect", True):
            leg = call.caller
            self.engine.watch_tones(ch, lambda kind, leg=leg: self.on_line_event(ToneDetected(leg.line.name, kind)))
        policy = call.vars.get("recording_policy")  # the route's policy (routes: recording), else the engine's
        if policy == "never":
            self.journal.emit("recording.skipped", call.uuid, ts=self.engine.now(), reason="policy:never")
        elif policy in ("always", "on_demand") or (policy is None and self.record_calls):
            rec = self.start_recording(call, ch)
            if rec is not None and policy == "on_demand":  # waits paused for the agent's start
                rec.paused = True
                self.journal.emit("recording.paused", call.uuid, ts=self.engine.now(), by="policy:on_demand",
                                  route=call.dialed, at_seconds=0.0)

    def new_leg(self, call: Call, line: Line, role: str, dialed: str | None = None) -> Leg:
        """Add a station or outbound leg to a call (its own uuid, linked by parent); ``dialed`` is the number
        an outbound leg dials."""
        leg = Leg(uuid=str(uuidlib.uuid4()), line=line, role=role, call=call)
        call.legs.append(leg)
        self.owner[line.name] = leg
        self.devices.busy.add(line.name)
        self.journal.emit("leg.offered", leg.uuid, line.name, ts=self.engine.now(), parent=call.uuid,
                          direction="agent_leg" if role == "station" else "outbound",
                          extension=line.extension, dialed=dialed or line.extension)
        return leg

    def end_leg(self, leg: Leg, cause: HangupCause = HangupCause.NORMAL) -> None:
        """Hang up one leg and release its line and channel."""
        if leg.ended:
            return
        leg.ended = True
        if not leg.far_gone:  # we end it (also after our own ring timeout): stop ringing or hang up the line
            answered = leg.answered.done() and not leg.answered.exception()
            leg.line.hangup() if answered else _stop_ringing(leg.line)
        if leg.channel is not None:
            self.engine.close_channel(leg.channel)
            leg.channel = None
        if self.owner.get(leg.line.name) is leg:
            del self.owner[leg.line.name]
            self.devices.busy.discard(leg.line.name)
            waiting = self.pending_offers.pop(leg.line.name, None)
            if waiting is not None:
                self.loop.call_soon(self.on_line_event, waiting)
        for listener in self.on_leg_ended:
            listener(leg)
        if leg is not leg.call.caller:
            cause = leg.gone.result() if leg.gone.done() else cause
            self.journal.emit("leg.ended", leg.uuid, leg.line.name, ts=self.engine.now(), cause=cause.value)
            self.loop.create_task(self._write_cdr(leg.uuid))

    async def end(self, call: Call, cause: HangupCause) -> None:
        """End a call: every leg, the recording, then call.ended and its CDR committed together."""
        if call.state is CallState.ENDED:
            await call.end_done.wait()
            return
        call.state = CallState.ENDED
        call.cause = call.cause or cause
        if (call.task is not None and not call.task.done() and call.task is not asyncio.current_task()
                and not call.self_ending):
            call.task.cancel()
        for leg in reversed(call.legs):
            self.end_leg(leg, call.cause)
        call.ended_at = self.engine.now()
        if call.recorder is not None:
            call.recorder.close()
            try:
                await asyncio.wait_for(asyncio.shield(call.recorder.closed_future), 10)
            except asyncio.TimeoutError:
                log.error("event=recording_close_timeout call=%s", call.uuid)
        self.journal.emit("call.ended", call.uuid, call.caller.line.name if call.caller else None,
                          ts=call.ended_at, cause=call.cause.value)
        row = await self._write_cdr(call.uuid)
        self.calls.pop(call.uuid, None)
        call.end_done.set()
        self.finished[call.uuid] = call.summary()
        if len(self.finished) > 10000:
            self.finished.pop(next(iter(self.finished)))
        if self.metrics is not None and row:
            self.metrics.calls.labels(call.direction, row["disposition"]).inc()
        for cb in self.on_call_ended:
            cb(call)

    async def _write_cdr(self, uuid: str) -> dict | None:
        """Commit the journal and the CDR of a call or leg with the journal's next batch; None when it failed
        (the journal retries the CDR, and the next start writes any CDR still missing)."""
        try:
            return await self.journal.commit_with(lambda: cdr.write_cdr(uuid))
        except Exception as exc:
            log.error("event=cdr_failed call=%s error=%r", uuid, str(exc))
            return None

    # ---- watchdog ----------------------------------------------------------------------------
    async def _watchdog_loop(self) -> None:
        last_retention = 0.0
        while True:
            await asyncio.sleep(5)
            try:
                self.check_orphans()
                if time.monotonic() - last_retention > 3600:
                    last_retention = time.monotonic()
                    await self.apply_retention(self.config["engine"].get("recording_retention_days", 0))
            except Exception:
                log.exception("event=watchdog_failed")

    def check_orphans(self) -> list[str]:
        """End calls that outlived the call timeout or whose task died; free lines nobody owns."""
        ended = []
        limit = self.config["engine"]["call_timeout"]
        now = self.engine.now()
        for call in list(self.calls.values()):
            too_old = now - call.offered_at > limit
            dead = call.task is not None and call.task.done() and call.state is not CallState.ENDED  # not ending
            if too_old or dead:
                reason = "call_timeout" if too_old else "task_gone"
                log.warning("event=orphan_call call=%s reason=%s", call.uuid, reason)
                self.journal.emit("call.orphaned", call.uuid, ts=now, reason=reason)
                call.cause = HangupCause.ORPHANED
                self.loop.create_task(self.end(call, HangupCause.ORPHANED))
                ended.append(call.uuid)
        for name in list(self.devices.busy):
            if name not in self.owner:
                self.devices.busy.discard(name)
        owned = {leg.channel.slot for leg in self.owner.values() if leg.channel is not None}
        for slot, ch in list(self.engine.channels.items()):
            if slot not in owned:
                log.warning("event=orphan_channel line=%s", ch.line)
                self.engine.close_channel(ch)
        return ended


def _stop_ringing(line: Line) -> None:
    if line.kind is LineKind.STATION:
        line.stop_ring()
    else:
        line.hangup()
