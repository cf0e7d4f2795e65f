"""Voice sample codecs for the +VSM formats: pcm16 at 8 kHz in and out, streaming (state kept between chunks).

Pure code, no I/O. IMA/DVI ADPCM follows the IMA Digital Audio Focus and
Technical Working Groups' recommendation (step table of 89 entries, index
table -1,-1,-1,-1,2,4,6,8), two samples per byte, low nibble first; the
sample loop runs in C (``audioop.lin2adpcm/adpcm2lin``, which packs the high
nibble first, so bytes are nibble-swapped), bit-exact with the reference in
tests/drivers/modem/test_codec.py. Rates other than 8,000 Hz (7,200 Hz
ADPCM) go through a streaming linear interpolator: voice band speech stays
below both Nyquist limits.
"""
from __future__ import annotations

import warnings

import numpy as np

from hotline.drivers.common import g711
from hotline.drivers.modem.profiles import Encoding

with warnings.catch_warnings():
    # audioop is deprecated in 3.11-3.12 (removed in 3.13, where setup.py pulls audioop-lts); only its IMA ADPCM is used
    warnings.filterwarnings("ignore", message=".*audioop.*", category=DeprecationWarning)
    import audioop

_SWAP_NIBBLES = bytes(((b & 0x0F) << 4) | (b >> 4) for b in range(256))


class ImaAdpcm:
    """IMA ADPCM state for one direction (predictor and step index survive across chunks), coded in C by audioop."""

    def __init__(self) -> None:
        self.predictor = 0
        self.index = 0
        self._held = np.zeros(0, dtype=np.int16)   # an odd sample waiting for its partner nibble

    def decode(self, data: bytes) -> np.ndarray:
        """Decode bytes (two samples each, low nibble first) to int16 samples."""
        if not data:
            return np.zeros(0, dtype=np.int16)
        # audioop takes the high nibble first: swap, and carry (predictor, index) between calls
        pcm, (self.predictor, self.index) = audioop.adpcm2lin(bytes(data).translate(_SWAP_NIBBLES), 2, (self.predictor, self.index))
        return np.frombuffer(pcm, dtype=np.int16).copy()

    def encode(self, samples: np.ndarray) -> bytes:
        """Encode int16 samples, two per byte; an odd last sample waits for the next call (streams stay aligned)."""
        values = np.concatenate((self._held, np.asarray(samples, dtype=np.int16)))
        whole = values.size // 2 * 2
        self._held = values[whole:]
        if whole == 0:
            return b""
        data, (self.predictor, self.index) = audioop.lin2adpcm(values[:whole].astype("=i2").tobytes(), 2,
                                                               (self.predictor, self.index))
        return data.translate(_SWAP_NIBBLES)


class LinearResampler:
    """Streaming linear-interpolation resampler (keeps its phase and last sample between chunks)."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self.ratio = rate_in / rate_out
        self.pos = 1.0            # position of the next output sample; index 0 is `prev`, 1 the chunk's first
        self.prev = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Resample one chunk; output length follows the running rate ratio exactly."""
        if x.size == 0:
            return np.zeros(0, dtype=np.int16)
        buf = np.concatenate(([self.prev], np.asarray(x, dtype=np.float64)))
        last = buf.size - 1
        count = int(np.floor((last - self.pos) / self.ratio)) + 1 if self.pos <= last else 0
        at = self.pos + self.ratio * np.arange(count)
        out = np.interp(at, np.arange(buf.size), buf)
        self.pos = self.pos + self.ratio * count - last
        self.prev = float(buf[-1])
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


class VoiceCodec:
    """Converts pcm16 at 8 kHz to one +VSM format and back, with independent state for each direction."""

    def __init__(self, encoding: Encoding, rate: int = 8000) -> None:
        if encoding is Encoding.ADPCM2:
            raise ValueError("codec: 2-bit vendor ADPCM is not supported; choose another +VSM format")
        self.encoding = encoding
        self.rate = rate
        self._enc_adpcm, self._dec_adpcm = ImaAdpcm(), ImaAdpcm()
        self._carry = b""   # odd byte of a 16-bit sample split across reads
        self._down = LinearResampler(8000, rate) if rate != 8000 else None
        self._up = LinearResampler(rate, 8000) if rate != 8000 else None

    @property
    def bytes_per_second(self) -> float:
        """Line bytes per second of audio in this format (8,000 for 8-bit 8 kHz formats)."""
        return self.rate * {Encoding.LINEAR16: 2.0, Encoding.IMA_ADPCM4: 0.5}.get(self.encoding, 1.0)

    @property
    def silence_byte(self) -> int:
        """The byte value of silence in this format (for 8-bit formats)."""
        return {Encoding.UNSIGNED_PCM8: 0x80, Encoding.ULAW: g711.ULAW_SILENCE,
                Encoding.ALAW: g711.ALAW_SILENCE}.get(self.encoding, 0)

    def encode(self, pcm: np.ndarray) -> bytes:
        """pcm16 at 8 kHz -> line bytes."""
        x = np.asarray(pcm, dtype=np.int16)
        if self._down is not None:
            x = self._down(x)
        e = self.encoding
        if e is Encoding.ULAW:
            return g711.ulaw_encode(x).tobytes()
        if e is Encoding.ALAW:
            return g711.alaw_encode(x).tobytes()
        if e is Encoding.UNSIGNED_PCM8:
            return ((x.astype(np.int32) >> 8) + 128).astype(np.uint8).tobytes()
        if e is Encoding.SIGNED_PCM8:
            return (x.astype(np.int32) >> 8).astype(np.int8).tobytes()
        if e is Encoding.LINEAR16:
            return x.astype("<i2").tobytes()
        return self._enc_adpcm.encode(x)

    def decode(self, data: bytes) -> np.ndarray:
        """Line bytes -> pcm16 at 8 kHz (a 16-bit format's odd trailing byte waits for the next chunk)."""
        e = self.encoding
        if e is Encoding.ULAW:
            x = g711.ulaw_decode(data)
        elif e is Encoding.ALAW:
            x = g711.alaw_decode(data)
        elif e is Encoding.UNSIGNED_PCM8:
            x = ((np.frombuffer(data, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
        elif e is Encoding.SIGNED_PCM8:
            x = (np.frombuffer(data, dtype=np.int8).astype(np.int16) << 8).astype(np.int16)
        elif e is Encoding.LINEAR16:
            data = self._carry + bytes(data)
            whole = len(data) // 2 * 2
            x, self._carry = np.frombuffer(data[:whole], dtype="<i2").astype(np.int16), data[whole:]
        else:
            x = self._dec_adpcm.decode(data)
        x = np.asarray(x, dtype=np.int16)
        return self._up(x) if self._up is not None else x
