"""libopenr2 (MFC/R2 signalling, Debian's libopenr2-3) through ctypes: its enums, the event interface's callback
types, and the functions the R2 layer calls, with openr2's log lines sent to Python logging."""
from __future__ import annotations

import ctypes
import ctypes.util
import enum
import logging
import threading

LIBRARY_NAME = "libopenr2.so.3"
log = logging.getLogger("hotline.drivers.dahdi.openr2")


class R2Error(Exception):
    """libopenr2 is missing or refused something; the message says what."""


class Variant(enum.IntEnum):
    """openr2_variant_t values of the variants a technician is likely to meet (r2proto.h)."""

    ARGENTINA = 1
    BRAZIL = 10
    CHINA = 40
    CZECH = 50
    ECUADOR = 60
    ITU = 70
    MEXICO = 80
    PHILIPPINES = 90
    VENEZUELA = 100
    COLOMBIA = 110


VARIANTS = {"cn": Variant.CHINA, "itu": Variant.ITU, "ar": Variant.ARGENTINA, "br": Variant.BRAZIL,
            "cz": Variant.CZECH, "ec": Variant.ECUADOR, "mx": Variant.MEXICO, "ph": Variant.PHILIPPINES,
            "ve": Variant.VENEZUELA, "co": Variant.COLOMBIA}


class Category(enum.IntEnum):
    """openr2_calling_party_category_t: the caller's category sent with the ANI (group II)."""

    NATIONAL_SUBSCRIBER = 0
    NATIONAL_PRIORITY_SUBSCRIBER = 1
    INTERNATIONAL_SUBSCRIBER = 2
    INTERNATIONAL_PRIORITY_SUBSCRIBER = 3
    COLLECT_CALL = 4
    UNKNOWN = 5
    TEST_EQUIPMENT = 6


CATEGORIES = {"national": Category.NATIONAL_SUBSCRIBER, "national_priority": Category.NATIONAL_PRIORITY_SUBSCRIBER,
              "international": Category.INTERNATIONAL_SUBSCRIBER,
              "international_priority": Category.INTERNATIONAL_PRIORITY_SUBSCRIBER,
              "collect": Category.COLLECT_CALL, "test": Category.TEST_EQUIPMENT}


class CallMode(enum.IntEnum):
    """openr2_call_mode_t: how an accepted call is charged (the backward signal B-x / A-6)."""

    WITH_CHARGE = 0
    NO_CHARGE = 1
    SPECIAL = 2
    UNKNOWN = 3


class Cause(enum.IntEnum):
    """openr2_call_disconnect_cause_t."""

    BUSY_NUMBER = 0
    NETWORK_CONGESTION = 1
    UNALLOCATED_NUMBER = 2
    OUT_OF_ORDER = 3
    UNSPECIFIED = 4
    NO_ANSWER = 5
    NORMAL_CLEARING = 6
    COLLECT_CALL_REJECTED = 7
    FORCED_RELEASE = 8
    NUMBER_CHANGED = 9


class LogLevel(enum.IntFlag):
    """openr2_log_level_t."""

    NOTHING = 0
    ERROR = 1
    WARNING = 2
    NOTICE = 4
    DEBUG = 8
    MF_TRACE = 16
    CAS_TRACE = 32
    STACK_TRACE = 64


CHAN_P = ctypes.c_void_p
ON_CALL_INIT = ctypes.CFUNCTYPE(None, CHAN_P)
ON_CALL_OFFERED = ctypes.CFUNCTYPE(None, CHAN_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int)
ON_CALL_ACCEPTED = ctypes.CFUNCTYPE(None, CHAN_P, ctypes.c_int)
ON_CALL_ANSWERED = ctypes.CFUNCTYPE(None, CHAN_P)
ON_CALL_DISCONNECT = ctypes.CFUNCTYPE(None, CHAN_P, ctypes.c_int)
ON_CALL_END = ctypes.CFUNCTYPE(None, CHAN_P)
ON_CALL_READ = ctypes.CFUNCTYPE(None, CHAN_P, ctypes.c_void_p, ctypes.c_int)
ON_OS_ERROR = ctypes.CFUNCTYPE(None, CHAN_P, ctypes.c_int)
ON_HARDWARE_ALARM = ctypes.CFUNCTYPE(None, CHAN_P, ctypes.c_int)
ON_PROTOCOL_ERROR = ctypes.CFUNCTYPE(None, CHAN_P, ctypes.c_int)
ON_LINE_BLOCKED = ctypes.CFUNCTYPE(None, CHAN_P)
ON_LINE_IDLE = ctypes.CFUNCTYPE(None, CHAN_P)
ON_CONTEXT_LOG = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
ON_DNIS_DIGIT = ctypes.CFUNCTYPE(ctypes.c_int, CHAN_P, ctypes.c_char)
ON_ANI_DIGIT = ctypes.CFUNCTYPE(None, CHAN_P, ctypes.c_char)
ON_BILLING_PULSE = ctypes.CFUNCTYPE(None, CHAN_P)
ON_CHANNEL_LOG = ctypes.CFUNCTYPE(None, CHAN_P, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


class EventInterface(ctypes.Structure):
    """openr2_event_interface_t (r2context.h), field for field."""

    _fields_ = [("on_call_init", ON_CALL_INIT), ("on_call_offered", ON_CALL_OFFERED),
                ("on_call_accepted", ON_CALL_ACCEPTED), ("on_call_answered", ON_CALL_ANSWERED),
                ("on_call_disconnect", ON_CALL_DISCONNECT), ("on_call_end", ON_CALL_END),
                ("on_call_read", ON_CALL_READ), ("on_hardware_alarm", ON_HARDWARE_ALARM),
                ("on_os_error", ON_OS_ERROR), ("on_protocol_error", ON_PROTOCOL_ERROR),
                ("on_line_blocked", ON_LINE_BLOCKED), ("on_line_idle", ON_LINE_IDLE),
                ("on_context_log", ON_CONTEXT_LOG), ("on_dnis_digit_received", ON_DNIS_DIGIT),
                ("on_ani_digit_received", ON_ANI_DIGIT), ("on_billing_pulse_received", ON_BILLING_PULSE)]


_P, _I, _S = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "openr2_context_new": (_P, [_P, _P, _P, _I, _I, _I]),
    "openr2_context_delete": (None, [_P]),
    "openr2_context_get_last_error": (_I, [_P]),
    "openr2_context_error_string": (_S, [_I]),
    "openr2_context_set_log_level": (None, [_P, _I]),
    "openr2_context_set_immediate_accept": (None, [_P, _I]),
    "openr2_context_set_skip_category_request": (None, [_P, _I]),
    "openr2_context_set_double_answer": (None, [_P, _I]),
    "openr2_context_set_mf_back_timeout": (None, [_P, _I]),
    "openr2_context_get_max_ani": (_I, [_P]),
    "openr2_context_get_max_dnis": (_I, [_P]),
    "openr2_chan_new_from_fd": (_P, [_P, _I, _P, _P]),
    "openr2_chan_delete": (None, [_P]),
    "openr2_chan_set_logging_func": (None, [_P, ON_CHANNEL_LOG]),
    "openr2_chan_set_log_level": (_I, [_P, _I]),
    "openr2_chan_set_idle": (_I, [_P]),
    "openr2_chan_set_blocked": (_I, [_P]),
    "openr2_chan_process_event": (_I, [_P]),
    "openr2_chan_handle_cas": (_I, [_P]),
    "openr2_chan_accept_call": (_I, [_P, _I]),
    "openr2_chan_answer_call": (_I, [_P]),
    "openr2_chan_disconnect_call": (_I, [_P, _I]),
    "openr2_chan_make_call": (_I, [_P, _S, _S, _I]),
    "openr2_chan_enable_read": (None, [_P]),
    "openr2_chan_disable_read": (None, [_P]),
    "openr2_chan_get_read_enabled": (_I, [_P]),
    "openr2_chan_get_time_to_next_event": (_I, [_P]),
    "openr2_chan_get_number": (_I, [_P]),
    "openr2_chan_get_rx_cas_string": (_S, [_P]),
    "openr2_chan_get_tx_cas_string": (_S, [_P]),
    "openr2_chan_get_call_state_string": (_S, [_P]),
    "openr2_chan_get_r2_state_string": (_S, [_P]),
    "openr2_chan_get_mf_state_string": (_S, [_P]),
    "openr2_proto_get_error": (_S, [_I]),
    "openr2_proto_get_disconnect_string": (_S, [_I]),
    "openr2_proto_get_category_string": (_S, [_I]),
    "openr2_get_version": (_S, []),
}

_lib: ctypes.CDLL | None = None
_lock = threading.Lock()


def library() -> ctypes.CDLL:
    """libopenr2 loaded once with every function typed; R2Error when it is not installed."""
    global _lib
    with _lock:
        if _lib is not None:
            return _lib
        name = ctypes.util.find_library("openr2") or LIBRARY_NAME
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            raise R2Error(f"libopenr2 is not installed ({exc}): apt-get install libopenr2-3 (scripts/setup-env does "
                          "it)") from None
        for fn, (restype, argtypes) in SIGNATURES.items():
            f = getattr(lib, fn)
            f.restype, f.argtypes = restype, argtypes
        _lib = lib
        return lib


def text(value: bytes | None) -> str:
    """A C string from libopenr2 as str."""
    return value.decode("ascii", "replace") if value else ""


_libc = ctypes.CDLL(None)
_vsnprintf = _libc.vsnprintf
_vsnprintf.restype, _vsnprintf.argtypes = ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                                        ctypes.c_void_p]
_LEVELS = ((LogLevel.ERROR, logging.ERROR), (LogLevel.WARNING, logging.WARNING), (LogLevel.NOTICE, logging.INFO))


def format_log(fmt: bytes | None, ap: int | None) -> str:
    """One of openr2's printf-style log lines, formatted by libc's vsnprintf from its va_list."""
    buf = ctypes.create_string_buffer(512)
    _vsnprintf(buf, len(buf), fmt, ap)
    return buf.value.decode("ascii", "replace").rstrip()


def log_level(level: int) -> int:
    """The Python logging level of an openr2 log level."""
    for bit, py in _LEVELS:
        if level & bit:
            return py
    return logging.DEBUG
