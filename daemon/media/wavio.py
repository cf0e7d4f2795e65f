"""WAV file reading (lenient, any rate/width/channels), resampling to 8 kHz mono, and writing.

Reading walks the RIFF chunks itself instead of using the ``wave`` module so
that it can tolerate what real tools write: ``espeak-ng --stdout`` puts bogus
sizes (0x7ffff000) in the RIFF and data headers, streaming writers leave them
at 0 or 0xffffffff. A data chunk whose size is impossible is taken to the end
of the file. 8/16/24/32-bit PCM, 32/64-bit float and G.711 A-law/µ-law WAVs
are decoded; other (compressed) formats raise :class:`WavError`.
"""
from __future__ import annotations

import enum
import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hotline.drivers.common import g711
from hotline.drivers.common.resample import resample

__all__ = ["WavError", "WavFormat", "WavAudio", "parse_wav", "read_wav", "read_wav_8k",
           "to_mono_8k", "resample", "write_wav", "wav_bytes"]

_BOGUS_SIZES = {0, 0xFFFFFFFF}
MIN_RATE, MAX_RATE = 4000, 384000  # outside this no real recording; a 1 Hz "WAV" would resample for minutes
MAX_CHANNELS = 32


class WavError(ValueError):
    """A WAV file could not be read; the message names the file and what is wrong."""


class WavFormat(enum.IntEnum):
    """WAVE format tags this module understands."""

    PCM = 1
    IEEE_FLOAT = 3
    ALAW = 6
    MULAW = 7
    EXTENSIBLE = 0xFFFE


@dataclass(frozen=True)
class WavAudio:
    """Decoded WAV contents: float samples in int16 scale, shape (frames, channels)."""

    rate: int
    channels: int
    sample_width: int  # bytes per sample as stored in the file
    format: WavFormat
    samples: np.ndarray

    @property
    def duration_s(self) -> float:
        """Length of the audio in seconds."""
        return self.samples.shape[0] / self.rate


def _decode(raw: bytes, fmt: WavFormat, width: int, name: str) -> np.ndarray:
    """Interleaved sample bytes -> float64 array in int16 scale."""
    if fmt in (WavFormat.ALAW, WavFormat.MULAW):
        if width != 1:
            raise WavError(f"{name}: G.711 data must be 8-bit, header says {width * 8}-bit")
        codes = np.frombuffer(raw, dtype=np.uint8)
        decoded = g711.alaw_decode(codes) if fmt == WavFormat.ALAW else g711.ulaw_decode(codes)
        return decoded.astype(np.float64)
    if fmt == WavFormat.IEEE_FLOAT:
        if width not in (4, 8):
            raise WavError(f"{name}: float samples must be 32 or 64-bit, header says {width * 8}-bit")
        return np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float64) * 32768.0
    if width == 1:
        return (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) * 256.0
    if width == 2:
        return np.frombuffer(raw, dtype="<i2").astype(np.float64)
    if width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = np.where(value & 0x800000, value - 0x1000000, value)
        return value.astype(np.float64) / 256.0
    if width == 4:
        return np.frombuffer(raw, dtype="<i4").astype(np.float64) / 65536.0
    raise WavError(f"{name}: unsupported PCM sample width of {width * 8} bits")


def _parse_fmt(body: bytes, name: str) -> tuple[WavFormat, int, int, int]:
    """The (format, channels, rate, sample width in bytes) of a fmt chunk."""
    if len(body) < 16:
        raise WavError(f"{name}: fmt chunk is {len(body)} bytes, needs at least 16")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == WavFormat.EXTENSIBLE:
        if len(body) < 40:
            raise WavError(f"{name}: WAVE_FORMAT_EXTENSIBLE fmt chunk is too short")
        tag = struct.unpack("<H", body[24:26])[0]  # first two bytes of the sub-format GUID
    try:
        fmt = WavFormat(tag)
    except ValueError:
        raise WavError(f"{name}: compressed or unknown audio format 0x{tag:04x}; "
                       "only PCM, float and G.711 WAVs are supported") from None
    if channels < 1:
        raise WavError(f"{name}: fmt chunk says {channels} channels")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise WavError(f"{name}: a sample rate of {rate} Hz is not supported (from {MIN_RATE} to {MAX_RATE} Hz)")
    if channels > MAX_CHANNELS:
        raise WavError(f"{name}: {channels} channels is not supported (at most {MAX_CHANNELS})")
    # The container size (block_align) wins over bits, e.g. 12-bit samples stored in 16.
    width = block_align // channels if block_align >= channels else (bits + 7) // 8
    if width < 1:
        raise WavError(f"{name}: fmt chunk has no usable sample width ({bits} bits)")
    return fmt, channels, rate, width


def parse_wav(data: bytes, name: str = "<bytes>", max_seconds: float | None = None) -> WavAudio:
    """Decode a WAV image held in memory; ``name`` is used in error messages; audio longer than ``max_seconds``
    is refused before it is decoded."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise WavError(f"{name}: not a RIFF/WAVE file")
    pos, fmt_info, raw = 12, None, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body_start = pos + 8
        available = len(data) - body_start
        if chunk_id == b"data":
            if size in _BOGUS_SIZES or size > available:
                size = available  # streaming/espeak-ng header: data runs to EOF
            raw = data[body_start:body_start + size]
        elif chunk_id == b"fmt ":
            fmt_info = _parse_fmt(data[body_start:body_start + min(size, available)], name)
        if size > available:
            break
        pos = body_start + size + (size & 1)
    if fmt_info is None:
        raise WavError(f"{name}: no fmt chunk")
    if raw is None:
        raise WavError(f"{name}: no data chunk")
    fmt, channels, rate, width = fmt_info
    frame_bytes = width * channels
    usable = len(raw) - len(raw) % frame_bytes
    if usable == 0:
        raise WavError(f"{name}: no audio samples (empty data chunk)")
    if max_seconds is not None and usable / frame_bytes / rate > max_seconds:
        raise WavError(f"{name}: {usable / frame_bytes / rate:.0f} s of audio, at most {max_seconds:.0f} s")
    samples = _decode(raw[:usable], fmt, width, name).reshape(-1, channels)
    return WavAudio(rate=rate, channels=channels, sample_width=width, format=fmt, samples=samples)


def read_wav(path: str | os.PathLike[str]) -> WavAudio:
    """Read and decode a WAV file of any supported kind."""
    name = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WavError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    return parse_wav(data, name)


def _to_int16(x: np.ndarray) -> np.ndarray:
    """Round and clip a float signal to int16."""
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def to_mono_8k(audio: WavAudio, rate: int = 8000) -> np.ndarray:
    """Down-mix decoded audio to mono and resample it to ``rate`` (int16)."""
    mono = audio.samples.mean(axis=1)
    return _to_int16(resample(mono, audio.rate, rate))


def read_wav_8k(path: str | os.PathLike[str], rate: int = 8000) -> np.ndarray:
    """Read any supported WAV file as mono int16 at 8 kHz (or ``rate``)."""
    return to_mono_8k(read_wav(path), rate)


def wav_bytes(samples: np.ndarray, rate: int = 8000, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV image of ``samples`` (1-D interleaved, or shape (frames, channels))."""
    arr = np.asarray(samples)
    if arr.ndim == 2:
        if arr.shape[1] != channels:
            raise ValueError(f"samples have {arr.shape[1]} channels, expected {channels}")
        arr = arr.reshape(-1)
    if arr.dtype != np.int16:
        arr = _to_int16(arr)
    if arr.size % channels:
        raise ValueError(f"{arr.size} samples do not divide into {channels} channels")
    payload = arr.astype("<i2").tobytes()
    buf = io.BytesIO()
    buf.write(b"RIFF" + struct.pack("<I", 36 + len(payload)) + b"WAVE")
    buf.write(b"fmt " + struct.pack("<IHHIIHH", 16, WavFormat.PCM, channels, rate,
                                    rate * channels * 2, channels * 2, 16))
    buf.write(b"data" + struct.pack("<I", len(payload)) + payload)
    return buf.getvalue()


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, rate: int = 8000,
              channels: int = 1) -> None:
    """Write int16 samples as a 16-bit PCM WAV file."""
    Path(path).write_bytes(wav_bytes(samples, rate, channels))
