"""The media engine: a 20 ms clock that moves every channel's audio in one vectorized pass."""
from __future__ import annotations

import asyncio
import heapq
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

from hotline.drivers.base import FRAME_SAMPLES, ToneKind

from ..aio import cancel_and_wait
from hotline.drivers.common.dtmf import DtmfDetector
from .tonewatch import ToneCallback, ToneWatch

log = logging.getLogger("hotline.media")
TICK = FRAME_SAMPLES / 8000.0
PACE_WAIT = 1.0    # at most this long per tick for pacers in fast mode
CPU_WINDOW_TICKS = 50   # the process's CPU use is sampled every second for admission control
BUSY_SHARE = 0.5        # a fall behind counts for admission control only when the process used this much of a core


class FrameSource(Protocol):
    """Something that plays into a channel one frame at a time (a prompt, a tone, music)."""

    def next_frame(self) -> np.ndarray | None:
        """The next 160 samples (int16), or None when finished."""


class ArrayPlayer:
    """Plays an int16 array once (or looping, for music on hold)."""

    def __init__(self, samples: np.ndarray, loop: bool = False):
        self.samples = np.asarray(samples, dtype=np.int16)
        self.pos = 0
        self.loop = loop

    def next_frame(self) -> np.ndarray | None:
        """The next frame, zero-padded at the end."""
        n = len(self.samples)
        if n == 0 or (self.pos >= n and not self.loop):
            return None
        if self.pos >= n:
            self.pos = 0
        frame = self.samples[self.pos:self.pos + FRAME_SAMPLES]
        self.pos += FRAME_SAMPLES
        if len(frame) < FRAME_SAMPLES:
            frame = np.pad(frame, (0, FRAME_SAMPLES - len(frame)))
        return frame


@dataclass(eq=False)
class Channel:
    """One line's audio path through the engine while it carries a call."""

    slot: int
    line: str
    device: Any
    on_digit: Callable[[str, float], None] | None = None
    source: FrameSource | None = None
    source_done: asyncio.Future | None = None
    open: bool = True


@dataclass(eq=False)
class Capture:
    """Frames received on one slot, kept for a voicemail or a recorded prompt."""

    slot: int
    frames: list = field(default_factory=list)
    channel: Any = None


@dataclass(frozen=True)
class Edge:
    """Audio flows from ``src``'s input to ``dst``'s output with a gain."""

    dst: int
    src: int
    gain: float = 1.0


class MediaEngine:
    """Owns the clock, the slot table, DTMF detection, players, mixing and recording taps."""

    def __init__(self, capacity: int, speed: float = 1.0, overrun_ms: float = 15.0, metrics: Any = None):
        self.capacity = capacity
        self.speed = speed  # 1.0 real time; 0 as fast as possible (tests, dry runs)
        self.overrun_s = overrun_ms / 1000.0
        self.metrics = metrics
        self.detector = DtmfDetector(capacity)
        self.tones = ToneWatch()   # fax calling tone, on the channels that watch for it
        self.inp = np.zeros((capacity, FRAME_SAMPLES), dtype=np.int16)
        self.out = np.zeros((capacity, FRAME_SAMPLES), dtype=np.int16)
        self.channels: dict[int, Channel] = {}
        self._free = list(range(capacity - 1, -1, -1))
        self._edges: set[Edge] = set()
        self._edge_arrays: tuple[np.ndarray, np.ndarray, np.ndarray, bool] | None = None
        self._by_device: dict[int, tuple[Any, list[str], np.ndarray]] | None = None
        self.ticks = 0
        self.t0 = time.time()
        self._timers: list[tuple[int, int, asyncio.Future]] = []
        self._timer_seq = 0
        self._task: asyncio.Task | None = None
        self.missed_ticks = 0
        self.tick_errors = 0
        self._error_logged: dict[str, int] = {}  # part of the tick -> tick of its last logged traceback
        self.overruns = 0
        self.tick_cpu = 0.0   # thread CPU seconds spent in ticks (load-insensitive, unlike their wall time)
        self.recent_overruns: list[int] = []
        self._cpu_marks = ((0.0, 0.0), (0.0, 0.0))   # (loop time, process CPU) taken every CPU_WINDOW_TICKS
        self.tick_hooks: list[Callable[[], None]] = []
        # fast mode (speed 0: dry runs, tests) only: the next tick waits (up to PACE_WAIT s) until each of these
        # says it has caught up, so a worker thread fed by the tick (a fax session) sees media time, not a flood
        self.pacers: list[Callable[[], bool]] = []
        self.frame_devices: list[Any] = []  # devices ticked every frame (the device manager adds and removes them)
        self.on_device_error: Callable[[Any, BaseException], None] | None = None  # a device raised in the tick
        self.device_errors = 0
        self._gone: dict[int, Any] = {}  # removed devices: channels still naming one are skipped
        self.tick_times: list[float] | None = None  # raw tick durations, kept only for benchmarks
        self._captures: list[Capture] = []
        self._taps: list[tuple[Any, int]] = []       # (recorder, slot) in a fixed order
        self._tap_slots = np.zeros(0, dtype=np.intp)
        self._tap_in: list[np.ndarray] = []
        self._tap_out: list[np.ndarray] = []

    # ---- time ---------------------------------------------------------------------------
    def now(self) -> float:
        """Media time as a wall-clock timestamp (advances 20 ms per tick, also in fast mode)."""
        return self.t0 + self.ticks * TICK

    def sleep(self, seconds: float) -> asyncio.Future:
        """A future that completes after ``seconds`` of media time."""
        fut = asyncio.get_running_loop().create_future()
        due = self.ticks + max(1, int(round(seconds / TICK)))
        self._timer_seq += 1
        heapq.heappush(self._timers, (due, self._timer_seq, fut))
        return fut

    async def wait_for(self, aw: Any, timeout: float | None) -> Any:
        """Like asyncio.wait_for but the timeout runs on media time."""
        if timeout is None:
            return await aw
        fut = asyncio.ensure_future(aw)
        timer = self.sleep(timeout)
        try:
            done, _ = await asyncio.wait({fut, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # also when the waiter is cancelled (the caller hung up): a task left waiting on, say, the
            # caller's key queue would never end, and asyncio reports it as destroyed while pending
            timer.cancel()
            if not fut.done():
                fut.cancel()
        if fut in done:
            return fut.result()
        raise asyncio.TimeoutError

    # ---- channels -----------------------------------------------------------------------
    @property
    def active(self) -> int:
        """Channels in use."""
        return len(self.channels)

    def open_channel(self, line: str, device: Any, on_digit: Callable[[str, float], None] | None) -> Channel:
        """Give a line a slot; raises RuntimeError when every slot is taken."""
        if not self._free:
            raise RuntimeError("no free media channel")
        slot = self._free.pop()
        self.detector.reset(slot)
        ch = Channel(slot=slot, line=line, device=device, on_digit=on_digit)
        self.channels[slot] = ch
        self._by_device = None
        return ch

    def close_channel(self, ch: Channel) -> None:
        """Release the slot, stop playback, drop every edge touching it."""
        if not ch.open:
            return
        ch.open = False
        self.stop_source(ch)
        for rec, slot in list(self._taps):
            if slot == ch.slot:
                self.remove_tap(rec, ch)
        self._edges = {e for e in self._edges if ch.slot not in (e.dst, e.src)}
        self._edge_arrays = None
        self.tones.unwatch(ch.slot)
        self.channels.pop(ch.slot, None)
        self.inp[ch.slot] = 0
        self.out[ch.slot] = 0
        self._free.append(ch.slot)
        self._by_device = None

    # ---- tones --------------------------------------------------------------------------
    def watch_tones(self, ch: Channel, callback: ToneCallback,
                    kinds: tuple[ToneKind, ...] = (ToneKind.FAX_CNG,)) -> None:
        """Call ``callback(kind)`` (in the tick) when a fax tone of ``kinds`` (the calling tone unless told) is heard
        on the channel."""
        if ch.open:
            self.tones.watch(ch.slot, callback, kinds)

    def unwatch_tones(self, ch: Channel) -> None:
        """Stop looking for tones on the channel."""
        self.tones.unwatch(ch.slot)

    def listen(self, ch: Channel, on: bool, tones: bool = True) -> None:
        """Analyse the channel's audio for in-band keys (and, with ``tones``, its watched tones), or not for now (a
        call talking in a two-party bridge: nobody reads its keys or takes it for fax then, and that analysis was
        a third of a bridged call's tick); turning it on again starts the analysis afresh."""
        if ch.open:
            self.detector.set_deaf(ch.slot, not on)
            if tones:
                self.tones.pause(ch.slot, not on)

    # ---- playback ---------------------------------------------------------------------
    def play(self, ch: Channel, source: FrameSource) -> asyncio.Future:
        """Start a source on a channel (replacing any); the future completes when it ends."""
        self.stop_source(ch)
        ch.source = source
        ch.source_done = asyncio.get_running_loop().create_future()
        return ch.source_done

    def stop_source(self, ch: Channel) -> None:
        """Stop what a channel is playing."""
        done, ch.source, ch.source_done = ch.source_done, None, None
        if done is not None and not done.done():
            done.set_result(False)

    # ---- mixing -------------------------------------------------------------------------
    def connect(self, src: Channel, dst: Channel, gain: float = 1.0) -> Edge:
        """One-way audio from src's line to dst's line."""
        edge = Edge(dst.slot, src.slot, gain)
        self._edges.add(edge)
        self._edge_arrays = None
        return edge

    def disconnect(self, *edges: Edge) -> None:
        """Remove edges."""
        for e in edges:
            self._edges.discard(e)
        self._edge_arrays = None

    def bridge(self, a: Channel, b: Channel) -> list[Edge]:
        """Two-way audio between two channels."""
        return [self.connect(a, b), self.connect(b, a)]

    # ---- captures (voicemail, prompts recorded by phone) ------------------------------
    def start_capture(self, ch: Channel) -> "Capture":
        """Keep every frame a channel receives until stop_capture; a device with ``capturing(line, on)`` is told
        (a half-duplex modem stops playing and listens)."""
        cap = Capture(ch.slot, channel=ch)
        self._captures.append(cap)
        self._tell_capturing(ch, True)
        return cap

    def _tell_capturing(self, ch: Channel, on: bool) -> None:
        hook = getattr(ch.device, "capturing", None)
        if hook is None:
            return
        try:
            hook(ch.line, on)
        except Exception as exc:  # the recording goes on with whatever audio the device delivers
            log.error("event=capturing_hook_failed line=%s error=%r", ch.line, str(exc) or type(exc).__name__)

    def stop_capture(self, cap: "Capture") -> None:
        """Stop keeping frames (and tell the device, as start_capture did)."""
        if cap in self._captures:
            self._captures.remove(cap)
            if cap.channel is not None and not any(c.slot == cap.slot for c in self._captures):
                self._tell_capturing(cap.channel, False)

    # ---- recording taps ----------------------------------------------------------------
    def add_tap(self, recorder: Any, ch: Channel) -> None:
        """Feed a recorder with a channel's input (what the line sends) and output (what it hears)."""
        self.flush_taps()
        self._taps.append((recorder, ch.slot))
        self._tap_slots = np.array([s for _, s in self._taps], dtype=np.intp)

    def remove_tap(self, recorder: Any, ch: Channel) -> None:
        """Stop feeding a recorder from a channel (what was gathered is handed over first)."""
        self.flush_taps()
        self._taps = [(r, s) for r, s in self._taps if not (r is recorder and s == ch.slot)]
        self._tap_slots = np.array([s for _, s in self._taps], dtype=np.intp)

    def flush_taps(self) -> None:
        """Hand the gathered frames over; mixing and writing happen on the recording thread."""
        if not self._tap_in:
            return
        taps, ins, outs = list(self._taps), self._tap_in, self._tap_out
        self._tap_in, self._tap_out = [], []
        taps[0][0].writer.put_blocks([r for r, _ in taps], ins, outs)

    # ---- frame devices -------------------------------------------------------------------
    def add_frame_device(self, dev: Any) -> None:
        """Tick a device from the next frame on (a device that opened late or was re-opened)."""
        self._gone.pop(id(dev), None)
        self._by_device = None
        if not any(d is dev for d in self.frame_devices):
            self.frame_devices = [*self.frame_devices, dev]

    def remove_frame_device(self, dev: Any) -> None:
        """Stop ticking a device (it failed or closed); channels still naming it get silence."""
        self.frame_devices = [d for d in self.frame_devices if d is not dev]
        self._gone[id(dev)] = dev  # kept so its id is not reused while channels still name it
        self._by_device = None

    def _device_raised(self, dev: Any, what: str, exc: BaseException) -> None:
        """One device's failure costs its own audio only; the device manager decides what to do with it."""
        self.device_errors += 1
        log.error("event=device_tick_failed device=%s step=%s error=%r", getattr(dev, "device_name", dev), what,
                  str(exc) or type(exc).__name__)
        self.remove_frame_device(dev)
        if self.on_device_error is not None:
            self.on_device_error(dev, exc)

    # ---- the tick ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start the clock."""
        self.t0 = time.time()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the clock."""
        await cancel_and_wait(self._task)
        self._task = None

    def status(self) -> dict:
        """Channels, ticks, overruns."""
        return {"state": "up" if self._task else "down", "channels": self.active, "capacity": self.capacity,
                "ticks": self.ticks, "missed_ticks": self.missed_ticks, "overruns": self.overruns,
                "tick_cpu_seconds": round(self.tick_cpu, 3),
                "tick_errors": self.tick_errors}

    def _process_busy(self, now: float) -> bool:
        """True when this process used at least BUSY_SHARE of a core since the older CPU mark (about 1-2 s)."""
        wall, cpu = self._cpu_marks[0]
        if now - wall < 0.2:
            return False
        return (time.process_time() - cpu) / (now - wall) >= BUSY_SHARE

    def overloaded(self) -> bool:
        """True when, five times in the last second, a tick overran (its own CPU time over ``overrun_ms``) or the
        engine fell a tick or more behind while the process itself was busy (admission control)."""
        horizon = self.ticks - 50
        self.recent_overruns = [t for t in self.recent_overruns if t > horizon]
        return len(self.recent_overruns) >= 5

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        last_end: float | None = None
        while True:
            started, cpu0 = time.perf_counter(), time.thread_time()
            try:
                self.tick()
            except Exception:
                log.exception("event=tick_failed tick=%d", self.ticks)
            ended = time.perf_counter()
            spent = ended - started
            cpu = time.thread_time() - cpu0
            if self.metrics is not None and last_end is not None and self.speed > 0:
                # frames go out at the end of each tick: the time between two ends is the gap the far ends see
                self.metrics.tick_interval.observe((ended - last_end) * self.speed)
            last_end = ended
            self.tick_cpu += cpu
            if self.metrics is not None:
                self.metrics.tick_cpu.inc(cpu)
                self.metrics.tick_seconds.observe(spent)
            if self.tick_times is not None:
                self.tick_times.append(spent)
            # Admission control counts what the box's own load causes, and what callers would hear: a tick whose own
            # CPU time is over the threshold, and each fall behind (below). A tick slow on the wall clock only because
            # other processes ran meanwhile costs no audio unless it falls a whole tick behind (then it is missed).
            if cpu > self.overrun_s:
                self.overruns += 1
                self.recent_overruns.append(self.ticks)
                if self.metrics is not None:
                    self.metrics.tick_overruns.inc()
            if self.speed <= 0:
                await asyncio.sleep(0)
                if self.pacers:
                    await self._pace()
                continue
            deadline += TICK / self.speed
            delay = deadline - loop.time()
            if self.ticks % CPU_WINDOW_TICKS == 0:   # the process's CPU use over about the last second
                self._cpu_marks = (self._cpu_marks[1], (loop.time(), time.process_time()))
            if delay < -TICK / self.speed:
                behind = int(-delay / (TICK / self.speed))
                self.missed_ticks += behind
                if self._process_busy(loop.time()):
                    # once per stall (one long pause, start-up, is no overload), and only when the box itself is
                    # busy (its other threads held the loop back): a box starved by other programs refusing its
                    # callers would not help the calls it has
                    self.recent_overruns.append(self.ticks)
                if self.metrics is not None:
                    self.metrics.missed_ticks.inc(behind)
                deadline = loop.time()
                delay = 0
            await asyncio.sleep(max(0.0, delay))

    async def _pace(self) -> None:
        """Fast mode: wait (bounded) for every pacer to catch up."""
        waited = 0.0
        while waited < PACE_WAIT and not all(ready() for ready in list(self.pacers)):
            await asyncio.sleep(0.0005)
            waited += 0.0005

    def _groups(self) -> dict[int, tuple[Any, list[str], np.ndarray]]:
        if self._by_device is None:
            groups: dict[int, tuple[Any, list[str], list[int]]] = {}
            for ch in self.channels.values():
                if id(ch.device) in self._gone:
                    continue  # its device failed or closed: silence until the call is ended
                g = groups.setdefault(id(ch.device), (ch.device, [], []))
                g[1].append(ch.line)
                g[2].append(ch.slot)
            self._by_device = {k: (d, names, np.array(slots, dtype=np.intp)) for k, (d, names, slots)
                               in groups.items()}
        return self._by_device

    def _failed(self, where: str, what: Any) -> None:
        """One part of a tick raised: count it and log it (with its traceback at most every 10 s per place), and
        let the rest of the tick and every other channel go on."""
        self.tick_errors += 1
        counter = getattr(self.metrics, "tick_errors", None)
        if counter is not None:
            counter.inc()
        last = self._error_logged.get(where)
        if last is None or self.ticks - last >= 500:
            self._error_logged[where] = self.ticks
            log.exception("event=tick_part_failed part=%s what=%r tick=%d errors=%d", where, what, self.ticks,
                          self.tick_errors)

    def tick(self) -> None:
        """Process one 20 ms frame for every channel; a part that raises (a device, a hook, one channel's
        player) is isolated, so one bad channel never silences the others."""
        self.ticks += 1
        for dev in self.frame_devices:
            dev_tick = getattr(dev, "tick", None)  # optional in the contract
            if dev_tick is not None:
                try:
                    dev_tick()
                except Exception as exc:
                    self._failed("device.tick", dev)
                    self._device_raised(dev, "tick", exc)
        for hook in self.tick_hooks:
            try:
                hook()
            except Exception:
                self._failed("hook", hook)
        groups = self._groups()
        inp, out = self.inp, self.out
        for dev, names, slots in groups.values():
            buf = np.zeros((len(names), FRAME_SAMPLES), dtype=np.int16)
            try:
                dev.read_frames(names, buf)
            except Exception as exc:
                self._failed("device.read_frames", dev)
                self._device_raised(dev, "read_frames", exc)
                buf[:] = 0
            inp[slots] = buf
        if self.channels:
            for hit in self.detector.process(inp):
                ch = self.channels.get(hit.slot)
                if ch is not None and ch.on_digit is not None:
                    try:
                        ch.on_digit(hit.digit, hit.duration_ms)
                    except Exception:
                        self._failed("on_digit", ch.line)
                    if self.metrics is not None:
                        self.metrics.dtmf_digits.labels("inband").inc()
            if self.tones:
                try:
                    self.tones.process(inp)
                except Exception:
                    self._failed("tones", None)
        out[:] = 0
        for ch in list(self.channels.values()):
            if ch.source is not None:
                try:
                    frame = ch.source.next_frame()
                    if frame is not None:
                        out[ch.slot] = frame
                except Exception:
                    self._failed("source", ch.line)
                    frame = None  # a player that raises is stopped, as if it had ended badly
                    done, ch.source, ch.source_done = ch.source_done, None, None
                    if done is not None and not done.done():
                        done.set_result(False)
                    continue
                if frame is None:
                    done, ch.source, ch.source_done = ch.source_done, None, None
                    if done is not None and not done.done():
                        done.set_result(True)  # played to the end
                    continue
        if self._edges:
            if self._edge_arrays is None:
                edges = list(self._edges)
                dst_slots = [e.dst for e in edges]
                self._edge_arrays = (np.array(dst_slots, dtype=np.intp),
                                     np.array([e.src for e in edges], dtype=np.intp),
                                     np.array([e.gain for e in edges], dtype=np.float32)[:, None],
                                     len(set(dst_slots)) == len(dst_slots))
            dst, src, gain, one_each = self._edge_arrays
            if one_each:   # bridges: each line hears one other: only those rows, no scatter-add
                heard = out[dst].astype(np.int32)
                heard += (inp[src] * gain).astype(np.int32)
                out[dst] = np.clip(heard, -32768, 32767)
            else:          # conferences, monitoring: several sources into one line
                mix = np.zeros((self.capacity, FRAME_SAMPLES), dtype=np.int32)
                np.add.at(mix, dst, (inp[src] * gain).astype(np.int32))
                mix += out
                np.clip(mix, -32768, 32767, out=mix)
                out[:] = mix
        for cap in self._captures:
            cap.frames.append(inp[cap.slot].copy())
        if self._taps:
            self._tap_in.append(inp[self._tap_slots])
            self._tap_out.append(out[self._tap_slots])
            if len(self._tap_in) >= 25:  # every 0.5 s
                self.flush_taps()
        for dev, names, slots in groups.values():
            try:
                dev.write_frames(names, out[slots])
            except Exception as exc:
                self._failed("device.write_frames", dev)
                self._device_raised(dev, "write_frames", exc)
        while self._timers and self._timers[0][0] <= self.ticks:
            _, _, fut = heapq.heappop(self._timers)
            if not fut.done():
                fut.set_result(None)
