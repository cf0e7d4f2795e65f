"""The media engine's mix for two-party bridges: each line hears its peer plus what plays to it, clipped."""
from __future__ import annotations

import asyncio

import numpy as np

from hotline.daemon.media.engine import ArrayPlayer, MediaEngine


class FixedDevice:
    """Every line sends a constant frame; what each line is sent is kept."""

    def __init__(self, levels: dict[str, int]) -> None:
        self.levels = levels
        self.heard: dict[str, np.ndarray] = {}

    def read_frames(self, lines: list[str], out: np.ndarray) -> None:
        for i, line in enumerate(lines):
            out[i] = self.levels[line]

    def write_frames(self, lines: list[str], frames: np.ndarray) -> None:
        for i, line in enumerate(lines):
            self.heard[line] = frames[i].copy()


def test_bridged_lines_hear_their_peer_plus_their_own_prompt_clipped_and_idle_lines_stay_silent() -> None:
    async def main() -> None:
        engine = MediaEngine(16, speed=0)
        dev = FixedDevice({"a": 1000, "b": -2000, "c": 30000, "d": 10000, "idle": 500})
        a, b, c, d, idle = (engine.open_channel(n, dev, None) for n in ("a", "b", "c", "d", "idle"))
        engine.bridge(a, b)
        engine.bridge(c, d)
        engine.play(a, ArrayPlayer(np.full(1600, 300, dtype=np.int16)))
        engine.play(d, ArrayPlayer(np.full(1600, 30000, dtype=np.int16)))
        engine.tick()
        assert (dev.heard["a"] == -2000 + 300).all()     # b's voice over a's prompt
        assert (dev.heard["b"] == 1000).all()
        assert (dev.heard["c"] == 10000).all()
        assert (dev.heard["d"] == 32767).all()           # 30000 + 30000 clipped, not wrapped
        assert not dev.heard["idle"].any()
        engine.disconnect(*[e for e in list(engine._edges) if e.dst == b.slot])
        engine.tick()
        assert not dev.heard["b"].any() and (dev.heard["a"] == -1700).all()   # one way now
    asyncio.run(main())
