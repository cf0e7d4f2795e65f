"""Vectorized DTMF detector: one call per 20 ms tick analyses every channel slot at once.

Per tick, four Hann windows of 160 samples (5 ms hop) per slot are measured at
the 8 DTMF frequencies (and their 2nd harmonics) by one float32 matrix product.
A window is a *hit* when two tones dominate it cleanly and their phase advance
puts them within 2.5 % of nominal; hits of one digit form a *run*. When a run
ends, the half-amplitude crossings of the tones give the exact start and length
of the burst, and run-wide checks (duration >= 30 ms, frequency error <= 2 %,
tone purity, no octave, edges close to the hits) decide whether it was a digit.
docs/dtmf.md explains the design and lists the measured performance.
"""
from __future__ import annotations

import cmath
import math
from dataclasses import dataclass

import numpy as np

from .tones import DTMF_HIGH, DTMF_KEYS, DTMF_LOW, dbm0_to_amplitude

__all__ = ["DtmfHit", "DtmfParams", "DtmfDetector", "FRAME"]

FRAME = 160  # samples per slot per tick (20 ms at 8 kHz)
WINDOW = 160  # analysis window length
HOP = 40  # window hop: 4 windows per frame
WINDOWS_PER_FRAME = FRAME // HOP
_SPAN = FRAME + WINDOW - HOP  # buffer samples touched by this frame's windows (280)
_HISTORY = 32  # windows of amplitude history kept per slot (160 ms)
_HARMONIC_CLEARANCE_HZ = 150.0  # check a row's 2nd harmonic only if no column tone is this close
_MIN_PAIRS = 3  # phase advances (adjacent hit pairs) needed to trust the frequency estimate
_EDGE_REACH = 3.0  # windows a half-amplitude edge may lie outside the run's hits
_MAX_WAIT = 8  # windows without hits after which a run ends regardless of its amplitude
_RISE_AFTER = 6  # windows into a run after which its rising edge is located
_FUND = np.array(DTMF_LOW + DTMF_HIGH)
_FREQS = np.concatenate([_FUND, 2 * _FUND])  # fundamentals, then second harmonics
# Per-window powers summed over a run: digit's row and column tone, their second
# harmonics, both tones corrected for frequency error, everything, and the share of
# the rest (noise) that falls into one frequency bin.
_ROW, _COL, _ROW_H, _COL_H, _TONES, _TOTAL, _FLOOR = range(7)
_NOISE_MARGIN = 2.0  # a harmonic must stand this many times above the bin's noise power


@dataclass(frozen=True)
class DtmfHit:
    """One detected digit on one slot."""

    slot: int
    digit: str  # '0'-'9', '*', '#', 'A'-'D'
    start_sample: int  # since the detector started or the slot was last reset
    duration_ms: float


@dataclass(frozen=True)
class DtmfParams:
    """Detection thresholds; the defaults are what the tests and docs/dtmf.md measure."""

    min_level_dbm0: float = -46.0  # per tone, in a window
    max_normal_twist_db: float = 10.0  # low tone stronger
    max_reverse_twist_db: float = 6.0  # high tone stronger
    min_group_ratio_db: float = 6.0  # peak tone over the next tone of its group
    min_tone_fraction: float = 0.80  # share of a window's power in the two tones
    min_run_tone_fraction: float = 0.90  # the same over the whole tone
    max_harmonic_db: float = -12.0  # second harmonic relative to its fundamental, per window
    max_run_harmonic_db: float = -20.0  # the same over the whole tone, above the noise
    max_window_offset: float = 0.025  # frequency error per window (fraction of nominal)
    max_run_offset: float = 0.020  # mean frequency error over the tone
    min_octave_distance: float = 0.008  # |f_high / (2 f_low) - 1| below this: a note + octave
    min_duration_ms: float = 30.0  # half-amplitude duration
    max_gap_windows: int = 2  # windows without hits before a run may end (x 5 ms)


class _Runs:
    """Per-slot state of the tone being tracked, one array entry per slot."""

    def __init__(self, slots: int) -> None:
        self.digit = np.full(slots, -1, dtype=np.int16)  # -1: no run
        self.first = np.zeros(slots, dtype=np.int64)  # global window index of the first hit
        self.last = np.zeros(slots, dtype=np.int64)  # ... and of the last hit
        self.pairs = np.zeros(slots, dtype=np.int32)  # adjacent hit pairs seen
        self.cross = np.zeros((slots, 2), dtype=np.complex128)  # summed rotation per hop
        self.energy = np.zeros((slots, 7))  # summed window powers, _ROW .. _FLOOR
        self.rise = np.full(slots, np.nan)  # window index of the rising edge (NaN: not yet)
        self.chained = np.zeros(slots, dtype=bool)  # began as another digit's run ended
        self.peak = np.zeros(slots)  # largest row x col power product of a hit

    def clear(self, sel: np.ndarray | int) -> None:
        """Forget the run on the selected slots."""
        self.digit[sel] = -1
        self.pairs[sel] = 0
        self.cross[sel] = 0
        self.energy[sel] = 0
        self.rise[sel] = np.nan
        self.chained[sel] = False


@dataclass
class _Windows:
    """Per-window results of one tick: shape (slots, 4, ...)."""

    digit: np.ndarray  # candidate digit index 0-15, or -1
    cross: np.ndarray  # phase advance of the row and column tone, complex (S, 4, 2)
    energy: np.ndarray  # powers to sum over a run (S, 4, 7)


class DtmfDetector:
    """Vectorized DTMF detector over a fixed number of channel slots."""

    def __init__(self, slots: int, rate: int = 8000, params: DtmfParams | None = None) -> None:
        if rate != 8000:
            raise ValueError(f"the DTMF detector works at 8000 Hz, not {rate}")
        if slots < 1:
            raise ValueError("the DTMF detector needs at least one slot")
        self.slots = slots
        self.rate = rate
        self.params = params or DtmfParams()
        self._build_basis()
        self._set_thresholds()
        self._tail = np.zeros((slots, _SPAN - FRAME), dtype=np.float32)  # end of last frame
        self._tail_active = np.zeros(slots, dtype=bool)
        self._deaf = np.zeros(slots, dtype=bool)   # slots not listened to (a call in a two-party bridge)
        self._any_deaf = False
        self._last = np.zeros((2, 8, slots), dtype=np.float32)  # last window's cos/sin terms
        self._hist = np.zeros((_HISTORY, slots, 8), dtype=np.float32)  # tone powers per window
        self._runs = _Runs(slots)
        self._origin = np.zeros(slots, dtype=np.int64)  # global sample index of last reset
        self._tick = 0
        self._digits = 0

    def _build_basis(self) -> None:
        """Precompute the Hann-weighted cos/sin bases of the four windows of a tick."""
        w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WINDOW) / WINDOW)  # periodic Hann
        basis = np.zeros((_SPAN, 2, 2, 8, WINDOWS_PER_FRAME))  # span, harmonic, cos/sin, f, win
        power = np.zeros((_SPAN, WINDOWS_PER_FRAME))
        for i in range(WINDOWS_PER_FRAME):
            rows = slice(i * HOP, i * HOP + WINDOW)
            # Phases are referenced to the start of the two-frame buffer.
            phase = 2 * np.pi * np.outer(np.arange(_SPAN)[rows] + HOP, _FREQS) / self.rate
            basis[rows, :, 0, :, i] = (w[:, None] * np.cos(phase)).reshape(-1, 2, 8)
            basis[rows, :, 1, :, i] = (w[:, None] * np.sin(phase)).reshape(-1, 2, 8)
            power[rows, i] = w * w
        # Stored transposed: results come out as (64, n), so each (tone, window) row of
        # n slots is contiguous for the elementwise work.
        self._basis = np.ascontiguousarray(basis[:, 0].reshape(_SPAN, -1).T, dtype=np.float32)
        self._hbasis = np.ascontiguousarray(basis[:, 1].reshape(_SPAN, -1).T, dtype=np.float32)
        self._power_w = (power / (w * w).sum()).astype(np.float32)
        self._norm = np.float32(2.0 / w.sum() ** 2)  # |X|^2 -> power of the tone (A^2 / 2)
        self._bin_noise = np.float32(2.0 * (w * w).sum() / w.sum() ** 2)  # white noise in a bin
        # The last window of a tick becomes the predecessor of the next tick's first one,
        # whose buffer starts one frame later: rotate it by one frame's phase.
        theta = 2 * np.pi * _FUND * FRAME / self.rate
        self._rot = np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)
        self._hop_scale = (self.rate / (2 * np.pi * HOP) / _FUND).astype(np.float32)
        self._fund32 = _FUND.astype(np.float32)

    def _set_thresholds(self) -> None:
        """Turn the dB parameters into linear power ratios."""
        p = self.params
        self._min_power = dbm0_to_amplitude(p.min_level_dbm0) ** 2 / 2
        self._twist_lo = 10 ** (-p.max_normal_twist_db / 10)
        self._twist_hi = 10 ** (p.max_reverse_twist_db / 10)
        self._group_ratio = 10 ** (p.min_group_ratio_db / 10)
        self._harmonic = 10 ** (p.max_harmonic_db / 10)
        self._run_harmonic = 10 ** (p.max_run_harmonic_db / 10)
        # A row's 2nd harmonic lies close to some column tones (2 x 697 = 1394 Hz vs
        # 1336 Hz); the column tone's leakage would mask it, so those pairs skip it.
        self._near = np.abs(2 * _FUND[:4, None] - _FUND[None, 4:]) < _HARMONIC_CLEARANCE_HZ

    def reset(self, slot: int) -> None:
        """A new call takes over this slot: forget its audio and restart its sample count."""
        self._tail[slot] = 0
        self._tail_active[slot] = False
        self._last[:, :, slot] = 0
        self._hist[:, slot] = 0
        self._runs.clear(slot)
        self._origin[slot] = self._tick * FRAME
        if self._deaf[slot]:
            self._deaf[slot] = False
            self._any_deaf = bool(self._deaf.any())

    def set_deaf(self, slot: int, deaf: bool) -> None:
        """Stop (or start again) listening to a slot: a deaf slot's audio is not analysed, which saves its share
        of the tick; either way the slot starts afresh (no half-heard key across the change)."""
        if bool(self._deaf[slot]) == deaf:
            return
        self.reset(slot)
        self._deaf[slot] = deaf
        self._any_deaf = bool(self._deaf.any())

    def status(self) -> dict[str, int]:
        """Counters for the panel and metrics."""
        return {"slots": self.slots, "ticks": self._tick, "digits": self._digits,
                "tracking": int(np.count_nonzero(self._runs.digit >= 0))}

    def process(self, frames: np.ndarray) -> list[DtmfHit]:
        """Analyse one 160-sample frame per slot; return the digits whose tone ended."""
        cur = np.asarray(frames)
        if cur.shape != (self.slots, FRAME):
            raise ValueError(f"frames must have shape ({self.slots}, {FRAME}), got {cur.shape}")
        cur_active = cur.any(axis=1)
        if self._any_deaf:
            cur_active &= ~self._deaf
        active = np.flatnonzero(cur_active | self._tail_active)
        # Only slots with sound in this frame or the last one are measured: the others' tails stay zero.
        if active.size == self.slots:
            buf = np.empty((self.slots, _SPAN), dtype=np.float32)
            buf[:, : _SPAN - FRAME] = self._tail
            buf[:, _SPAN - FRAME:] = cur
            self._tail = buf[:, FRAME:]
        else:
            buf = np.empty((active.size, _SPAN), dtype=np.float32)
            buf[:, : _SPAN - FRAME] = self._tail[active]
            buf[:, _SPAN - FRAME:] = cur[active]
            self._tail[active] = buf[:, FRAME:]
        windows = self._windows(buf, active)
        self._tail_active = cur_active
        hits: list[DtmfHit] = []
        for i in range(WINDOWS_PER_FRAME):
            self._step(i, windows, hits)
        self._tick += 1
        self._digits += len(hits)
        return hits

    def _windows(self, sub: np.ndarray, active: np.ndarray) -> _Windows:
        """Measure the four windows of this tick on the ``active`` slots (``sub``: their buffers, one row each)
        and classify them; the other slots are silent."""
        s = self.slots
        win = _Windows(digit=np.full((s, WINDOWS_PER_FRAME), -1, dtype=np.int64),
                       cross=np.zeros((s, WINDOWS_PER_FRAME, 2), dtype=np.complex64),
                       energy=np.zeros((s, WINDOWS_PER_FRAME, 7), dtype=np.float32))
        h0 = self._tick * WINDOWS_PER_FRAME % _HISTORY
        hist = self._hist[h0:h0 + WINDOWS_PER_FRAME]  # (4, S, 8) view
        last = self._last
        self._last = np.zeros_like(last)
        if active.size == 0:  # all silent: almost free
            hist[:] = 0
            return win
        whole = active.size == s
        out = self._basis @ sub.T  # (64, n): cos/sin x frequency x window, by slot
        ptot = (sub * sub) @ self._power_w  # (n, 4) windowed power of each window
        sq = out * out
        power = (sq[:32] + sq[32:]) * self._norm  # (32, n): frequency x window
        pw = power.reshape(8, WINDOWS_PER_FRAME, -1)
        if whole:
            hist[:] = pw.transpose(1, 2, 0)
        else:
            hist[:] = 0
            hist[:, active] = pw.transpose(1, 2, 0)
        # Each window's predecessor: the previous window, or last tick's last window
        # rotated by one frame of phase (this buffer starts a frame later).
        out4 = out.reshape(2, 8, WINDOWS_PER_FRAME, -1)
        prev = np.empty_like(out4)
        prev[:, :, 1:] = out4[:, :, :-1]
        lc, ls = last[0][:, active], last[1][:, active]
        rc, rs = self._rot[0][:, None], self._rot[1][:, None]
        prev[0, :, 0] = lc * rc + ls * rs
        prev[1, :, 0] = ls * rc - lc * rs
        self._last[:, :, active] = out4[:, :, -1]
        # Slots too quiet to hold a tone at the minimum level are left out (the bound
        # follows from Cauchy-Schwarz: a tone's bin power is at most 3x the window power).
        loud = ptot @ np.ones(WINDOWS_PER_FRAME, dtype=np.float32) >= self._min_power / 6
        if np.count_nonzero(loud) < 0.75 * active.size:
            active, sub, ptot = active[loud], sub[loud], ptot[loud]
            out4, prev, pw = out4[..., loud], prev[..., loud], pw[..., loud]
        if active.size:
            digit, cross, energy = self._classify(sub, out4, prev, pw, ptot.T)
            if active.size == s:
                win.digit, win.cross, win.energy = digit.T, cross, energy
            else:
                win.digit[active], win.cross[active], win.energy[active] = digit.T, cross, energy
        return win

    def _classify(self, sub: np.ndarray, out: np.ndarray, prev: np.ndarray, pw: np.ndarray,
                  ptot: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-window tests on a dense set of n slots; arrays are (window, slot) shaped.

        Returns the digit (4, n), the row/column rotations (n, 4, 2) and the powers
        summed over runs (n, 4, 7).
        """
        p = self.params
        row, row_peak, row_next = _top_two(pw[0], pw[1], pw[2], pw[3])
        col, col_peak, col_next = _top_two(pw[4], pw[5], pw[6], pw[7])
        col += 4
        n = pw.shape[-1]
        flat_out, flat_prev = out.reshape(-1), prev.reshape(-1)
        base = np.arange(WINDOWS_PER_FRAME * n).reshape(WINDOWS_PER_FRAME, n)
        stride = WINDOWS_PER_FRAME * n  # one frequency further
        tones = []
        for tone in (row, col):
            idx = base + tone * stride
            c, si = flat_out[idx], flat_out[idx + 8 * stride]
            pc, ps = flat_prev[idx], flat_prev[idx + 8 * stride]
            # X = c - i si; X * conj(P) is this tone's rotation over one hop.
            cross_re, cross_im = c * pc + si * ps, c * ps - si * pc
            offset = np.arctan2(cross_im, cross_re) * self._hop_scale[tone]
            k = np.minimum(np.abs(offset * self._fund32[tone]) * (WINDOW / self.rate), 0.9)
            pk = np.pi * k + 1e-9
            gain = np.sin(pk) / pk / (1.0 - k * k)  # Hann response at the measured offset
            tones.append((offset, np.maximum(gain * gain, 0.5), cross_re + 1j * cross_im))
        (off_row, gain_row, x_row), (off_col, gain_col, x_col) = tones
        true_row, true_col = row_peak / gain_row, col_peak / gain_col
        ok = (true_row >= self._min_power) & (true_col >= self._min_power)
        ok &= (true_col >= true_row * self._twist_lo) & (true_col <= true_row * self._twist_hi)
        ok &= (row_peak >= row_next * self._group_ratio) & (col_peak >= col_next * self._group_ratio)
        ok &= true_row + true_col >= p.min_tone_fraction * ptot
        ok &= (np.abs(off_row) <= p.max_window_offset) & (np.abs(off_col) <= p.max_window_offset)
        h_row, h_col = self._harmonics(sub, ok, row, col)
        ok &= (h_row <= row_peak * self._harmonic) | self._near[row, col - 4]
        ok &= h_col <= col_peak * self._harmonic
        floor = np.maximum(ptot - true_row - true_col, 0.0) * self._bin_noise
        energy = np.stack([row_peak, col_peak, h_row, h_col, true_row + true_col, ptot, floor],
                          axis=-1).transpose(1, 0, 2)
        cross = np.stack([x_row, x_col], axis=-1).transpose(1, 0, 2)
        return np.where(ok, row * 4 + (col - 4), -1), cross, energy

    def _harmonics(self, sub: np.ndarray, ok: np.ndarray, row: np.ndarray,
                   col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Second-harmonic power of the row and column tone, on candidate slots only."""
        h_row = np.zeros(ok.shape, dtype=np.float32)
        h_col = np.zeros(ok.shape, dtype=np.float32)
        cand = np.flatnonzero(ok.any(axis=0))
        if cand.size:
            out = self._hbasis @ sub[cand].T
            sq = out * out
            power = ((sq[:32] + sq[32:]) * self._norm).reshape(8, WINDOWS_PER_FRAME, -1)
            w = np.arange(WINDOWS_PER_FRAME)[:, None]
            h_row[:, cand] = power[row[:, cand], w, np.arange(cand.size)]
            h_col[:, cand] = power[col[:, cand], w, np.arange(cand.size)]
        return h_row, h_col

    def _step(self, i: int, win: _Windows, hits: list[DtmfHit]) -> None:
        """Advance every slot's run by window ``i`` of this tick."""
        g = self._tick * WINDOWS_PER_FRAME + i
        runs = self._runs
        d = win.digit[:, i]
        tracking = runs.digit >= 0
        if not tracking.any() and not (d >= 0).any():
            return  # no tone anywhere and none being followed: nothing can start, go on or end
        same = tracking & (d == runs.digit)
        if same.any():
            adjacent = same & (runs.last == g - 1)
            runs.cross[adjacent] += win.cross[adjacent, i]
            runs.pairs[adjacent] += 1
            energy = win.energy[same, i]
            runs.energy[same] += energy
            runs.peak[same] = np.maximum(runs.peak[same], energy[:, _ROW] * energy[:, _COL])
            runs.last[same] = g
        by_digit = tracking & ~same & (d >= 0)
        ended = by_digit.copy()
        # A run ends once its tone has dropped below half amplitude after the last hit
        # (a shorter dropout is bridged), or after _MAX_WAIT windows without hits.
        waiting = np.flatnonzero(tracking & ~same & (d < 0)
                                 & (g - runs.last > self.params.max_gap_windows))
        if waiting.size:
            digit = runs.digit[waiting]
            h = self._hist[g % _HISTORY, waiting]
            level = h[np.arange(waiting.size), digit // 4] * h[np.arange(waiting.size), 4 + digit % 4]
            ended[waiting] = (level < runs.peak[waiting] / 16) | (g - runs.last[waiting] > _MAX_WAIT)
        for slot in np.flatnonzero(ended):
            hit = self._finish(int(slot), bool(by_digit[slot]))
            if hit is not None:
                hits.append(hit)
        runs.clear(ended)
        start = (runs.digit < 0) & (d >= 0)
        if start.any():
            runs.digit[start] = d[start]
            runs.first[start] = runs.last[start] = g
            runs.energy[start] = energy = win.energy[start, i]
            runs.peak[start] = energy[:, _ROW] * energy[:, _COL]
            runs.chained[start] = by_digit[start]
        # Once a tone has reached full amplitude, locate its rising edge while that is
        # still in the history (long tones outlive it).
        for slot in np.flatnonzero(same & np.isnan(runs.rise) & (g - runs.first >= _RISE_AFTER)):
            runs.rise[slot] = self._rise(int(slot))

    def _amplitudes(self, slot: int, g_from: int, g_to: int) -> list[float]:
        """Geometric mean amplitude of the run digit's two tones, windows g_from..g_to."""
        digit = int(self._runs.digit[slot])
        h = self._hist[np.arange(g_from, g_to + 1) % _HISTORY, slot]
        return np.sqrt(np.sqrt(h[:, digit // 4] * h[:, 4 + digit % 4])).tolist()

    def _rise(self, slot: int) -> float:
        """Window index where the run's tone rose through half amplitude (-inf: not near)."""
        runs = self._runs
        first = int(runs.first[slot])
        g_end = (self._tick + 1) * WINDOWS_PER_FRAME - 1
        lo = max(first - 4, g_end - _HISTORY + 1)
        amp = self._amplitudes(slot, lo, g_end)
        inside = first - lo
        edge = _crossing(amp, 0.5 * max(amp[inside:]), inside, -1)
        if edge is None or lo + edge < first - _EDGE_REACH:
            return first - 1.5 if runs.chained[slot] else -math.inf
        return lo + edge

    def _finish(self, slot: int, by_digit: bool) -> DtmfHit | None:
        """Decide whether the run that just ended on ``slot`` was a valid digit."""
        runs, p = self._runs, self.params
        digit, first, last = int(runs.digit[slot]), int(runs.first[slot]), int(runs.last[slot])
        if runs.pairs[slot] < _MIN_PAIRS:
            return None
        row, col = digit // 4, 4 + digit % 4
        x_row, x_col = runs.cross[slot].tolist()
        off_row = cmath.phase(x_row) * float(self._hop_scale[row])
        off_col = cmath.phase(x_col) * float(self._hop_scale[col])
        if max(abs(off_row), abs(off_col)) > p.max_run_offset:
            return None
        # A musical note and its octave (or 2nd harmonic) can fall inside the tolerance
        # of the pairs 2, 6 and C; a real DTMF pair is never that close to an octave.
        octave = _FUND[col] * (1 + off_col) / (2 * _FUND[row] * (1 + off_row))
        if abs(octave - 1) < p.min_octave_distance:
            return None
        e_row, e_col, e_row_h, e_col_h, e_tones, e_total, e_floor = runs.energy[slot].tolist()
        if e_tones < p.min_run_tone_fraction * e_total:
            return None
        # Harmonics count only where they stand clear of the noise (a weak tone in noise
        # would otherwise fail on noise alone).
        noise = _NOISE_MARGIN * e_floor
        if e_col_h - noise > e_col * self._run_harmonic:
            return None
        if e_row_h - noise > e_row * self._run_harmonic and not self._near[row, col - 4]:
            return None
        rise = self._rise(slot) if math.isnan(runs.rise[slot]) else float(runs.rise[slot])
        if rise == -math.inf:
            return None  # the sound began long before: not a tone burst
        g_end = (self._tick + 1) * WINDOWS_PER_FRAME - 1  # this tick's windows are all measured
        lo = max(first, last - 8, g_end - _HISTORY + 1)
        amp = self._amplitudes(slot, lo, g_end)
        edge = _crossing(amp, 0.5 * max(amp[: last - lo + 1]), last - lo, +1)
        fall = math.inf if edge is None else lo + edge
        if fall > last + _EDGE_REACH:
            if not by_digit:
                return None  # the sound went on: a longer signal that briefly looked like DTMF
            fall = last + 1.5
        duration = (fall - rise) * HOP  # samples between the half-amplitude points
        if duration < p.min_duration_ms * self.rate / 1000.0:
            return None
        # Window k ends at sample (k + 1) * HOP; at half amplitude the tone edge is at
        # the window's centre, WINDOW / 2 before its end.
        start = (rise + 1) * HOP - WINDOW / 2 - int(self._origin[slot])
        return DtmfHit(slot=slot, digit=DTMF_KEYS[digit], start_sample=max(0, round(start)),
                       duration_ms=round(duration * 1000.0 / self.rate, 1))


def _top_two(a: np.ndarray, b: np.ndarray, c: np.ndarray,
             d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index (0-3), value and runner-up value of the largest of four arrays, elementwise."""
    ab, cd = np.maximum(a, b), np.maximum(c, d)
    first_pair = ab >= cd
    index = np.where(first_pair, np.where(a >= b, 0, 1), np.where(c >= d, 2, 3))
    loser = np.where(first_pair, np.minimum(a, b), np.minimum(c, d))
    return index, np.maximum(ab, cd), np.maximum(np.minimum(ab, cd), loser)


def _crossing(amp: list[float], level: float, inside: int, direction: int) -> float | None:
    """Fractional index where ``amp`` drops below ``level`` walking from ``inside``."""
    if amp[inside] < level:
        return float(inside)
    j = inside
    while 0 <= j + direction < len(amp) and amp[j] >= level:
        j += direction
    if amp[j] >= level:
        return None
    a_in, a_out = amp[j - direction], amp[j]
    frac = (a_in - level) / (a_in - a_out) if a_in != a_out else 0.5
    return j - direction + direction * frac
