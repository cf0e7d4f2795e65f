"""What analog hardware reports about a port: hook, ring, polarity and alarm signals (DAHDI events and the like)."""
from __future__ import annotations

import enum

__all__ = ["LineSignal"]


class LineSignal(enum.Enum):
    """A hardware signal on one analog port, as the driver translates it from the device's events."""

    RING_BEGIN = "ring_begin"      # FXO: ringing voltage started (one burst of the cadence)
    RING_END = "ring_end"          # FXO: ringing voltage stopped
    OFFHOOK = "offhook"            # FXS: the phone went off hook
    ONHOOK = "onhook"              # FXS: the phone went on hook; FXO: loop current dropped (far end gone)
    WINKFLASH = "winkflash"        # FXS: the hardware timed a hook flash itself
    POLARITY = "polarity"          # FXO: the exchange reversed the line polarity
    DIALCOMPLETE = "dialcomplete"  # the hardware finished dialling digits it was given
    HOOKCOMPLETE = "hookcomplete"  # the hardware finished a hook change it was asked for (flash, off hook)
    ALARM = "alarm"                # the port or its span stopped working
    NOALARM = "noalarm"            # the port works again
