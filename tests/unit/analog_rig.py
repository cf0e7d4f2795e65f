"""A test rig for drivers/analog: fake hardware, far-end audio queues and scheduled signals, ticked in media time."""
from __future__ import annotations

import collections
from dataclasses import dataclass, field

import numpy as np

from hotline.drivers.analog.bank import AnalogBank
from hotline.drivers.analog.fxo import FxoPort
from hotline.drivers.analog.fxs import FxsPort
from hotline.drivers.analog.profiles import AnalogSettings
from hotline.drivers.analog.signals import LineSignal
from hotline.drivers.base import LineEvent

FRAME = 160
TICK = 0.02


@dataclass
class FakeHardware:
    """Records what the machine asks for: hook and ring changes with their times, and every audio frame sent."""

    rig: "Rig"
    actions: list = field(default_factory=list)  # (time, name, arg)
    sent: list = field(default_factory=list)  # (time, frame)
    hook: bool = False
    ringing: bool = False

    def offhook(self) -> None:
        self.hook = True
        self.actions.append((self.rig.now, "offhook", None))

    def onhook(self) -> None:
        self.hook = False
        self.actions.append((self.rig.now, "onhook", None))

    def ring(self, on: bool) -> None:
        self.ringing = on
        self.actions.append((self.rig.now, "ring", on))

    def flash(self) -> None:
        self.actions.append((self.rig.now, "flash", None))

    def send_audio(self, frame: np.ndarray) -> None:
        assert frame.shape == (FRAME,) and frame.dtype == np.int16
        self.sent.append((self.rig.now, frame.copy()))

    def audio(self, start: float = 0.0, end: float = 1e9) -> np.ndarray:
        """Everything sent between two times, as one signal (gaps are not filled)."""
        frames = [f for t, f in self.sent if start <= t < end]
        return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)


class Rig:
    """Ports in one bank; the far end of each is an audio queue plus signals scheduled in media time."""

    def __init__(self, kinds: list[str], settings: AnalogSettings | None = None) -> None:
        self.tick_count = 0
        self.events: list[tuple[float, LineEvent]] = []
        self.hw = [FakeHardware(self) for _ in kinds]
        self.ports = [(FxoPort if kind == "fxo" else FxsPort)(f"p{i}", hw, self._sink, settings)
                      for i, (kind, hw) in enumerate(zip(kinds, self.hw))]
        self.bank = AnalogBank(self.ports)
        self.far: list[collections.deque] = [collections.deque() for _ in kinds]
        self.offsets = [0] * len(kinds)
        self.schedule: list[tuple[float, int, LineSignal]] = []

    @property
    def now(self) -> float:
        return self.tick_count * TICK

    def _sink(self, event: LineEvent) -> None:
        self.events.append((self.now, event))

    def play(self, i: int, samples: np.ndarray, after: float = 0.0) -> float:
        """Queue far-end audio on port i (after ``after`` seconds of silence); returns when it ends (media time)."""
        if after:
            self.far[i].append(np.zeros(int(round(after * 8000)), dtype=np.int16))
        self.far[i].append(np.asarray(samples, dtype=np.int16))
        return self.now + self.queued(i) / 8000

    def queued(self, i: int) -> int:
        return sum(len(a) for a in self.far[i]) - self.offsets[i]

    def signal(self, i: int, sig: LineSignal, at: float | None = None) -> None:
        """A hardware signal on port i now (before the next tick) or at media time ``at``."""
        self.schedule.append((self.now if at is None else at, i, sig))

    def _frame(self, i: int) -> np.ndarray:
        out = np.zeros(FRAME, dtype=np.int16)
        pos, q = 0, self.far[i]
        while pos < FRAME and q:
            take = min(FRAME - pos, len(q[0]) - self.offsets[i])
            out[pos:pos + take] = q[0][self.offsets[i]:self.offsets[i] + take]
            pos += take
            self.offsets[i] += take
            if self.offsets[i] >= len(q[0]):
                q.popleft()
                self.offsets[i] = 0
        return out

    def run(self, seconds: float, until=None) -> bool:
        """Tick for ``seconds`` of media time, or until ``until()`` is true (returns whether it became true)."""
        for _ in range(int(round(seconds / TICK))):
            due = [s for s in self.schedule if s[0] <= self.now + 1e-9]
            self.schedule = [s for s in self.schedule if s[0] > self.now + 1e-9]
            for _, i, sig in sorted(due, key=lambda s: s[0]):
                self.ports[i].on_signal(sig, self.now)
            frames = np.stack([self._frame(i) for i in range(len(self.ports))])
            self.bank.tick(frames, self.now)
            self.tick_count += 1
            if until is not None and until():
                return True
        return until is None

    def of(self, kind: type, port: int | None = None) -> list[tuple[float, LineEvent]]:
        """(time, event) of every event of a type (on one port)."""
        return [(t, e) for t, e in self.events if isinstance(e, kind) and (port is None or e.line == f"p{port}")]

    def kinds(self, port: int) -> list[str]:
        """The names of the events port ``port`` posted, in order."""
        return [type(e).__name__ for _, e in self.events if e.line == f"p{port}"]

    def rings(self, i: int, count: int, on: float, off: float, start: float | None = None) -> None:
        """Schedule ``count`` ring bursts of a cadence on port i."""
        t = self.now if start is None else start
        for _ in range(count):
            self.signal(i, LineSignal.RING_BEGIN, t)
            self.signal(i, LineSignal.RING_END, t + on)
            t += on + off
