"""Fax tones on the channels that ask for them, found in the media tick with the call-progress detector: the calling
tone (CNG) on incoming calls, the answer tone (CED) on calls the box made.

Only watched channels are analysed: their heard frames are gathered into a small block (one row per watched
channel) and handed to ``drivers/common/callprogress.py`` once per tick, one matrix product for all of them, so a
box with a thousand slots and a few watched calls pays for a few rows. A row is given back when the channel stops
watching; the block doubles when full (the rows already watched keep their place but start afresh: a CNG burst in
progress then counts from its next repetition, 3 s later).
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from hotline.drivers.base import FRAME_SAMPLES, ToneKind
from hotline.drivers.common.callprogress import COUNTRIES, CallProgressDetector, Country

log = logging.getLogger("hotline.media")

__all__ = ["ToneWatch", "FAX_TONES"]

# the fax calling tone (1100 Hz, 0.5 s on, 3 s off: reported at the end of its first burst) and the answer tone (2100 Hz,
# reported after 1 s of it); each watched channel hears only the kinds it asked for
FAX_TONES = Country("fax", tuple(r for r in COUNTRIES["cn"].rules if r.kind in (ToneKind.FAX_CNG, ToneKind.FAX_CED)))
FIRST_ROWS = 8

ToneCallback = Callable[[ToneKind], None]


class ToneWatch:
    """Which slots are watched, their rows in the detector's block, and the callback for each."""

    def __init__(self, rows: int = FIRST_ROWS, country: Country = FAX_TONES):
        self.country = country
        self.detector = CallProgressDetector(rows, country)
        self.block = np.zeros((rows, FRAME_SAMPLES), dtype=np.int16)
        self.row_of: dict[int, int] = {}          # slot -> row
        self.callbacks: dict[int, ToneCallback] = {}
        self.kinds: dict[int, frozenset[ToneKind]] = {}   # slot -> the tones it is told about
        self._free = list(range(rows - 1, -1, -1))
        self._slots = np.zeros(0, dtype=np.intp)
        self._rows = np.zeros(0, dtype=np.intp)
        self._slot_of: dict[int, int] = {}       # row -> slot
        self.paused: set[int] = set()            # watched slots not analysed for now (their callback kept)

    def watch(self, slot: int, callback: ToneCallback, kinds: tuple[ToneKind, ...] = (ToneKind.FAX_CNG,)) -> None:
        """Report the ``kinds`` of tone heard on ``slot`` to ``callback`` (called in the tick, with the tone's kind)."""
        self.kinds[slot] = frozenset(kinds)
        if slot in self.row_of:
            self.callbacks[slot] = callback
            return
        if not self._free:
            self._grow()
        row = self._free.pop()
        self.detector.reset(row)
        self.row_of[slot], self.callbacks[slot] = row, callback
        self._index()

    def pause(self, slot: int, paused: bool) -> None:
        """Stop analysing a watched slot for now (or start again, afresh), keeping its callback and kinds."""
        if slot not in self.row_of or (slot in self.paused) == paused:
            return
        row = self.row_of[slot]
        if paused:
            self.paused.add(slot)
            self.block[row] = 0
        else:
            self.paused.discard(slot)
            self.detector.reset(row)
        self._index()

    def unwatch(self, slot: int) -> None:
        """Stop watching a slot (its row is free again)."""
        self.paused.discard(slot)
        row = self.row_of.pop(slot, None)
        self.callbacks.pop(slot, None)
        self.kinds.pop(slot, None)
        if row is not None:
            self.block[row] = 0
            self._free.append(row)
            self._index()

    def _grow(self) -> None:
        rows = len(self.block) * 2
        log.info("event=tone_watch_grown rows=%d", rows)
        self.detector = CallProgressDetector(rows, self.country)
        self.block = np.zeros((rows, FRAME_SAMPLES), dtype=np.int16)
        self._free = [r for r in range(rows - 1, -1, -1) if r not in self.row_of.values()]

    def _index(self) -> None:
        live = {slot: row for slot, row in self.row_of.items() if slot not in self.paused}
        self._slots = np.fromiter(live.keys(), dtype=np.intp, count=len(live))
        self._rows = np.fromiter(live.values(), dtype=np.intp, count=len(live))
        self._slot_of = {row: slot for slot, row in live.items()}

    def __bool__(self) -> bool:
        return len(self.row_of) > len(self.paused)

    def process(self, inp: np.ndarray) -> list[tuple[int, ToneKind]]:
        """One tick: the heard frame of every watched slot (rows of ``inp``) through the detector; the (slot,
        kind) of each tone found, after its callback was called (a callback that raises is logged)."""
        if len(self.row_of) <= len(self.paused):
            return []
        self.block[self._rows] = inp[self._slots]
        slot_of = self._slot_of
        found = []
        for event in self.detector.process(self.block):
            if event.end_sample is not None or event.slot not in slot_of:
                continue
            slot = slot_of[event.slot]
            if event.kind not in self.kinds.get(slot, ()):
                continue
            found.append((slot, event.kind))
            callback = self.callbacks.get(slot)
            if callback is not None:
                try:
                    callback(event.kind)
                except Exception:
                    log.exception("event=tone_callback_failed slot=%d tone=%s", slot, event.kind.value)
        return found
