"""Class 2 (SP-2388) and Class 2.0 (T.32) fax in the virtual modem: the modem runs T.30, the DTE gives and takes
page data. One small handler per AT command, the two spellings kept apart (+FDCC/+FCC, +FDIS/+FIS, +FLID/+FLI,
+FDCS/+FCS, +FPTS/+FPS, +FHNG:dec/+FHS:hex, +FK/+FKS, +FBOR/+FBO; class 2 sends XON after +FDT's CONNECT and ends
a page with DLE ETX and +FET, class 2.0 with DLE , / DLE ; / DLE .).

The far end is a scripted fax machine (far_fax.FarFax): T.30's frames are played at the frame level, page data
crosses byte for byte (DLE-shielded on the DTE side, in +FBOR bit order). Time is not simulated: the far machine
answers at once and pages take no line time.
"""
from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hotline.drivers.modem import dle
from hotline.drivers.modem.profiles import Quirk
from hotline.drivers.modem.virtual.commands import Op, command
from hotline.drivers.modem.virtual.results import ModemState, Result
from hotline.drivers.common.t4 import T4Page, reverse

if TYPE_CHECKING:
    from hotline.drivers.modem.virtual.modem import VirtualModem

FAX_CLASSES = ("2", "2.0")
DLE, ETX, SUB, DC2, XON, CAN = 0x10, 0x03, 0x1A, 0x12, 0x11, 0x18
DEFAULT_CAPS = (1, 5, 0, 2, 0, 0, 0, 0)
CAP_RANGES = "(0,1),(0-5),(0-4),(0-2),(0-3),(0,1),(0,1),(0-7)"
CAP_MAX = (1, 5, 4, 2, 3, 1, 1, 7)
WIDTHS = (1728, 2048, 2432, 1216, 864)
PPM_CHARS = {ord(","): 0, ord(";"): 1, ord("."): 2}   # class 2.0 DLE codes: MPS, EOM, EOP (as +FET values)
# a page takes at least this long from CONNECT to the modem's answer after it: DTE software times pages in whole
# seconds (efax divides by them); the line's real bit rate is not simulated
MIN_PAGE_SECONDS = 1.05


class Role(enum.Enum):
    """Which way pages go on the current call."""

    NONE = "none"
    SENDING = "sending"        # we dialled a fax machine: +FDT pages to it
    RECEIVING = "receiving"    # a fax machine called: +FDR pages from it


@dataclass
class Fax2State:
    """The fax parameters the DTE set (kept across calls) and the call in progress."""

    dcc: list[int] = field(default_factory=lambda: list(DEFAULT_CAPS))   # what this modem may do
    dis: list[int] = field(default_factory=lambda: list(DEFAULT_CAPS))   # current session parameters
    ident: str = ""
    bor: int = 0
    role: Role = Role.NONE
    session: tuple[int, ...] = DEFAULT_CAPS
    page: bytearray = field(default_factory=bytearray)
    pending: T4Page | None = None
    dle: bool = False
    rx_next: int = 0
    page_started: float = 0.0
    due: list[tuple[float, int | None]] = field(default_factory=list)   # (when, ppm) of a page end to report

    def end_call(self) -> None:
        """Forget the call (the DTE's settings stay)."""
        self.role, self.pending, self.dle, self.rx_next = Role.NONE, None, False, 0
        self.page.clear()
        self.due.clear()


def is_fax(modem: VirtualModem) -> bool:
    """The modem is in service class 2 or 2.0."""
    return modem.settings.fclass in FAX_CLASSES


def _c20(modem: VirtualModem) -> bool:
    return modem.settings.fclass == "2.0"


def _report(modem: VirtualModem, c2: str, c20: str, value: str = "") -> None:
    name = c20 if _c20(modem) else c2
    modem.info(f"{name}:{value}" if value else name)


def _caps(values: tuple[int, ...] | list[int]) -> str:
    return ",".join(str(v) for v in values)


def negotiate(ours: list[int], theirs: tuple[int, ...]) -> tuple[int, ...]:
    """The session both ends can do: the lower of each (width and scan time: the far end's needs win)."""
    vr, br, wd, ln, df, ec, bf, _st = (min(a, b) for a, b in zip(ours, theirs))
    return (vr, br, wd, ln, 0 if df == 0 else min(df, 1), ec, bf, theirs[7])


def hangup(modem: VirtualModem, code: int) -> None:
    """Report the hang-up status (+FHNG:decimal in class 2, +FHS:hex in 2.0), release the line, end the call."""
    modem.info(f"+FHS:{code:02X}" if _c20(modem) else f"+FHNG:{code}")
    modem.fax2.end_call()
    modem.state = ModemState.COMMAND
    modem.go_on_hook()


def answer(modem: VirtualModem) -> Result:
    """ATA (or auto-answer) in a fax class: a calling fax machine gives its TSI and DCS."""
    modem.go_off_hook()
    fax, st = modem.far.fax, modem.fax2
    if fax is None or not fax.to_send:
        hangup(modem, 11)     # no T.30 from the caller: T1 expires (compressed to nothing)
        return Result.NO_CARRIER
    st.end_call()
    st.role, st.session = Role.RECEIVING, negotiate(st.dis, fax.caps)
    _report(modem, "+FCON", "+FCO")
    _report(modem, "+FTSI", "+FTI", f'"{fax.ident}"')
    _report(modem, "+FDCS", "+FCS", _caps(st.session))
    return Result.OK


def dialled(modem: VirtualModem) -> Result:
    """The far end answered an ATD in a fax class: a fax machine sends CSI and DIS, anything else is T1."""
    fax, st = modem.far.fax, modem.fax2
    modem.settings.vls = 1
    modem._vts.clear()       # the dial digits are on the line already; no +VTS OKs for them
    if fax is None:
        hangup(modem, 11)
        return Result.NO_CARRIER
    st.end_call()
    st.role = Role.SENDING
    _report(modem, "+FCON", "+FCO")
    _report(modem, "+FCSI", "+FCI", f'"{fax.ident}"')
    _report(modem, "+FDIS", "+FIS", _caps(fax.caps))
    return Result.OK


# -- page data from and to the DTE ------------------------------------------------------------------------------
def from_dte(modem: VirtualModem, data: bytes) -> None:
    """Bytes the DTE wrote in a fax data state: page data (+FDT) or the start character (+FDR)."""
    st = modem.fax2
    if modem.state is ModemState.FAX_RX:
        if DC2 in data or XON in data:
            _send_page(modem)
        elif CAN in data:
            modem.send(bytes((DLE, ETX)))
            hangup(modem, 2)
            modem.result(Result.OK)
        return
    for b in data:
        if modem.state is not ModemState.FAX_TX:
            return
        if st.dle:
            st.dle = False
            if b == DLE:
                st.page.append(DLE)
            elif b == SUB and _c20(modem):
                st.page += bytes((DLE, DLE))
            elif b == ETX:
                _page_end(modem, None)
            elif b in PPM_CHARS and _c20(modem):
                _page_end(modem, PPM_CHARS[b])
        elif b == DLE:
            st.dle = True
        else:
            st.page.append(b)


def _page_end(modem: VirtualModem, ppm: int | None) -> None:
    st = modem.fax2
    data = bytes(st.page)
    st.page.clear()
    s = st.session
    st.pending = T4Page(reverse(data) if st.bor else data, WIDTHS[s[2]] if s[2] < len(WIDTHS) else 1728, s[0] == 1)
    modem.state = ModemState.COMMAND
    st.due.append((st.page_started + MIN_PAGE_SECONDS, ppm))


def step(modem: VirtualModem, now: float) -> None:
    """Called by the modem's clock: report a page end once its minimum page time has passed."""
    st = modem.fax2
    while st.due and st.due[0][0] <= now:
        _, ppm = st.due.pop(0)
        if ppm is None:
            modem.result(Result.OK)        # class 2: +FET says what follows
        else:
            modem.result(_deliver(modem, ppm))


def _deliver(modem: VirtualModem, ppm: int) -> Result:
    """Send the pending page with its post-page message; the far machine's answer as +FPTS/+FPS."""
    st, fax = modem.fax2, modem.far.fax
    page, st.pending = st.pending, None
    ok = fax is not None and page is not None and fax.take_page(page)
    rows = page.rows if page is not None else 0
    if _c20(modem):
        modem.info(f"+FPS:{1 if ok else 2},{rows},0,0,0")
    else:
        modem.info(f"+FPTS:{1 if ok else 2}")
    if not ok:
        hangup(modem, 50)    # the far machine answered RTN and disconnected
    elif ppm == 2:
        hangup(modem, 0)
        fax.finished()
    return Result.OK


def _send_page(modem: VirtualModem) -> None:
    st, fax = modem.fax2, modem.far.fax
    page = fax.to_send[st.rx_next]
    st.rx_next += 1
    data = page.data + bytes(4)    # fill after RTC: a DTE's decoder reads ahead before it sees the last EOL
    msb = not _c20(modem) and bool(modem.profile.quirks & Quirk.CLASS2_RX_MSB)
    modem.send(dle.shield(reverse(data) if st.bor != msb else data) + bytes((DLE, ETX)))
    modem.state = ModemState.COMMAND
    last = st.rx_next >= len(fax.to_send)
    if _c20(modem):
        modem.info(f"+FPS:1,{page.rows},0,0,0")
    else:
        modem.info(f"+FPTS:1,{page.rows},0,0,0")
    modem.info(f"+FET:{2 if last else 0}")
    modem.result(Result.OK)


# -- AT commands ------------------------------------------------------------------------------------------------
def fax_command(class2: tuple[str, ...], class20: tuple[str, ...]):
    """Register a handler under its class 2 and class 2.0 names; a name is ERROR outside the class(es) using it."""
    def register(fn):
        for name in set(class2) | set(class20):
            classes = {c for names, c in ((class2, "2"), (class20, "2.0")) if name in names}

            def guard(modem: VirtualModem, op: Op, arg: str, _classes=frozenset(classes)) -> Result:
                if modem.settings.fclass not in _classes:
                    return Result.ERROR
                return fn(modem, op, arg)
            command(name)(guard)
        return fn
    return register


def _params(modem: VirtualModem, op: Op, arg: str, attr: str) -> Result:
    st = modem.fax2
    if op is Op.TEST:
        modem.info(CAP_RANGES)
        return Result.OK
    if op is Op.READ:
        modem.info(_caps(getattr(st, attr)))
        return Result.OK
    parts = [p.strip() for p in arg.split(",")]
    if len(parts) > 8 or not all(p.isdigit() for p in parts if p):
        return Result.ERROR
    values = getattr(st, attr)
    for i, p in enumerate(parts):
        if p:
            if int(p) > CAP_MAX[i]:
                return Result.ERROR
            values[i] = int(p)
    if attr == "dcc":
        st.dis = list(values)
    return Result.OK


@fax_command(("+FDCC",), ("+FCC",))
def _at_FDCC(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FDCC / +FCC: what the modem may negotiate (VR,BR,WD,LN,DF,EC,BF,ST); also sets the session values."""
    return _params(modem, op, arg, "dcc")


@fax_command(("+FDIS",), ("+FIS",))
def _at_FDIS(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FDIS / +FIS: the current session parameters (offered in DIS, bounding DCS)."""
    return _params(modem, op, arg, "dis")


def _quoted(arg: str) -> str:
    m = re.fullmatch(r'\s*"([^"]*)"\s*', arg)
    return m.group(1) if m else arg.strip()


@fax_command(("+FLID", "+FCIG"), ("+FLI", "+FPI"))
def _at_FLID(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FLID / +FLI: the local ident sent as TSI/CSI (20 characters); +FCIG / +FPI the polling ident."""
    if op is Op.TEST:
        modem.info("(20)(32-127)")
    elif op is Op.READ:
        modem.info(f'"{modem.fax2.ident}"')
    elif op is Op.SET:
        text = _quoted(arg)
        if len(text) > 20:
            return Result.ERROR
        modem.fax2.ident = text
    return Result.OK


@fax_command(("+FBOR",), ("+FBO",))
def _at_FBOR(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FBOR / +FBO: bit order of page data (bit 0: 1 = reversed phase C data)."""
    if op is Op.TEST:
        modem.info("(0-3)")
    elif op is Op.READ:
        modem.info(str(modem.fax2.bor))
    elif op is Op.SET:
        if not arg.strip().isdigit() or int(arg) > 3:
            return Result.ERROR
        modem.fax2.bor = int(arg) & 1
    return Result.OK


@fax_command(("+FCR", "+FAA", "+FPHCTO", "+FTBC", "+FBUG", "+FCQ", "+FSPL", "+FLPL", "+FECM", "+FMINSP",
              "+FBADLIN", "+FBADMUL", "+FCTCRTY", "+FRBC", "+FWDFC", "+FREL", "+FVRFC", "+FDFFC", "+FLNFC",
              "+FAXERR", "+FBUF"),
             ("+FCR", "+FAA", "+FCT", "+FNR", "+FIE", "+FSP", "+FLP", "+FPP", "+FCQ", "+FRQ", "+FEA", "+FND",
              "+FPA", "+FPW", "+FSA", "+FMS", "+FBU", "+FHS", "+FPHCTO", "+FAP"))
def _at_fax_stored(modem: VirtualModem, op: Op, arg: str) -> Result:
    """Fax settings and status reads that change nothing on the emulated line (receive enable, timers, reports)."""
    if op is Op.READ or op is Op.TEST:
        modem.info("0")
    return Result.OK


@fax_command(("+FMFR", "+FMDL", "+FREV"), ())
def _at_FMFR(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FMFR? / +FMDL? / +FREV?: class 2 identification (class 2.0 uses +FMI? / +FMM? / +FMR?)."""
    modem.info(modem.profile.vendor if op is Op.READ else modem.profile.ati3)
    return Result.OK


@fax_command((), ("+FIP",))
def _at_FIP(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FIP: class 2.0 fax parameters back to their defaults."""
    modem.fax2 = Fax2State()
    return Result.OK


@fax_command(("+FDT",), ("+FDT",))
def _at_FDT(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FDT: send a page: +FDCS/+FCS with the negotiated session, CONNECT (class 2: then XON), page data."""
    st, fax = modem.fax2, modem.far.fax
    if st.role is not Role.SENDING or fax is None or not modem.off_hook:
        return Result.ERROR
    st.session = negotiate(st.dis, fax.caps)
    _report(modem, "+FDCS", "+FCS", _caps(st.session))
    modem.result(Result.CONNECT)
    if not _c20(modem):
        modem.send(bytes((XON,)))
    st.page.clear()
    st.dle = False
    st.page_started = time.monotonic()
    modem.state = ModemState.FAX_TX
    return Result.NONE


@fax_command(("+FET",), ("+FET",))
def _at_FET(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FET=n after a page (class 2): 0 more pages, 1 another document, 2 end; the far machine's +FPTS."""
    st = modem.fax2
    if op is not Op.SET or not arg.strip().isdigit() or int(arg) > 7:
        return Result.ERROR
    if st.role is not Role.SENDING or st.pending is None:
        return Result.ERROR
    return _deliver(modem, int(arg) % 3)


@fax_command(("+FDR",), ("+FDR",))
def _at_FDR(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FDR: receive the next page (CONNECT, then page data after the DTE's DC2), or end the call after EOP."""
    st, fax = modem.fax2, modem.far.fax
    if st.role is not Role.RECEIVING or fax is None:
        return Result.ERROR
    if st.rx_next >= len(fax.to_send):
        hangup(modem, 0)
        fax.finished()
        return Result.OK
    if not _c20(modem):
        modem.info("+FCFR")
    _report(modem, "+FDCS", "+FCS", _caps(st.session))
    modem.result(Result.CONNECT)
    modem.state = ModemState.FAX_RX
    return Result.NONE


@fax_command(("+FPTS",), ("+FPS",))
def _at_FPTS(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FPTS=n / +FPS=n: the DTE's verdict on a received page (1 good, 2 bad): stored, the far end is not retrained."""
    if op is Op.READ or op is Op.TEST:
        modem.info("1")
    return Result.OK


@fax_command(("+FK",), ("+FKS",))
def _at_FK(modem: VirtualModem, op: Op, arg: str) -> Result:
    """+FK / +FKS: end the fax call now (hang-up status 2 when a call was up)."""
    if modem.off_hook:
        hangup(modem, 2)
    return Result.OK
