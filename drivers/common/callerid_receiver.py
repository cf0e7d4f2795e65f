"""Caller ID on many lines at once, 20 ms at a time: what an analog line layer runs on its idle FXO lines.

DTMF caller ID comes without warning (often before the first ring), so every slot runs through one
vectorised DTMF detector and each slot's digits through its own ``DtmfCidAssembler``. FSK caller ID
comes as a burst of carrier: a slot's audio is kept from the first loud frame until 100 ms of quiet
(at most 6 s), and the burst is then decoded in one go (about 2 ms of CPU for a message). Only slots
with sound cost anything.
"""
from __future__ import annotations

import numpy as np

from .callerid_dtmf import CID_DTMF_PARAMS, DtmfCidAssembler
from .callerid_fsk import Finding, detect_fsk_callerid
from .dtmf import FRAME, DtmfDetector
from .tones import dbm0_to_amplitude

__all__ = ["CallerIdReceiver"]

_LOUD_DBM0 = -50.0  # a frame with more power than this may carry FSK
_QUIET_FRAMES = 5  # 100 ms of quiet ends a burst
_MIN_FRAMES = 10  # bursts shorter than 200 ms cannot hold a message
_MAX_FRAMES = 300  # 6 s: longer sound (speech, noise) is decoded in pieces ...
_OVERLAP_FRAMES = 100  # ... each piece starting with the last 2 s of the one before (a message is < 2 s)


class CallerIdReceiver:
    """Finds caller-ID messages (FSK or DTMF, any format) on a fixed number of slots."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("the caller-ID receiver needs at least one slot")
        self.slots = slots
        self._dtmf = DtmfDetector(slots, params=CID_DTMF_PARAMS)
        self._assemblers = [DtmfCidAssembler() for _ in range(slots)]
        self._bursts: list[list[np.ndarray]] = [[] for _ in range(slots)]
        self._burst_start = np.zeros(slots, dtype=np.int64)  # sample where the kept audio begins
        self._quiet = np.zeros(slots, dtype=np.int64)  # quiet frames at the end of the kept audio
        self._prev = np.zeros((slots, FRAME), dtype=np.int16)  # kept too: the carrier may start mid-frame
        self._origin = np.zeros(slots, dtype=np.int64)  # tick at which the slot was last reset
        self._loud = dbm0_to_amplitude(_LOUD_DBM0) ** 2 / 2
        self._tick = 0

    def reset(self, slot: int) -> None:
        """The line changed hands or went off hook: forget everything in progress on it."""
        self._dtmf.reset(slot)
        self._assemblers[slot].reset()
        self._bursts[slot] = []
        self._quiet[slot] = 0
        self._prev[slot] = 0
        self._origin[slot] = self._tick

    def process(self, frames: np.ndarray) -> list[tuple[int, Finding]]:
        """One 160-sample frame per slot; (slot, message) for every message completed in it."""
        cur = np.asarray(frames)
        if cur.shape != (self.slots, FRAME):
            raise ValueError(f"frames must have shape ({self.slots}, {FRAME}), got {cur.shape}")
        cur16 = np.clip(np.rint(cur), -32768, 32767).astype(np.int16)
        found: list[tuple[int, Finding]] = []
        base = (self._tick - self._origin) * FRAME  # sample of this frame's start, per slot
        for hit in self._dtmf.process(cur16):
            message = self._assemblers[hit.slot].push(hit.start_sample, hit.digit)
            if message is not None:
                found.append((hit.slot, message))
        power = (cur16.astype(np.float32) ** 2).mean(axis=1)
        loud = power >= self._loud
        keeping = np.fromiter((bool(b) for b in self._bursts), dtype=bool, count=self.slots)
        for slot in np.flatnonzero(loud | keeping):
            slot = int(slot)
            burst = self._bursts[slot]
            if not burst:
                burst.append(self._prev[slot].copy())
                self._burst_start[slot] = base[slot] - FRAME
            burst.append(cur16[slot].copy())
            self._quiet[slot] = 0 if loud[slot] else self._quiet[slot] + 1
            if self._quiet[slot] >= _QUIET_FRAMES:
                found += [(slot, f) for f in self._decode(slot, keep=0)]
            elif len(burst) >= _MAX_FRAMES:
                found += [(slot, f) for f in self._decode(slot, keep=_OVERLAP_FRAMES)]
        self._prev = cur16
        self._tick += 1
        return found

    def _decode(self, slot: int, keep: int) -> list[Finding]:
        """Decode a slot's kept audio; keep its last ``keep`` frames for the next piece unless a message was in it."""
        burst, self._bursts[slot] = self._bursts[slot], []
        self._quiet[slot] = 0
        if len(burst) < _MIN_FRAMES:
            return []
        start = int(self._burst_start[slot])
        found = [Finding(start + f.sample, f.format, f.callerid) for f in detect_fsk_callerid(np.concatenate(burst))]
        if keep and not found:
            self._bursts[slot] = burst[-keep:]
            self._burst_start[slot] = start + (len(burst) - keep) * FRAME
        return found
