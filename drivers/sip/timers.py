"""Retransmission timers of RFC 3261 §17 (T1, T2, 64*T1) as a heap the signalling thread runs."""
from __future__ import annotations

import heapq
import itertools
import time
from typing import Callable

T1 = 0.5
T2 = 4.0
T4 = 5.0
TIMEOUT = 64 * T1


class Timers:
    """Callbacks due at monotonic times; ``run_due`` calls the ones that are due, cancelled ones are skipped."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._ids = itertools.count()
        self._cancelled: set[int] = set()   # cancelled handles still in the heap
        self._live: set[int] = set()        # scheduled handles that have neither run nor been cancelled
        self.soonest_added = float("inf")   # the earliest due time scheduled since the owner last reset it

    def call_later(self, delay: float, fn: Callable[[], None]) -> int:
        """Schedule ``fn`` after ``delay`` seconds; returns a handle for ``cancel``."""
        handle = next(self._ids)
        due = self.clock() + delay
        if due < self.soonest_added:
            self.soonest_added = due
        heapq.heappush(self._heap, (due, handle, fn))
        self._live.add(handle)
        return handle

    def cancel(self, handle: int | None) -> None:
        """Forget a scheduled callback (a handle of None, or one that already ran or was cancelled, is ignored)."""
        if handle is not None and handle in self._live:
            self._live.discard(handle)
            self._cancelled.add(handle)

    def next_delay(self, default: float = 1.0) -> float:
        """Seconds until the next callback is due (``default`` when none)."""
        while self._heap and self._heap[0][1] in self._cancelled:
            self._cancelled.discard(heapq.heappop(self._heap)[1])
        if not self._heap:
            return default
        return max(0.0, min(default, self._heap[0][0] - self.clock()))

    def run_due(self) -> int:
        """Call every due callback; returns how many ran."""
        ran = 0
        now = self.clock()
        while self._heap and self._heap[0][0] <= now:
            _, handle, fn = heapq.heappop(self._heap)
            if handle in self._cancelled:
                self._cancelled.discard(handle)
                continue
            self._live.discard(handle)
            fn()
            ran += 1
        return ran

    def __len__(self) -> int:
        return len(self._live)


class Retransmit:
    """Sends a message at T1, 2*T1 ... capped at T2 until stopped; calls ``on_timeout`` after 64*T1."""

    def __init__(self, timers: Timers, send: Callable[[], None], on_timeout: Callable[[], None],
                 *, cap: float = T2, first: float = T1) -> None:
        self.timers = timers
        self.send = send
        self.on_timeout = on_timeout
        self.cap = cap
        self.interval = first
        self.stopped = False
        self._handle: int | None = timers.call_later(first, self._again)
        self._deadline: int | None = timers.call_later(TIMEOUT, self._expire)

    def _again(self) -> None:
        if self.stopped:
            return
        self.send()
        self.interval = min(self.interval * 2, self.cap)
        self._handle = self.timers.call_later(self.interval, self._again)

    def _expire(self) -> None:
        self._deadline = None      # it has run: cancelling it would leave its handle in the cancelled set for ever
        if self.stopped:
            return
        self.stop()
        self.on_timeout()

    def stop(self) -> None:
        """Stop retransmitting (a response or ACK came)."""
        self.stopped = True
        self.timers.cancel(self._handle)
        self.timers.cancel(self._deadline)
