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
                                  LineDown, LineEvent, LineKind, LineUp, OffHook, Progress, Ringing, ToneDetected,
                                  ToneKind)

from . import cdr
from .devices import DeviceManager
from .journal import Journal
from .linecaps import DigitMerger, confirms_answer, event_digits, inband_digits
from ..media.engine import Channel, MediaEngine
from .recording import Recorder, RecordingWriter
from ..store.models import Recording

log = logging.getLogger("hotline.calls")


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


class CallManager:
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
        self.on_call_ended: list[Callable[[Call], None]] = []
        self.on_leg_ended: list[Callable[[Leg], None]] = []  # the ACD frees an agent whose leg ended

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
            return
        if isinstance(event, LineDown):
            self.journal.emit("line.down", line=event.line, reason=event.reason, ts=self.engine.now())
            if leg is not None:
                leg.far_gone = True
                leg.lost(HangupCause.LINE_DOWN)
                self._leg_lost(leg, HangupCause.LINE_DOWN)
            return
        if isinstance(event, LineUp):
            self.journal.emit("line.up", line=event.line, ts=self.engine.now())
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
            leg.flashes.put_nowait(True)
        elif isinstance(event, ToneDetected):
            log.info("event=tone_detected line=%s tone=%s", event.line, event.kind.value)
            if event.kind in (ToneKind.BUSY, ToneKind.CONGESTION):  # many analog lines signal hang-up only so
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
        leg.digits.put_nowait(digit)
        if source == "event" and self.metrics is not None:
            self.metrics.dtmf_digits.labels("signal").inc()

    def _leg_lost(self, leg: Leg, cause: HangupCause) -> None:
        call = leg.call
        if leg is call.caller and call.state is not CallState.ENDED:
            call.cause = cause
            if call.task is not None and not call.task.done():
                call.task.cancel()
            else:
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
        """A caller rings on a trunk: admit and run its flow, or refuse with busy."""
        call = self._new_call(line, "inbound", event.caller_id, event.caller_name, event.dialed)
        reason = self._admit()
        if reason is not None:
            call.state, call.cause, call.ended_at = CallState.ENDED, HangupCause.REJECTED, self.engine.now()
            line.reject(HangupCause.BUSY)
            self.journal.emit("call.refused", call.uuid, line.name, ts=call.ended_at, reason=reason)
            self.journal.emit("call.ended", call.uuid, line.name, ts=call.ended_at, cause="rejected")
            if self.metrics is not None:
                self.metrics.calls_refused.labels(reason).inc()
            log.warning("event=call_refused call=%s reason=%s", call.uuid, reason)
            self.finished[call.uuid] = call.summary()  # "ending" until the CDR is committed
            self.loop.create_task(self._finish_refused(call))
            return call
        self._start(call)
        return call

    async def _finish_refused(self, call: Call) -> None:
        try:
            await self.journal.flush(lambda: cdr.write_cdr(call.uuid))
        finally:
            call.end_done.set()
            self.finished[call.uuid] = call.summary()

    def offer_internal(self, station: Line) -> Call:
        """A station went off hook to dial: the call starts answered, the flow gives dial tone."""
        call = self._new_call(station, "internal", station.extension, "", "")
        if self._admit() is not None:
            station.hangup()
            self.journal.emit("call.ended", call.uuid, station.name, ts=self.engine.now(), cause="rejected")
            return call
        call.caller.answered.set_result(True)
        self._start(call)
        return call

    def _start(self, call: Call) -> None:
        self.calls[call.uuid] = call
        self.owner[call.caller.line.name] = call.caller
        self.devices.busy.add(call.caller.line.name)
        flow = self.flow_for(call) if self.flow_for else None
        ctx = self.context_factory(call, self) if self.context_factory else None
        call.task = self.loop.create_task(self._run(call, flow, ctx), name=f"call-{call.uuid}")

    async def _run(self, call: Call, flow: Flow | None, ctx: Any) -> None:
        try:
            if call.direction == "internal":
                self.open_media(call.caller)
            if flow is not None:
                await flow(ctx)
        except asyncio.CancelledError:
            pass
        except LegGone as exc:
            call.cause = call.cause or exc.cause
        except Exception as exc:
            log.exception("event=flow_failed call=%s", call.uuid)
            self.journal.emit("call.error", call.uuid, ts=self.engine.now(), error=str(exc))
        finally:
            await asyncio.shield(self.end(call, call.cause or HangupCause.NORMAL))

    async def originate_callback(self, agent: Any, entry: Any, acd: Any, ring_timeout: float = 20.0,
                                 direction: str = "callback") -> str:
        """A callback: ring the agent's phone first; when answered, dial the customer and bridge.
        Returns connected, agent_missed, busy, no_answer or no_trunk. The agent desk's click-to-call uses the
        same path with direction "outbound"."""
        station = self.devices.station(agent.station) if agent.station else None
        if station is None or station.name in self.owner or not station.up:
            return "agent_missed"
        call = Call(uuid=str(uuidlib.uuid4()), direction=direction, caller_id=entry.number or "",
                    dialed=entry.number or "", offered_at=self.engine.now())
        call.caller = Leg(uuid=call.uuid, line=station, role="caller", call=call)
        call.legs.append(call.caller)
        call.task = asyncio.current_task()
        self.journal.emit("call.offered", call.uuid, station.name, ts=call.offered_at, direction=direction,
                          caller_id=entry.number, dialed=entry.number, parent=entry.call_uuid, queue=entry.queue,
                          agent=agent.id)
        self.calls[call.uuid] = call
        self.owner[station.name] = call.caller
        self.devices.busy.add(station.name)
        station.ring(entry.number or "", direction)
        outcome, cause = "agent_missed", HangupCause.NO_ANSWER
        try:
            try:
                await self.engine.wait_for(asyncio.shield(call.caller.answered), ring_timeout)
            except (asyncio.TimeoutError, LegGone):
                return outcome
            call.state, call.answered_at = CallState.ANSWERED, self.engine.now()
            self.open_media(call.caller)
            self.journal.emit("call.answered", call.uuid, station.name, ts=call.answered_at, agent=agent.id)
            acd.agents.set_state(agent, type(agent.state).ON_CALL, by="acd", call_uuid=call.uuid, force=True)
            session = self.context_factory(call, self)
            result = await session.dial_out(entry.number, ring_timeout=30.0)
            outcome = {"completed": "connected", "transferred": "connected", "busy": "busy",
                       "no_answer": "no_answer"}.get(result.value, "no_trunk")
            cause = HangupCause.NORMAL
            return outcome
        except LegGone as exc:
            cause = exc.cause
            return outcome
        finally:
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

    def _answer_confirmed(self, call: Call) -> None:
        if call.state is not CallState.RINGING:
            return
        if not call.caller.answered.done():
            call.caller.answered.set_result(True)
        call.state, call.answered_at = CallState.ANSWERED, self.engine.now()
        ch = self.open_media(call.caller)
        self.journal.emit("call.answered", call.uuid, call.caller.line.name, ts=call.answered_at)
        policy = call.vars.get("recording_policy")  # the route's policy (routes: recording), else the engine's
        if policy == "never":
            self.journal.emit("recording.skipped", call.uuid, ts=self.engine.now(), reason="policy:never")
        elif policy in ("always", "on_demand") or (policy is None and self.record_calls):
            rec = self.start_recording(call, ch)
            if rec is not None and policy == "on_demand":  # waits paused for the agent's start
                rec.paused = True
                self.journal.emit("recording.paused", call.uuid, ts=self.engine.now(), by="policy:on_demand",
                                  route=call.dialed, at_seconds=0.0)

    def start_recording(self, call: Call, ch: Channel, by: str = "policy") -> Recorder | None:
        """Record everything on the caller's leg (None when the disk guard says no: the call goes on)."""
        from .recording import disk_free_ok
        min_free = self.config["engine"].get("recording_min_free_mb", 0.0)
        if min_free and not disk_free_ok(self.recordings_dir, min_free):
            log.warning("event=recording_skipped call=%s reason=disk_low min_free_mb=%s", call.uuid, min_free)
            self.journal.emit("recording.skipped", call.uuid, ts=self.engine.now(), reason="disk_low")
            if self.metrics is not None:
                self.metrics.recording_errors.inc()
            return None
        day = time.strftime("%Y/%m/%d", time.localtime(self.engine.now()))
        segment = call.vars.get("recording_segments", 0) + 1
        call.vars["recording_segments"] = segment
        name = f"{call.uuid}.wav" if segment == 1 else f"{call.uuid}-{segment}.wav"
        path = self.recordings_dir / day / name
        rec = Recorder(call.uuid, path, self.writer, stereo=self.record_stereo, on_closed=self._recording_closed)
        rec.closed_future = self.loop.create_future()
        rec.attach(self.engine, ch)
        call.recorder = rec
        self.journal.emit("recording.started", call.uuid, ts=self.engine.now(), path=str(path), by=by)
        self.store.submit_write(lambda: Recording.create(call_uuid=call.uuid, path=str(path), state="open",
                                                         started_at=rec.started_at, channels=2 if rec.stereo else 1))
        return rec

    async def recording_action(self, call: Call, action: str, by: str) -> dict:
        """start / stop / pause / resume a call's recording (on-demand policy, or privacy), audited."""
        rec = call.recorder
        if action == "start" and rec is not None and not rec.closed and rec.paused:
            action = "resume"  # on-demand policy: the recording waits paused for the agent's start
        if action == "start":
            if call.vars.get("recording_policy") == "never":
                raise ValueError("this line is never recorded (routes: recording: never)")
            if rec is not None and not rec.closed:
                raise ValueError("the call is already being recorded")
            if call.caller is None or call.caller.channel is None:
                raise ValueError("the call has no audio yet")
            rec = self.start_recording(call, call.caller.channel, by=by)
            if rec is None:
                raise ValueError("not enough free disk space to record")
        elif rec is None or rec.closed:
            raise ValueError("the call is not being recorded")
        elif action == "stop":
            rec.close()
            await asyncio.wait_for(asyncio.shield(rec.closed_future), 10)
        elif action in ("pause", "resume"):
            if rec.paused == (action == "pause"):
                raise ValueError(f"the recording is already {'paused' if rec.paused else 'running'}")
            rec.paused = action == "pause"
            self.journal.emit(f"recording.{'paused' if rec.paused else 'resumed'}", call.uuid,
                              ts=self.engine.now(), by=by, at_seconds=round(rec.seconds, 2))
        else:
            raise ValueError("action must be start, stop, pause or resume")
        return {"call": call.uuid, "recording": None if rec is None else str(rec.path),
                "state": "closed" if rec.closed else "paused" if rec.paused else "recording"}

    async def apply_retention(self, days: int) -> int:
        """Delete recordings older than ``days`` (files and rows marked deleted); the number deleted."""
        if days <= 0:
            return 0
        cutoff = time.time() - days * 86400

        def old() -> list[tuple[str, str]]:
            return [(r.call_uuid, r.path) for r in Recording.select().where(
                (Recording.started_at < cutoff) & (Recording.state != "deleted"))]
        victims = await self.store.read(old)
        deleted = 0
        for call_uuid, path in victims:
            deleted += await self.delete_recording(call_uuid, path, "retention")
        return deleted

    async def delete_recording(self, call_uuid: str, path: str, reason: str, by: str = "retention",
                               then: Callable[[], Any] | None = None, file: Path | None = None) -> bool:
        """Delete one recording's file (``file``, default its stored ``path``), journal it, and mark its row
        deleted (``then`` runs in the same write, e.g. the panel's audit entry). False when the file cannot be
        removed (nothing is marked)."""
        target = file if file is not None else Path(path)
        try:
            await asyncio.get_running_loop().run_in_executor(None, lambda: target.unlink(missing_ok=True))
        except OSError as exc:
            log.error("event=recording_delete_failed path=%s error=%r", path, str(exc))
            return False
        self.journal.emit("recording.deleted", call_uuid, ts=self.engine.now(), path=path, reason=reason, by=by)

        def mark() -> None:
            Recording.update(state="deleted").where(Recording.path == path).execute()
            if then is not None:
                then()
        await self.store.write(mark)
        return True

    def _recording_closed(self, rec: Recorder) -> None:
        self.journal.emit("recording.closed", rec.call_uuid, ts=self.engine.now(), path=str(rec.path),
                          seconds=round(rec.seconds, 2))
        self.store.submit_write(lambda: Recording.update(state="closed", ended_at=time.time(),
                                                         duration=rec.seconds, bytes=rec.path.stat().st_size)
                                .where(Recording.path == str(rec.path)).execute())
        fut = getattr(rec, "closed_future", None)
        if fut is not None and not fut.done():
            fut.set_result(True)

    async def _repair_recordings(self) -> None:
        from .recording import repair
        if not self.recordings_dir.exists():
            return
        for part in sorted(self.recordings_dir.rglob("*.wav.part")):
            try:
                final, seconds = repair(part)
            except OSError as exc:
                log.error("event=recording_repair_failed path=%s error=%r", part, str(exc))
                continue
            uuid = final.stem
            self.journal.emit("recording.repaired", uuid, path=str(final), seconds=round(seconds, 2))
            self.journal.emit("recording.closed", uuid, path=str(final), seconds=round(seconds, 2), repaired=True)

            def mark(final: Path = final, seconds: float = seconds, uuid: str = uuid) -> None:
                n = Recording.update(state="repaired", duration=seconds, bytes=final.stat().st_size) \
                    .where(Recording.path == str(final)).execute()
                if n == 0:
                    Recording.create(call_uuid=uuid, path=str(final), started_at=final.stat().st_mtime,
                                     state="repaired", duration=seconds, bytes=final.stat().st_size)
                cdr.write_cdr(uuid)
            await self.journal.flush(mark)
            log.warning("event=recording_repaired path=%s seconds=%.2f", final, seconds)

    def new_leg(self, call: Call, line: Line, role: str) -> Leg:
        """Add a station or outbound leg to a call (its own uuid, linked by parent)."""
        leg = Leg(uuid=str(uuidlib.uuid4()), line=line, role=role, call=call)
        call.legs.append(leg)
        self.owner[line.name] = leg
        self.devices.busy.add(line.name)
        self.journal.emit("leg.offered", leg.uuid, line.name, ts=self.engine.now(), parent=call.uuid,
                          direction="agent_leg" if role == "station" else "outbound",
                          extension=line.extension, dialed=line.extension)
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
        for listener in self.on_leg_ended:
            listener(leg)
        if leg is not leg.call.caller:
            cause = leg.gone.result() if leg.gone.done() else cause
            self.journal.emit("leg.ended", leg.uuid, leg.line.name, ts=self.engine.now(), cause=cause.value)
            self.loop.create_task(self.journal.flush(lambda: cdr.write_cdr(leg.uuid)))

    async def end(self, call: Call, cause: HangupCause) -> None:
        """End a call: every leg, the recording, then call.ended and its CDR committed together."""
        if call.state is CallState.ENDED:
            await call.end_done.wait()
            return
        call.state = CallState.ENDED
        call.cause = call.cause or cause
        if call.task is not None and not call.task.done() and call.task is not asyncio.current_task():
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
        try:
            row = await self.journal.flush(lambda: cdr.write_cdr(call.uuid))
        except Exception:
            log.exception("event=cdr_failed call=%s", call.uuid)
            row = None
        self.calls.pop(call.uuid, None)
        call.end_done.set()
        self.finished[call.uuid] = call.summary()
        if len(self.finished) > 10000:
            self.finished.pop(next(iter(self.finished)))
        if self.metrics is not None and row:
            self.metrics.calls.labels(call.direction, row["disposition"]).inc()
        for cb in self.on_call_ended:
            cb(call)

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
