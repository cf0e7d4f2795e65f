"""Per-line elastic buffers between a device thread and the media tick: bursts of raw G.711 bytes in, exactly one
frame out per line per tick, silence on underrun, trimming on drift; counted, bounded, one short lock."""
from __future__ import annotations

import enum
import threading
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from ..base import FRAME_SAMPLES
from . import g711


class Codec(enum.Enum):
    """The byte format a device moves."""

    ULAW = "ulaw"
    ALAW = "alaw"


_SILENCE = {Codec.ULAW: g711.ULAW_SILENCE, Codec.ALAW: g711.ALAW_SILENCE}
_DECODE = {Codec.ULAW: g711.ulaw_decode, Codec.ALAW: g711.alaw_decode}
_ENCODE = {Codec.ULAW: g711.ulaw_encode, Codec.ALAW: g711.alaw_encode}
QUIET = 100  # peak below this (about -50 dBm0) counts as silence: surplus is dropped there


@dataclass
class ElasticStats:
    """What the buffers had to do so far (all lines of one device, one direction)."""

    underruns: int = 0         # takes that found less than a frame: silence was played and the line re-primed
    trims: int = 0             # drift corrections: the line held more than it needs for a whole window
    trimmed_samples: int = 0   # samples dropped by trims and by overflow
    overflows: int = 0         # bursts that did not fit (the oldest audio was dropped)
    pads: int = 0              # frames of silence inserted at quiet moments for a line running dry (slow clock)


class ElasticBuffer:
    """Ring buffers for every line of a device, in one uint8 matrix.

    The producer (a device thread, or the tick for the sending direction) calls ``push``/``push_block`` with
    bursts of any size; the consumer calls ``take(n)`` (raw bytes, all lines) or ``take_frame()`` (one
    decoded frame for every line, one stacked table lookup). A line first fills to ``target`` samples
    (silence meanwhile, not counted), then plays; a take that finds less than ``n`` samples plays silence,
    counts an underrun and re-primes. When a line's fill stayed above ``target + slack`` for a whole window
    (one second of samples taken) the surplus is counted as a trim (that is clock drift, not jitter) and
    dropped at the next quiet moment, so the cut is inaudible and never swallows a DTMF tone. A line whose
    fill came within ``slack`` of empty in a window (a slow device clock) gets frames of silence at quiet
    moments (pads) before it would underrun in the middle of a word. Memory is fixed (``lines x capacity`` bytes); a burst that does not fit drops the
    oldest audio (counted). Only index arithmetic and one fancy-index copy run under the lock.
    """

    def __init__(self, lines: int, codec: Codec = Codec.ULAW, target: int = 2 * FRAME_SAMPLES,
                 capacity: int = 16 * FRAME_SAMPLES, slack: int = FRAME_SAMPLES, window: int = 8000):
        if not 0 < target < capacity:
            raise ValueError("target must be between 0 and capacity")
        self.lines, self.codec = lines, codec
        self.target, self.capacity, self.slack, self.window = target, capacity, slack, window
        self.silence = _SILENCE[codec]
        self.buf = np.full((lines, capacity), self.silence, dtype=np.uint8)
        self.written = np.zeros(lines, dtype=np.int64)  # absolute sample counters
        self.read = np.zeros(lines, dtype=np.int64)
        self.playing = np.zeros(lines, dtype=bool)
        self.active = np.zeros(lines, dtype=bool)       # only open lines accept audio
        self.low = np.full(lines, np.iinfo(np.int64).max, dtype=np.int64)  # lowest fill seen in this window
        self.excess = np.zeros(lines, dtype=np.int64)   # surplus still to drop (device clock fast)
        self.deficit = np.zeros(lines, dtype=np.int64)  # silence still to insert (device clock slow)
        self.padding = False
        self.taken_in_window = 0
        self.trimming = False
        self.stats = ElasticStats()
        self.lock = threading.Lock()

    # ---- line life ----------------------------------------------------------------------------
    def open_line(self, row: int) -> None:
        """Start accepting audio for a line (a call began): empty, priming."""
        with self.lock:
            self.read[row] = self.written[row]
            self.playing[row] = False
            self.excess[row] = 0
            self.deficit[row] = 0
            self.active[row] = True
            self.low[row] = np.iinfo(np.int64).max

    def close_line(self, row: int) -> None:
        """Stop accepting audio for a line and forget what it held."""
        with self.lock:
            self.active[row] = False
            self.read[row] = self.written[row]
            self.playing[row] = False

    # ---- producer ------------------------------------------------------------------------------
    def push(self, row: int, data: bytes | np.ndarray) -> None:
        """A burst of raw bytes for one line (dropped when the line is not open)."""
        codes = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) \
            else np.asarray(data, dtype=np.uint8)
        self.push_block(np.array([row]), codes[None, :])

    def push_block(self, rows: np.ndarray, block: np.ndarray) -> None:
        """Equal bursts for many lines at once: ``block[i]`` (uint8) belongs to line ``rows[i]``."""
        rows = np.asarray(rows, dtype=np.intp)
        n = block.shape[1]
        if n == 0 or len(rows) == 0:
            return
        if n > self.capacity:
            block = block[:, -self.capacity:]
            n = self.capacity
        with self.lock:
            keep = self.active[rows]
            if not keep.all():
                rows, block = rows[keep], block[keep]
            self._scatter(rows, self.written[rows] % self.capacity, block)
            self.written[rows] += n
            over = self.written[rows] - self.read[rows] - self.capacity
            spill = over > 0
            if spill.any():
                self.read[rows[spill]] += over[spill]
                self.stats.overflows += int(spill.sum())
                self.stats.trimmed_samples += int(over[spill].sum())

    def push_samples(self, rows: np.ndarray, samples: np.ndarray) -> None:
        """Encode linear int16 frames (stacked table lookup) and push them."""
        self.push_block(rows, _ENCODE[self.codec](samples))

    # ---- consumer ------------------------------------------------------------------------------
    def take(self, n: int = FRAME_SAMPLES) -> np.ndarray:
        """Exactly ``n`` raw bytes for every line (silence where a line has nothing to play)."""
        out = np.full((self.lines, n), self.silence, dtype=np.uint8)
        with self.lock:
            fill = self.written - self.read
            self.playing |= self.active & (fill >= self.target)
            short = self.playing & (fill < n)
            if short.any():
                self.stats.underruns += int(short.sum())
                self.playing &= ~short
            play = self.playing.copy()
            if self.padding:
                self._hold_quiet(play, n)
            rows = np.flatnonzero(play)
            if len(rows):
                out[rows] = self._gather(rows, self.read[rows] % self.capacity, n)
            self.read[play] += n
            if self.trimming:
                self._drop_quiet(play, n)
            fill = self.written - self.read
            np.minimum(self.low, np.where(play, fill, self.low), out=self.low)
            self.taken_in_window += n
            if self.taken_in_window >= self.window:
                self._trim_drift()
        return out

    def _gather(self, rows: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
        """``n`` bytes of each row from its start: one gather of contiguous windows; rows that wrap around the
        ring's end (a fraction n/capacity of them) are copied in two pieces."""
        wrap = starts + n > self.capacity
        if not wrap.any():
            return sliding_window_view(self.buf, n, axis=1)[rows, starts]
        out = np.empty((len(rows), n), dtype=np.uint8)
        flat = ~wrap
        out[flat] = sliding_window_view(self.buf, n, axis=1)[rows[flat], starts[flat]]
        for i in np.flatnonzero(wrap):
            r, s = rows[i], starts[i]
            k = self.capacity - s
            out[i, :k] = self.buf[r, s:]
            out[i, k:] = self.buf[r, :n - k]
        return out

    def _scatter(self, rows: np.ndarray, starts: np.ndarray, block: np.ndarray) -> None:
        """Write ``block[i]`` into row ``rows[i]`` from ``starts[i]`` (the same window trick, wrapping rows apart)."""
        n = block.shape[1]
        wrap = starts + n > self.capacity
        flat = ~wrap
        if flat.any():
            windows = as_strided(self.buf, shape=(self.lines, self.capacity - n + 1, n),
                                 strides=(self.buf.strides[0], 1, 1), writeable=True)
            windows[rows[flat], starts[flat]] = block[flat]
        for i in np.flatnonzero(wrap):
            r, s = rows[i], starts[i]
            k = self.capacity - s
            self.buf[r, s:] = block[i, :k]
            self.buf[r, :n - k] = block[i, k:]

    def take_frame(self) -> np.ndarray:
        """One decoded frame (int16, 160 samples) for every line: one stacked G.711 lookup."""
        return _DECODE[self.codec](self.take(FRAME_SAMPLES))

    def _hold_quiet(self, play: np.ndarray, n: int) -> None:
        """A line running dry (the device's clock is slower) plays one frame of silence at a quiet moment instead
        of consuming: counted as a pad, and it spares the hard underrun that would cut a word or a tone."""
        cand = np.flatnonzero(play & (self.deficit > 0))
        if len(cand):
            ahead = _DECODE[self.codec](self._gather(cand, self.read[cand] % self.capacity, n))
            rows = cand[np.abs(ahead.astype(np.int32)).max(axis=1) < QUIET]
            play[rows] = False
            self.deficit[rows] = np.maximum(0, self.deficit[rows] - n)
            self.stats.pads += len(rows)
        self.padding = bool(self.deficit.any())

    def _drop_quiet(self, play: np.ndarray, n: int) -> None:
        """Drop decided surplus where the audio about to play is quiet (a cut in silence is inaudible and cannot
        swallow a DTMF tone); when no quiet moment came before the line holds half the capacity, the surplus
        is dropped anyway."""
        cand = np.flatnonzero(play & (self.excess > 0) & (self.written - self.read >= n))
        if len(cand):
            ahead = _DECODE[self.codec](self._gather(cand, self.read[cand] % self.capacity, n))
            go = (np.abs(ahead.astype(np.int32)).max(axis=1) < QUIET) | (self.written[cand] - self.read[cand] > self.capacity // 2)
            rows = cand[go]
            drop = np.minimum(self.excess[rows], n)
            self.read[rows] += drop
            self.excess[rows] -= drop
        self.trimming = bool(self.excess.any())

    def _trim_drift(self) -> None:
        """Lines that never went below target + slack in the window hold a surplus from clock drift: drop it."""
        surplus = self.low - self.target - self.excess  # what is already being dropped counts as gone
        trim = self.playing & (self.low != np.iinfo(np.int64).max) & (surplus > self.slack)
        if trim.any():
            self.excess[trim] += surplus[trim]
            self.trimming = True
            self.stats.trims += int(trim.sum())
            self.stats.trimmed_samples += int(surplus[trim].sum())
        seen = self.playing & (self.low != np.iinfo(np.int64).max)
        short = seen & (self.low < self.slack) & (self.deficit == 0)  # close to running dry
        if short.any():
            self.deficit[short] = self.target - self.low[short]
            self.padding = True
        self.low[:] = np.iinfo(np.int64).max
        self.taken_in_window = 0

    def fill(self) -> np.ndarray:
        """Samples each line holds now."""
        with self.lock:
            return self.written - self.read
