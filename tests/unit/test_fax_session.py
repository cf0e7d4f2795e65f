"""The software fax engine with real spandsp: two FaxSessions back to back through audio (elastic buffers, pool
threads, G.711 on the line, white noise added), pages compared pixel by pixel; time limits, cancels, T.30 failures."""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from hotline.drivers.base import FRAME_SAMPLES
from hotline.drivers.common import spandsp
from hotline.drivers.common.tones import dbm0_to_amplitude
from hotline.fax.documents import PageHeader, Resolution, to_fax_tiff
from hotline.fax.pool import FaxPool
from hotline.fax.session import FaxDirection, FaxError, FaxOutcome, FaxResult, FaxSession, FaxSettings, Modems
from hotline.fax.tiff import page_bitmaps

# White noise at -50 dBm0 on both directions, against fax signals at -14 dBm0 (spandsp's level, measured): an SNR of
# 36 dB over the whole 4 kHz band, on top of G.711's own quantisation noise. That is 10-20 dB noisier than the idle
# channel noise a real PSTN line has (G.712: -65 dBm0p or less); at -45 dBm0 spandsp's V.21 receiver takes the noise
# for a carrier and T.30 never gets past phase B (docs/fax.md, troubleshooting).
NOISE_DBM0 = -50.0
# Without ECM nothing repairs a damaged scan line: spandsp's T.4 decoder replaces a bad row with the previous one, so a
# noisy line may change a few rows. A page counts as transferred when fewer than 1 % of its pixels differ; with ECM
# (frames retransmitted until the CRC is right) or without noise the pages must be identical.
NOISY_NON_ECM_TOLERANCE = 0.01
DOC_PS = b"""%!PS
/Helvetica findfont 40 scalefont setfont
1 1 2 { /n exch def
  72 700 moveto (Hotline fax page ) show n 3 string cvs show
  /Times-Roman findfont 14 scalefont setfont
  0 1 30 { /i exch def 72 650 i 18 mul sub moveto (Line ) show i 3 string cvs show
           ( of a product sheet: spec-1020, printer cartridges, dealer list.) show } for
  3 setlinewidth 72 72 moveto 540 80 n mul lineto stroke
  newpath 300 200 60 0 360 arc n 2 eq { fill } { stroke } ifelse
  /Helvetica findfont 40 scalefont setfont showpage } for
"""


@pytest.fixture(scope="module")
def pool():
    """Two fax threads, as the daemon runs them."""
    p = FaxPool(threads=2, name="fax-test")
    yield p
    p.close()


def make_document(folder: Path, resolution: Resolution = Resolution.FINE) -> Path:
    """A 2-page TIFF-F made by ghostscript from PostScript, with the header line."""
    src = folder / "doc.ps"
    src.write_bytes(DOC_PS)
    header = PageHeader("Hotline test box", "+86 10 8001", datetime(2026, 12, 7, 9, 30))
    doc = to_fax_tiff(src, folder / f"doc-{resolution.value}.tif", resolution, header)
    assert doc.pages == 2
    return doc.path


def back_to_back(pool: FaxPool, sender: FaxSettings, receiver: FaxSettings, noise_dbm0: float | None,
                 seed: int = 7, max_seconds: float = 300.0,
                 pages: dict[str, list[int]] | None = None) -> tuple[FaxResult, FaxResult]:
    """Connect two sessions through audio and be their media clock: each 20 ms step takes one frame from each,
    adds noise, passes it through G.711 (the elastic buffers carry G.711) to the other side, then waits until both
    fax threads have processed it (so the test runs faster than real time yet the threads never starve)."""
    rng = np.random.default_rng(seed)
    sigma = dbm0_to_amplitude(noise_dbm0) / np.sqrt(2) if noise_dbm0 is not None else 0.0

    def line(frame: np.ndarray) -> np.ndarray:
        if not sigma:
            return frame
        noisy = frame.astype(np.float64) + rng.normal(0.0, sigma, FRAME_SAMPLES)
        return np.clip(np.rint(noisy), -32768, 32767).astype(np.int16)

    pages = pages if pages is not None else {}
    a = pool.start(FaxSession(sender, name="sender", on_page=pages.setdefault("sender", []).append))
    b = pool.start(FaxSession(receiver, name="receiver", on_page=pages.setdefault("receiver", []).append))
    for step in range(1, int(max_seconds * 8000 / FRAME_SAMPLES)):
        to_b, to_a = a.frame(), b.frame()
        a.feed(line(to_a))
        b.feed(line(to_b))
        assert a.wait_frames(step) and b.wait_frames(step), "a fax thread stopped processing audio"
        if a.done and b.done:
            break
    for s in (a, b):
        if not s.done:
            s.cancel("test harness: no result in time")
    return a.future.result(10), b.future.result(10)


CASES = [
    # modems, ecm, noise, resolution, expected bit rate
    pytest.param(Modems.V17, True, NOISE_DBM0, Resolution.FINE, 14400, id="V.17-14400-ECM-noise"),
    pytest.param(Modems.V17, False, NOISE_DBM0, Resolution.FINE, 14400, id="V.17-14400-noECM-noise"),
    pytest.param(Modems.V29, True, NOISE_DBM0, Resolution.FINE, 9600, id="V.29-9600-ECM-noise"),
    pytest.param(Modems.V29, False, NOISE_DBM0, Resolution.FINE, 9600, id="V.29-9600-noECM-noise"),
    pytest.param(Modems.V17, False, None, Resolution.NORMAL, 14400, id="V.17-14400-noECM-clean-normal"),
    pytest.param(Modems.V27TER, True, None, Resolution.FINE, 4800, id="V.27ter-4800-ECM-clean"),
]


@pytest.mark.parametrize("modems, ecm, noise, resolution, rate", CASES)
def test_two_sessions_fax_a_document_through_audio(pool: FaxPool, tmp_path: Path, modems: Modems, ecm: bool,
                                                    noise: float | None, resolution: Resolution, rate: int) -> None:
    """A 2-page ghostscript document goes from a calling sender to an answering receiver at the expected rate; the
    received pages are the sent pages, pixel for pixel (within the stated tolerance on a noisy line without ECM)."""
    doc = make_document(tmp_path, resolution)
    received = tmp_path / "received.tif"
    pages: dict[str, list[int]] = {}
    tx, rx = back_to_back(
        pool,
        FaxSettings(FaxDirection.SEND, doc, calling=True, modems=modems, ecm=ecm, ident="+86 10 8001"),
        FaxSettings(FaxDirection.RECEIVE, received, calling=False, modems=modems, ecm=ecm, ident="555 0100"),
        noise, pages=pages)
    assert pages == {"sender": [1, 2], "receiver": [1, 2]}   # each page reported as it was confirmed
    for r in (tx, rx):
        assert r.outcome is FaxOutcome.SUCCESS, (r.reason, r.log[-30:])
        assert (r.pages, r.bit_rate, r.ecm, r.code, r.reason) == (2, rate, ecm, spandsp.T30_ERR_OK, "OK")
        assert 0 < r.cpu_seconds < r.seconds / 4   # far faster than real time
    assert tx.remote_ident == "555 0100" and rx.remote_ident == "+86 10 8001"
    assert rx.tiff == received and received.exists() and not Path(f"{received}.part").exists()
    sent_pages, got_pages = page_bitmaps(doc), page_bitmaps(received)
    assert len(got_pages) == len(sent_pages) == 2
    tolerance = NOISY_NON_ECM_TOLERANCE if noise is not None and not ecm else 0.0
    for i, (sent, got) in enumerate(zip(sent_pages, got_pages), 1):
        assert got.shape == sent.shape == (resolution.rows, 1728), f"page {i}"
        assert sent.mean() > 0.005, f"page {i} of the document is blank: the comparison would prove nothing"
        differing = float(np.mean(sent != got))
        assert differing <= tolerance, f"page {i}: {differing:.4%} of the pixels differ"


def test_session_past_its_time_limit_ends_failed_with_the_reason(pool: FaxPool, tmp_path: Path) -> None:
    """A receiver that never hears anything (the tick stopped feeding it) still ends, TIMED_OUT, with the limit."""
    s = pool.start(FaxSession(FaxSettings(FaxDirection.RECEIVE, tmp_path / "never.tif", calling=False,
                                          time_limit=1.0)))
    t0 = time.monotonic()
    result = s.future.result(timeout=10)
    assert result.outcome is FaxOutcome.TIMED_OUT and not result.ok
    assert "limit of 1 s" in result.reason
    assert 0.9 < time.monotonic() - t0 < 5
    assert result.tiff is None and list(tmp_path.iterdir()) == []   # no half-written fax left behind


def test_t30_failure_is_reported_in_t30_words(pool: FaxPool, tmp_path: Path) -> None:
    """A caller whose far end never answers with fax tones: T.30 gives up on its own (timer T0) and says so."""
    doc = make_document(tmp_path)
    s = pool.start(FaxSession(FaxSettings(FaxDirection.SEND, doc, calling=True)))
    silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    for step in range(1, 90 * 50):
        s.feed(silence)
        s.frame()
        s.wait_frames(step)
        if s.done:
            break
    result = s.future.result(timeout=10)
    assert result.outcome is FaxOutcome.FAILED and result.pages == 0
    assert result.code not in (spandsp.T30_ERR_OK, -1)
    assert result.reason == spandsp.completion_text(result.code) and result.reason != "OK"
    assert 55 < result.seconds < 70   # T0 is 60 s of line time
    assert any("T0 expired" in line for line in result.log), result.log[-10:]


def test_cancel_ends_the_session_and_leaves_no_partial_fax(pool: FaxPool, tmp_path: Path) -> None:
    """Hanging up mid-call cancels the session on its thread: CANCELLED with the reason, nothing half-written."""
    s = pool.start(FaxSession(FaxSettings(FaxDirection.RECEIVE, tmp_path / "rx.tif", calling=False)))
    silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    for step in range(1, 100):
        s.feed(silence)
        s.frame()
        s.wait_frames(step)
    s.cancel("the caller hung up")
    result = s.future.result(timeout=10)
    assert (result.outcome, result.reason, result.pages, result.tiff) == \
        (FaxOutcome.CANCELLED, "the caller hung up", 0, None)
    assert list(tmp_path.iterdir()) == []
    s.feed(silence)                      # the tick may still feed a finished session: ignored
    assert not s.frame().any()


def test_the_tick_never_waits_for_spandsp(tmp_path: Path) -> None:
    """feed() and frame() only touch the elastic buffers: with no fax thread at all they return at once, and the
    tick gets silence (160 samples) rather than waiting."""
    s = FaxSession(FaxSettings(FaxDirection.RECEIVE, tmp_path / "rx.tif", calling=False))
    t0 = time.perf_counter()
    for _ in range(500):
        s.feed(np.full(FRAME_SAMPLES, 1000, dtype=np.int16))
        out = s.frame()
    assert time.perf_counter() - t0 < 1.0
    assert out.shape == (FRAME_SAMPLES,) and out.dtype == np.int16 and not out.any()
    assert s.rx.stats.overflows > 0   # a second of unprocessed audio is the most it holds


@pytest.mark.parametrize("kwargs, words", [
    ({"ident": "HOTLINE"}, "digits, '+' and spaces"),
    ({"ident": "1" * 21}, "up to 20"),
    ({"modems": Modems(0)}, "V.27ter, V.29, V.17"),
    ({"time_limit": 0}, "time_limit"),
])
def test_bad_settings_are_refused_with_the_reason(tmp_path: Path, kwargs: dict, words: str) -> None:
    """Settings T.30 cannot honour fail when the session is made, not in the middle of a call."""
    with pytest.raises(FaxError, match=words.replace("(", r"\(").replace("+", r"\+")):
        FaxSettings(FaxDirection.RECEIVE, tmp_path / "rx.tif", calling=False, **kwargs)


def test_sending_a_missing_document_is_refused(tmp_path: Path) -> None:
    """The document to send must exist when the session is made; the error names it."""
    with pytest.raises(FaxError, match="missing.tif: no such document"):
        FaxSettings(FaxDirection.SEND, tmp_path / "missing.tif", calling=True)


def test_completion_codes_come_from_spandsp() -> None:
    """The binding's constants match the library: code 0 is OK, T30_ERR_CALLDROPPED is the dropped call."""
    assert spandsp.completion_text(spandsp.T30_ERR_OK) == "OK"
    assert "dropped" in spandsp.completion_text(spandsp.T30_ERR_CALLDROPPED)
    assert ctypes_sizeof_stats() >= 15 * 4


def ctypes_sizeof_stats() -> int:
    """Room the binding gives spandsp to write t30_stats_t (over-allocated)."""
    import ctypes
    return ctypes.sizeof(spandsp.T30Stats)
