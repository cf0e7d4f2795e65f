"""Call-progress tone detection with country profiles (cn, us): dial, ringback, busy, congestion, SIT, fax CNG and CED.

The kinds are the driver contract's ``ToneKind``; a found tone becomes ``ToneDetected`` (``ToneEvent.detected``).

One ``process`` call per 20 ms tick classifies every slot at once: a 40 ms window (the last two
frames) is measured at each profile frequency (three bins each, +-1.5 %) by one matrix product, and
a frame belongs to a tone when that tone's frequencies hold most of its power. A 3-frame majority
vote removes single-frame glitches. Runs of one tone become bursts; Python runs only when a slot's
class changes, to match bursts against the profile's cadences. A cadenced tone (busy, congestion,
ringback) is reported at the end of its second matching burst, so China's busy tone (0.35 s on,
0.35 s off) is found about 1.1 s after it starts; pauses must be quiet (10 dB below the bursts),
which speech and music on hold are not.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..base import ToneDetected, ToneKind
from .tones import dbm0_to_amplitude

__all__ = ["ToneKind", "Rule", "Country", "COUNTRIES", "get_country", "ToneEvent", "CallProgressDetector",
           "detect_tones"]

FRAME = 160
RATE = 8000
_WINDOW = 2 * FRAME
_FRAME_MS = 1000 * FRAME / RATE
_BIN_SPREAD = 0.015
_PURITY = 0.75  # share of a window's power in the tone's frequencies
_MAX_TWIST = 0.1  # weaker of two tones over the stronger (10 dB)
_MIN_LEVEL_DBM0 = -42.0  # per frequency
_QUIET_DB = 10.0  # pauses of a cadence at least this far below the bursts (median power)
_RING = 64  # frames of power history per slot


@dataclass(frozen=True)
class Rule:
    """A tone's frequencies and cadence; ``continuous_ms`` > 0 for steady tones (dial, CED)."""

    kind: ToneKind
    freqs: tuple[float, ...]
    on_ms: tuple[float, float] = (0.0, 0.0)
    off_ms: tuple[float, float] = (0.0, 0.0)
    bursts: int = 2  # matching bursts before the tone is reported
    continuous_ms: float = 0.0


_SIT_FREQS = ((913.8, 985.2), (1370.6, 1428.5), (1776.7,))  # ITU-T E.180 / Telcordia SR-2275 segments
_SIT_MS = (200.0, 450.0)
_COMMON = (
    Rule(ToneKind.FAX_CNG, (1100.0,), (380.0, 720.0), (2500.0, 3800.0), bursts=1),
    Rule(ToneKind.FAX_CED, (2100.0,), continuous_ms=1000.0),
)


@dataclass(frozen=True)
class Country:
    """The call-progress tones of one country."""

    code: str
    rules: tuple[Rule, ...]
    signatures: tuple[tuple[float, ...], ...] = field(init=False)

    def __post_init__(self) -> None:
        sigs = list(dict.fromkeys(r.freqs for r in self.rules))
        sigs += [(f,) for group in _SIT_FREQS for f in group]
        object.__setattr__(self, "signatures", tuple(sigs))


COUNTRIES: dict[str, Country] = {
    "cn": Country("cn", (  # YD/T 1169-style: everything on 450 Hz, told apart by cadence
        Rule(ToneKind.DIAL, (450.0,), continuous_ms=1500.0),
        Rule(ToneKind.RINGBACK, (450.0,), (800.0, 1300.0), (3500.0, 4600.0)),
        Rule(ToneKind.BUSY, (450.0,), (260.0, 450.0), (260.0, 450.0)),
        Rule(ToneKind.CONGESTION, (450.0,), (550.0, 850.0), (550.0, 850.0)),
    ) + _COMMON),
    "us": Country("us", (  # the North American precise tone plan
        Rule(ToneKind.DIAL, (350.0, 440.0), continuous_ms=1000.0),
        Rule(ToneKind.RINGBACK, (440.0, 480.0), (1600.0, 2400.0), (3500.0, 4600.0)),
        Rule(ToneKind.BUSY, (480.0, 620.0), (400.0, 620.0), (400.0, 620.0)),
        Rule(ToneKind.CONGESTION, (480.0, 620.0), (170.0, 340.0), (170.0, 340.0)),
    ) + _COMMON),
}


def get_country(code: str) -> Country:
    """The profile of a country code such as "cn" or "US"."""
    try:
        return COUNTRIES[code.lower()]
    except KeyError:
        raise KeyError(f"no call-progress profile for {code!r} (known: {', '.join(sorted(COUNTRIES))})") from None


@dataclass(frozen=True)
class ToneEvent:
    """A tone found on a slot (``end_sample`` None) or, later, its end (``end_sample`` set)."""

    slot: int
    kind: ToneKind
    start_sample: int  # first sample of the pattern's first burst, counted from the slot's start
    end_sample: int | None = None

    def detected(self, line: str) -> ToneDetected:
        """The driver contract's event for this tone on ``line`` (post it when ``end_sample`` is None)."""
        return ToneDetected(line, kind=self.kind)


@dataclass
class _Burst:
    sig: int
    start: int  # frames
    end: int  # frames, exclusive
    power: float  # mean total power


@dataclass
class _SlotState:
    bursts: list[_Burst] = field(default_factory=list)
    active: Rule | None = None
    active_start: int = 0
    active_end: int = 0
    counts: dict[int, int] = field(default_factory=dict)  # rule index -> matching bursts in a row
    pause: float = float("inf")  # median power of the pause before the current burst


class CallProgressDetector:
    """Call-progress tones on a fixed number of slots, 160 samples per slot per tick."""

    def __init__(self, slots: int, country: str | Country = "cn") -> None:
        self.slots = slots
        self.country = get_country(country) if isinstance(country, str) else country
        sigs = self.country.signatures
        freqs = sorted({f for s in sigs for f in s})
        self._sig_index = [[freqs.index(f) for f in s] for s in sigs]
        spread = np.array([1 - _BIN_SPREAD, 1.0, 1 + _BIN_SPREAD])
        bins = (np.array(freqs)[:, None] * spread[None, :]).reshape(-1)
        n = np.arange(_WINDOW)[:, None]
        self._basis = np.hstack([np.cos(2 * np.pi * bins * n / RATE), np.sin(2 * np.pi * bins * n / RATE)])
        # A frame is the second half of this tick's window and the first half of the next one's: one product
        # with both halves of the basis side by side gives both, so each frame is projected once (no window built).
        self._halves = np.hstack([self._basis[FRAME:], self._basis[:FRAME]])
        self._nfreq = len(freqs)
        self._floor = dbm0_to_amplitude(_MIN_LEVEL_DBM0) ** 2 / 2
        self._rules = self.country.rules
        self._rule_sig = [sigs.index(r.freqs) for r in self._rules]
        self._continuous = np.zeros(len(sigs) + 1, dtype=np.int64)  # class -> frames before a steady tone counts
        for rule, sig in zip(self._rules, self._rule_sig):
            if rule.continuous_ms:
                self._continuous[sig + 1] = int(np.ceil(rule.continuous_ms / _FRAME_MS))
        self._sit = [[sigs.index((f,)) + 1 for f in group] for group in _SIT_FREQS]
        self._prev = np.zeros((slots, self._basis.shape[1]))   # the previous frame's first-half projection
        self._prev_energy = np.zeros(slots)                      # and its sum of squares
        self._votes = np.zeros((slots, 3), dtype=np.int64)
        self._cls = np.zeros(slots, dtype=np.int64)  # filtered class: 0 none, k = signature k-1
        self._run = np.zeros(slots, dtype=np.int64)  # frames in the current class
        self._sum = np.zeros(slots)  # total power summed over the current class run
        self._origin = np.zeros(slots, dtype=np.int64)  # frame at which the slot was last reset
        self._deadline = np.full(slots, np.iinfo(np.int64).max)  # frame at which an active cadence lapses
        self._active_cls = np.full(slots, -1, dtype=np.int64)  # class of the cadenced tone being followed
        self._powers = np.zeros((slots, _RING))  # total power of recent frames, for pause medians
        self._tick = 0
        self._state = [_SlotState() for _ in range(slots)]

    def reset(self, slot: int) -> None:
        """A new call takes over the slot."""
        self._prev[slot] = 0
        self._prev_energy[slot] = 0
        self._votes[slot] = 0
        self._cls[slot] = self._run[slot] = 0
        self._sum[slot] = 0
        self._origin[slot] = self._tick
        self._deadline[slot] = np.iinfo(np.int64).max
        self._active_cls[slot] = -1
        self._state[slot] = _SlotState()

    def tone_present(self) -> np.ndarray:
        """Per slot, whether the last classified frame (one tick behind) held a tone of the profile (voice does not)."""
        return self._cls > 0

    def _classify(self, out: np.ndarray, total: np.ndarray) -> np.ndarray:
        """Class of each slot's window from its projection on the basis and its mean power."""
        k = out.shape[1] // 2
        bin_power = 2 * (out[:, :k] ** 2 + out[:, k:] ** 2) / _WINDOW ** 2
        tone = bin_power.reshape(len(out), self._nfreq, 3).max(axis=2)
        best = np.zeros(len(out), dtype=np.int64)
        score = np.zeros(len(out))
        for s, idx in enumerate(self._sig_index):
            parts = tone[:, idx]
            power = parts.sum(axis=1)
            ok = (parts.min(axis=1) >= self._floor) & (power >= _PURITY * total)
            if len(idx) > 1:
                ok &= parts.min(axis=1) >= _MAX_TWIST * parts.max(axis=1)
            better = ok & (power > score)
            best[better], score[better] = s + 1, power[better]
        return best

    def process(self, frames: np.ndarray) -> list[ToneEvent]:
        """Analyse one 160-sample frame per slot; tones found and tones ended."""
        cur = np.asarray(frames, dtype=np.float64)
        if cur.shape != (self.slots, FRAME):
            raise ValueError(f"frames must have shape ({self.slots}, {FRAME}), got {cur.shape}")
        both = cur @ self._halves   # this frame as a window's second half, then as the next window's first
        width = self._basis.shape[1]
        energy = np.einsum("ij,ij->i", cur, cur)
        total = (self._prev_energy + energy) / _WINDOW
        raw = self._classify(self._prev + both[:, :width], total)
        self._prev, self._prev_energy = both[:, width:], energy
        self._powers[:, self._tick % _RING] = total
        self._votes[:, :2] = self._votes[:, 1:]
        self._votes[:, 2] = raw
        v = self._votes
        filtered = np.where(v[:, 0] == v[:, 2], v[:, 0], v[:, 1])  # 2 of 3, else the middle one
        frame = self._tick - 1  # the filtered decision is about the previous frame
        self._tick += 1
        events: list[ToneEvent] = []
        changed = np.flatnonzero(filtered != self._cls)
        for slot in changed:
            self._transition(int(slot), int(filtered[slot]), frame, events)
        same = filtered == self._cls
        self._run = np.where(same, self._run + 1, 1)
        self._sum = np.where(same, self._sum + total, total)
        self._cls = filtered
        steady = np.flatnonzero((self._continuous[filtered] > 0) & (self._run == self._continuous[filtered]))
        for slot in steady:
            self._steady(int(slot), frame, events)
        for slot in np.flatnonzero((frame >= self._deadline) & (self._cls != self._active_cls)):
            self._finish(int(slot), events)
        return events

    def _rule_for(self, sig: int, steady: bool) -> list[tuple[int, Rule]]:
        """The rules (index, rule) of a signature, steady or cadenced."""
        return [(i, r) for i, r in enumerate(self._rules)
                if self._rule_sig[i] == sig and bool(r.continuous_ms) == steady]

    def _steady(self, slot: int, frame: int, events: list[ToneEvent]) -> None:
        """A steady tone (dial, CED) has lasted long enough."""
        state = self._state[slot]
        sig = int(self._cls[slot]) - 1
        for _, rule in self._rule_for(sig, True):
            if state.active is not None:
                self._finish(slot, events)
            start = frame - int(self._run[slot]) + 1
            state.active, state.active_start, state.active_end = rule, start, frame + 1
            events.append(ToneEvent(slot, rule.kind, self._sample(slot, start, True)))
            return

    def _sample(self, slot: int, frame: int, start: bool) -> int:
        """Sample index (since the slot's reset) of a burst edge at ``frame`` (the window straddles two frames)."""
        frame -= int(self._origin[slot])
        return max(0, frame * FRAME - FRAME // 2) if start else frame * FRAME + FRAME // 2

    def _finish(self, slot: int, events: list[ToneEvent]) -> None:
        """The active tone is over."""
        state = self._state[slot]
        if state.active is not None:
            events.append(ToneEvent(slot, state.active.kind, self._sample(slot, state.active_start, True),
                                    self._sample(slot, state.active_end - 1, False)))
        state.active = None
        state.counts.clear()
        self._deadline[slot] = np.iinfo(np.int64).max
        self._active_cls[slot] = -1

    def _transition(self, slot: int, new: int, frame: int, events: list[ToneEvent]) -> None:
        """The slot's class changes at ``frame``: close the run that ended."""
        old, run = int(self._cls[slot]), int(self._run[slot])
        state = self._state[slot]
        if old == 0:
            span = min(run, _RING - 3)
            ticks = (self._tick - 3 - np.arange(span)) % _RING  # the pause without the edge frames
            state.pause = float(np.median(self._powers[slot, ticks])) if span > 2 else 0.0
            return
        pause, state.pause = state.pause, float("inf")
        burst = _Burst(old - 1, frame - run, frame, float(self._sum[slot] / max(run, 1)))
        if state.active is not None and state.active.continuous_ms and self._rule_sig[
                self._rules.index(state.active)] == burst.sig:
            state.active_end = burst.end
            self._finish(slot, events)
            return
        previous = state.bursts[-1] if state.bursts else None
        state.bursts = (state.bursts + [burst])[-3:]
        self._sit_check(slot, events)
        ms = (burst.end - burst.start) * _FRAME_MS
        for i, rule in self._rule_for(burst.sig, False):
            fits = rule.on_ms[0] <= ms <= rule.on_ms[1]
            chained = previous is not None and previous.sig == burst.sig and state.counts.get(i, 0) > 0 and (
                rule.off_ms[0] <= (burst.start - previous.end) * _FRAME_MS <= rule.off_ms[1])
            quiet = pause <= burst.power * 10 ** (-_QUIET_DB / 10)
            state.counts[i] = (state.counts.get(i, 0) + 1 if chained and quiet else 1) if fits else 0
            if fits and state.counts[i] >= rule.bursts:
                if state.active is rule:
                    state.active_end = burst.end
                else:
                    if state.active is not None:
                        self._finish(slot, events)
                    first = state.bursts[-min(rule.bursts, len(state.bursts))] if rule.bursts > 1 else burst
                    state.active, state.active_start, state.active_end = rule, first.start, burst.end
                    state.counts[i] = rule.bursts
                    events.append(ToneEvent(slot, rule.kind, self._sample(slot, first.start, True)))
                self._deadline[slot] = burst.end + int(np.ceil(rule.off_ms[1] / _FRAME_MS)) + 1
                self._active_cls[slot] = burst.sig + 1
            elif state.active is rule:
                self._finish(slot, events)

    def _sit_check(self, slot: int, events: list[ToneEvent]) -> None:
        """Three SIT segments in order, each 200-450 ms, back to back."""
        last = self._state[slot].bursts
        if len(last) < 3:
            return
        for burst, group in zip(last, self._sit):
            ms = (burst.end - burst.start) * _FRAME_MS
            if burst.sig + 1 not in group or not _SIT_MS[0] <= ms <= _SIT_MS[1]:
                return
        if any((b.start - a.end) * _FRAME_MS > 100 for a, b in zip(last, last[1:])):
            return
        events.append(ToneEvent(slot, ToneKind.SIT, self._sample(slot, last[0].start, True)))
        events.append(ToneEvent(slot, ToneKind.SIT, self._sample(slot, last[0].start, True),
                                self._sample(slot, last[-1].end - 1, False)))

    def flush(self) -> list[ToneEvent]:
        """End every tone still active (the end of a recording)."""
        events: list[ToneEvent] = []
        for slot in range(self.slots):
            state = self._state[slot]
            if state.active is not None and state.active.continuous_ms and self._cls[slot] > 0:
                state.active_end = self._tick - 1
            self._finish(slot, events)
        return events


def detect_tones(samples: np.ndarray, country: str = "cn") -> list[tuple[int, int, ToneKind]]:
    """(start sample, end sample, kind) of every call-progress tone in a recording."""
    x = np.asarray(samples, dtype=np.float64)
    frames = -(-x.size // FRAME) + 3
    padded = np.zeros(frames * FRAME)
    padded[:x.size] = x
    detector = CallProgressDetector(1, country)
    ended: list[ToneEvent] = []
    for tick in padded.reshape(frames, 1, FRAME):
        ended += [e for e in detector.process(tick) if e.end_sample is not None]
    ended += [e for e in detector.flush() if e.end_sample is not None]
    return [(e.start_sample, min(e.end_sample or 0, x.size), e.kind) for e in ended]
