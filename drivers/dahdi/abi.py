"""The DAHDI kernel interface as Python sees it: ioctl numbers, constants and struct layouts of dahdi/user.h.

Kept honest against the header shipped in Debian's dahdi-dkms by tests/drivers/dahdi/test_abi_header.py (the
numbers and sizes are compiled from the real header with gcc and compared with these).
"""
from __future__ import annotations

import enum
import struct

# ---- ioctl number encoding (asm-generic/ioctl.h, the layout of x86, ARM and most others) -------------------------
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2


def _ioc(direction: int, code: int, nr: int, size: int) -> int:
    """One ioctl request number: direction, size, type code and number packed like _IOC()."""
    return (direction << 30) | (size << 16) | (code << 8) | nr


def _io(nr: int) -> int:
    return _ioc(_IOC_NONE, DAHDI_CODE, nr, 0)


def _iow(nr: int, size: int) -> int:
    return _ioc(_IOC_WRITE, DAHDI_CODE, nr, size)


def _ior(nr: int, size: int) -> int:
    return _ioc(_IOC_READ, DAHDI_CODE, nr, size)


def _iowr(nr: int, size: int) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, DAHDI_CODE, nr, size)


DAHDI_CODE = 0xDA
INT = 4
ELAST = 500  # errno of read/write while an event waits (user.h defines it when libc does not)
CHANNEL_DEVICE = "/dev/dahdi/channel"

# ---- structs (struct module formats; "<" = no padding, matching the kernel's layout on little-endian boxes) ----
PARAMS = struct.Struct("<12i40s11iI")             # struct dahdi_params
GAINS = struct.Struct("<i256s256s")               # struct dahdi_gains
ECHOCANPARAMS = struct.Struct("<II")              # struct dahdi_echocanparams (params[] follow)
ECHOCANPARAM = struct.Struct("<16si")             # struct dahdi_echocanparam
DIALOPERATION = struct.Struct("<i256s")           # struct dahdi_dialoperation
SPANINFO = struct.Struct("<i20s40s3i4i5I7i40s40s40s40s2i6s")  # struct dahdi_spaninfo (packed)
BUFFERINFO = struct.Struct("<6i")                 # struct dahdi_bufferinfo (libopenr2 sets immediate policy)

DAHDI_SET_BLOCKSIZE = _iow(1, INT)
DAHDI_GET_BLOCKSIZE = _ior(1, INT)
DAHDI_FLUSH = _iow(3, INT)
DAHDI_GET_PARAMS = _iowr(5, PARAMS.size)
DAHDI_HOOK = _iow(7, INT)
DAHDI_GETEVENT = _ior(8, INT)
DAHDI_IOMUX = _iowr(9, INT)                       # libopenr2: which of read/write/event is ready (NOWAIT)
DAHDI_SPANSTAT = _iowr(10, SPANINFO.size)
DAHDI_GETGAINS = _iowr(16, GAINS.size)
DAHDI_SETGAINS = _iow(16, GAINS.size)
DAHDI_GET_BUFINFO = _ior(27, BUFFERINFO.size)
DAHDI_SET_BUFINFO = _iow(27, BUFFERINFO.size)
DAHDI_DIAL = _iow(31, DIALOPERATION.size)
DAHDI_ECHOCANCEL = _iow(33, INT)                  # the old on/off form libopenr2 uses
DAHDI_ECHOCANCEL_PARAMS = _iow(33, ECHOCANPARAMS.size)
DAHDI_CHANNO = _ior(34, INT)
DAHDI_SPECIFY = _iow(38, INT)
DAHDI_SETLAW = _iow(39, INT)
DAHDI_GETRXBITS = _ior(43, INT)                   # E1 CAS: the ABCD bits the far end sends
DAHDI_SETTXBITS = _iow(43, INT)                   # E1 CAS: the ABCD bits we send
DAHDI_ONHOOKTRANSFER = _iow(51, INT)
DAHDI_SETPOLARITY = _iow(92, INT)

IOCTLS = {name: value for name, value in globals().items() if name.startswith("DAHDI_") and name != "DAHDI_CODE"}
STRUCTS = {"dahdi_params": PARAMS, "dahdi_gains": GAINS, "dahdi_echocanparams": ECHOCANPARAMS,
           "dahdi_echocanparam": ECHOCANPARAM, "dahdi_dialoperation": DIALOPERATION, "dahdi_spaninfo": SPANINFO,
           "dahdi_bufferinfo": BUFFERINFO}

FLUSH_READ, FLUSH_WRITE, FLUSH_EVENT = 1, 2, 4
DIAL_OP_APPEND, DIAL_OP_REPLACE, DIAL_OP_CANCEL = 1, 2, 3
IOMUX_READ, IOMUX_WRITE, IOMUX_WRITEEMPTY, IOMUX_SIGEVENT, IOMUX_NOWAIT = 1, 2, 4, 8, 0x100
POLICY_IMMEDIATE = 0
ABIT, BBIT, CBIT, DBIT = 8, 4, 2, 1               # CAS bits as DAHDI_GETRXBITS / DAHDI_SETTXBITS carry them


class Law(enum.IntEnum):
    """DAHDI_SETLAW values."""

    DEFAULT = 0
    MULAW = 1
    ALAW = 2


class Hook(enum.IntEnum):
    """DAHDI_HOOK values."""

    ONHOOK = 0
    OFFHOOK = 1
    WINK = 2
    FLASH = 3
    START = 4
    RING = 5
    RINGOFF = 6


class Event(enum.IntEnum):
    """DAHDI_GETEVENT codes (the ones a voice channel sees; DTMF and pulse digits carry flags in the high bits)."""

    NONE = 0
    ONHOOK = 1
    RINGOFFHOOK = 2
    WINKFLASH = 3
    ALARM = 4
    NOALARM = 5
    ABORT = 6
    OVERRUN = 7
    BADFCS = 8
    DIALCOMPLETE = 9
    RINGERON = 10
    RINGEROFF = 11
    HOOKCOMPLETE = 12
    BITSCHANGED = 13
    PULSE_START = 14
    TIMER_EXPIRED = 15
    TIMER_PING = 16
    POLARITY = 17
    RINGBEGIN = 18
    EC_DISABLED = 19
    REMOVED = 20


_SIG_FXO, _SIG_FXS = 1 << 12, 1 << 13


class Sig(enum.IntEnum):
    """Signalling types (params.sigtype). An FXO port (it faces the exchange) uses FXS signalling and an FXS port
    (it faces a phone) uses FXO signalling: named for the equipment at the other end."""

    NONE = 0
    FXSLS = (1 << 0) | _SIG_FXS
    FXSGS = (1 << 1) | _SIG_FXS
    FXSKS = (1 << 2) | _SIG_FXS
    FXOLS = (1 << 3) | _SIG_FXO
    FXOGS = (1 << 4) | _SIG_FXO
    FXOKS = (1 << 5) | _SIG_FXO
    EM = 1 << 6
    CLEAR = 1 << 7
    CAS = 1 << 15


def is_fxs_signalled(sig: int) -> bool:
    """True for FXS signalling: the channel is an FXO port (a line from the exchange)."""
    return bool(sig & _SIG_FXS)


def is_fxo_signalled(sig: int) -> bool:
    """True for FXO signalling: the channel is an FXS port (a phone hangs on it)."""
    return bool(sig & _SIG_FXO)


class Alarm(enum.IntFlag):
    """Span and channel alarm bits (spaninfo.alarms, params.chan_alarms)."""

    NONE = 0
    RECOVER = 1 << 0
    LOOPBACK = 1 << 1
    YELLOW = 1 << 2
    RED = 1 << 3
    BLUE = 1 << 4
    NOTOPEN = 1 << 5
    LOS = 1 << 8
    LFA = 1 << 9
    LMFA = 1 << 10


_ALARM_WORDS = ((Alarm.RED, "red alarm"), (Alarm.YELLOW, "yellow alarm (the far end lost our signal)"),
                (Alarm.BLUE, "blue alarm (all ones: the upstream line is down)"), (Alarm.LOS, "loss of signal"),
                (Alarm.LFA, "loss of frame alignment"), (Alarm.LMFA, "loss of multiframe alignment"),
                (Alarm.LOOPBACK, "in loopback"), (Alarm.RECOVER, "recovering"), (Alarm.NOTOPEN, "not open"))


def alarm_text(alarms: int) -> str:
    """The alarm bits as words a technician knows ("red alarm, loss of signal")."""
    words = [text for bit, text in _ALARM_WORDS if alarms & bit]
    return ", ".join(words) if words else f"alarm 0x{alarms:x}" if alarms else "no alarm"


def unpack_params(buf: bytes) -> dict:
    """struct dahdi_params as a dict of its fields."""
    v = PARAMS.unpack(buf)
    keys = ("channo", "spanno", "chanpos", "sigtype", "sigcap", "rxisoffhook", "rxbits", "txbits", "txhooksig",
            "rxhooksig", "curlaw", "idlebits")
    out = dict(zip(keys, v[:12]))
    out["name"] = v[12].split(b"\0", 1)[0].decode("ascii", "replace")
    out.update(zip(("prewinktime", "preflashtime", "winktime", "flashtime", "starttime", "rxwinktime", "rxflashtime",
                    "debouncetime", "pulsebreaktime", "pulsemaketime", "pulseaftertime"), v[13:24]))
    out["chan_alarms"] = v[24]
    return out


def pack_params(p: dict) -> bytes:
    """A dict of dahdi_params fields (missing ones 0) as the kernel's struct."""
    ints = [int(p.get(k, 0)) for k in ("channo", "spanno", "chanpos", "sigtype", "sigcap", "rxisoffhook", "rxbits",
                                       "txbits", "txhooksig", "rxhooksig", "curlaw", "idlebits")]
    tail = [int(p.get(k, 0)) for k in ("prewinktime", "preflashtime", "winktime", "flashtime", "starttime",
                                       "rxwinktime", "rxflashtime", "debouncetime", "pulsebreaktime", "pulsemaketime",
                                       "pulseaftertime")]
    return PARAMS.pack(*ints, str(p.get("name", "")).encode()[:39], *tail, int(p.get("chan_alarms", 0)))


SPANINFO_FIELDS = ("spanno", "name", "desc", "alarms", "txlevel", "rxlevel", "bpvcount", "crc4count", "ebitcount",
                   "fascount", "fecount", "cvcount", "becount", "prbs", "errsec", "irqmisses", "syncsrc", "numchans",
                   "totalchans", "totalspans", "lbo", "lineconfig", "lboname", "location", "manufacturer",
                   "devicetype", "irq", "linecompat", "spantype")


def unpack_spaninfo(buf: bytes) -> dict:
    """struct dahdi_spaninfo as a dict (text fields decoded)."""
    out = dict(zip(SPANINFO_FIELDS, SPANINFO.unpack(buf)))
    for k, v in out.items():
        if isinstance(v, bytes):
            out[k] = v.split(b"\0", 1)[0].decode("ascii", "replace")
    return out


def pack_spaninfo(s: dict) -> bytes:
    """A dict of dahdi_spaninfo fields (missing ones 0 or empty) as the kernel's struct."""
    values = []
    for k, fmt in zip(SPANINFO_FIELDS, ("i", "20s", "40s", *"i" * 7, *"I" * 5, *"i" * 7, "40s", "40s", "40s", "40s",
                                        "i", "i", "6s")):
        v = s.get(k, "" if fmt.endswith("s") else 0)
        values.append(str(v).encode() if fmt.endswith("s") else int(v))
    return SPANINFO.pack(*values)
