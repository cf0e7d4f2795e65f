"""ctypes bindings to libspandsp (Debian ``libspandsp2``): the fax terminal (T.30 over V.27ter/V.29/V.17) and logging.

Only the functions Hotline calls are declared, each with its argument and result types. Every ``*_init`` is given
NULL so the library allocates its own state (Python never needs a spandsp struct size); the one struct the caller
owns, ``t30_stats_t``, is over-allocated. Callers keep a reference to every ctypes callback they hand over for as
long as the library may call it (a collected callback crashes the process).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import enum
import threading

__all__ = ["SpandspError", "T30Stats", "PhaseEHandler", "PhaseDHandler", "MessageHandler", "Modems", "Compressions", "LogLevel",
           "library", "completion_text", "T30_ERR_OK", "T30_ERR_T0_EXPIRED", "T30_ERR_T1_EXPIRED",
           "T30_ERR_CALLDROPPED"]

LIBRARY_NAME = "libspandsp.so.2"
T30_ERR_OK = 0
T30_ERR_T0_EXPIRED = 2    # "Timed out waiting for initial communication": no fax machine answered (calling side)
T30_ERR_T1_EXPIRED = 3    # "Timed out waiting for the first message"
T30_ERR_CALLDROPPED = 49  # the enum position of T30_ERR_CALLDROPPED in spandsp 0.0.6 (checked in the tests)


class SpandspError(RuntimeError):
    """libspandsp is missing or refused a request."""


class Modems(enum.IntFlag):
    """T30_SUPPORT_* image modems (t30.h)."""

    V27TER = 0x01   # 2,400 / 4,800 bit/s
    V29 = 0x02      # 7,200 / 9,600 bit/s
    V17 = 0x04      # 7,200 ... 14,400 bit/s


class Compressions(enum.IntFlag):
    """T30_SUPPORT_*_COMPRESSION (t30.h)."""

    T4_1D = 0x02
    T4_2D = 0x04
    T6 = 0x08


class LogLevel(enum.IntEnum):
    """SPAN_LOG_* severities (logging.h); SHOW_* flags are or-ed in by the caller."""

    NONE = 0
    WARNING = 2
    PROTOCOL_WARNING = 4
    FLOW = 5
    SHOW_SEVERITY = 0x0400
    SHOW_PROTOCOL = 0x0800


class T30Stats(ctypes.Structure):
    """t30_stats_t of spandsp 0.0.6, followed by spare room (later versions append fields)."""

    _fields_ = [(name, ctypes.c_int) for name in (
        "bit_rate", "error_correcting_mode", "pages_tx", "pages_rx", "pages_in_file", "x_resolution",
        "y_resolution", "width", "length", "image_size", "encoding", "bad_rows", "longest_bad_row_run",
        "error_correcting_mode_retries", "current_status")] + [("_spare", ctypes.c_int * 64)]


#: void handler(t30_state_t *s, void *user_data, int completion_code)
PhaseEHandler = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
#: int handler(t30_state_t *s, void *user_data, int result): after each page's post-page exchange (0.0.6)
PhaseDHandler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int)
#: void handler(int level, const char *text)
MessageHandler = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p)

_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "fax_init": (_P, [_P, ctypes.c_int]),
    "fax_free": (ctypes.c_int, [_P]),
    "fax_rx": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]),
    "fax_tx": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_int16), ctypes.c_int]),
    "fax_set_transmit_on_idle": (None, [_P, ctypes.c_int]),
    "fax_set_tep_mode": (None, [_P, ctypes.c_int]),
    "fax_get_t30_state": (_P, [_P]),
    "fax_get_logging_state": (_P, [_P]),
    "t30_set_tx_ident": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "t30_get_rx_ident": (ctypes.c_char_p, [_P]),
    "t30_set_tx_file": (None, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]),
    "t30_set_rx_file": (None, [_P, ctypes.c_char_p, ctypes.c_int]),
    "t30_set_ecm_capability": (ctypes.c_int, [_P, ctypes.c_int]),
    "t30_set_supported_modems": (ctypes.c_int, [_P, ctypes.c_int]),
    "t30_set_supported_compressions": (ctypes.c_int, [_P, ctypes.c_int]),
    "t30_set_phase_e_handler": (None, [_P, PhaseEHandler, _P]),
    "t30_set_phase_d_handler": (None, [_P, PhaseDHandler, _P]),
    "t30_get_transfer_statistics": (None, [_P, ctypes.POINTER(T30Stats)]),
    "t30_completion_code_to_str": (ctypes.c_char_p, [ctypes.c_int]),
    "t30_set_tx_page_header_info": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "t30_get_logging_state": (_P, [_P]),
    "t30_terminate": (None, [_P]),
    "t30_call_active": (ctypes.c_int, [_P]),
    "span_log_set_level": (ctypes.c_int, [_P, ctypes.c_int]),
    "span_log_set_tag": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "span_log_set_message_handler": (None, [_P, MessageHandler]),
}

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


def load(signatures: dict[str, tuple[object, list[object]]], error: type[Exception]) -> ctypes.CDLL:
    """libspandsp (one handle for the process) with these functions declared; ``error`` when the library or a
    function is missing (callers: the fax bindings here, the ADSI caller-ID bindings in spandsp_adsi.py)."""
    name = ctypes.util.find_library("spandsp") or LIBRARY_NAME
    try:
        lib = ctypes.CDLL(name)   # dlopen: the same handle every time
    except OSError as exc:
        raise error(f"cannot load {name}: {exc} (install the Debian package libspandsp2)") from exc
    for fn, (restype, argtypes) in signatures.items():
        func = getattr(lib, fn, None)
        if func is None:
            raise error(f"{name} has no {fn}: spandsp 0.0.6 or newer is needed")
        func.restype, func.argtypes = restype, argtypes
    return lib


def library() -> ctypes.CDLL:
    """libspandsp with every function Hotline uses declared (loaded once; a clear error when it is missing)."""
    global _lib
    with _lock:
        if _lib is None:
            _lib = load(_SIGNATURES, SpandspError)
        return _lib


def completion_text(code: int) -> str:
    """T.30's own words for a completion code (``t30_completion_code_to_str``)."""
    text = library().t30_completion_code_to_str(code)
    return text.decode("ascii", "replace") if text else f"T.30 completion code {code}"
