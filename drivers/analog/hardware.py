"""The seam between the analog state machines and a driver: what a machine asks the hardware to do."""
from __future__ import annotations

from typing import Protocol

import numpy as np

__all__ = ["AnalogHardware"]


class AnalogHardware(Protocol):
    """One analog port's hardware; every method returns at once (the driver queues the ioctl or write).

    ``send_audio`` carries the machine's own signalling audio (caller ID to a phone, dial tone, DTMF
    digits when dialling out, busy tone): while ``port.owns_audio`` is true the driver sends these
    frames instead of the media engine's.
    """

    def offhook(self) -> None:
        """Take the port off hook (FXO: seize or answer the line)."""

    def onhook(self) -> None:
        """Put the port on hook (FXO: release the line)."""

    def ring(self, on: bool) -> None:
        """Start or stop ringing voltage (FXS)."""

    def flash(self) -> None:
        """One hook flash (FXO: ask the exchange for a transfer)."""

    def send_audio(self, frame: np.ndarray) -> None:
        """One 20 ms frame (160 int16 samples) to the line."""
