"""Caller-ID FSK at 8 kHz: Bell 202 and V.23 modulation, and one discriminator demodulator with UART framing for both.

Both modems run at 1,200 baud and share the centre frequency 1,700 Hz (Bell 202: mark 1,200 Hz,
space 2,200 Hz; V.23 channel 1: mark 1,300 Hz, space 2,100 Hz), so one receiver serves both: the
signal is mixed down by 1,700 Hz, low-pass filtered, and the phase advance per sample gives the
instantaneous frequency offset (mark below zero, space above). The size of the offset tells the
two modems apart (+-500 Hz against +-400 Hz). Everything is numpy over the whole block of audio;
only the byte chaining loops, once per received character.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from .tones import dbm0_to_amplitude

__all__ = ["FskMode", "FskSpec", "SPECS", "RATE", "CENTRE_HZ", "async_bits", "modulate", "Demodulated",
           "demodulate", "UartByte", "uart_bytes"]

RATE = 8000
CENTRE_HZ = 1700.0
_BAUD = 1200.0
_LOWPASS_TAPS = 33
_LOWPASS_HZ = 1000.0
_SMOOTH = 4  # post-detection moving average (first null at 2 kHz, well above the 600 Hz dotting)
_CARRIER_MS = 10.0  # carrier-detect averaging
_MIN_LEVEL_DBM0 = -50.0  # weakest carrier accepted
_MIN_INBAND = 0.7  # share of the power that must lie in the FSK band


class FskMode(enum.Enum):
    """The two caller-ID modems."""

    BELL202 = "bell202"
    V23 = "v23"


@dataclass(frozen=True)
class FskSpec:
    """Mark (binary 1) and space (binary 0) frequencies and the bit rate."""

    mark_hz: float
    space_hz: float
    baud: float = _BAUD

    @property
    def deviation_hz(self) -> float:
        """Half the mark-space shift."""
        return abs(self.space_hz - self.mark_hz) / 2


SPECS: dict[FskMode, FskSpec] = {
    FskMode.BELL202: FskSpec(1200.0, 2200.0),
    FskMode.V23: FskSpec(1300.0, 2100.0),
}


def async_bits(data: bytes, stop_bits: int = 1) -> np.ndarray:
    """Asynchronous framing: per byte a start bit (0), eight data bits LSB first, ``stop_bits`` ones."""
    octets = np.frombuffer(bytes(data), dtype=np.uint8)
    if octets.size == 0:
        return np.zeros(0, dtype=np.uint8)
    data_bits = np.unpackbits(octets[:, None], axis=1, bitorder="little")
    frame = np.hstack([np.zeros((octets.size, 1), np.uint8), data_bits, np.ones((octets.size, stop_bits), np.uint8)])
    return frame.reshape(-1)


def modulate(bits: np.ndarray, mode: FskMode, level_dbm0: float = -13.5, phase: float = 0.0,
             rate: int = RATE, spec: FskSpec | None = None) -> np.ndarray:
    """Continuous-phase FSK of ``bits`` (float64, int16 scale); bit edges on the exact bit grid.

    ``spec`` replaces the mode's nominal frequencies and bit rate (a sender off its tolerances, in tests).
    """
    spec = spec or SPECS[mode]
    bits = np.asarray(bits, dtype=np.uint8)
    edges = np.round(np.arange(bits.size + 1) * rate / spec.baud).astype(np.int64)
    per_sample = np.repeat(bits, np.diff(edges))
    freq = np.where(per_sample == 1, spec.mark_hz, spec.space_hz)
    advance = np.concatenate(([0.0], np.cumsum(freq[:-1]))) if freq.size else freq
    return dbm0_to_amplitude(level_dbm0) * np.sin(phase + 2 * np.pi * advance / rate)


def _lowpass(rate: int) -> np.ndarray:
    """Hamming-windowed sinc low-pass for the complex baseband."""
    n = np.arange(_LOWPASS_TAPS) - (_LOWPASS_TAPS - 1) / 2
    h = 2 * _LOWPASS_HZ / rate * np.sinc(2 * _LOWPASS_HZ / rate * n) * np.hamming(_LOWPASS_TAPS)
    return h / h.sum()


@dataclass(frozen=True)
class Demodulated:
    """Per-sample outputs of the discriminator."""

    offset_hz: np.ndarray  # instantaneous frequency minus 1,700 Hz, smoothed (mark < 0 < space)
    carrier: np.ndarray  # bool: an FSK-like carrier is present at this sample

    def bits(self) -> np.ndarray:
        """Hard decisions: 1 (mark) where the frequency is below the centre."""
        return (self.offset_hz < 0).astype(np.int8)


def demodulate(samples: np.ndarray, rate: int = RATE) -> Demodulated:
    """Frequency discriminator and carrier detector over a block of audio."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size < 2:
        return Demodulated(np.zeros(x.size), np.zeros(x.size, dtype=bool))
    t = np.arange(x.size)
    z = x * np.exp(-2j * np.pi * CENTRE_HZ / rate * t)
    zb = np.convolve(z, _lowpass(rate), mode="same")
    turn = np.angle(zb[1:] * np.conj(zb[:-1])) * rate / (2 * np.pi)
    offset = np.convolve(np.concatenate(([turn[0]], turn)), np.ones(_SMOOTH) / _SMOOTH, mode="same")
    span = max(1, int(_CARRIER_MS * rate / 1000))
    box = np.ones(span) / span
    inband = np.convolve(2 * np.abs(zb) ** 2, box, mode="same")
    total = np.convolve(x * x, box, mode="same")
    floor = dbm0_to_amplitude(_MIN_LEVEL_DBM0) ** 2 / 2
    carrier = (inband >= floor) & (inband >= _MIN_INBAND * total)
    return Demodulated(offset, carrier)


@dataclass(frozen=True)
class UartByte:
    """One asynchronously framed character and where its start bit began."""

    value: int
    sample: int  # first sample of the start bit
    deviation_hz: float  # mean |frequency offset| at the bit centres (500: Bell 202, 400: V.23)


def uart_bytes(demod: Demodulated, baud: float = _BAUD, rate: int = RATE) -> list[UartByte]:
    """Every character with a valid start and stop bit, chained start bit after stop bit, inside the carrier."""
    offset, carrier = demod.offset_hz, demod.carrier
    n = offset.size
    bit = rate / baud
    centres = np.round((np.arange(10) + 0.5) * bit - 0.5).astype(np.int64)  # from the first 0 sample
    hard = offset < 0
    edge = np.flatnonzero(hard[:-1] & ~hard[1:] & carrier[1:]) + 1  # first sample of a space after mark
    edge = edge[edge + centres[-1] < n]
    if edge.size == 0:
        return []
    at = edge[:, None] + centres[None, :]
    values = hard[at]  # (edges, 10): start, 8 data, stop
    valid = ~values[:, 0] & values[:, 9] & carrier[at].all(axis=1)
    octet = (values[:, 1:9].astype(np.int64) << np.arange(8)).sum(axis=1)
    deviation = np.abs(offset[at]).mean(axis=1)
    out: list[UartByte] = []
    next_allowed = 0
    candidates = np.flatnonzero(valid)
    starts = edge[candidates]
    pos = 0
    while pos < candidates.size:
        k = candidates[pos]
        if edge[k] < next_allowed:
            pos = int(np.searchsorted(starts, next_allowed))
            continue
        out.append(UartByte(int(octet[k]), int(edge[k]), float(deviation[k])))
        next_allowed = edge[k] + int(9.5 * bit)  # the middle of the stop bit
        pos += 1
    return out
