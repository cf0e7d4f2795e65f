"""The media engine's fax calling tone watch: only watched channels are analysed, CNG is reported once per call
within about a second, speech-like and other tones are not, and the watch grows past its first rows."""
from __future__ import annotations

import asyncio

import numpy as np

from hotline.daemon.media.engine import MediaEngine
from hotline.daemon.media.tonewatch import FIRST_ROWS, ToneWatch
from hotline.drivers.base import FRAME_SAMPLES, ToneKind
from hotline.drivers.common.tones import ToneSpec, render_tone


def _frames(signal: np.ndarray) -> np.ndarray:
    n = -(-len(signal) // FRAME_SAMPLES) * FRAME_SAMPLES
    return np.pad(signal, (0, n - len(signal))).reshape(-1, FRAME_SAMPLES)


def test_cng_found_on_the_watched_slot_only() -> None:
    """CNG (1100 Hz, 0.5 s on, 3 s off, -20 dBm0, with noise) on slot 5 and on unwatched slot 7; a 2100 Hz tone on
    watched slot 9: one report, for slot 5, at the end of the first burst (within a second of its start)."""
    rng = np.random.default_rng(1)
    cng = _frames(render_tone(ToneSpec((1100.0,), -20.0, (500, 3000)), 4000))
    ced = _frames(render_tone(ToneSpec((2100.0,), -20.0), 4000))
    watch, heard = ToneWatch(), []
    watch.watch(5, lambda kind: heard.append((5, kind)))
    watch.watch(9, lambda kind: heard.append((9, kind)))
    inp = np.zeros((16, FRAME_SAMPLES), dtype=np.int16)
    found_at = None
    for tick in range(len(cng)):
        inp[:] = rng.normal(0, 30, inp.shape).astype(np.int16)
        inp[5] += cng[tick]
        inp[7] += cng[tick]
        inp[9] += ced[tick]
        if watch.process(inp) and found_at is None:
            found_at = tick
    assert heard == [(5, ToneKind.FAX_CNG)]
    assert found_at is not None and found_at * FRAME_SAMPLES / 8000 < 1.0


def test_rows_are_reused_and_the_watch_grows() -> None:
    """More watched channels than first rows: every one still hears its CNG; unwatched slots free their rows."""
    watch, heard = ToneWatch(), set()
    slots = list(range(FIRST_ROWS + 3))
    for s in slots:
        watch.watch(s, lambda kind, s=s: heard.add(s))
    watch.unwatch(0)
    cng = _frames(render_tone(ToneSpec((1100.0,), -15.0, (500, 3000)), 1000))
    inp = np.zeros((len(slots), FRAME_SAMPLES), dtype=np.int16)
    for frame in cng:
        inp[:] = frame
        watch.process(inp)
    assert heard == set(slots[1:])
    assert not ToneWatch()


def test_a_paused_slot_is_not_analysed_and_resumes_with_its_callback() -> None:
    """A watched slot paused (its call talking in a bridge) reports no CNG; resumed, the same callback hears
    the next burst; unwatching a paused slot frees it."""
    cng = _frames(render_tone(ToneSpec((1100.0,), -15.0, (500, 3000)), 4000))
    watch, heard = ToneWatch(), []
    watch.watch(3, lambda kind: heard.append(kind))
    watch.pause(3, True)
    assert not watch
    inp = np.zeros((8, FRAME_SAMPLES), dtype=np.int16)
    for frame in cng[:100]:
        inp[3] = frame
        watch.process(inp)
    assert heard == []
    watch.pause(3, False)
    for frame in cng:
        inp[3] = frame
        watch.process(inp)
    assert heard == [ToneKind.FAX_CNG]
    watch.pause(3, True)
    watch.unwatch(3)
    assert not watch.paused and not watch.row_of


def test_engine_reports_cng_and_forgets_a_closed_channel() -> None:
    """Through the media engine's tick: watch_tones on a channel, CNG from its device; a closed channel's watch
    goes with it."""
    class Device:
        def __init__(self):
            self.audio = _frames(render_tone(ToneSpec((1100.0,), -15.0, (500, 3000)), 1500))
            self.tick = 0

        def read_frames(self, names, out):
            out[:] = self.audio[min(self.tick, len(self.audio) - 1)]
            self.tick += 1

        def write_frames(self, names, frames):
            pass

    async def run() -> list:
        engine, heard = MediaEngine(4, speed=0), []
        dev = Device()
        ch = engine.open_channel("t1", dev, None)
        engine.watch_tones(ch, heard.append)
        for _ in range(60):
            engine.tick()
        engine.close_channel(ch)
        assert not engine.tones
        return heard
    assert asyncio.run(run()) == [ToneKind.FAX_CNG]


def test_the_answer_tone_reaches_only_the_slots_that_ask_for_it() -> None:
    """A fax machine's answer tone (CED, 2100 Hz, -20 dBm0, with noise) on two slots: the one watched for CED hears
    it once, after about a second of it; the one watched for the calling tone only (an incoming call) hears
    nothing. CNG on a slot watched for CED is not reported either."""
    rng = np.random.default_rng(2)
    ced = _frames(render_tone(ToneSpec((2100.0,), -20.0), 3000))
    cng = _frames(render_tone(ToneSpec((1100.0,), -20.0, (500, 3000)), 3000))
    watch, heard = ToneWatch(), []
    watch.watch(1, lambda kind: heard.append((1, kind)), (ToneKind.FAX_CED,))
    watch.watch(2, lambda kind: heard.append((2, kind)))
    watch.watch(3, lambda kind: heard.append((3, kind)), (ToneKind.FAX_CED,))
    inp = np.zeros((4, FRAME_SAMPLES), dtype=np.int16)
    found_at = None
    for tick in range(len(ced)):
        inp[:] = rng.normal(0, 30, inp.shape).astype(np.int16)
        inp[1] += ced[tick]
        inp[2] += ced[tick]
        inp[3] += cng[tick]
        if watch.process(inp) and found_at is None:
            found_at = tick * FRAME_SAMPLES / 8000
    assert heard == [(1, ToneKind.FAX_CED)]
    assert found_at is not None and 0.9 <= found_at <= 1.5, found_at
