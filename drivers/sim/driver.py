"""The ``sim`` driver: a full simulated card whose far end QA drives (see card.py)."""
from __future__ import annotations

from hotline.drivers.base import Option

from .card import SimCard


class SimDriver(SimCard):
    """Registered as ``driver: sim``; trunk lines for callers, station lines for agent phones."""

    name = "sim"
    schema = (
        Option("trunks", int, 8, min=0, max=2000, help="trunk lines where outside callers arrive"),
        Option("stations", list, ["1001", "1002", "1003", "1004"], help="extension numbers of station lines"),
        Option("seed", int, 0, min=0, help="random seed for noise and far-end behaviour"),
        Option("capture_seconds", float, 600.0, min=0, max=86400,
               help="seconds of what each caller hears kept for heard.wav (0 = none)"),
        Option("answer_delay", float, 1.0, min=0, max=120, help="seconds before a dialled far end answers"),
        Option("station_auto_answer", float, None, min=0, max=120,
               help="stations answer by themselves after this many seconds (unset: QA answers)"),
        Option("noise_dbm0", float, None, min=-90, max=0, help="white noise added to what callers send"),
        Option("unplugged", bool, False, help="the card is missing: opening fails until plugged in (QA)"),
    )
