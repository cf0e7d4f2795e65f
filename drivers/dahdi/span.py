"""One span's poller thread: poll() over the span's non-blocking channel descriptors, audio between the channels
and the span's elastic buffers, kernel events (ELAST, POLLPRI) and every block read into the span's analog
signalling (signalling.py), which runs on this thread."""
from __future__ import annotations

import errno
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from hotline.drivers.analog.signals import LineSignal
from hotline.drivers.base import DeviceFailed, EventSink
from hotline.drivers.common.elastic import Codec, ElasticBuffer

from . import abi
from .channel import BLOCK, QUIET_EVENTS, DahdiChannel
from .signalling import SpanSignalling
from .syscalls import POLLERR, POLLIN, POLLNVAL, POLLPRI, Syscalls

log = logging.getLogger("hotline.drivers.dahdi")

IDLE_POLL_MS = 20     # wake-ups when no channel carries audio: a call's audio starts within one block
LIVE_POLL_MS = 40     # a live span delivers a block every 20 ms; this only bounds a stalled kernel
MAX_EVENTS = 64       # DAHDI_MAX_EVENTSIZE: one wake-up never reads more


@dataclass
class Port:
    """A channel and its signalling, as the poller sees them."""

    row: int                 # row in the span's buffers and its signalling
    channel: DahdiChannel
    line: str


@dataclass
class SpanCounters:
    """What the poller had to cope with."""

    reads: int = 0
    writes: int = 0
    eagain_reads: int = 0
    elast: int = 0             # reads or writes refused because an event was waiting
    short_writes: int = 0      # the kernel's write buffers were full: audio dropped
    events: int = 0
    unknown_events: int = 0
    wakeups: int = 0
    write_errors: int = 0


@dataclass
class SpanState:
    """A span's alarm as the panel shows it."""

    alarms: int = 0
    reason: str = ""
    counters: SpanCounters = field(default_factory=SpanCounters)


class SpanPoller:
    """The thread and buffers of one span."""

    def __init__(self, device: str, spanno: int, ports: list[Port], signalling: SpanSignalling, sys: Syscalls,
                 sink: EventSink, codec: Codec, clock: Callable[[], float] = time.monotonic):
        self.device, self.spanno, self.ports, self.sys, self.sink, self.clock = device, spanno, ports, sys, sink, clock
        self.signalling = signalling
        signalling.wake = self._poke
        self.cas = bool(getattr(signalling, "cas", False))   # E1 MFC/R2 (r2span.py): openr2 reads the events
        if self.cas:
            signalling.alarm_hook = self._r2_alarm
        self.by_fd = {p.channel.fd: p for p in ports}
        n = len(ports)
        self.rx = ElasticBuffer(n, codec, target=3 * BLOCK, capacity=25 * BLOCK)
        self.tx = ElasticBuffer(n, codec, target=3 * BLOCK, capacity=25 * BLOCK)
        self.state = SpanState()
        self.live = np.zeros(0, dtype=np.intp)   # rows carrying a call (set by the tick thread, replaced whole)
        self._applied: set[int] = set()
        self._dirty = threading.Event()
        self.echo_taps = 0
        self._stop = threading.Event()
        self.wake_r, self.wake_w = sys.pipe()   # set_live() and stop() wake the thread out of poll()
        self.thread = threading.Thread(target=self._run_thread, name=f"dahdi-{device}-span{spanno}", daemon=True)
        self.unknown_logged = 0

    # ---- the tick's side ------------------------------------------------------------------------------------------
    def set_live(self, rows: set[int]) -> None:
        """The rows carrying a call now (tick thread): buffers open at once, masks follow in the poller thread."""
        before = set(self.live.tolist())
        for r in rows - before:
            self.rx.open_line(r)
            self.tx.open_line(r)
        for r in before - rows:
            self.rx.close_line(r)
            self.tx.close_line(r)
        self.live = np.array(sorted(rows), dtype=np.intp)
        self._dirty.set()
        self._poke()

    def _poke(self) -> None:
        """Wake the thread (a byte into its pipe; a full pipe already wakes it)."""
        try:
            self.sys.write(self.wake_w, b"!")
        except OSError:
            pass

    def start(self) -> None:
        """Start polling."""
        self.thread.start()

    def stop(self) -> None:
        """Stop polling (the channels are closed by the driver afterwards)."""
        self._stop.set()
        self._poke()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=2.0)
        for fd in (self.wake_r, self.wake_w):
            try:
                self.sys.close(fd)
            except OSError:
                pass

    # ---- the thread -----------------------------------------------------------------------------------------------
    def _run_thread(self) -> None:
        try:
            poller = self.sys.poll()
            poller.register(self.wake_r, POLLIN)
            for fd in self.by_fd:   # every port is read: its analog machine hears the line on hook too (caller ID)
                poller.register(fd, POLLIN | POLLPRI)
            while not self._stop.is_set():
                if self._dirty.is_set():
                    self._dirty.clear()
                    self._apply_live(poller)
                ready = poller.poll(LIVE_POLL_MS if self._applied else IDLE_POLL_MS)
                self.state.counters.wakeups += 1
                now = self.clock()
                self.signalling.run_commands(now)
                if ready:
                    self._serve(ready, now)
        except OSError as exc:
            if self._stop.is_set():
                return
            log.error("event=dahdi_span_failed device=%s span=%d error=%s", self.device, self.spanno, exc)
            self.sink(DeviceFailed(self.device, reason=f"span {self.spanno}: {exc.strerror or exc}"))
        except Exception as exc:  # a bug must not leave the span silently dead
            log.exception("event=dahdi_span_thread_failed device=%s span=%d", self.device, self.spanno)
            self.sink(DeviceFailed(self.device, reason=f"span {self.spanno} thread failed: {exc}"))

    def _apply_live(self, poller: Any) -> None:
        """Switch the echo canceller as calls start and end (ioctls run here, off the event loop)."""
        now = set(self.live.tolist())
        for r in now - self._applied:
            if self.echo_taps:
                self.ports[r].channel.echo_cancel(self.echo_taps)
        for r in self._applied - now:
            if self.echo_taps:
                self.ports[r].channel.echo_cancel(0)
        self._applied = now

    def _serve(self, ready: list[tuple[int, int]], now: float) -> None:
        """One wake-up: events first (they block audio with ELAST), then reads, then the matching writes."""
        got: dict[int, bytes] = {}
        for fd, mask in ready:
            port = self.by_fd.get(fd)
            if port is None:
                if fd == self.wake_r:
                    self._drain_wake()
                continue
            if mask & (POLLERR | POLLNVAL):
                raise OSError(errno.ENODEV, f"channel {port.channel.channo} reports an error (card removed?)")
            if self.cas and (mask & POLLPRI or self.signalling.owns_audio(port.row)):
                self.signalling.process(port.row)   # bits, alarms, MF audio: openr2 does the reads itself
                if self.signalling.owns_audio(port.row):
                    continue
                mask &= ~POLLPRI
            if mask & POLLPRI:
                self.drain_events(port, now)
            if mask & POLLIN:
                data = self._read(port, now)
                if data:
                    got[port.row] = data
        if got:
            self._push(got)
            self._write(got, self._analog(got, now), now)

    def _drain_wake(self) -> None:
        """Empty the wake-up pipe (the live set is applied before the next poll)."""
        try:
            while self.sys.read(self.wake_r, 64):
                pass
        except BlockingIOError:
            pass

    def _read(self, port: Port, now: float) -> bytes:
        """One block (a further one makes the next poll() return at once); EAGAIN (nothing after all) gives b"";
        ELAST makes us read the waiting event first and try again."""
        c = self.state.counters
        for _ in range(4):
            try:
                data = self.sys.read(port.channel.fd, BLOCK)
            except BlockingIOError:
                c.eagain_reads += 1
                return b""
            except OSError as exc:
                if exc.errno != abi.ELAST:
                    raise
                c.elast += 1
                self.drain_events(port, now)
                continue
            c.reads += 1
            return data
        return b""

    def _push(self, got: dict[int, bytes]) -> None:
        """Into the receive buffer (lines not in a call drop theirs): one block push when every channel brought the
        same amount (a span is one clock, so that is the rule)."""
        sizes = {len(d) for d in got.values()}
        if len(sizes) == 1:
            rows = np.fromiter(got.keys(), dtype=np.intp, count=len(got))
            block = np.frombuffer(b"".join(got.values()), dtype=np.uint8).reshape(len(got), -1)
            self.rx.push_block(rows, block)
        else:
            for row, data in got.items():
                self.rx.push(row, data)

    def _analog(self, got: dict[int, bytes], now: float) -> dict[int, bytes]:
        """One round of the analog machines over the blocks just read; their own audio to write, by row."""
        sizes = {len(d) for d in got.values()}
        if len(sizes) == 1:
            rows = list(got)
            self.signalling.take_audio(rows, np.frombuffer(b"".join(got.values()), dtype=np.uint8).reshape(
                len(got), -1))
        else:
            for row, data in got.items():
                self.signalling.take_audio([row], np.frombuffer(data, dtype=np.uint8)[None, :])
        return self.signalling.tick(now)

    def _write(self, got: dict[int, bytes], own: dict[int, bytes], now: float) -> None:
        """As much audio out as came in (the span's clock paces both ways): the analog machine's own audio where it
        has some, else the engine's for the channels in a call."""
        n = max(len(d) for d in got.values())
        out = self.tx.take(n)
        c = self.state.counters
        for row in got:
            ch = self.ports[row].channel
            if ch.dialing:
                continue  # a write would cancel the kernel's dialling
            if row in own:
                data = own[row]
            elif row in self._applied and not self.signalling.owns_audio(row):
                data = out[row].tobytes()
            else:
                continue
            for _ in range(2):
                try:
                    sent = ch.send_audio(data)
                except OSError as exc:
                    if exc.errno != abi.ELAST:
                        c.write_errors += 1
                        break
                    c.elast += 1
                    self.drain_events(self.ports[row], now)
                    continue
                c.writes += 1
                if sent < len(data):
                    c.short_writes += 1
                break

    def drain_events(self, port: Port, now: float) -> None:
        """Read every pending event of a channel (DAHDI_GETEVENT until NONE) and hand the hook signals on (an R2
        channel's events are openr2's to read)."""
        if self.cas:
            self.signalling.process(port.row)
            return
        for _ in range(MAX_EVENTS):
            code = port.channel.get_event()
            if code == abi.Event.NONE:
                return
            self.state.counters.events += 1
            self._event(port, code, now)

    def _event(self, port: Port, code: int, now: float) -> None:
        signal = port.channel.signal(code)
        if signal is None:
            if code in QUIET_EVENTS:  # our own ringer's on/off, overruns: not hook signals
                return
            self.state.counters.unknown_events += 1
            self.unknown_logged += 1
            if self.unknown_logged <= 20 or self.unknown_logged % 1000 == 0:
                log.warning("event=dahdi_unknown_event device=%s channel=%d code=0x%x count=%d", self.device,
                            port.channel.channo, code, self.state.counters.unknown_events)
            return
        detail = ""
        if signal is LineSignal.ALARM:
            detail = self._alarm(port)
        elif signal is LineSignal.NOALARM:
            self.state.alarms, self.state.reason = 0, ""
            log.info("event=dahdi_alarm_cleared device=%s span=%d channel=%d", self.device, self.spanno,
                     port.channel.channo)
        self.signalling.on_signal(port.row, signal, now, detail)

    def _alarm(self, port: Port) -> str:
        """The alarm's reason in words (DAHDI_SPANSTAT), remembered for the panel."""
        try:
            alarms = port.channel.span_alarms()
        except OSError:
            alarms = 0
        reason = f"span {self.spanno}: {abi.alarm_text(alarms) if alarms else 'alarm'}"
        if reason != self.state.reason:
            log.warning("event=dahdi_alarm device=%s span=%d reason=%r", self.device, self.spanno, reason)
        self.state.alarms, self.state.reason = alarms, reason
        return reason

    def _r2_alarm(self, row: int, on: bool) -> str:
        """openr2 saw ALARM or NOALARM on channel ``row``: the span's alarm state and its reason in words."""
        if on:
            return self._alarm(self.ports[row])
        if self.state.alarms or self.state.reason:
            log.info("event=dahdi_alarm_cleared device=%s span=%d channel=%d", self.device, self.spanno,
                     self.ports[row].channel.channo)
        self.state.alarms, self.state.reason = 0, ""
        return ""

    def status(self) -> dict:
        """For the driver's status(): alarm and counters."""
        c = self.state.counters
        rx, tx = self.rx.stats, self.tx.stats
        return {"span": self.spanno, "channels": len(self.ports), "alarm": self.state.reason,
                "live": len(self.live), "reads": c.reads, "writes": c.writes, "elast": c.elast,
                "eagain": c.eagain_reads, "short_writes": c.short_writes, "events": c.events,
                "unknown_events": c.unknown_events, "write_errors": c.write_errors,
                "rx_underruns": rx.underruns, "rx_overflows": rx.overflows, "tx_underruns": tx.underruns,
                "tx_overflows": tx.overflows, "ports": self.signalling.status()}
