"""The ``spandsp`` fax sender: the outbound queue's answered calls really get their pages, sent by the software
fax engine (a calling T.30 terminal, ``fax/session.py``) on the call's own audio.

The queue dials and lends the answered call (a FaxLine, ``sender.py``); this sender converts the library document to
TIFF-F with the header line (off the event loop), writes the job's ``document.pdf`` and ``page-<n>.png`` for the
panel, then plays the session's audio into the call and feeds it what the far end sends, one frame per tick. Pages
count only when the far machine confirmed them (T.30's phase D); a failure says why in T.30's words. Select it with
``fax.sender: spandsp`` (entry point ``hotline.fax_senders``).
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hotline.drivers.base import FRAME_SAMPLES
from hotline.drivers.common import spandsp
from hotline.fax.documents import FAX_WIDTH, PageHeader, Resolution, to_fax_tiff
from hotline.fax.incoming import publish_pages
from hotline.fax.pool import FaxPool
from hotline.fax.session import ALL_MODEMS, FaxDirection, FaxError, FaxOutcome, FaxResult, FaxSession, FaxSettings
from hotline.fax.tiff import read_pages
from hotline.fax.tools import DocumentError

from ..box import localtime
from .jobs import FaxReason
from .sender import FaxDocument, FaxLine, Transmission

log = logging.getLogger("hotline.fax")

__all__ = ["SpandspSender", "SessionPlayer", "make_sender"]

PACE_FRAMES = 10   # fast mode: the tick may run this far (200 ms) ahead of the fax thread (its buffer holds 1 s)
# T.30 results that mean "no fax machine answered" (nothing of T.30 came back) rather than a broken call
_NOT_A_FAX = (spandsp.T30_ERR_T0_EXPIRED, spandsp.T30_ERR_T1_EXPIRED)


@dataclass(frozen=True)
class SenderSettings:
    """The sender's part of the ``fax`` settings (absent keys take these defaults)."""

    ecm: bool = True
    ident: str = ""                      # our TSI: digits, '+' and spaces
    header_name: str = "Hotline"         # the box's name on every page's header line
    resolution: Resolution = Resolution.FINE
    session_seconds: float = 600.0       # one T.30 session's limit (the queue's transmit_timeout bounds it too)
    threads: int = 2                     # fax threads

    @classmethod
    def from_settings(cls, settings: dict) -> "SenderSettings":
        """From the ``fax`` settings dict; FaxError naming the key when a value is unusable."""
        try:
            made = cls(ecm=bool(settings.get("ecm", True)), ident=str(settings.get("ident") or ""),
                       header_name=str(settings.get("header_name") or "Hotline"),
                       resolution=Resolution(settings.get("resolution", "fine")),
                       session_seconds=float(settings.get("session_seconds", 600.0)),
                       threads=int(settings.get("threads", 2)))
        except ValueError as exc:
            raise FaxError(f"fax settings: {exc}") from exc
        FaxSettings(FaxDirection.RECEIVE, Path(tempfile.gettempdir()) / "x.tif", calling=True, ident=made.ident,
                    time_limit=made.session_seconds)   # the same checks a session makes, now rather than mid-call
        return made


class SessionPlayer:
    """The call's FrameSource while a fax is sent: each tick it hands the session what the far end sent since the
    last tick (the engine's capture list, emptied as it goes) and plays what the session answered."""

    def __init__(self, session: FaxSession, capture: Any):
        self.session, self.capture = session, capture

    def caught_up(self) -> bool:
        """The fax thread has handled what it was fed (an engine in fast mode waits for this: engine.pacers)."""
        return self.session.done or self.session.rx.fill()[0] < PACE_FRAMES * FRAME_SAMPLES

    def next_frame(self) -> np.ndarray | None:
        """One frame for the far end; None once the session ended and its last audio has been played."""
        heard = self.capture.frames
        if heard:
            batch = heard[:]
            del heard[:len(batch)]
            for frame in batch:
                self.session.feed(frame)
        if self.session.done and self.session.tx.fill()[0] < FRAME_SAMPLES:
            return None
        return self.session.frame()


class SpandspSender:
    """Sends queued faxes with spandsp on any audio line the queue lends (simulated or real)."""

    name = "spandsp"

    def __init__(self, settings: dict, pool: FaxPool | None = None):
        self.settings = SenderSettings.from_settings(settings)
        self._pool = pool
        self._ready: dict[Path, tuple[Path, int]] = {}   # job folder -> its converted document (ready())

    @property
    def pool(self) -> FaxPool:
        """The fax threads (started at the first fax)."""
        if self._pool is None:
            self._pool = FaxPool(threads=self.settings.threads, name="fax-out")
        return self._pool

    def unavailable(self) -> str | None:
        """Why nothing can be sent (libspandsp or ghostscript missing), or None."""
        try:
            spandsp.library()
        except spandsp.SpandspError as exc:
            return f"no fax engine: {exc}"
        if shutil.which("gs") is None:
            return "no fax engine: ghostscript (gs) is not installed"
        return None

    def accepts(self, line: FaxLine) -> bool:
        """Any line the queue offers (it only offers lines that carry fax as audio)."""
        return True

    def prepare(self, document: FaxDocument) -> tuple[Path, int]:
        """The document as TIFF-F with the header line in the job's folder, plus ``document.pdf`` and
        ``page-<n>.png`` for the panel (blocking: run in a thread). DocumentError when it cannot be faxed."""
        job_dir = Path(document.job_dir)
        job_dir.mkdir(parents=True, exist_ok=True)
        tiff = job_dir / "document.tif"
        head = Path(document.source).read_bytes()[:4]
        if head in (b"II*\x00", b"MM\x00*"):      # a TIFF from the library is sent as it is, if it is a fax page
            pages = read_pages(document.source)
            if not pages or any(p.width != FAX_WIDTH for p in pages):
                raise DocumentError(f"{document.source}: a TIFF to fax must have pages {FAX_WIDTH} pixels wide")
            shutil.copyfile(document.source, tiff)
        else:
            now = datetime.fromtimestamp(time.time(), localtime.zone(localtime.current()))   # the box's zone
            header = PageHeader(self.settings.header_name, self.settings.ident, now)
            to_fax_tiff(document.source, tiff, self.settings.resolution, header)
        return tiff, publish_pages(tiff, job_dir)

    async def ready(self, document: FaxDocument) -> Transmission | None:
        """Convert the document before the number is dialled (the queue asks), so that T.30 starts the moment the
        far machine answers (its answer tone and DIS follow within a second or two); a document that cannot be
        faxed is refused here, before a call is made for it."""
        try:
            prepared = await asyncio.get_running_loop().run_in_executor(None, self.prepare, document)
        except (DocumentError, OSError) as exc:
            return Transmission(0, document.pages, FaxReason.DOCUMENT_MISSING, f"{document.name}: {exc}", retry=False)
        self._ready[Path(document.job_dir)] = prepared
        return None

    async def transmit(self, line: FaxLine, document: FaxDocument,
                       on_page: Callable[[int, int | None], None]) -> Transmission:
        """Run a calling T.30 session on the call (converting first unless ready() did) until it ends, the far end
        hangs up, or the queue cancels (its transmit_timeout, the box stopping): pages confirmed and, when short,
        why."""
        loop = asyncio.get_running_loop()
        prepared = self._ready.pop(Path(document.job_dir), None)
        if prepared is None:
            refused = await self.ready(document)
            if refused is not None:
                return refused
            prepared = self._ready.pop(Path(document.job_dir))
        tiff, total = prepared

        def page_done(pages: int) -> None:        # fax thread -> event loop
            loop.call_soon_threadsafe(on_page, pages, total)
        s = self.settings
        session = FaxSession(FaxSettings(FaxDirection.SEND, tiff, calling=True, modems=ALL_MODEMS, ecm=s.ecm,
                                         ident=s.ident, time_limit=s.session_seconds),
                             name=f"fax-out-{line.call_uuid[:8]}", on_page=page_done)
        capture = line.capture()
        self.pool.start(session)
        player = SessionPlayer(session, capture)
        line.play(player)
        pacers = getattr(line.engine, "pacers", [])
        pacers.append(player.caught_up)
        result_future = asyncio.wrap_future(session.future)
        try:
            await asyncio.wait({result_future, line.gone}, return_when=asyncio.FIRST_COMPLETED)
            if not result_future.done():
                session.cancel("the far end hung up")
            result = await result_future
        except asyncio.CancelledError:
            session.cancel("the fax was stopped (time limit or the box stopping)")
            raise
        finally:
            pacers.remove(player.caught_up)
        log.info("event=fax_sent call=%s outcome=%s pages=%s/%s rate=%s ecm=%s remote=%r reason=%r gaps=%s lost=%s",
                 line.call_uuid, result.outcome.value, result.pages, total, result.bit_rate, result.ecm,
                 result.remote_ident, result.reason, session.tx.stats.underruns, session.rx.stats.overflows)
        if not result.ok:   # T.30's last steps (without the image frames and hex dumps) say why, for the technician
            steps = [text for text in result.log
                     if ":  ff " not in text and "FCD" not in text and "Send complete" not in text][-25:]
            log.warning("event=fax_t30_trail call=%s steps=%r", line.call_uuid, " | ".join(steps))
        return transmission(result, total)


def transmission(result: FaxResult, total: int) -> Transmission:
    """What the queue records for a finished session."""
    if (result.ok or result.code == spandsp.T30_ERR_OK) and result.pages == total:
        return Transmission(result.pages, total)   # (T.30 finished; a far end that hung up right after DCN is fine)
    if result.outcome is FaxOutcome.CANCELLED:
        return Transmission(result.pages, total, FaxReason.TRANSMISSION, result.reason)
    if result.pages == 0 and not result.remote_ident and result.code in _NOT_A_FAX:
        return Transmission(0, total, FaxReason.NOT_A_FAX, result.reason)
    detail = result.reason if not result.ok else f"{result.pages} of {total} pages confirmed"
    return Transmission(result.pages, total, FaxReason.TRANSMISSION, detail)


def make_sender(settings: dict) -> SpandspSender:
    """The ``hotline.fax_senders`` entry point ``spandsp``."""
    return SpandspSender(settings)
