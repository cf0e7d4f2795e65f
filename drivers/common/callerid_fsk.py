"""FSK caller ID: the audio of a message (seizure, marks, framed bytes) and the detector that finds messages."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .callerid import MDMF, SDMF, CallerId, MessageError, decode_message, encode_message
from .fsk import RATE, SPECS, FskMode, UartByte, async_bits, demodulate, modulate, uart_bytes

__all__ = ["Finding", "fsk_callerid", "detect_fsk_callerid"]

_MAX_GAP_BITS = 25  # start bit to start bit inside a message: 10 bits plus some marking
_BELL_V23_SPLIT_HZ = 450.0  # mean deviation above: Bell 202 (500 Hz), below: V.23 (400 Hz)


@dataclass(frozen=True)
class Finding:
    """A caller-ID message found in audio."""

    sample: int  # where its signal began (first seizure bit or first digit), from the start of the audio
    format: str  # bell202-sdmf, bell202-mdmf, v23-sdmf, v23-mdmf, dtmf-a, dtmf-d
    callerid: CallerId

    @property
    def seconds(self) -> float:
        """Start time in seconds."""
        return self.sample / RATE


def fsk_callerid(cid: CallerId, mode: FskMode = FskMode.BELL202, message_type: int = MDMF, chinese: bool = False,
                 level_dbm0: float = -13.5, seizure_bits: int = 300, mark_bits: int = 180,
                 phase: float = 0.0) -> np.ndarray:
    """One caller-ID transmission (float64, int16 scale): alternating seizure bits, marks, the message, 4 marks."""
    message = encode_message(cid, message_type, chinese)
    bits = np.concatenate([np.arange(seizure_bits, dtype=np.uint8) % 2, np.ones(mark_bits, np.uint8),
                           async_bits(message), np.ones(4, np.uint8)])
    return modulate(bits, mode, level_dbm0, phase)


def _message_at(chars: list[UartByte], i: int, gap: int) -> int:
    """Length in characters of a valid-looking message starting at ``chars[i]``, or 0."""
    if chars[i].value not in (SDMF, MDMF) or i + 1 >= len(chars):
        return 0
    total = chars[i + 1].value + 3
    if i + total > len(chars):
        return 0
    run = chars[i:i + total]
    if any(b.sample - a.sample > gap for a, b in zip(run, run[1:])):
        return 0
    if sum(c.value for c in run) & 0xFF:
        return 0
    return total


def _signal_start(carrier: np.ndarray, sample: int) -> int:
    """The first sample of the carrier burst that contains ``sample``."""
    off = np.flatnonzero(~carrier[:sample])
    return int(off[-1] + 1) if off.size else 0


def detect_fsk_callerid(samples: np.ndarray) -> list[Finding]:
    """Every caller-ID message (SDMF or MDMF, Bell 202 or V.23) with a correct checksum in the audio."""
    demod = demodulate(samples)
    chars = uart_bytes(demod)
    gap = int(_MAX_GAP_BITS * RATE / SPECS[FskMode.BELL202].baud)
    found: list[Finding] = []
    i = 0
    while i < len(chars):
        size = _message_at(chars, i, gap)
        if not size:
            i += 1
            continue
        run = chars[i:i + size]
        try:
            cid = decode_message(bytes(c.value for c in run))
        except MessageError:
            i += 1
            continue
        deviation = float(np.mean([c.deviation_hz for c in run]))
        mode = FskMode.BELL202 if deviation > _BELL_V23_SPLIT_HZ else FskMode.V23
        kind = "sdmf" if run[0].value == SDMF else "mdmf"
        found.append(Finding(_signal_start(demod.carrier, run[0].sample), f"{mode.value}-{kind}", cid))
        i += size
    return found
