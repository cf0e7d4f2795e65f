"""ctypes binding to spandsp's ADSI caller-ID transmitter and receiver (Debian ``libspandsp2``): an independent peer.

Only ``adsi_*`` is used. Every ``*_init`` gets NULL so the library allocates its own state; the
receiver's message callback is kept referenced by its owner for as long as the library may call it.
Standards: CLASS (Bell 202, GR-30), CLIP (V.23, ETSI) and CLIP_DTMF (DTMF strings ending in C or #).
The transmitter takes a message without its checksum and adds it; the receiver hands over a
message without it.
"""
from __future__ import annotations

import ctypes
import enum
import threading

import numpy as np

from .spandsp import load

__all__ = ["AdsiStandard", "SpandspAdsiError", "library", "AdsiTransmitter", "AdsiReceiver"]

_CHUNK = 160


class SpandspAdsiError(RuntimeError):
    """libspandsp is missing or refused a request."""


class AdsiStandard(enum.IntEnum):
    """ADSI_STANDARD_* of adsi.h."""

    CLASS = 1
    CLIP = 2
    ACLIP = 3
    JCLIP = 4
    CLIP_DTMF = 5


#: void put_msg(void *user_data, const uint8_t *msg, int len)
PutMsg = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int)
_P = ctypes.c_void_p
_I16P = ctypes.POINTER(ctypes.c_int16)
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "adsi_rx_init": (_P, [_P, ctypes.c_int, PutMsg, _P]),
    "adsi_rx": (ctypes.c_int, [_P, _I16P, ctypes.c_int]),
    "adsi_rx_free": (ctypes.c_int, [_P]),
    "adsi_tx_init": (_P, [_P, ctypes.c_int]),
    "adsi_tx": (ctypes.c_int, [_P, _I16P, ctypes.c_int]),
    "adsi_tx_put_message": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
    "adsi_tx_set_preamble": (None, [_P, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]),
    "adsi_tx_free": (ctypes.c_int, [_P]),
}
_lock = threading.Lock()
_lib: ctypes.CDLL | None = None


def library() -> ctypes.CDLL:
    """libspandsp with the ADSI functions declared (loaded once; a clear error when it is missing)."""
    global _lib
    with _lock:
        if _lib is None:
            _lib = load(_SIGNATURES, SpandspAdsiError)
        return _lib


class AdsiTransmitter:
    """spandsp's caller-ID sender for one message at a time."""

    def __init__(self, standard: AdsiStandard) -> None:
        self._lib = library()
        self._state = self._lib.adsi_tx_init(None, int(standard))
        if not self._state:
            raise SpandspAdsiError(f"adsi_tx_init refused standard {standard.name}")
        self.standard = standard

    def send(self, message: bytes, max_seconds: float = 10.0) -> np.ndarray:
        """The audio (int16) of ``message``: type, length and body for FSK (no checksum), the digits for DTMF."""
        if self._lib.adsi_tx_put_message(self._state, message, len(message)) <= 0:
            raise SpandspAdsiError(f"adsi_tx_put_message refused {message!r}")
        out, buf = [], np.zeros(_CHUNK, dtype=np.int16)
        for _ in range(int(max_seconds * 8000 / _CHUNK)):
            n = self._lib.adsi_tx(self._state, buf.ctypes.data_as(_I16P), _CHUNK)
            if n <= 0:
                break
            out.append(buf[:n].copy())
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)

    def close(self) -> None:
        """Free the library's state."""
        if self._state:
            self._lib.adsi_tx_free(self._state)
            self._state = None


class AdsiReceiver:
    """spandsp's caller-ID receiver; ``messages`` collects what it delivered."""

    def __init__(self, standard: AdsiStandard) -> None:
        self._lib = library()
        self.messages: list[bytes] = []
        self._callback = PutMsg(self._put)  # referenced for the receiver's lifetime
        self._state = self._lib.adsi_rx_init(None, int(standard), self._callback, None)
        if not self._state:
            raise SpandspAdsiError(f"adsi_rx_init refused standard {standard.name}")
        self.standard = standard

    def _put(self, _user: int | None, msg: ctypes.POINTER(ctypes.c_uint8), length: int) -> None:  # type: ignore
        self.messages.append(bytes(msg[:length]))

    def feed(self, samples: np.ndarray) -> list[bytes]:
        """Run audio through the receiver, 160 samples at a time; the messages delivered so far."""
        x = np.ascontiguousarray(np.clip(np.rint(np.asarray(samples, dtype=np.float64)), -32768, 32767),
                                 dtype=np.int16)
        for begin in range(0, x.size, _CHUNK):
            part = np.ascontiguousarray(x[begin:begin + _CHUNK])
            self._lib.adsi_rx(self._state, part.ctypes.data_as(_I16P), part.size)
        return self.messages

    def close(self) -> None:
        """Free the library's state."""
        if self._state:
            self._lib.adsi_rx_free(self._state)
            self._state = None
