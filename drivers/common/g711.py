"""G.711 µ-law and A-law codecs as numpy lookup tables, bit-exact with the ITU/Sun reference.

Encoding maps every possible int16 sample through a 65,536-entry table built
once at import; decoding maps every code byte through a 256-entry table. The
tables are computed with the segment arithmetic of the classic Sun
``g711.c`` (the same code CPython's ``audioop`` used), so results are
identical to ``audioop.lin2ulaw/ulaw2lin/lin2alaw/alaw2lin`` for 16-bit
samples: µ-law works on the top 14 bits of the sample, A-law on the top 13.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "ulaw_encode",
    "ulaw_decode",
    "alaw_encode",
    "alaw_decode",
    "ULAW_SILENCE",
    "ALAW_SILENCE",
]

#: The µ-law code of a zero sample (what an idle µ-law channel carries).
ULAW_SILENCE = 0xFF
#: The A-law code of a zero sample.
ALAW_SILENCE = 0xD5

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159
# Upper bound of each segment for the 14-bit µ-law and 13-bit A-law magnitudes.
_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)


def _segment(values: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the first segment whose upper bound is >= value (8 if none)."""
    return np.searchsorted(ends, values, side="left").astype(np.int32)


def _all_int16() -> np.ndarray:
    """Every int16 value, ordered by its uint16 bit pattern (the table index)."""
    return np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16).astype(np.int32)


def _build_ulaw_encode() -> np.ndarray:
    """µ-law encode table indexed by the sample's uint16 bit pattern."""
    pcm = _all_int16() >> 2  # 14-bit two's complement, arithmetic shift like the C code
    negative = pcm < 0
    mask = np.where(negative, 0x7F, 0xFF)
    mag = np.minimum(np.where(negative, -pcm, pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    seg = _segment(mag, _SEG_UEND)
    code = (np.minimum(seg, 7) << 4) | ((mag >> (np.minimum(seg, 7) + 1)) & 0xF)
    code = np.where(seg >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _build_ulaw_decode() -> np.ndarray:
    """µ-law decode table indexed by code byte."""
    u = (~np.arange(256, dtype=np.int32)) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    t = ((mantissa << 3) + _ULAW_BIAS) << exponent
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _build_alaw_encode() -> np.ndarray:
    """A-law encode table indexed by the sample's uint16 bit pattern."""
    pcm = _all_int16() >> 3  # 13-bit two's complement
    negative = pcm < 0
    mask = np.where(negative, 0x55, 0xD5)
    mag = np.where(negative, -pcm - 1, pcm)
    seg = _segment(mag, _SEG_AEND)
    segc = np.minimum(seg, 7)
    quant = np.where(segc < 2, mag >> 1, mag >> np.maximum(segc, 1)) & 0x0F
    code = (segc << 4) | quant
    code = np.where(seg >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _build_alaw_decode() -> np.ndarray:
    """A-law decode table indexed by code byte."""
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg >= 2, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ULAW_ENC = _build_ulaw_encode()
_ULAW_DEC = _build_ulaw_decode()
_ALAW_ENC = _build_alaw_encode()
_ALAW_DEC = _build_alaw_decode()
for _table in (_ULAW_ENC, _ULAW_DEC, _ALAW_ENC, _ALAW_DEC):
    _table.setflags(write=False)


def _as_int16(samples: np.ndarray) -> np.ndarray:
    """View or convert linear samples as int16 (floats are rounded and clipped)."""
    arr = np.asarray(samples)
    if arr.dtype == np.int16:
        return arr
    if arr.dtype.kind == "f":
        return np.clip(np.rint(arr), -32768, 32767).astype(np.int16)
    return np.clip(arr, -32768, 32767).astype(np.int16)


def _as_codes(codes: np.ndarray | bytes | bytearray | memoryview) -> np.ndarray:
    """View G.711 code bytes (an array or a bytes-like object) as uint8."""
    if isinstance(codes, (bytes, bytearray, memoryview)):
        return np.frombuffer(codes, dtype=np.uint8)
    return np.asarray(codes).astype(np.uint8, copy=False)


def ulaw_encode(samples: np.ndarray) -> np.ndarray:
    """Encode linear int16 samples (any shape) to µ-law code bytes (uint8, same shape)."""
    return np.take(_ULAW_ENC, _as_int16(samples).view(np.uint16))


def ulaw_decode(codes: np.ndarray | bytes | bytearray | memoryview) -> np.ndarray:
    """Decode µ-law code bytes (any shape, or a bytes object) to linear int16 samples."""
    return np.take(_ULAW_DEC, _as_codes(codes))


def alaw_encode(samples: np.ndarray) -> np.ndarray:
    """Encode linear int16 samples (any shape) to A-law code bytes (uint8, same shape)."""
    return np.take(_ALAW_ENC, _as_int16(samples).view(np.uint16))


def alaw_decode(codes: np.ndarray | bytes | bytearray | memoryview) -> np.ndarray:
    """Decode A-law code bytes (any shape, or a bytes object) to linear int16 samples."""
    return np.take(_ALAW_DEC, _as_codes(codes))
