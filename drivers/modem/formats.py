"""Byte translation between a modem's voice format and the G.711 bytes the elastic buffers carry: table lookups
for the 8 kHz 8-bit formats, the streaming codec (IMA ADPCM, resampled from and to 7,200 Hz) for the others."""
from __future__ import annotations

import numpy as np

from hotline.drivers.common import g711
from hotline.drivers.common.elastic import Codec

from .codec import VoiceCodec
from .profiles import Encoding, VoiceFormat

_ALL = np.arange(256, dtype=np.int32)
_U8_LINEAR = ((_ALL - 128) << 8).astype(np.int16)           # unsigned 8-bit: 128 is silence
_S8_LINEAR = (_ALL.astype(np.uint8).view(np.int8).astype(np.int32) << 8).astype(np.int16)
_ULAW_LINEAR = g711.ulaw_decode(_ALL.astype(np.uint8)).astype(np.int32)


def _to_8bit(linear: np.ndarray, signed: bool) -> np.ndarray:
    """Linear int16 to 8-bit linear codes (rounded, clipped)."""
    v = np.clip((linear.astype(np.int32) + 128) >> 8, -128, 127)
    return v.astype(np.int8).view(np.uint8) if signed else (v + 128).astype(np.uint8)


# device byte -> G.711 byte, and back, for the 8-bit formats (one 256-entry lookup each way)
_FROM_DEVICE = {Encoding.UNSIGNED_PCM8: g711.ulaw_encode(_U8_LINEAR), Encoding.SIGNED_PCM8: g711.ulaw_encode(_S8_LINEAR)}
_TO_DEVICE = {Encoding.UNSIGNED_PCM8: _to_8bit(_ULAW_LINEAR, signed=False),
              Encoding.SIGNED_PCM8: _to_8bit(_ULAW_LINEAR, signed=True)}
SILENCE = {Encoding.ULAW: g711.ULAW_SILENCE, Encoding.ALAW: g711.ALAW_SILENCE, Encoding.UNSIGNED_PCM8: 0x80,
           Encoding.SIGNED_PCM8: 0x00}


class FormatBridge:
    """Translates one modem's voice bytes to and from the elastic buffers' codec (mu-law, or A-law for A-law modems)."""

    def __init__(self, fmt: VoiceFormat, rate: int):
        self.format, self.rate = fmt, rate
        self.codec = Codec.ALAW if fmt.encoding is Encoding.ALAW else Codec.ULAW
        self._in = _FROM_DEVICE.get(fmt.encoding)
        self._out = _TO_DEVICE.get(fmt.encoding)
        self._stream: VoiceCodec | None = None  # stateful: ADPCM and rates other than 8 kHz
        if rate != 8000 or fmt.encoding not in SILENCE:
            try:
                self._stream = VoiceCodec(fmt.encoding, rate)
            except ValueError as exc:
                raise ValueError(f"voice format {fmt.code} {fmt.name!r} at {rate} Hz is not carried: {exc}") from None

    def restart(self) -> None:
        """A new voice stream (+VTX/+VRX/+VTR): the modem starts its ADPCM predictor and resampler afresh."""
        if self._stream is not None:
            self._stream = VoiceCodec(self.format.encoding, self.rate)

    def from_device(self, data: bytes) -> np.ndarray:
        """Device bytes (unshielded) to G.711 codes for the receive buffer (any count: resampling changes it)."""
        if self._stream is not None:
            return g711.ulaw_encode(self._stream.decode(bytes(data)))
        codes = np.frombuffer(data, dtype=np.uint8)
        return codes.copy() if self._in is None else self._in[codes]

    def to_device(self, codes: np.ndarray) -> bytes:
        """G.711 codes from the send buffer to device bytes (not yet shielded)."""
        codes = np.asarray(codes, dtype=np.uint8)
        if self._stream is not None:
            return self._stream.encode(g711.ulaw_decode(codes))
        return (codes if self._out is None else self._out[codes]).tobytes()
