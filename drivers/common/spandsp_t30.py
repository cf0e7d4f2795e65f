"""ctypes binding to spandsp's bare T.30 engine (``t30_init`` with the caller's own front end; Debian ``libspandsp2``):
the protocol without its modems, for a class 1 fax modem that does the modulation (drivers/modem/faxclass1.py).

T.30 tells the front end what to send and receive through three callbacks (set_rx_type, set_tx_type, send_hdlc);
the front end answers with ``t30_front_end_status``, ``t30_hdlc_accept`` and the non-ECM data calls, and moves
T.30's clock with ``t30_timer_update``. The settings calls (ident, files, ECM, handlers) are those of spandsp.py.
"""
from __future__ import annotations

import ctypes
import enum

from .spandsp import SpandspError, load

__all__ = ["SetTypeHandler", "SendHdlcHandler", "T30Modem", "FrontEnd", "Signal", "library"]

#: void handler(void *user_data, int type, int bit_rate, int short_train, int use_hdlc)
SetTypeHandler = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int)
#: void handler(void *user_data, const uint8_t msg[], int len): len 0 (msg NULL) ends the HDLC transmission
SendHdlcHandler = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int)


class T30Modem(enum.IntEnum):
    """T30_MODEM_* (t30.h): what T.30 asks the front end to send or receive."""

    NONE = 0
    PAUSE = 1        # silence; the "short_train" argument is the length in ms
    CED = 2
    CNG = 3
    V21 = 4
    V27TER = 5
    V29 = 6
    V17 = 7
    V34HDX = 8
    DONE = 9


class FrontEnd(enum.IntEnum):
    """T30_FRONT_END_* (t30.h): what the front end tells T.30."""

    SEND_STEP_COMPLETE = 0
    RECEIVE_COMPLETE = 1
    SIGNAL_PRESENT = 2
    SIGNAL_ABSENT = 3
    CED_PRESENT = 4
    CNG_PRESENT = 5


class Signal(enum.IntEnum):
    """SIG_STATUS_* (async.h): carrier and training news, passed as a negative length or bit."""

    CARRIER_DOWN = -1
    CARRIER_UP = -2
    TRAINING_IN_PROGRESS = -3
    TRAINING_SUCCEEDED = -4
    TRAINING_FAILED = -5
    FRAMING_OK = -6


_P = ctypes.c_void_p
_BYTES = ctypes.POINTER(ctypes.c_uint8)
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "t30_init": (_P, [_P, ctypes.c_int, SetTypeHandler, _P, SetTypeHandler, _P, SendHdlcHandler, _P]),
    "t30_free": (ctypes.c_int, [_P]),
    "t30_front_end_status": (None, [_P, ctypes.c_int]),
    "t30_hdlc_accept": (None, [_P, _BYTES, ctypes.c_int, ctypes.c_int]),
    "t30_non_ecm_put_bit": (None, [_P, ctypes.c_int]),
    "t30_non_ecm_put_chunk": (None, [_P, _BYTES, ctypes.c_int]),
    "t30_non_ecm_get_chunk": (ctypes.c_int, [_P, _BYTES, ctypes.c_int]),
    "t30_timer_update": (None, [_P, ctypes.c_int]),
}

_lib: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    """libspandsp with the T.30 front-end calls declared (SpandspError when it is missing)."""
    global _lib
    if _lib is None:
        _lib = load(_SIGNATURES, SpandspError)
    return _lib
