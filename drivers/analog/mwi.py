"""Message waiting for analog phones: the FSK message (MDMF type 0x82, visual indicator) sent on hook, and its decoder."""
from __future__ import annotations

import numpy as np

from ..common.callerid_audio import CidStandard
from ..common.fsk import FskMode, async_bits, demodulate, modulate, uart_bytes

__all__ = ["MWI", "mwi_message", "mwi_audio", "detect_mwi"]

MWI = 0x82  # message waiting notification (GR-30 / EN 300 659-3)
_VISUAL_INDICATOR = 0x0B


def mwi_message(on: bool) -> bytes:
    """Type, length, the visual-indicator parameter (0xFF on, 0x00 off) and the checksum."""
    head = bytes((MWI, 3, _VISUAL_INDICATOR, 1, 0xFF if on else 0x00))
    return head + bytes(((-sum(head)) & 0xFF,))


def mwi_audio(on: bool, standard: CidStandard = CidStandard.CN, level_dbm0: float = -13.5) -> np.ndarray:
    """The message as FSK audio (int16): V.23 for ETSI phones, Bell 202 otherwise (also for DTMF caller-ID phones)."""
    mode = FskMode.V23 if standard is CidStandard.ETSI else FskMode.BELL202
    bits = np.concatenate([np.arange(300, dtype=np.uint8) % 2, np.ones(180, np.uint8), async_bits(mwi_message(on)),
                           np.ones(4, np.uint8)])
    return np.clip(np.rint(modulate(bits, mode, level_dbm0)), -32768, 32767).astype(np.int16)


def detect_mwi(samples: np.ndarray) -> bool | None:
    """The indicator state of the last valid message-waiting message in the audio, None when there is none."""
    chars = [c.value for c in uart_bytes(demodulate(np.asarray(samples, dtype=np.float64)))]
    found = None
    for i in range(len(chars) - 5):
        run = chars[i:i + 6]
        if run[0] == MWI and run[1] == 3 and run[2] == _VISUAL_INDICATOR and run[3] == 1 and not sum(run) & 0xFF:
            found = run[4] != 0
    return found
