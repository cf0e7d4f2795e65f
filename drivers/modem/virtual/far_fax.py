"""A scripted fax machine at the far end of a virtual modem's line: its T.30 identity and capabilities, the pages
it sends when it calls, and the pages it received (kept as MH data, written out as a TIFF).

The class 2/2.0 emulator (fax2.py) plays T.30 against it at the frame level (DIS/DCS/MCF are not modulated):
page data crosses the line byte for byte, so what the DTE sent is exactly what the far machine stores.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from hotline.drivers.common.t4 import T4Page, read_t4_pages, write_t4_tiff

# T.32 / SP-2388 session parameters, in their order: VR, BR, WD, LN, DF, EC, BF, ST
CAP_NAMES = ("VR", "BR", "WD", "LN", "DF", "EC", "BF", "ST")


@dataclass
class FarFax:
    """The far fax machine: answers the modem's call (or calls it) with these capabilities."""

    ident: str = "+86 10 5555 0100"
    caps: tuple[int, ...] = (1, 5, 0, 2, 0, 0, 0, 0)   # fine, 14,400 bit/s, 1728 px, unlimited, MH, no ECM
    to_send: list[T4Page] = field(default_factory=list)
    received: list[T4Page] = field(default_factory=list)
    reject_pages: bool = False      # answer every page with RTN (+FPTS:2): a machine that cannot print
    sessions: int = 0               # calls it completed (DCN seen after EOP)

    def __post_init__(self) -> None:
        self._done = threading.Condition()

    def load(self, tiff: Path) -> int:
        """Pages to send when this machine calls the modem (any fax TIFF); returns how many."""
        self.to_send = read_t4_pages(Path(tiff))
        return len(self.to_send)

    def take_page(self, page: T4Page) -> bool:
        """A page arrived; True (MCF) unless the machine rejects pages."""
        if self.reject_pages:
            return False
        self.received.append(page)
        return True

    def finished(self) -> None:
        """The call ended normally (after EOP)."""
        with self._done:
            self.sessions += 1
            self._done.notify_all()

    def wait_finished(self, sessions: int = 1, timeout: float = 10.0) -> bool:
        """Block until `sessions` calls ended normally (False on timeout)."""
        with self._done:
            return self._done.wait_for(lambda: self.sessions >= sessions, timeout)

    def save_received(self, path: Path) -> int:
        """Write the received pages as one G3 TIFF; returns the page count (0 writes nothing)."""
        if self.received:
            write_t4_tiff(Path(path), self.received)
        return len(self.received)
