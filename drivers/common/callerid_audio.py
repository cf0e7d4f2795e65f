"""Caller ID in any format: the standards a line or a phone may use, one generator and one auto-detecting detector.

| standard | signal | messages | names |
|---|---|---|---|
| ``bell`` (Telcordia GR-30, North America) | Bell 202 FSK | SDMF or MDMF | ASCII |
| ``etsi`` (EN 300 659) | V.23 FSK | MDMF (SDMF accepted) | Latin-1 |
| ``cn`` (YD/T 1277, China) | Bell 202 FSK | SDMF or MDMF | GB 2312 |
| ``dtmf-a`` (ETSI DTMF, China) | DTMF | ``A<number>C`` | none |
| ``dtmf-d`` (Taiwan, China) | DTMF | ``D<number>C`` | none |

The detector needs no setting: it runs the FSK receiver (which tells Bell 202 from V.23 by the
frequency shift) and the DTMF one over the same audio and reports each message with the format
it arrived in.
"""
from __future__ import annotations

import enum

import numpy as np

from .callerid import MDMF, SDMF, CallerId, MessageError
from .callerid_dtmf import detect_dtmf_callerid, dtmf_callerid
from .callerid_fsk import Finding, detect_fsk_callerid, fsk_callerid
from .fsk import FskMode

__all__ = ["CidStandard", "Finding", "generate_callerid", "detect_callerid"]


class CidStandard(enum.Enum):
    """How the box sends caller ID on a line (the ``callerid`` setting of a port or a country)."""

    BELL = "bell"
    ETSI = "etsi"
    CN = "cn"
    DTMF_A = "dtmf-a"
    DTMF_D = "dtmf-d"


_FSK = {CidStandard.BELL: (FskMode.BELL202, False), CidStandard.ETSI: (FskMode.V23, False),
        CidStandard.CN: (FskMode.BELL202, True)}


def generate_callerid(cid: CallerId, standard: CidStandard | str = CidStandard.CN, sdmf: bool = False,
                      level_dbm0: float | None = None, phase: float = 0.0) -> np.ndarray:
    """The caller-ID audio (int16) a line of ``standard`` sends; FSK at -13.5 dBm0, DTMF at -7 dBm0 per tone."""
    std = standard if isinstance(standard, CidStandard) else CidStandard(standard)
    if std in _FSK:
        mode, chinese = _FSK[std]
        x = fsk_callerid(cid, mode, SDMF if sdmf else MDMF, chinese,
                         -13.5 if level_dbm0 is None else level_dbm0, phase=phase)
        return np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    if sdmf:
        raise MessageError("SDMF is an FSK message layout; DTMF caller ID has none")
    return dtmf_callerid(cid, std.value[-1].upper(), -7.0 if level_dbm0 is None else level_dbm0)


def detect_callerid(samples: np.ndarray) -> list[Finding]:
    """Every caller-ID message in the audio, FSK or DTMF, in time order."""
    x = np.asarray(samples, dtype=np.float64)
    return sorted(detect_fsk_callerid(x) + detect_dtmf_callerid(x), key=lambda f: f.sample)
