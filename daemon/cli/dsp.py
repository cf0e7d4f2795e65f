"""Offline DSP tools behind ``hotline dsp``: the DTMF detector over WAV files, and its conformance suite.

``dtmf_file_main`` runs a WAV file through the same detector the media engine
uses, 160 samples per tick, on the caller's own channel when the recording has
one (``engine.record_stereo``: caller left, the other side right), so keys
pressed over a prompt are found as the engine found them live. The conformance suite draws randomized DTMF
signals along each axis of the product specification (duration, frequency
error, twist, level, noise, gaps), runs hundreds of them at once in the
slots of one detector and reports pass rates; the unit tests assert on it and
``scripts/dtmf-suite`` prints the table kept in docs/dtmf.md.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from hotline.drivers.common.dtmf import FRAME, DtmfDetector, DtmfHit, DtmfParams
from hotline.drivers.common.tones import DTMF_KEYS, dtmf_tone
from ..media.wavio import WavError, read_wav
from . import dsp_lines
from .channels import DtmfChannel, _channel_audio
from hotline.drivers.common.dtmf import FRAME, DtmfDetector, DtmfHit, DtmfParams
from hotline.drivers.common.tones import DTMF_KEYS, dtmf_tone
from ..media.wavio import WavError, read_wav_8k

__all__ = ["TimedHit", "detect_batch", "DtmfChannel", "dtmf_file_main", "Burst", "Trial", "Axis", "AxisResult",
           "SUITE", "synthesize", "run_suite", "format_table"]

RATE = 8000


@dataclass(frozen=True)
class TimedHit:
    """A detected digit and the tick (0-based frame index) in which it was reported."""

    hit: DtmfHit
    frame: int

    @property
    def reported_sample(self) -> int:
        """Sample index at the end of the reporting tick: when the engine learns of it."""
        return (self.frame + 1) * FRAME


def detect_batch(signals: Sequence[np.ndarray], params: DtmfParams | None = None,
                 tail_ms: float = 200.0) -> list[list[TimedHit]]:
    """Run each signal in its own slot of one detector, tick by tick as the engine does."""
    tail = int(tail_ms * RATE / 1000)
    frames = max(len(x) for x in signals) + tail
    frames = -(-frames // FRAME)
    ticks = np.zeros((frames, len(signals), FRAME), dtype=np.int16)
    for slot, x in enumerate(signals):
        padded = np.zeros(frames * FRAME)
        padded[: len(x)] = x
        ticks[:, slot] = np.clip(np.rint(padded), -32768, 32767).reshape(frames, FRAME)
    detector = DtmfDetector(len(signals), params=params)
    found: list[list[TimedHit]] = [[] for _ in signals]
    for index in range(frames):
        for hit in detector.process(ticks[index]):
            found[hit.slot].append(TimedHit(hit, index))
    return found


def dtmf_file_main(path: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
                   channel: str | None = None) -> int:
    """``hotline dsp dtmf FILE.wav``: print "start_seconds digit channel" per detected digit.

    A stereo recording is read on the caller's channel (left) unless ``channel`` says otherwise; a mono
    one is all the caller and the prompts mixed, which is said on stderr (keys over a prompt may be lost).
    """
    try:
        audio = read_wav(path)
    except WavError as exc:
        print(f"hotline dsp dtmf: {exc}", file=err)
        return 2
    try:
        chosen = DtmfChannel(channel) if channel else (
            DtmfChannel.CALLER if audio.channels == 2 else DtmfChannel.MIXED)
    except ValueError:
        print(f"hotline dsp dtmf: --channel {channel!r}: expected one of "
              f"{', '.join(c.value for c in DtmfChannel)}", file=err)
        return 2
    if chosen is not DtmfChannel.MIXED and audio.channels != 2:
        print(f"hotline dsp dtmf: {path}: --channel {chosen.value} needs a stereo recording (caller left, "
              f"the other side right); this file has {audio.channels} channel(s)", file=err)
        return 2
    if audio.channels == 1:
        print(f"hotline dsp dtmf: {path} is mono: the caller and what they heard are mixed, so keys pressed "
              "over a prompt may be missed (engine.record_stereo: true keeps the caller on its own channel)",
              file=err)
    for timed in detect_batch([_channel_audio(audio, chosen)])[0]:
        print(f"{timed.hit.start_sample / RATE:.3f} {timed.hit.digit} {chosen.value}", file=out)
    return 0


@dataclass(frozen=True)
class Burst:
    """One DTMF tone burst; level is the low tone's (the high one is level + twist)."""

    digit: str
    ms: float
    level_dbm0: float = -10.0
    twist_db: float = 0.0
    offset: tuple[float, float] = (0.0, 0.0)  # fractional error of the low and high tone
    gap_ms: float = 0.0  # silence before this burst (after the previous one)


@dataclass(frozen=True)
class Trial:
    """A test signal: bursts after a lead-in, and optional white noise."""

    bursts: tuple[Burst, ...]
    snr_db: float | None = None  # tone power (both tones) over noise power, whole band


@dataclass(frozen=True)
class Axis:
    """One axis of the specification: how to draw a random trial along it."""

    name: str
    requirement: str
    make: Callable[[np.random.Generator, int], Trial]  # (rng, trial index) -> trial
    detect: bool = True  # every burst must be reported (else: no digit may be)


@dataclass
class AxisResult:
    """Outcome of many trials of one axis."""

    axis: Axis
    trials: int = 0
    passed: int = 0
    false_digits: int = 0  # reported digits that were not sent (or not expected)
    missed: int = 0  # bursts not reported
    max_start_error_ms: float = 0.0
    max_latency_ms: float = 0.0  # end of the reporting tick minus end of the tone

    @property
    def rate(self) -> float:
        """Share of trials that passed."""
        return self.passed / self.trials if self.trials else 0.0


def _digit(rng: np.random.Generator, index: int) -> str:
    """Cycle through all 16 keys so every axis covers every digit."""
    return DTMF_KEYS[index % 16]


def _sign(rng: np.random.Generator) -> float:
    """+1 or -1 at random."""
    return float(rng.choice((-1.0, 1.0)))


def _offsets(rng: np.random.Generator, size: float) -> tuple[float, float]:
    """Both tones off by ``size`` with independent random signs."""
    return (_sign(rng) * size, _sign(rng) * size)


def _far_off(rng: np.random.Generator) -> tuple[float, float]:
    """One or both tones 3.5-6 % off frequency."""
    low, high = (_sign(rng) * rng.uniform(0.035, 0.06) for _ in range(2))
    which = rng.integers(3)
    return (low, 0.0) if which == 0 else (0.0, high) if which == 1 else (low, high)


def _corner(rng: np.random.Generator, i: int) -> Trial:
    """40 ms, +-1.5 %, a twist limit, 15 dB SNR, both tones within -36..-3 dBm0."""
    twist = float(rng.choice((4.0, -8.0)))
    low_range = (-36.0, -3.0 - twist) if twist > 0 else (-36.0 - twist, -3.0)
    burst = Burst(_digit(rng, i), 40, rng.uniform(*low_range), twist, _offsets(rng, 0.015))
    return Trial((burst,), snr_db=15.0)


SUITE: tuple[Axis, ...] = (
    Axis("digits", "all 16 keys, 50 ms at -10 dBm0",
         lambda r, i: Trial((Burst(_digit(r, i), 50),))),
    Axis("duration 40 ms", "40 ms bursts are detected",
         lambda r, i: Trial((Burst(_digit(r, i), 40),))),
    Axis("duration < 20 ms", "5-19.9 ms bursts are rejected",
         lambda r, i: Trial((Burst(_digit(r, i), r.uniform(5, 19.9)),)), detect=False),
    Axis("offset 1.5 %", "both tones +-1.5 % off (40-80 ms) are detected",
         lambda r, i: Trial((Burst(_digit(r, i), r.uniform(40, 80), offset=_offsets(r, 0.015)),))),
    Axis("offset >= 3.5 %", "a tone 3.5-6 % off (40-200 ms) is rejected",
         lambda r, i: Trial((Burst(_digit(r, i), r.uniform(40, 200), offset=_far_off(r)),)),
         detect=False),
    Axis("reverse twist 4 dB", "high tone 4 dB stronger (40 ms, -10 dBm0 low tone)",
         lambda r, i: Trial((Burst(_digit(r, i), 40, twist_db=4.0),))),
    Axis("normal twist 8 dB", "low tone 8 dB stronger (40 ms, -10 dBm0 low tone)",
         lambda r, i: Trial((Burst(_digit(r, i), 40, twist_db=-8.0),))),
    Axis("level -3 dBm0", "each tone at -3 dBm0, 40 ms",
         lambda r, i: Trial((Burst(_digit(r, i), 40, level_dbm0=-3.0),))),
    Axis("level -36 dBm0", "each tone at -36 dBm0, 40 ms",
         lambda r, i: Trial((Burst(_digit(r, i), 40, level_dbm0=-36.0),))),
    Axis("SNR 15 dB", "white noise 15 dB below the tone pair, -36..-3 dBm0, 40 ms",
         lambda r, i: Trial((Burst(_digit(r, i), 40, level_dbm0=r.uniform(-36, -3)),), 15.0)),
    Axis("worst corners", "40 ms + 1.5 % + twist limit + 15 dB SNR, tones in -36..-3 dBm0",
         _corner),
    Axis("same digit, 40 ms gap", "the same key twice, 40-60 ms on, 40-60 ms off, 15 dB SNR",
         lambda r, i: Trial((Burst(_digit(r, i), r.uniform(40, 60)),
                             Burst(_digit(r, i), r.uniform(40, 60), gap_ms=r.uniform(40, 60))),
                            15.0)),
    Axis("sequences", "8 random keys, 50 ms on / 50 ms off, -20 dBm0, 15 dB SNR",
         lambda r, i: Trial(tuple(Burst(str(r.choice(list(DTMF_KEYS))), 50, -20.0, gap_ms=50)
                                  for _ in range(8)), 15.0)),
)


def synthesize(trial: Trial, rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The trial's signal (float, int16 scale) and each burst's (start, end) sample."""
    pieces = [np.zeros(int(rng.integers(800, 960)))]  # 100-120 ms lead-in: random alignment
    spans, pos = [], len(pieces[0])
    for burst in trial.bursts:
        gap = np.zeros(int(round(burst.gap_ms * RATE / 1000)))
        phase = (rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi))
        tone = dtmf_tone(burst.digit, burst.ms, burst.level_dbm0, burst.twist_db, burst.offset,
                         phase=phase).astype(np.float64)
        pieces += [gap, tone]
        spans.append((pos + gap.size, pos + gap.size + tone.size))
        pos += gap.size + tone.size
    pieces.append(np.zeros(int(0.15 * RATE)))
    signal = np.concatenate(pieces)
    if trial.snr_db is not None:
        tone_power = np.mean(np.concatenate([signal[a:b] for a, b in spans]) ** 2)
        signal += rng.standard_normal(signal.size) * np.sqrt(tone_power / 10 ** (trial.snr_db / 10))
    return signal, spans


def _judge(trial: Trial, spans: list[tuple[int, int]], found: list[TimedHit],
           result: AxisResult) -> None:
    """Score one trial into ``result``."""
    result.trials += 1
    if not result.axis.detect:
        result.false_digits += len(found)
        result.passed += not found
        return
    ok = len(found) == len(spans)
    for burst, (begin, end), timed in zip(trial.bursts, spans, found):
        start_error = abs(timed.hit.start_sample - begin) * 1000 / RATE
        latency = (timed.reported_sample - end) * 1000 / RATE
        result.max_start_error_ms = max(result.max_start_error_ms, start_error)
        result.max_latency_ms = max(result.max_latency_ms, latency)
        ok &= timed.hit.digit == burst.digit and start_error <= 20 and latency <= 50
    wrong = sum(t.hit.digit != b.digit for b, t in zip(trial.bursts, found))
    result.false_digits += wrong + max(0, len(found) - len(spans))
    result.missed += max(0, len(spans) - len(found))
    result.passed += ok


def run_suite(trials: int = 48, seed: int = 1, axes: Sequence[Axis] = SUITE,
              params: DtmfParams | None = None, batch: int = 1000) -> list[AxisResult]:
    """Run ``trials`` random trials per axis (reproducible by ``seed``) in detector batches."""
    rng = np.random.default_rng(seed)
    cases = [(k, axis.make(rng, i)) for k, axis in enumerate(axes) for i in range(trials)]
    results = [AxisResult(axis) for axis in axes]
    for begin in range(0, len(cases), batch):
        chunk = cases[begin:begin + batch]
        made = [synthesize(trial, rng) for _, trial in chunk]
        found = detect_batch([signal for signal, _ in made], params)
        for (k, trial), (_, spans), hits in zip(chunk, made, found):
            _judge(trial, spans, hits, results[k])
    return results


def format_table(results: Sequence[AxisResult]) -> str:
    """The results as a Markdown table."""
    lines = ["| axis | requirement | expected | trials | pass rate | false digits "
             "| max start error | max latency |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        expected = "detect" if r.axis.detect else "reject"
        timing = ("-", "-") if not r.axis.detect else (
            f"{r.max_start_error_ms:.1f} ms", f"{r.max_latency_ms:.1f} ms")
        lines.append(f"| {r.axis.name} | {r.axis.requirement} | {expected} | {r.trials} "
                     f"| {100 * r.rate:.1f} % | {r.false_digits} | {timing[0]} | {timing[1]} |")
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline dsp dtmf FILE [--channel caller|other|mixed]``, ``dsp callerid`` and ``dsp tones``."""
    dsp = sub.add_parser("dsp", help="signal analysis tools", parents=[common])
    dsub = dsp.add_subparsers(dest="dsp_cmd", required=True, metavar="TOOL")
    dt = dsub.add_parser("dtmf", help="print the DTMF digits in a WAV file as 'time_s digit channel' (a stereo "
                         "recording is read on the caller's channel)", parents=[common])
    dt.add_argument("file")
    dt.add_argument("--channel", choices=("caller", "other", "mixed"), default=None,
                    help="caller (left of a stereo recording, the default for stereo), other (right: what the "
                    "caller heard) or mixed (the default for mono)")

    def run(args: argparse.Namespace) -> int:
        return dtmf_file_main(args.file, channel=args.channel)
    dt.set_defaults(fn=run)
    dsp_lines.register(dsub, common)
