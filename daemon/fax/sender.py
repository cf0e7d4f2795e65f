"""The seam between the fax queue and whatever speaks T.30: the FaxSender protocol and its registry.

The queue dials, and once the far end answered it hands the call's audio (a FaxLine) and the document to the
configured sender's ``transmit``. The sender reports what it really did (a Transmission): pages confirmed by
the far machine, and if it did not finish, why. A sender never says "sent" for a page the far end did not
confirm. Senders are found by name in registry.py (``fax.sender`` in the configuration); until a real engine
is configured the sender is ``none`` (NoEngine): the queue dials nothing and every queued job says "no fax engine".
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from .jobs import FaxReason


@dataclass
class FaxDocument:
    """What to send: the library's source file, and the job's folder for converted files (TIFF, PDF, PNG)."""

    name: str
    source: Path                 # PDF, PostScript, text, PNG/JPEG or TIFF from the fax library
    job_dir: Path                # <spool>/fax/jobs/<id>/: document.pdf and page-<n>.png go here
    pages: int | None = None     # pages of the source when known before conversion


@dataclass(eq=False)
class FaxLine:
    """An answered call's audio, lent to a sender for one transmission (built by the queue).

    ``play`` sets what the far end hears (one FrameSource: ``next_frame()`` once per 20 ms tick); ``capture``
    gives the frames the far end sends (a list appended every tick); ``digits`` gets the far end's DTMF keys
    (in-band detection); ``gone`` completes when the far end hangs up or the line drops."""

    call_uuid: str
    line: str
    number: str
    simulated: bool              # the line is a simulated card's (QA senders refuse any other)
    engine: Any                  # the media engine: now(), sleep(), play(), start_capture()
    channel: Any                 # the call's media channel
    digits: asyncio.Queue
    gone: asyncio.Future
    captures: list = field(default_factory=list)

    def play(self, source: Any) -> asyncio.Future:
        """Send audio to the far end (replacing what plays); the future completes when the source ends."""
        return self.engine.play(self.channel, source)

    def stop(self) -> None:
        """Stop sending audio."""
        self.engine.stop_source(self.channel)

    def capture(self) -> Any:
        """Start keeping what the far end sends (``.frames``: int16 frames of 160 samples, appended per tick)."""
        cap = self.engine.start_capture(self.channel)
        self.captures.append(cap)
        return cap

    def release(self) -> None:
        """End the loan: stop playing and capturing (the queue calls this after transmit)."""
        self.stop()
        for cap in self.captures:
            self.engine.stop_capture(cap)
        self.captures.clear()


@dataclass
class Transmission:
    """What a sender really did: pages the far end confirmed, and why it stopped short (None: all sent)."""

    pages_sent: int
    pages_total: int | None
    reason: FaxReason | None = None
    detail: str = ""
    retry: bool = True           # whether another attempt could succeed (False: e.g. a document that cannot be read)

    @property
    def ok(self) -> bool:
        """Every page went and the far end confirmed the end of the document."""
        return self.reason is None and self.pages_total is not None and self.pages_sent == self.pages_total


class FaxSender(Protocol):
    """Speaks T.30 (or a QA stand-in) over a FaxLine."""

    name: str

    def unavailable(self) -> str | None:
        """Why this sender cannot send now (shown on queued jobs), or None when it can."""

    def accepts(self, line: FaxLine) -> bool:
        """Whether it can send over this line (a QA sender takes simulated lines only)."""

    async def transmit(self, line: FaxLine, document: FaxDocument,
                       on_page: Callable[[int, int | None], None]) -> Transmission:
        """Send the document; call ``on_page(pages_sent, pages_total)`` after each confirmed page. Bounded in
        time by the sender; cancelled when the far end hangs up or the box stops."""


class DialingSender(FaxSender, Protocol):
    """A sender with its own line (a class 2 fax modem): the queue hands it the number instead of a trunk's call.

    It sets ``dials = True`` and ``lines`` (jobs it takes at once); ``accepts`` is False for every trunk."""

    dials: bool
    lines: int

    async def send(self, number: str, document: FaxDocument, on_page: Callable[[int, int | None], None],
                   on_connected: Callable[[int], None]) -> Transmission:
        """Dial and send; ``on_connected(pages_total)`` once a fax machine answered, ``on_page`` as transmit's."""


class NoEngine:
    """The sender when no fax engine is plugged in: it never dials and never claims anything."""

    name = "none"

    def __init__(self, reason: str = "no fax engine"):
        self.reason = reason

    def unavailable(self) -> str | None:
        """Always: there is no engine."""
        return self.reason

    def accepts(self, line: FaxLine) -> bool:
        """Never."""
        return False

    async def transmit(self, line: FaxLine, document: FaxDocument,
                       on_page: Callable[[int, int | None], None]) -> Transmission:
        """Sends nothing (the queue never calls this)."""
        return Transmission(0, document.pages, FaxReason.NO_ENGINE, self.reason, retry=False)
