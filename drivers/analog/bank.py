"""The analog ports of one device, ticked together: each detector runs once per 20 ms over every port's audio.

A driver calls ``tick(frames, now)`` once per tick with one inbound frame per port (in the bank's
port order). Each port says which detectors it needs (``Port.listen``); the others' rows are
silenced, which costs the detectors next to nothing. Findings go to the ports, then every port
runs its timers and sends its signalling audio.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..base import FRAME_SAMPLES
from ..common.callerid_receiver import CallerIdReceiver
from ..common.callprogress import CallProgressDetector
from ..common.dtmf import DtmfDetector
from ..common.tones import dbm0_to_amplitude
from .port import AnalogPort, Listen

__all__ = ["AnalogBank"]

_VOICE_DBM0 = -40.0  # a frame louder than this that holds no tone counts as voice


class AnalogBank:
    """Runs the caller-ID receiver, the call-progress detector and the DTMF detector for many ports at once."""

    def __init__(self, ports: Sequence[AnalogPort]) -> None:
        if not ports:
            raise ValueError("an analog bank needs at least one port")
        countries = {p.settings.profile.tones for p in ports}
        if len(countries) > 1:
            raise ValueError(f"the ports of one analog bank share one country, not {sorted(countries)}")
        self.ports = list(ports)
        n = len(self.ports)
        self._cid = CallerIdReceiver(n)
        self._progress = CallProgressDetector(n, countries.pop())
        self._dtmf = DtmfDetector(n)
        self._epochs = [p.epoch for p in self.ports]
        self._voice = dbm0_to_amplitude(_VOICE_DBM0) ** 2 / 2
        self.ticks = 0

    def index(self, name: str) -> int:
        """The row of port ``name`` in the frames."""
        for i, port in enumerate(self.ports):
            if port.name == name:
                return i
        raise KeyError(f"no analog port {name!r} in this bank")

    def tick(self, frames: np.ndarray, now: float) -> None:
        """One tick: ``frames[i]`` (160 int16 samples) is what port i received; ``now`` in seconds."""
        x = np.asarray(frames)
        n = len(self.ports)
        if x.shape != (n, FRAME_SAMPLES):
            raise ValueError(f"analog bank: frames must have shape ({n}, {FRAME_SAMPLES}), got {x.shape}")
        self.ticks += 1
        for i, port in enumerate(self.ports):
            if port.epoch != self._epochs[i]:
                self._epochs[i] = port.epoch
                self._cid.reset(i)
                self._progress.reset(i)
                self._dtmf.reset(i)
        listens = [p.listen for p in self.ports]
        self._caller_id(x, listens, now)
        self._call_progress(x, listens, now)
        self._digits(x, listens, now)
        for port in self.ports:
            port.poll(now)

    @staticmethod
    def _mask(listens: list[Listen], need: Listen) -> np.ndarray:
        return np.fromiter((need in lst for lst in listens), dtype=bool, count=len(listens))

    def _caller_id(self, x: np.ndarray, listens: list[Listen], now: float) -> None:
        mask = self._mask(listens, Listen.CALLER_ID)
        if not mask.any():
            return
        for slot, finding in self._cid.process(np.where(mask[:, None], x, 0).astype(np.int16)):
            self.ports[slot].on_callerid(finding.callerid, finding.format, now)

    def _call_progress(self, x: np.ndarray, listens: list[Listen], now: float) -> None:
        mask = self._mask(listens, Listen.PROGRESS)
        if not mask.any():
            return
        rows = np.where(mask[:, None], x, 0)
        for event in self._progress.process(rows):
            self.ports[event.slot].on_tone(event.kind, event.end_sample is not None, now)
        loud = (rows.astype(np.float32) ** 2).mean(axis=1) >= self._voice
        voiced = loud & ~self._progress.tone_present()
        for slot in np.flatnonzero(mask):
            self.ports[slot].on_voice(bool(voiced[slot]), now)

    def _digits(self, x: np.ndarray, listens: list[Listen], now: float) -> None:
        mask = self._mask(listens, Listen.DIGITS)
        if not mask.any():
            return
        for hit in self._dtmf.process(np.where(mask[:, None], x, 0).astype(np.int16)):
            self.ports[hit.slot].on_digit(hit.digit, hit.duration_ms, now)

    def status(self) -> dict:
        """Every port's state."""
        return {"ticks": self.ticks, "ports": [p.status() for p in self.ports]}
