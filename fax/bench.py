"""``hotline fax-bench``: how many software fax calls one core carries in real time (send+receive pairs, V.17).

Pairs of FaxSessions (a calling sender and an answering receiver) are connected back to back through G.711 audio by
a real-time 20 ms clock, as the media tick feeds calls; the fax threads of a ``FaxPool`` run spandsp. The whole
process (clock, fax threads) is pinned to one CPU. Each pair faxes a multi-page ghostscript document again and again
for the measured time; afterwards every received page is compared pixel by pixel with the sent page. The figures:
faxes and pages done, failed pages, pages per minute, CPU per session, and how late the clock ran (ticks more
than one tick late are skipped and counted, as the media engine does).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ..drivers.base import FRAME_SAMPLES
from ..drivers.common.tones import dbm0_to_amplitude
from .documents import PageHeader, Resolution, to_fax_tiff
from .pool import FaxPool
from .session import FaxDirection, FaxResult, FaxSession, FaxSettings, Modems
from .tiff import page_bitmaps

__all__ = ["BenchSettings", "run_fax_bench", "register"]

TICK = FRAME_SAMPLES / 8000          # 20 ms
STAGGER = 5.0                        # pairs start spread over this many seconds (real calls do not start together)
NON_ECM_TOLERANCE = 0.01             # without ECM a noisy line may damage a few rows: < 1 % differing pixels


def bench_document(pages: int) -> bytes:
    """A PostScript document of ``pages`` dense text pages (a product sheet: the image data T.4 has to carry)."""
    return (b"%!PS\n/Helvetica findfont 40 scalefont setfont\n1 1 " + str(pages).encode() + b" { /n exch def\n"
            b"  72 700 moveto (Hotline fax-bench page ) show n 3 string cvs show\n"
            b"  /Times-Roman findfont 14 scalefont setfont\n"
            b"  0 1 30 { /i exch def 72 650 i 18 mul sub moveto (Line ) show i 3 string cvs show\n"
            b"           ( of a product sheet: spec-1020, printer cartridges, dealer list.) show } for\n"
            b"  3 setlinewidth 72 72 moveto 540 80 n mul lineto stroke\n"
            b"  /Helvetica findfont 40 scalefont setfont showpage } for\n")


@dataclass(frozen=True)
class BenchSettings:
    """What to run: pairs at once, measured seconds, document pages, resolution, ECM, line noise, CPU, threads."""

    pairs: int = 10
    seconds: float = 120.0
    pages: int = 2
    resolution: Resolution = Resolution.FINE
    ecm: bool = True
    noise_dbm0: float | None = None
    cpu: int | None = None            # None: the first CPU this process may use
    threads: int = 1                  # fax threads (all on the one CPU)


@dataclass
class _Pair:
    """One sender and one receiver connected back to back, and the received file to check afterwards."""

    index: int
    run: int
    tx: FaxSession
    rx: FaxSession
    received: Path
    gaps: list[int]


@dataclass
class _Tally:
    """Results gathered while the clock runs."""

    results: list[tuple[FaxResult, FaxResult, Path]] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)
    missed: int = 0             # ticks skipped because the clock thread ran more than a tick late
    overflows: int = 0          # heard audio a fax thread was too far behind to keep (lost)
    underruns: int = 0          # a fax thread had not answered in time: silence played in the middle of a fax


def _line(rng: np.random.Generator, sigma: float):
    """The line between the two sides: white noise (if any) on the audio."""
    def carry(frame: np.ndarray) -> np.ndarray:
        if not sigma:
            return frame
        noisy = frame.astype(np.float64) + rng.normal(0.0, sigma, FRAME_SAMPLES)
        return np.clip(np.rint(noisy), -32768, 32767).astype(np.int16)
    return carry


def _start_pair(pool: FaxPool, s: BenchSettings, doc: Path, folder: Path, index: int, run: int) -> _Pair:
    received = folder / f"rx-{index:03d}-{run:03d}.tif"
    gaps: list[int] = []
    tx = FaxSession(FaxSettings(FaxDirection.SEND, doc, calling=True, modems=Modems.V17, ecm=s.ecm,
                                ident="+86 10 8001", time_limit=300), name=f"tx{index}")
    rx = FaxSession(FaxSettings(FaxDirection.RECEIVE, received, calling=False, modems=Modems.V17, ecm=s.ecm,
                                ident="555 0100", time_limit=300), name=f"rx{index}")
    for session in (tx, rx):   # gaps while the fax ran (the one after a side finished is not a gap in a signal)
        session.on_finished = lambda _r, session=session: gaps.append(session.tx.stats.underruns)
    pool.start(tx)
    pool.start(rx)
    return _Pair(index, run, tx, rx, received, gaps)


def _clock(pool: FaxPool, s: BenchSettings, doc: Path, folder: Path) -> tuple[_Tally, float]:
    """Run the real-time 20 ms clock: start pairs (staggered), carry their audio, restart a pair when its fax ends,
    stop starting new ones after ``seconds`` and wait for the last ones. Returns the tally and the wall time."""
    rng = np.random.default_rng(1)
    carry = _line(rng, dbm0_to_amplitude(s.noise_dbm0) / np.sqrt(2) if s.noise_dbm0 is not None else 0.0)
    tally = _Tally()
    pairs: dict[int, _Pair] = {}
    runs = [0] * s.pairs
    start_at = [i * STAGGER / max(1, s.pairs) for i in range(s.pairs)]
    t0 = time.monotonic()
    tick = 0
    due = t0
    while True:
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        else:
            tally.lateness.append(now - due)
            if now - due > TICK:   # like the media engine: ticks that could not run in time are skipped, not bunched
                tally.missed += int((now - due) / TICK)
                due = now
        due += TICK
        elapsed = tick * TICK
        for i in range(s.pairs):
            if i not in pairs and elapsed >= start_at[i] and elapsed < s.seconds:
                pairs[i] = _start_pair(pool, s, doc, folder, i, runs[i])
                runs[i] += 1
        for i, p in list(pairs.items()):
            to_rx, to_tx = p.tx.frame(), p.rx.frame()
            p.tx.feed(carry(to_tx))
            p.rx.feed(carry(to_rx))
            if p.tx.done and p.rx.done:
                tally.results.append((p.tx.result, p.rx.result, p.received))
                tally.overflows += p.tx.rx.stats.overflows + p.rx.rx.stats.overflows
                tally.underruns += sum(p.gaps)
                del pairs[i]
        tick += 1
        if elapsed >= s.seconds and not pairs:
            break
    return tally, time.monotonic() - t0


def _failed_pages(doc_pages: list[np.ndarray], tx: FaxResult, rx: FaxResult, received: Path,
                  tolerance: float) -> int:
    """Pages of this fax that did not arrive intact (all of them when the fax failed)."""
    if not (tx.ok and rx.ok) or not received.exists():
        return len(doc_pages)
    got = page_bitmaps(received)
    bad = len(doc_pages) - len(got) if len(got) < len(doc_pages) else 0
    for sent, page in zip(doc_pages, got):
        if sent.shape != page.shape or float(np.mean(sent != page)) > tolerance:
            bad += 1
    return bad


def run_fax_bench(s: BenchSettings, folder: Path) -> dict:
    """Run the benchmark in ``folder`` (documents, received faxes) and return its figures."""
    cpus = sorted(os.sched_getaffinity(0))
    cpu = s.cpu if s.cpu is not None else cpus[0]
    os.sched_setaffinity(0, {cpu})          # this thread, and every thread started from here on (the fax pool)
    src = folder / "bench.ps"
    src.write_bytes(bench_document(s.pages))
    doc = to_fax_tiff(src, folder / "bench.tif", s.resolution,
                      PageHeader("Hotline fax-bench", "+86 10 8001", datetime.now())).path
    load_before = os.getloadavg()[0]
    pool = FaxPool(threads=s.threads, name="fax-bench")
    cpu0 = time.process_time()
    try:
        tally, wall = _clock(pool, s, doc, folder)
    finally:
        pool.close()
    cpu_used = time.process_time() - cpu0
    load_after = os.getloadavg()[0]
    os.sched_setaffinity(0, set(cpus))
    sent_pages = page_bitmaps(doc)
    tolerance = NON_ECM_TOLERANCE if s.noise_dbm0 is not None and not s.ecm else 0.0
    failed_faxes = sum(1 for tx, rx, _ in tally.results if not (tx.ok and rx.ok))
    failed_pages = sum(_failed_pages(sent_pages, tx, rx, path, tolerance) for tx, rx, path in tally.results)
    pages_ok = len(tally.results) * len(sent_pages) - failed_pages
    sessions = [r for tx, rx, _ in tally.results for r in (tx, rx)]
    audio = sum(r.seconds for r in sessions)
    session_cpu = sum(r.cpu_seconds for r in sessions)
    durations = [tx.seconds for tx, _, _ in tally.results]
    late = np.array(tally.lateness or [0.0])
    reasons = sorted({f"{r.direction.value}: {r.reason}" for r in sessions if not r.ok})
    return {
        "pairs": s.pairs, "sessions": 2 * s.pairs, "seconds": s.seconds, "wall_seconds": round(wall, 1),
        "cpu": cpu, "fax_threads": s.threads, "rate": 14400, "ecm": s.ecm,
        "noise_dbm0": s.noise_dbm0, "resolution": s.resolution.value, "pages_per_fax": len(sent_pages),
        "faxes": len(tally.results), "failed_faxes": failed_faxes, "pages_ok": pages_ok,
        "failed_pages": failed_pages, "pages_per_minute": round(pages_ok / (wall / 60), 1),
        "fax_seconds_mean": round(float(np.mean(durations)), 1) if durations else 0.0,
        "bit_rates": sorted({r.bit_rate for r in sessions if r.pages}),
        "core_busy": f"{cpu_used / wall:.0%}",
        "cpu_per_session": f"{session_cpu / audio:.2%}" if audio else "-",
        "missed_ticks": tally.missed, "clock_late_max_ms": round(float(late.max()) * 1000, 1),
        "audio_lost_overflows": tally.overflows, "silence_underruns": tally.underruns, "failures": reasons,
        "load_before": round(load_before, 2), "load_after": round(load_after, 2),
    }


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``hotline fax-bench``."""
    b = sub.add_parser("fax-bench", parents=[common],
                       help="concurrent software fax send+receive pairs (V.17 14,400) on one core, pages per minute")
    b.add_argument("--pairs", type=int, default=10, help="send+receive pairs running at once")
    b.add_argument("--seconds", type=float, default=120.0, help="keep starting faxes for this long (the last ones "
                   "then finish)")
    b.add_argument("--pages", type=int, default=2, help="pages in the document each pair faxes")
    b.add_argument("--normal", action="store_true", help="normal resolution (default: fine)")
    b.add_argument("--no-ecm", action="store_true", help="without error correction")
    b.add_argument("--noise-dbm0", type=float, default=None, help="white noise on the line, e.g. -50")
    b.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the first allowed)")
    b.add_argument("--threads", type=int, default=1, help="fax threads (all on the one CPU)")
    b.add_argument("--json", action="store_true", help="one JSON object")

    def run(args: argparse.Namespace) -> int:
        settings = BenchSettings(pairs=args.pairs, seconds=args.seconds, pages=args.pages,
                                 resolution=Resolution.NORMAL if args.normal else Resolution.FINE,
                                 ecm=not args.no_ecm, noise_dbm0=args.noise_dbm0, cpu=args.cpu,
                                 threads=args.threads)
        with tempfile.TemporaryDirectory(prefix="hotline-fax-bench-") as tmp:
            result = run_fax_bench(settings, Path(tmp))
        _print(result, args.json)
        return 0 if result["failed_pages"] == 0 and result["faxes"] > 0 else 1
    b.set_defaults(fn=run)
