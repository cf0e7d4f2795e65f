"""The elastic buffer between device threads and the tick, and the threaded sim card built on it."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from hotline.drivers.common import g711
from hotline.drivers.common.elastic import Codec, ElasticBuffer

F = 160


def ramp(n: int, start: int = 0) -> np.ndarray:
    """Distinct int16 samples (so order and loss show) that survive µ-law exactly."""
    return g711.ulaw_decode(g711.ulaw_encode(((np.arange(start, start + n) % 200) - 100) * 64))


def test_bursts_in_exactly_one_frame_out_in_order() -> None:
    """Bursts of 70, 410 and 120 samples come out as 160-sample frames, in order, after priming to target."""
    buf = ElasticBuffer(2, target=2 * F)
    buf.open_line(0)
    sent = ramp(600)
    codes = g711.ulaw_encode(sent)
    buf.push(0, codes[:70].tobytes())
    assert buf.take_frame().shape == (2, F)
    buf.push(0, codes[70:480])
    frames = [buf.take_frame()[0] for _ in range(3)]
    buf.push(0, codes[480:600])
    assert np.array_equal(np.concatenate(frames), sent[:480]), "samples lost, repeated or reordered"
    assert buf.stats.underruns == 0 and buf.stats.trims == 0
    assert not buf.take_frame()[1].any(), "a closed line must play silence"


def test_underrun_plays_silence_counts_and_reprimes() -> None:
    """A line that runs dry plays silence (counted once), then waits for target again before playing."""
    buf = ElasticBuffer(1, target=2 * F)
    buf.open_line(0)
    buf.push_samples(np.array([0]), ramp(2 * F)[None, :])
    assert buf.take_frame()[0].any() and buf.take_frame()[0].any()
    assert not buf.take_frame()[0].any()
    assert buf.stats.underruns == 1
    buf.push_samples(np.array([0]), ramp(F)[None, :])
    assert not buf.take_frame()[0].any(), "played before refilling to target"
    assert buf.stats.underruns == 1, "priming must not count as underruns"


def test_drift_is_trimmed_and_counted_jitter_is_not() -> None:
    """A producer 2 % fast grows the buffer: trims (in the pauses) keep it bounded; bursts with jitter alone trim
    nothing."""
    rng = np.random.default_rng(1)
    for drift, expect_trims in ((0.02, True), (0.0, False)):
        buf = ElasticBuffer(3, target=3 * F, window=8000)
        for r in range(3):
            buf.open_line(r)
        produced, ticks, next_at = 0, 0, 0
        for ticks in range(1, 3001):  # one minute
            if ticks >= next_at:
                due = int(ticks * F * (1 + drift)) - produced
                talk = ((np.arange(produced, produced + due) // 4000) % 2 == 0) * 1000  # half a second on, off
                buf.push_samples(np.arange(3), np.tile(talk.astype(np.int16), (3, 1)))
                produced += due
                next_at = ticks + int(rng.integers(1, 3))
            buf.take_frame()
        assert buf.stats.underruns == 0
        assert (buf.stats.trims > 0) == expect_trims, (drift, buf.stats)
        assert buf.fill().max() <= 6 * F


def test_surplus_is_dropped_in_silence_never_inside_a_tone() -> None:
    """The drift surplus waits for a quiet moment: every loud sample comes out, only silence is cut; audio that is
    never quiet is cut anyway before the buffer is half full."""
    for quiet_gaps in (True, False):
        buf = ElasticBuffer(1, target=2 * F, window=2000)
        buf.open_line(0)
        produced, loud_in, loud_out = 0, 0, 0
        for ticks in range(1, 1001):
            due = int(ticks * F * 1.05) - produced
            idx = np.arange(produced, produced + due)
            x = (np.where((idx // 1200) % 2 == 0, 2000, 0) if quiet_gaps else np.full(due, 2000)).astype(np.int16)
            loud_in += int((x != 0).sum())
            buf.push_samples(np.array([0]), x[None, :])
            produced += due
            loud_out += int((buf.take_frame()[0] != 0).sum())
        assert buf.stats.trims > 0
        if quiet_gaps:
            assert loud_in - loud_out <= buf.fill()[0], "a trim cut into the loud audio"
        assert buf.fill()[0] <= buf.capacity // 2 + 2 * F


def test_memory_is_bounded_and_overflow_drops_the_oldest() -> None:
    """Nobody takes: the buffer keeps only its capacity, the newest audio, and counts what it dropped."""
    buf = ElasticBuffer(1, capacity=4 * F, target=F)
    buf.open_line(0)
    data = ramp(10 * F)
    for k in range(10):
        buf.push_samples(np.array([0]), data[k * F:(k + 1) * F][None, :])
    assert buf.fill()[0] == 4 * F and buf.buf.nbytes == 4 * F
    assert buf.stats.overflows == 6 and buf.stats.trimmed_samples == 6 * F
    assert np.array_equal(buf.take_frame()[0], data[6 * F:7 * F])


def test_a_alaw_line_decodes_and_pads_alaw_silence() -> None:
    """Codec A-law: silence is A-law's zero code, frames decode with the A-law table."""
    buf = ElasticBuffer(1, Codec.ALAW, target=F)
    assert buf.take(F)[0, 0] == g711.ALAW_SILENCE
    buf.open_line(0)
    x = (np.arange(F) * 100 - 8000).astype(np.int16)
    buf.push_samples(np.array([0]), x[None, :])
    assert np.array_equal(buf.take_frame()[0], g711.alaw_decode(g711.alaw_encode(x)))


def test_a_thread_pushing_bursts_while_the_tick_takes() -> None:
    """A real producer thread with random bursts for 200 lines against a consumer taking every 2 ms: nothing is lost
    or duplicated beyond what was counted."""
    lines = 200
    buf = ElasticBuffer(lines, target=4 * F, capacity=32 * F)
    for r in range(lines):
        buf.open_line(r)
    total = 400 * F
    stop = threading.Event()

    def producer() -> None:
        rng = np.random.default_rng(3)
        sent = 0
        while sent < total:
            n = min(total - sent, int(rng.integers(1, 4)) * F)
            buf.push_samples(np.arange(lines), np.full((lines, n), 500, np.int16))
            sent += n
            time.sleep(0.001)
        stop.set()
    t = threading.Thread(target=producer)
    t.start()
    got = 0
    while not (stop.is_set() and buf.fill().max() < F):
        frame = buf.take_frame()
        got += int(np.count_nonzero(frame[0]))
        time.sleep(0.0005)
    t.join()
    lost = buf.stats.trimmed_samples // lines
    assert got + lost + buf.fill()[0] >= total - F * 2, (got, lost, buf.stats)


@pytest.mark.parametrize("drift", [0.02, -0.02, 0.0])
def test_threaded_sim_card_carries_audio_both_ways(drift: float) -> None:
    """The threaded sim: far-end audio crosses the device thread into the tick, the box's audio reaches heard;
    drift shows up as counted trims or underruns, never as lost ticks."""
    from hotline.drivers.sim.card import FarState, SimCard
    events: list = []
    card = SimCard("t", {"trunks": 2, "stations": [], "threaded": True, "jitter_ms": 60, "drift": drift}, events.append)
    card.open()
    try:
        line = card.lines["t-t1"]
        card._new_session(line, FarState.CONNECTED)
        speech = (8000 * np.sin(2 * np.pi * 700 * np.arange(8000) / 8000)).astype(np.int16)
        card.far_send(line, speech)
        got, names = [], ["t-t1"]
        for k in range(400):  # 8 s of box time
            card.tick()
            out = np.zeros((1, F), np.int16)
            card.read_frames(names, out)
            got.append(out[0].copy())
            card.write_frames(names, np.full((1, F), 3000, np.int16))
            time.sleep(0.005)  # let the device thread run, as the event loop does between ticks
        rx = np.concatenate(got)
        start = max(0, int(np.argmax(np.abs(rx) > 1000)) - 1)  # the sine starts at 0, its next sample is loud
        assert start < 10 * F, "the far end's audio arrived late or never"
        # the first frames (no drift correction yet) are the far end's audio sample for sample; the whole second
        # of speech arrives (a starved device thread may have inserted silence, never other audio)
        assert np.corrcoef(rx[start:start + 960].astype(float), speech[:960].astype(float))[0, 1] > 0.95
        seg = rx[start:start + 8000 + 4 * F].astype(float)
        spectrum = np.abs(np.fft.rfft(seg))
        assert abs(np.argmax(spectrum) * 8000 / len(seg) - 700) < 10
        assert np.count_nonzero(np.abs(seg) > 1000) > 0.8 * np.count_nonzero(np.abs(speech) > 1000)
        heard = card.heard(line)
        assert len(heard) > 300 * F and (heard[-F * 100:] != 0).mean() > 0.9
        st = card.status()["buffers"]
        if drift > 0:
            assert st["rx_trims"] > 0 and st["rx_underruns"] == 0
        elif drift < 0:  # the far end is quiet after its second of speech: silence is padded in there
            assert st["rx_pads"] > 0 and st["rx_trims"] == 0 and st["rx_underruns"] <= 2
        else:  # a loaded box may starve the device thread once or twice; the first burst may overshoot once
            assert st["rx_underruns"] <= 2 and st["rx_trims"] <= 1 and st["rx_pads"] <= 2
    finally:
        card.close()
    assert not card.audio.thread.is_alive()


def test_live_media_one_frame_late_is_no_gap_in_the_callers_audio() -> None:
    """A live far end (the media WebSocket) sends a frame per tick; one frame comes a tick late: the caller's
    audio goes on without a gap of silence (it would cut a key's tone in two: two keys detected), because live
    audio is held to 60 ms before it plays; a short burst still plays within three ticks."""
    from hotline.drivers.sim.card import FarState, SimCard
    card = SimCard("t", {"trunks": 1, "stations": []}, lambda event: None)
    card.open()
    line = card.lines["t-t1"]
    card._new_session(line, FarState.CONNECTED)
    sent = ramp(40 * F, 1) | 1                       # never 0: a gap of silence shows
    got = []
    late = {10}
    frames = [sent[i * F:(i + 1) * F] for i in range(40)]
    backlog: list = []
    for tick in range(46):
        if tick < 40:
            backlog.append(frames[tick])
        if tick not in late:
            for frame in backlog:
                card.far_send_live(line, frame)
            backlog.clear()
        out = np.zeros((1, F), np.int16)
        card.read_frames(["t-t1"], out)
        got.append(out[0].copy())
    rx = np.concatenate(got)
    start = int(np.argmax(rx != 0))
    assert start <= 3 * F, "live audio waited more than 60 ms"
    assert np.array_equal(rx[start:start + len(sent)], sent), "a gap or a slip in the live audio"
    # a burst shorter than the cushion is not held for ever
    card.far_send_live(line, frames[0][:80])
    heard = []
    for _ in range(4):
        out = np.zeros((1, F), np.int16)
        card.read_frames(["t-t1"], out)
        heard.append(out[0].copy())
    assert np.array_equal(np.concatenate(heard)[np.concatenate(heard) != 0], frames[0][:80])
