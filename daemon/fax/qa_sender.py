"""A QA stand-in for the T.30 engine: pages as tone bursts that the far end confirms with DTMF keys.

It drives the real dial-out path (the queue dials a simulated trunk; the far end is the simulator or a
WebSocket client on ``/api/v1/sim/numbers/{number}/media``) and counts only pages the far end confirmed:
``#`` within ``answer_seconds`` says "a fax machine answered", then per page the box plays a 1 s 1800 Hz
burst and waits ``ack_seconds`` for ``1`` (page confirmed) or ``9`` (page refused). A silent far end (the plain
simulator) is "not a fax". It only takes simulated lines, so a box on real lines never sends pretend faxes.
Select it with ``fax.sender: qa-tones``.
"""
from __future__ import annotations

import asyncio
from typing import Callable

import numpy as np

from hotline.daemon.media.engine import ArrayPlayer

from .jobs import FaxReason
from .sender import FaxDocument, FaxLine, Transmission

PAGE_TONE_HZ = 1800.0


def page_tone(seconds: float = 1.0, hz: float = PAGE_TONE_HZ) -> np.ndarray:
    """The burst that stands for one page (-10 dBm0-ish sine)."""
    t = np.arange(int(seconds * 8000)) / 8000.0
    return (np.sin(2 * np.pi * hz * t) * 7000).astype(np.int16)


class QaToneSender:
    """Pages as tones, confirmed by the far end's keys; simulated lines only."""

    name = "qa-tones"

    def __init__(self, settings: dict):
        self.answer_seconds = float(settings.get("qa_answer_seconds", 10.0))
        self.ack_seconds = float(settings.get("qa_ack_seconds", 10.0))

    def unavailable(self) -> str | None:
        """Always ready (for simulated lines)."""
        return None

    def accepts(self, line: FaxLine) -> bool:
        """Simulated lines only."""
        return line.simulated

    async def _key(self, line: FaxLine, seconds: float) -> str | None:
        """The next key the far end presses within ``seconds`` of media time (None: none, or it hung up)."""
        get = asyncio.ensure_future(line.digits.get())
        timer = asyncio.ensure_future(line.engine.sleep(seconds))
        try:
            await asyncio.wait({get, timer, line.gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (get, timer):
                if not f.done():
                    f.cancel()
        return get.result() if get.done() and not get.cancelled() else None

    async def transmit(self, line: FaxLine, document: FaxDocument,
                       on_page: Callable[[int, int | None], None]) -> Transmission:
        """Handshake (#), then each page as a burst confirmed by 1; stops at the first thing missing."""
        total = document.pages or 1
        if await self._key(line, self.answer_seconds) != "#":
            return Transmission(0, total, FaxReason.NOT_A_FAX, "no '#' from the far end")
        sent = 0
        for _ in range(total):
            await line.play(ArrayPlayer(page_tone()))
            key = await self._key(line, self.ack_seconds)
            if key != "1":
                why = "the far end hung up" if line.gone.done() else f"page {sent + 1} not confirmed ({key or 'no key'})"
                return Transmission(sent, total, FaxReason.TRANSMISSION, why)
            sent += 1
            on_page(sent, total)
        return Transmission(sent, total)

