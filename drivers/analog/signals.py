"""The hardware signals an analog port reports to the signalling layer, whatever the card (DAHDI, USB, ...)."""
from __future__ import annotations

import enum


class LineSignal(enum.Enum):
    """One hook or line signal, as the port's hardware reports it (not yet interpreted as a call event)."""

    RING_BEGIN = "ring_begin"      # FXO port: the exchange started a ring burst
    RING_END = "ring_end"          # FXO port: the ring burst ended (the kernel's ring trailer expired)
    OFFHOOK = "offhook"            # FXS port: the phone was lifted
    ONHOOK = "onhook"              # FXS port: the phone was hung up; FXO port: loop current dropped (far end gone)
    WINKFLASH = "winkflash"        # FXS port: hook flash; E&M: wink
    POLARITY = "polarity"          # FXO port: the exchange reversed the line's polarity
    DIALCOMPLETE = "dialcomplete"  # the port finished dialling the digits it was given
    HOOKCOMPLETE = "hookcomplete"  # a hook change the box asked for (flash, wink, start) finished
    ALARM = "alarm"                # the port's span (or the port itself) is in alarm: no service
    NOALARM = "noalarm"            # the alarm cleared
