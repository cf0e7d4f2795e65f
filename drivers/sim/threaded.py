"""The sim card's threaded audio path (``threaded: true``): a device thread moves µ-law bursts with jitter and clock
drift through elastic buffers, as a real card, modem or RTP peer would; the tick only takes and decodes frames."""
from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING

import numpy as np

from hotline.drivers.base import FRAME_SAMPLES
from hotline.drivers.common import g711
from hotline.drivers.common.elastic import ElasticBuffer

if TYPE_CHECKING:
    from .card import SimCard


class DeviceThread:
    """Owns the card's receive and send buffers and the thread standing in for the card's DSP.

    The device clock runs ``1 + drift`` times the box clock (it follows the box's ticks, so it keeps its
    ratio also when the engine runs faster than real time in tests). Every 1 to ``jitter_ticks`` ticks
    (random) the thread wakes up and hands over everything due since its last burst: the far ends'
    audio for every line the box listens to (into ``rx``) and what the box sent (out of ``tx``, into
    each far end's heard capture).
    """

    def __init__(self, card: "SimCard", jitter_ms: float, drift: float, seed: int = 0):
        self.card = card
        self.names = list(card.lines)
        self.row = {name: i for i, name in enumerate(self.names)}
        self.jitter_ticks = max(1, int(round(jitter_ms / 20.0)))
        self.drift = drift
        target = (self.jitter_ticks + 2) * FRAME_SAMPLES  # the largest burst gap plus two frames of headroom
        capacity = max(16 * FRAME_SAMPLES, 4 * target)
        self.rx = ElasticBuffer(len(self.names), target=target, capacity=capacity)
        self.tx = ElasticBuffer(len(self.names), target=target, capacity=capacity)
        self.rng = random.Random(seed)
        self.cond = threading.Condition()
        self.box_ticks = 0
        self.produced = 0
        self.frame = np.zeros((len(self.names), FRAME_SAMPLES), dtype=np.int16)
        self.live = np.zeros(0, dtype=np.intp)  # rows the box has channels on (replaced, never mutated)
        self._live_set: set[int] = set()
        self._lines_seen: list[str] | None = None
        self._read_this_tick = False
        self._stop = False
        self.thread = threading.Thread(target=self._run, name=f"sim-{card.device_name}", daemon=True)

    def start(self) -> None:
        """Start the device thread."""
        self.thread.start()

    def close(self) -> None:
        """Stop the device thread."""
        with self.cond:
            self._stop = True
            self.cond.notify()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout=2.0)

    def status(self) -> dict:
        """Buffer counters for status and the benchmark."""
        rx, tx = self.rx.stats, self.tx.stats
        return {"jitter_ms": self.jitter_ticks * 20, "drift": self.drift,
                "rx_underruns": rx.underruns, "rx_trims": rx.trims, "rx_trimmed_samples": rx.trimmed_samples,
                "rx_pads": rx.pads, "rx_overflows": rx.overflows, "tx_underruns": tx.underruns, "tx_trims": tx.trims,
                "tx_trimmed_samples": tx.trimmed_samples, "tx_pads": tx.pads, "tx_overflows": tx.overflows}

    # ---- the box's side (event-loop thread) ---------------------------------------------------------
    def tick(self) -> None:
        """One box tick: let the device clock advance, take this tick's frame of every line (one decode)."""
        if not self._read_this_tick and self._live_set:
            self._follow([])  # the box closed its last channel on this card
        self._read_this_tick = False
        with self.cond:
            self.box_ticks += 1
            self.cond.notify()
        self.frame = self.rx.take_frame()

    def read_frames(self, lines: list[str], out: np.ndarray) -> None:
        """This tick's decoded frames of the lines the box listens to."""
        self._read_this_tick = True
        if lines is not self._lines_seen:
            self._follow(lines)
        out[:] = self.frame[self._rows]

    def write_frames(self, lines: list[str], frames: np.ndarray) -> None:
        """Encode what the box sends (one stacked lookup) into the send buffers."""
        if lines is not self._lines_seen:
            self._follow(lines)
        self.tx.push_samples(self._rows, frames)

    def _follow(self, lines: list[str]) -> None:
        """Open buffers for lines the box started listening to, close the ones it stopped listening to."""
        self._lines_seen = lines
        self._rows = np.array([self.row[n] for n in lines], dtype=np.intp)
        now = set(self._rows.tolist())
        for r in now - self._live_set:
            self.rx.open_line(r)
            self.tx.open_line(r)
        for r in self._live_set - now:
            self.rx.close_line(r)
            self.tx.close_line(r)
        self._live_set = now
        self.live = np.array(sorted(now), dtype=np.intp)

    # ---- the device's side (its own thread) ---------------------------------------------------------
    def _run(self) -> None:
        seen, next_at = 0, 0
        while True:
            with self.cond:
                while not self._stop and self.box_ticks == seen:
                    self.cond.wait(0.2)
                if self._stop:
                    return
                seen = self.box_ticks
            if seen < next_at:
                continue
            due = int(seen * FRAME_SAMPLES * (1.0 + self.drift)) - self.produced
            if due <= 0:
                continue
            self._burst(self.live, due)
            self.produced += due
            next_at = seen + self.rng.randint(1, self.jitter_ticks)

    def _burst(self, live: np.ndarray, n: int) -> None:
        """``n`` samples of device time: far-end audio in, box audio out, for every live line."""
        card = self.card
        if len(live):
            block = np.zeros((len(live), n), dtype=np.int16)
            index = {int(r): i for i, r in enumerate(live)}
            with card.far_lock:
                for line in list(card._sending):
                    i = index.get(self.row[line.name])
                    if i is not None:
                        card._pull(line, block[i])
            for line in list(card._noisy):
                i = index.get(self.row[line.name])
                if i is not None:
                    card._add_noise(line, block[i])
            self.rx.push_samples(live, block)
        sent = self.tx.take(n)
        if not len(live) or card.capture_samples <= 0:
            return
        heard = g711.ulaw_decode(sent[live])
        for i, r in enumerate(live.tolist()):
            line = card.lines[self.names[r]]
            card._capture(line, heard[i])
