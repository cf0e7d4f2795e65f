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
        Option("answer_confirm_delay", float, 0.0, min=0, max=30,
               help="seconds before a line confirms the box's answer (0: at once), like a modem's VCON"),
        Option("dtmf", str, "both", choices=("inband", "events", "both"),
               help="where the box takes digits from: tones in the audio, out-of-band events, or both"),
        Option("threaded", bool, False,
               help="audio crosses a device thread in bursts through elastic buffers, like a real card"),
        Option("jitter_ms", float, 40.0, min=20, max=200, help="threaded: bursts arrive every 20 ms up to this"),
        Option("drift", float, 0.0, min=-0.1, max=0.1,
               help="threaded: the card's clock runs this much faster (0.02 = 2 %) or slower than the box"),
        Option("callerid_audio", bool, False,
               help="incoming calls send their caller ID as real audio before they ring; the box rings with what "
                    "its caller-ID receiver decodes"),
        Option("callerid", str, "cn", choices=("cn", "bell", "etsi", "dtmf-a", "dtmf-d"),
               help="callerid_audio: the caller-ID standard of the simulated exchange"),
        Option("duplex", str, "full", choices=("full", "half"),
               help="half: lines behave like a half-duplex voice modem (never bridged or queued)"),
    )
