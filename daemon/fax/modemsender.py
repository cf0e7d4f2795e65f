"""What the fax senders that dial through a modem of their own (``class1``, ``class2``) share: they take no trunk's
call, and a send prepares the document off the loop, then runs one blocking call on a worker thread that the
queue can cancel (the modem is hung up)."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

from hotline.fax.tools import DocumentError

from .jobs import FaxReason
from .sender import FaxDocument, FaxLine, Transmission

__all__ = ["ModemSender"]


class ModemSender:
    """Base of a sender with its own modem line: subclasses give ``load`` and ``send_blocking``."""

    name = "modem"
    dials = True     # the queue gives it the number, not a trunk's call (sender.py: DialingSender)
    lines = 1

    def accepts(self, line: FaxLine) -> bool:
        """Never a trunk's call: the modem has its own line."""
        return False

    async def transmit(self, line: FaxLine, document: FaxDocument,
                       on_page: Callable[[int, int | None], None]) -> Transmission:
        """Not used: this sender dials itself (``send``)."""
        return Transmission(0, document.pages, FaxReason.ERROR, f"the {self.name} sender dials itself", retry=False)

    def load(self, document: FaxDocument) -> tuple[Any, int]:
        """The prepared document as ``send_blocking`` takes it, and its page count (blocking: a thread).
        DocumentError or OSError when it cannot be faxed."""
        raise NotImplementedError

    def send_blocking(self, number: str, job: Any, total: int, confirmed: Callable[[int], None],
                      connected: Callable[[], None], abort: threading.Event) -> Transmission:
        """One call on the modem (blocking: a worker thread); it ends soon after ``abort`` is set."""
        raise NotImplementedError

    async def send(self, number: str, document: FaxDocument, on_page: Callable[[int, int | None], None],
                   on_connected: Callable[[int], None]) -> Transmission:
        """Prepare the document, then dial and send on the modem's thread; ``on_connected(total)`` when a fax
        machine answered, ``on_page(sent, total)`` after each confirmed page. Cancelling hangs the modem up."""
        loop = asyncio.get_running_loop()
        try:
            job, total = await loop.run_in_executor(None, self.load, document)
        except (DocumentError, OSError) as exc:
            return Transmission(0, document.pages, FaxReason.DOCUMENT_MISSING, f"{document.name}: {exc}", retry=False)
        abort = threading.Event()

        def confirmed(n: int) -> None:
            loop.call_soon_threadsafe(on_page, n, total)

        def connected() -> None:
            loop.call_soon_threadsafe(on_connected, total)
        work = loop.run_in_executor(None, self.send_blocking, number, job, total, confirmed, connected, abort)
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            abort.set()     # the modem thread hangs up, then ends
            await asyncio.wait({work}, timeout=15)
            raise
