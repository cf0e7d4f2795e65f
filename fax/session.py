"""One software fax call: spandsp's T.30 terminal sending or receiving a TIFF over 8 kHz audio, fed in 20 ms frames.

The media tick calls ``feed(frame)`` with what the line heard and ``frame()`` for what to send; both only touch
two elastic buffers (``drivers/common/elastic.py``), never spandsp. A fax pool thread (``fax/pool.py``) drains the
heard audio through spandsp and queues the answer, so the tick never waits on T.30. Every session ends: with
T.30's own result, when cancelled (the call hung up), or failed when it runs past its time limit.
"""
from __future__ import annotations

import collections
import concurrent.futures
import ctypes
import enum
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..drivers.base import FRAME_SAMPLES
from ..drivers.common import g711, spandsp
from ..drivers.common.elastic import Codec, ElasticBuffer
from ..drivers.common.spandsp import Modems

log = logging.getLogger("hotline.fax")

__all__ = ["FaxDirection", "FaxOutcome", "FaxSettings", "FaxResult", "FaxSession", "FaxError", "Modems",
           "ALL_MODEMS"]

ALL_MODEMS = Modems.V27TER | Modems.V29 | Modems.V17
DRAIN_FRAMES = 25          # audio kept flowing after T.30 finished (0.5 s) so the last DCN/MCF leaves the line
RX_CAPACITY = 50 * FRAME_SAMPLES   # one second of heard audio may wait for a busy fax thread before it is trimmed
# what the fax thread answered is played only once this much is queued: a thread up to 300 ms behind the tick (load,
# a late tick catching up) never leaves a hole in a modem signal; T.30 tolerates seconds of delay (satellite links)
TX_LATENCY = 15 * FRAME_SAMPLES
MAX_BATCH = 5              # frames a fax thread hands spandsp in one call when it has fallen behind (100 ms)
_DECODE = {Codec.ULAW: g711.ulaw_decode, Codec.ALAW: g711.alaw_decode}
LOG_LINES = 400


class FaxError(ValueError):
    """A fax session was asked for something it cannot do (bad ident, missing document)."""


class FaxDirection(enum.Enum):
    """Which way the pages go."""

    SEND = "send"
    RECEIVE = "receive"


class FaxOutcome(enum.Enum):
    """How a session ended."""

    SUCCESS = "success"        # T.30 finished without error
    FAILED = "failed"          # T.30 reported an error (reason says which)
    TIMED_OUT = "timed_out"    # the session ran past its time limit
    CANCELLED = "cancelled"    # the call ended or the owner stopped it


@dataclass(frozen=True)
class FaxSettings:
    """What one session does: direction, side of the call, document, modems, ECM, identity, time limit."""

    direction: FaxDirection
    tiff: Path                       # the TIFF-F to send, or where the received fax is written
    calling: bool                    # True: the side that dialled (sends CNG, waits for CED/DIS)
    modems: Modems = ALL_MODEMS
    ecm: bool = True
    ident: str = ""                  # our TSI/CSI: up to 20 of digits, '+' and spaces
    page_header: str | None = None   # spandsp draws this on each sent page (None: the document has its own)
    time_limit: float = 600.0        # seconds from start to a result, whatever happens on the line
    codec: Codec = Codec.ULAW
    log_level: int = spandsp.LogLevel.FLOW

    def __post_init__(self) -> None:
        if len(self.ident) > 20 or any(c not in "0123456789+ " for c in self.ident):
            raise FaxError(f"fax ident {self.ident!r}: up to 20 characters of digits, '+' and spaces")
        if not self.modems & ALL_MODEMS:
            raise FaxError("at least one of V.27ter, V.29, V.17 must be allowed")
        if self.time_limit <= 0:
            raise FaxError(f"time_limit must be positive, not {self.time_limit}")
        if self.direction is FaxDirection.SEND and not Path(self.tiff).is_file():
            raise FaxError(f"{self.tiff}: no such document to send")
        if self.direction is FaxDirection.RECEIVE and not Path(self.tiff).parent.is_dir():
            raise FaxError(f"{Path(self.tiff).parent}: no such folder for the received fax")


@dataclass
class FaxResult:
    """What a finished session achieved (pages counted by T.30, not by the document)."""

    outcome: FaxOutcome
    direction: FaxDirection
    pages: int                  # pages sent, or received
    bit_rate: int               # last image bit rate (0: no page phase)
    ecm: bool                   # error correction was used
    remote_ident: str           # the far end's CSI/TSI
    reason: str                 # T.30's completion text (or why the session was stopped)
    code: int                   # T.30 completion code (0 = OK; -1 when T.30 never reported)
    tiff: Path | None           # the received TIFF (None when nothing arrived) or the sent document
    seconds: float              # audio time the session ran
    cpu_seconds: float          # fax-thread CPU spent on it
    bad_rows: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when T.30 finished without error."""
        return self.outcome is FaxOutcome.SUCCESS


class FaxSession:
    """A T.30 terminal attached to one call's audio; create it, hand it to a ``FaxPool``, feed it frames."""

    def __init__(self, settings: FaxSettings, on_finished: Callable[[FaxResult], None] | None = None,
                 name: str = "fax", on_page: Callable[[int], None] | None = None):
        self.settings = settings
        self.name = name
        self.on_finished = on_finished
        self.on_page = on_page       # called on the fax thread with the pages done so far, after each page
        self.pages = 0               # pages sent and confirmed by the far end, or received, so far
        self.future: concurrent.futures.Future[FaxResult] = concurrent.futures.Future()
        # heard audio: the fax thread drains it as it comes (no clock on this side, so no drift trimming or padding:
        # a window that never closes); only a thread more than a second behind loses audio (counted as overflow)
        self.rx = ElasticBuffer(1, settings.codec, target=FRAME_SAMPLES, capacity=RX_CAPACITY, window=1 << 62)
        self.tx = ElasticBuffer(1, settings.codec, target=TX_LATENCY, capacity=RX_CAPACITY, window=1 << 62)
        self.rx.open_line(0)
        self.tx.open_line(0)
        self._row = np.zeros(1, dtype=np.intp)
        self._out = np.zeros(MAX_BATCH * FRAME_SAMPLES, dtype=np.int16)
        self._wake: threading.Event | None = None
        self._cond = threading.Condition()
        self.frames = 0              # heard frames processed by spandsp
        self.cpu_seconds = 0.0
        self._fax: int | None = None
        self._t30: int | None = None
        self._callbacks: list[object] = []   # ctypes callbacks live as long as the session
        self._code: int | None = None
        self._drain = DRAIN_FRAMES
        self._cancel: str | None = None
        self._deadline = 0.0
        self._started = 0.0
        self._log: collections.deque[str] = collections.deque(maxlen=LOG_LINES)
        self._part = Path(f"{settings.tiff}.part")
        self.result: FaxResult | None = None

    # ---- the media tick's side (never blocks on spandsp) ----------------------------------------
    def feed(self, frame: np.ndarray) -> None:
        """What the line heard in one tick (160 int16 samples): queued for the fax thread."""
        if self.result is not None:
            return
        self.rx.push_samples(self._row, np.asarray(frame, dtype=np.int16).reshape(1, -1))
        if self._wake is not None:
            self._wake.set()

    def frame(self) -> np.ndarray:
        """What to send in this tick (160 int16 samples; silence when the fax thread has nothing ready)."""
        return self.tx.take_frame()[0]

    def cancel(self, reason: str = "the call ended") -> None:
        """Stop the session (the call hung up): it ends CANCELLED with this reason on the fax thread."""
        self._cancel = reason
        if self._wake is not None:
            self._wake.set()

    @property
    def done(self) -> bool:
        """True once the result is known."""
        return self.result is not None

    def wait_frames(self, count: int, timeout: float = 10.0) -> bool:
        """For harnesses that are the clock (tests, benchmarks): wait until ``count`` heard frames were processed
        or the session ended; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.frames >= count or self.result is not None, timeout)

    def status(self) -> dict:
        """Where the session is, for the panel and metrics."""
        return {"name": self.name, "direction": self.settings.direction.value, "frames": self.frames,
                "seconds": self.frames * FRAME_SAMPLES / 8000, "done": self.done,
                "outcome": self.result.outcome.value if self.result else None,
                "rx_fill": int(self.rx.fill()[0]), "tx_fill": int(self.tx.fill()[0])}

    # ---- the fax thread's side ------------------------------------------------------------------
    def attach_thread(self, wake: threading.Event) -> None:
        """Called by the pool when a worker takes the session: its wake-up event, and the time limit starts."""
        self._wake = wake
        self._started = time.monotonic()
        self._deadline = self._started + self.settings.time_limit

    def step_thread(self) -> bool:
        """Process every heard frame waiting; True when the session has finished (result set)."""
        if self.result is not None:
            return True
        cpu0 = time.thread_time()
        try:
            return self._step()
        except Exception as exc:  # a fault in one session must not take the worker (and its other calls) down
            log.exception("%s: fax session failed", self.name)
            self._finish(FaxOutcome.FAILED, f"internal error: {exc}")
            return True
        finally:
            self.cpu_seconds += time.thread_time() - cpu0

    def _step(self) -> bool:
        lib = spandsp.library()
        if self._fax is None:
            self._open(lib)
        if self._cancel is not None:
            self._finish(FaxOutcome.CANCELLED, self._cancel)
            return True
        if time.monotonic() > self._deadline and self._code is None:
            self._finish(FaxOutcome.TIMED_OUT, f"no fax result within the session's limit of "
                                               f"{self.settings.time_limit:g} s")
            return True
        processed = 0
        while True:   # what waits is taken in batches of up to MAX_BATCH frames: a thread that fell behind catches up
            k = min(MAX_BATCH, int(self.rx.fill()[0]) // FRAME_SAMPLES)
            if k <= 0:
                break
            n = k * FRAME_SAMPLES
            heard = np.ascontiguousarray(_DECODE[self.settings.codec](self.rx.take(n))[0], dtype=np.int16)
            out = self._out[:n]
            lib.fax_rx(self._fax, heard.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), n)
            got = lib.fax_tx(self._fax, out.ctypes.data_as(ctypes.POINTER(ctypes.c_int16)), n)
            if got < n:
                out[max(got, 0):] = 0
            self.tx.push_samples(self._row, out.reshape(1, -1))
            processed += k
            if self._code is not None:
                self._drain -= k
                if self._drain <= 0:
                    break
        if processed:
            with self._cond:
                self.frames += processed
                self._cond.notify_all()
        if self._code is not None and self._drain <= 0:
            ok = self._code == spandsp.T30_ERR_OK
            self._finish(FaxOutcome.SUCCESS if ok else FaxOutcome.FAILED, spandsp.completion_text(self._code))
            return True
        return False

    def _open(self, lib: ctypes.CDLL) -> None:
        """Create the spandsp terminal (the library allocates it) and configure T.30."""
        s = self.settings
        fax = lib.fax_init(None, 1 if s.calling else 0)
        if not fax:
            raise spandsp.SpandspError("fax_init returned NULL")
        self._fax = fax
        lib.fax_set_transmit_on_idle(fax, 1)
        lib.fax_set_tep_mode(fax, 0)
        t30 = lib.fax_get_t30_state(fax)
        self._t30 = t30
        handler = spandsp.PhaseEHandler(self._on_phase_e)
        page_handler = spandsp.PhaseDHandler(self._on_phase_d)
        logger = spandsp.MessageHandler(self._on_log)
        self._callbacks += [handler, page_handler, logger]
        logging_state = lib.t30_get_logging_state(t30)
        lib.span_log_set_message_handler(logging_state, logger)
        lib.span_log_set_level(logging_state, int(s.log_level) | spandsp.LogLevel.SHOW_SEVERITY
                               | spandsp.LogLevel.SHOW_PROTOCOL)
        lib.t30_set_tx_ident(t30, s.ident.encode("ascii"))
        lib.t30_set_ecm_capability(t30, 1 if s.ecm else 0)
        lib.t30_set_supported_modems(t30, int(s.modems))
        if s.page_header is not None:
            lib.t30_set_tx_page_header_info(t30, s.page_header.encode("ascii", "replace")[:50])
        if s.direction is FaxDirection.SEND:
            lib.t30_set_tx_file(t30, os.fsencode(s.tiff), -1, -1)
        else:
            self._part.unlink(missing_ok=True)
            lib.t30_set_rx_file(t30, os.fsencode(self._part), -1)
        lib.t30_set_phase_e_handler(t30, handler, None)
        lib.t30_set_phase_d_handler(t30, page_handler, None)

    def _on_phase_d(self, t30: int, _user: int, _result: int) -> int:
        """spandsp's phase D callback (fax thread): a page's post-page exchange is over; count confirmed pages."""
        try:
            stats = spandsp.T30Stats()
            spandsp.library().t30_get_transfer_statistics(t30, ctypes.byref(stats))
            pages = stats.pages_tx if self.settings.direction is FaxDirection.SEND else stats.pages_rx
            if pages > self.pages:
                self.pages = pages
                if self.on_page is not None:
                    self.on_page(pages)
        except Exception:   # never let an exception cross into C
            log.exception("%s: page callback failed", self.name)
        return 0

    def _on_phase_e(self, _t30: int, _user: int, code: int) -> None:
        """spandsp's phase E callback (on the fax thread, inside fax_rx/fax_tx): T.30 is over."""
        if self._code is None:
            self._code = code

    def _on_log(self, _level: int, text: bytes | None) -> None:
        if text:
            self._log.append(text.decode("ascii", "replace").rstrip())

    def _finish(self, outcome: FaxOutcome, reason: str) -> None:
        """Collect T.30's figures, free spandsp, keep the received TIFF (if any page arrived), report."""
        lib = spandsp.library()
        stats = spandsp.T30Stats()
        remote = ""
        if self._fax is not None:
            if self._code is None:
                lib.t30_terminate(self._t30)   # closes the files T.30 had open; may call phase E
            lib.t30_get_transfer_statistics(self._t30, ctypes.byref(stats))
            raw = lib.t30_get_rx_ident(self._t30)
            remote = raw.decode("ascii", "replace").strip() if raw else ""
            lib.fax_free(self._fax)
            self._fax = self._t30 = None
        sending = self.settings.direction is FaxDirection.SEND
        pages = stats.pages_tx if sending else stats.pages_rx
        tiff: Path | None = Path(self.settings.tiff)
        if not sending:
            if pages > 0 and self._part.exists():
                os.replace(self._part, self.settings.tiff)
            else:
                self._part.unlink(missing_ok=True)
                tiff = None
        self.rx.close_line(0)
        if outcome in (FaxOutcome.CANCELLED, FaxOutcome.TIMED_OUT):
            self.tx.close_line(0)   # stopped mid-call: the queued tones go too (a normal end lets the last frame out)
        result = FaxResult(outcome=outcome, direction=self.settings.direction, pages=pages,
                           bit_rate=stats.bit_rate if pages else 0, ecm=bool(stats.error_correcting_mode),
                           remote_ident=remote, reason=reason, code=-1 if self._code is None else self._code,
                           tiff=tiff, seconds=self.frames * FRAME_SAMPLES / 8000, cpu_seconds=self.cpu_seconds,
                           bad_rows=stats.bad_rows, log=list(self._log))
        with self._cond:
            self.result = result
            self._cond.notify_all()
        self.future.set_result(result)
        if self.on_finished is not None:
            try:
                self.on_finished(result)
            except Exception:
                log.exception("%s: on_finished callback failed", self.name)
