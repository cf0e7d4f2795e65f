"""HDLC framing done by the DTE for class 1 ECM pages: T.31 carries error-corrected image frames through +FTM/+FRM
as a plain bit stream (+FTH/+FRH at high speed is optional, and spandsp's T.31 does not have it), so the DTE adds
the flags, bit stuffing and FCS itself. spandsp's hdlc_tx/hdlc_rx do the bits (through ctypes); this module turns
their MSB-first octets into T.31's order (the first bit on the line is the octet's least significant bit).
"""
from __future__ import annotations

import ctypes

from hotline.drivers.common.spandsp import SpandspError, load
from hotline.drivers.common.t4 import reverse

__all__ = ["HdlcEncoder", "HdlcDecoder", "FLAG"]

FLAG = 0x7E
#: void handler(void *user_data, const uint8_t *pkt, int len, int ok)
FrameHandler = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint8), ctypes.c_int, ctypes.c_int)
#: void handler(void *user_data)
UnderflowHandler = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_P = ctypes.c_void_p
_BYTES = ctypes.POINTER(ctypes.c_uint8)
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "hdlc_rx_init": (_P, [_P, ctypes.c_int, ctypes.c_int, ctypes.c_int, FrameHandler, _P]),
    "hdlc_rx_put": (None, [_P, _BYTES, ctypes.c_int]),
    "hdlc_rx_free": (ctypes.c_int, [_P]),
    "hdlc_tx_init": (_P, [_P, ctypes.c_int, ctypes.c_int, ctypes.c_int, UnderflowHandler, _P]),
    "hdlc_tx_frame": (ctypes.c_int, [_P, _BYTES, ctypes.c_size_t]),
    "hdlc_tx_flags": (ctypes.c_int, [_P, ctypes.c_int]),
    "hdlc_tx_get": (ctypes.c_int, [_P, _BYTES, ctypes.c_size_t]),
    "hdlc_tx_free": (ctypes.c_int, [_P]),
}
_lib: ctypes.CDLL | None = None


def _library() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        _lib = load(_SIGNATURES, SpandspError)
    return _lib


class HdlcEncoder:
    """Frames (address, control, information) in, the bit-stuffed, flag-separated line octets out (with FCS)."""

    def __init__(self, preamble_flags: int = 0):
        self._lib = _library()
        self._underflow = False
        self._handler = UnderflowHandler(self._on_underflow)
        self._tx = self._lib.hdlc_tx_init(None, 0, 2, 0, self._handler, None)
        if not self._tx:
            raise SpandspError("hdlc_tx_init returned NULL")
        self._preamble = max(preamble_flags, 1)
        self._buf = (ctypes.c_uint8 * 64)()

    def _on_underflow(self, _user: int) -> None:
        self._underflow = True

    def frame(self, frame: bytes) -> bytes:
        """The octets that carry one frame (the preamble flags before the first one, flags after it)."""
        if not frame or len(frame) > 400:
            raise ValueError(f"an HDLC frame of {len(frame)} bytes (1 to 400)")
        out = bytearray()
        if self._preamble:
            out += bytes((FLAG,)) * self._preamble
            self._preamble = 0
        self._underflow = False
        data = (ctypes.c_uint8 * len(frame)).from_buffer_copy(frame)
        if self._lib.hdlc_tx_frame(self._tx, data, len(frame)) < 0:
            raise SpandspError("hdlc_tx_frame refused the frame")
        while not self._underflow and len(out) < 4 * len(frame) + 64:
            n = self._lib.hdlc_tx_get(self._tx, self._buf, 16)
            out += bytes(self._buf[:max(n, 0)])
        n = self._lib.hdlc_tx_get(self._tx, self._buf, 2)     # the closing flags
        out += bytes(self._buf[:max(n, 0)])
        return reverse(bytes(out))

    def close(self) -> None:
        """Free spandsp's state."""
        if self._tx:
            self._lib.hdlc_tx_free(self._tx)
            self._tx = None


class HdlcDecoder:
    """Line octets in (T.31 order), the frames found in them out: (frame without FCS, FCS good)."""

    def __init__(self) -> None:
        self._lib = _library()
        self._frames: list[tuple[bytes, bool]] = []
        self._handler = FrameHandler(self._on_frame)
        self._rx = self._lib.hdlc_rx_init(None, 0, 1, 2, self._handler, None)
        if not self._rx:
            raise SpandspError("hdlc_rx_init returned NULL")

    def _on_frame(self, _user: int, pkt, length: int, ok: int) -> None:
        if length > 0 and pkt:
            self._frames.append((ctypes.string_at(pkt, length), bool(ok)))

    def feed(self, data: bytes) -> list[tuple[bytes, bool]]:
        """Decode the octets; returns the frames they completed."""
        if data:
            wire = reverse(data)
            buf = (ctypes.c_uint8 * len(wire)).from_buffer_copy(wire)
            self._lib.hdlc_rx_put(self._rx, buf, len(wire))
        frames, self._frames = self._frames, []
        return frames

    def close(self) -> None:
        """Free spandsp's state."""
        if self._rx:
            self._lib.hdlc_rx_free(self._rx)
            self._rx = None
