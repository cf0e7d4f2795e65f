"""Comfort noise (RFC 3389, payload type 13): the level a CN packet carries, and noise at that level for the
frames the far end does not send while it is silent (instead of dead silence or a counted loss)."""
from __future__ import annotations

import numpy as np

from hotline.drivers.base import FRAME_SAMPLES

PAYLOAD_TYPE = 13
MAX_LEVEL = 127               # -dBov; 127 is the quietest
_NOISE = np.random.default_rng(3389).standard_normal(FRAME_SAMPLES * 50).astype(np.float32)   # 1 s, unit RMS


def level_of(payload: bytes | memoryview) -> int | None:
    """The noise level (0-127 -dBov) of a CN payload; None when it is empty or the level byte is out of range
    (spectral coefficients after it are accepted and not used: the noise is white)."""
    if len(payload) < 1 or payload[0] > MAX_LEVEL:
        return None
    return int(payload[0])


def rms_of(level: int) -> float:
    """Linear RMS of a -dBov level (0 dBov: a full-scale square wave, RMS 32767)."""
    return 32767.0 * 10 ** (-level / 20)


def noise_frame(level: int, phase: int) -> tuple[np.ndarray, int]:
    """One frame (int16) of white noise at ``level`` and the next phase into the shared noise table."""
    start = phase % (len(_NOISE) // FRAME_SAMPLES) * FRAME_SAMPLES
    frame = np.clip(_NOISE[start:start + FRAME_SAMPLES] * rms_of(level), -32768, 32767).astype(np.int16)
    return frame, phase + 1
