"""``hotline fax-bench`` counts what it claims: a real run with one pair faxes its pages and reports them, and a
received page that differs from the sent one is counted as a failed page (the figures are not taken on trust)."""
from __future__ import annotations

import os
from pathlib import Path

from hotline.fax.bench import BenchSettings, _failed_pages, bench_document, run_fax_bench
from hotline.fax.documents import Resolution, to_fax_tiff
from hotline.fax.session import FaxDirection, FaxOutcome, FaxResult
from hotline.fax.tiff import page_bitmaps


def _result(ok: bool) -> FaxResult:
    return FaxResult(FaxOutcome.SUCCESS if ok else FaxOutcome.FAILED, FaxDirection.RECEIVE, 2, 14400, True, "", "OK",
                     0, None, 1.0, 0.1)


def test_one_pair_in_real_time_faxes_and_counts_its_pages(tmp_path: Path) -> None:
    """One pair, a 1-page normal-resolution document: one fax, its page checked pixel by pixel, V.17 14,400, on one
    CPU; the process's CPU affinity is given back afterwards."""
    before = os.sched_getaffinity(0)
    r = run_fax_bench(BenchSettings(pairs=1, seconds=1.0, pages=1, resolution=Resolution.NORMAL), tmp_path)
    assert os.sched_getaffinity(0) == before
    assert (r["faxes"], r["failed_faxes"], r["pages_ok"], r["failed_pages"], r["failures"]) == (1, 0, 1, 0, [])
    assert r["bit_rates"] == [14400] and r["pages_per_minute"] > 0 and r["fax_seconds_mean"] > 5
    assert r["audio_lost_overflows"] == 0


def _tiff(folder: Path, name: str, ps: bytes) -> Path:
    src = folder / f"{name}.ps"
    src.write_bytes(ps)
    return to_fax_tiff(src, folder / f"{name}.tif", Resolution.NORMAL).path


def test_a_page_that_differs_is_a_failed_page(tmp_path: Path) -> None:
    """Pages are compared, not counted: a received fax whose page 2 is another page, a fax that failed, and a
    missing page each count as failed pages."""
    sent = _tiff(tmp_path, "sent", bench_document(2))
    other = _tiff(tmp_path, "other", bench_document(3))      # pages 2 and 3 of it: different numbers on them
    pages = page_bitmaps(sent)
    assert _failed_pages(pages, _result(True), _result(True), sent, 0.0) == 0
    assert _failed_pages(pages[1:], _result(True), _result(True), other, 0.0) == 1   # its page 1 is not page 2
    assert _failed_pages(pages, _result(True), _result(False), sent, 0.0) == 2
    assert _failed_pages(pages, _result(True), _result(True), _tiff(tmp_path, "short", bench_document(1)), 0.0) == 1
