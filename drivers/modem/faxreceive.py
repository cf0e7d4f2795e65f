"""Fax receive on a modem line, chosen by the modem's fax class: a small registry of receive functions ("2" and "2.0"
here, class 1 registers "1" from drivers/modem/faxclass1.py), the class a line uses (``fax:`` and +FCLASS=?), and
the request and result that cross between the box and the modem's thread."""
from __future__ import annotations

import concurrent.futures
import importlib
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hotline.drivers.common.t4 import write_t4_tiff

from .faxclass2 import Class2Error, Class2Fax, Class2Result, hangup_text
from .port import Port
from .profiles import ChipsetProfile, Quirk

log = logging.getLogger("hotline.drivers.modem")

__all__ = ["FaxReceiveRequest", "FaxReceiveResult", "ReceiveFn", "RECEIVERS", "SETTINGS", "choose_class",
           "receiver_for", "register_receiver"]

SETTINGS = ("auto", "none", "class2", "class2.0", "class1")   # the device's ``fax:`` option
_WANT = {"class2": "2", "class2.0": "2.0", "class1": "1"}
_AUTO_ORDER = ("2.0", "2", "1", "1.0")                       # auto: the modem runs T.30 when it can


@dataclass
class FaxReceiveRequest:
    """What the box asks of the modem's thread: take the fax on this call into ``tiff``."""

    tiff: Path
    ident: str = ""
    page_timeout: float = 180.0
    on_page: Callable[[int], None] | None = None          # modem thread: pages received so far
    on_connected: Callable[[], None] | None = None        # modem thread: a fax machine answered our ATA
    abort: threading.Event = field(default_factory=threading.Event)
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


@dataclass
class FaxReceiveResult:
    """What came in: pages (written to ``tiff``), the modem's hang-up code, the sender's ident, why it failed."""

    fclass: str
    pages: int = 0
    tiff: Path | None = None
    hangup: int | None = None
    remote_ident: str = ""
    connected: bool = False          # a fax machine was there (+FCON / the class 1 handshake)
    reason: str = ""                 # empty when the fax ended normally
    transcript: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Pages came and the call ended normally."""
        return self.pages > 0 and self.hangup in (0, None) and not self.reason


ReceiveFn = Callable[[Port, str, FaxReceiveRequest, ChipsetProfile], FaxReceiveResult]


def _class2(port: Port, fclass: str, req: FaxReceiveRequest, profile: ChipsetProfile) -> FaxReceiveResult:
    """Class 2 / 2.0: the modem runs T.30; ATA in the fax class, +FDR per page (faxclass2.Class2Fax.receive)."""
    fax = Class2Fax(port, fclass, req.ident, page_timeout=req.page_timeout, abort=req.abort)
    out = FaxReceiveResult(fclass, transcript=fax.transcript)

    def connected() -> None:
        out.connected = True
        if req.on_connected is not None:
            req.on_connected()
    try:
        r = fax.receive(rx_msb=bool(profile.quirks & Quirk.CLASS2_RX_MSB), on_page=req.on_page,
                        on_connected=connected)
    except Class2Error as exc:    # the class could not be set up (or the modem went quiet): still hang up
        fax.hang_up(Class2Result(fclass))
        out.reason = f"fax modem: {exc}"[:200]
        return out
    out.hangup, out.remote_ident = r.hangup, r.remote_ident
    if r.received:
        write_t4_tiff(req.tiff, r.received)
        out.pages, out.tiff = len(r.received), req.tiff
    if r.hangup not in (0, None):
        out.reason = hangup_text(r.hangup)
    elif r.dial_result != "OK":
        out.reason = f"the modem answered {r.dial_result or 'nothing'} to ATA in class {fclass}"
    elif not r.received:
        out.reason = "the call ended before a page came"
    return out


RECEIVERS: dict[str, ReceiveFn] = {"2": _class2, "2.0": _class2}


def register_receiver(fclass: str, fn: ReceiveFn) -> None:
    """Make a fax class receivable on modem lines (faxclass1 registers "1" and "1.0")."""
    RECEIVERS[fclass] = fn


def receiver_for(fclass: str) -> ReceiveFn | None:
    """The receive function of a fax class (None: nothing here receives in that class yet)."""
    if fclass not in RECEIVERS and fclass in ("1", "1.0"):
        try:    # class 1 lives in its own module, which registers itself when imported
            importlib.import_module("hotline.drivers.modem.faxclass1")
        except ImportError:
            pass
    return RECEIVERS.get(fclass)


def choose_class(setting: str, offered: tuple[str, ...] | list[str]) -> tuple[str | None, str]:
    """The fax class a line receives in, from its ``fax:`` setting and the modem's +FCLASS=? answer; with the
    reason when there is none (for the journal and the log)."""
    listed = ",".join(offered) or "nothing"
    if setting == "none":
        return None, "fax: none in the device's settings"
    if setting in _WANT:
        want = _WANT[setting]
        if want not in offered and not (want == "1" and "1.0" in offered):
            return None, f"fax: {setting}, but the modem offers classes {listed} (AT+FCLASS=?)"
        if receiver_for(want) is None:
            return None, f"fax: {setting}: this box cannot receive in class {want} yet"
        return want, ""
    for fclass in _AUTO_ORDER:
        if fclass in offered and receiver_for(fclass) is not None:
            return fclass, ""
    return None, f"the modem offers no fax class this box receives in (AT+FCLASS=? answered {listed})"
