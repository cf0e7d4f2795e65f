"""QA control of virtual modem lines (``virtualmodem://`` in this process): the /api/v1/sim calls ring, key, speak,
hang up and listen through the emulator's far end, so a scenario runs over a modem line as over the sim card."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np

from .simerrors import SimCallRefused, SimError

RING_PERIOD = 1.0    # seconds between RINGs (a real exchange: about 5 s); caller ID comes after the first
RINGS = 10           # the caller gives up after this many
TAKE_TIMEOUT = 15.0  # the box must have taken the call (caller ID in) within this long


@dataclass
class ModemCall:
    """A call QA rang in on a modem line, tied to the box's call uuid."""

    id: str
    line: str
    far: Any                            # hotline.drivers.modem.virtual.FarEnd
    heard: np.ndarray | None = None     # kept once the box's call is over


class ModemQa:
    """The far end of every ``virtualmodem://`` modem line of the box, for the QA API."""

    def __init__(self, devices: Any, calls: Any):
        self.devices = devices
        self.calls = calls
        self.modem_calls: dict[str, ModemCall] = {}
        calls.on_call_ended.append(self._call_ended)

    def is_modem_line(self, line: Any) -> bool:
        """True when ``line`` names a device of the modem driver (virtual or not)."""
        device = self.devices.devices.get(line) if isinstance(line, str) else None
        return device is not None and device.driver_name == "modem"

    def far_end(self, line: str) -> Any:
        """The emulator's far end of modem line ``line``; a clear 4xx for a real modem or a line that is down."""
        device = self.devices.devices.get(line)
        if device is None or device.driver_name != "modem":
            raise SimError(f"no modem line {line!r}", 404)
        port = str(device.settings.get("port") or "")
        if not port.startswith("virtualmodem://"):
            raise SimError(f"line {line} is a real modem on {port}: the QA API drives only virtual modems "
                           "(port: virtualmodem://PROFILE?name=NAME)", 409)
        from hotline.drivers.modem.virtual import lines
        from hotline.drivers.modem.virtual.protocol_virtualmodem import parse_url
        _, name = parse_url(port)
        if lines.existing_modem(name) is None:
            raise SimError(f"line {line} is down: its virtual modem has not been opened ({device.state})", 409)
        return lines.far_end(name)

    # ---- callers -------------------------------------------------------------------------------
    async def place_call(self, caller: str, name: str, to: str, line: str) -> ModemCall:
        """Ring modem line ``line`` with caller ID (number, name) and wait until the box has taken the call."""
        from hotline.drivers.modem.virtual import CallState
        far = self.far_end(line)
        number = str(self.devices.devices[line].settings.get("number") or "")
        if to and number and to != number:
            raise SimError(f"to: modem line {line} answers only for its number {number}", 400)
        if far.state is not CallState.IDLE or line in self.devices.busy:
            raise SimError(f"line {line} is not a free trunk", 409)
        before = set(self.calls.finished)
        far.ring(caller, name or None, rings=RINGS, period=RING_PERIOD)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TAKE_TIMEOUT
        while True:
            leg = self.calls.owner.get(line)
            if leg is not None:
                break
            refused = [u for u in self.calls.finished if u not in before and u in self.calls.refused
                       and self.calls.finished[u].get("line") == line]
            if refused:
                far.hangup()
                raise SimCallRefused(refused[-1], line, self.calls.refused.get(refused[-1], "refused"))
            if loop.time() > deadline or far.state is not CallState.RINGING:
                far.hangup()
                raise SimError(f"the box did not take the call on modem line {line} within {TAKE_TIMEOUT:.0f} s",
                               503)
            await asyncio.sleep(0.02)
        mc = ModemCall(leg.call.uuid, line, far)
        self.modem_calls[mc.id] = mc
        if len(self.modem_calls) > 5000:
            self.modem_calls.pop(next(iter(self.modem_calls)))
        return mc

    def _live(self, mc: ModemCall) -> None:
        from hotline.drivers.modem.virtual import CallState
        if mc.heard is not None or mc.far.state not in (CallState.RINGING, CallState.CONNECTED):
            raise SimError("the call has ended", 409)

    def state(self, mc: ModemCall) -> dict:
        """The box's view of the call plus the far end's."""
        call = self.calls.calls.get(mc.id)
        summary = call.summary() if call is not None else self.calls.finished.get(mc.id, {})
        return {"id": mc.id, "line": mc.line, "state": summary.get("state", "ended"), "cause": summary.get("cause"),
                "call": summary, "far_end": "ended" if mc.heard is not None else mc.far.state.value}

    def send_dtmf(self, mc: ModemCall, digits: str, mode: str, tone_ms: float, gap_ms: float, level_dbm0: float,
                  twist_db: float, freq_offset: float) -> float:
        """Real DTMF tones from the caller's phone (the modem detects and reports them); checked digits."""
        self._live(mc)
        if mode != "inband":
            raise SimError("mode: a modem line carries keys only in band ('inband')")
        if (level_dbm0, twist_db, freq_offset) != (-10.0, 0.0, 0.0):
            raise SimError("level_dbm0, twist_db, freq_offset: not adjustable on a modem line (the virtual "
                           "modem's keys are standard tones)")
        mc.far.send_dtmf(digits, on_ms=int(tone_ms), off_ms=int(gap_ms))
        return len(digits) * (tone_ms + gap_ms) / 1000.0

    def send_samples(self, mc: ModemCall, samples: np.ndarray) -> None:
        """The caller speaks (8 kHz samples)."""
        self._live(mc)
        mc.far.speak(np.asarray(samples, dtype=np.int16))

    def heard(self, mc: ModemCall) -> np.ndarray:
        """What the caller heard since the modem answered (the whole call once it is over)."""
        return mc.heard if mc.heard is not None else mc.far.heard()

    def hangup(self, mc: ModemCall) -> None:
        """The caller hangs up (the modem learns it as its chipset does: NO CARRIER, loop break or busy tone)."""
        self._live(mc)
        mc.far.hangup()

    def _call_ended(self, call: Any) -> None:
        mc = self.modem_calls.get(call.uuid)
        if mc is not None and mc.heard is None:
            mc.heard = mc.far.heard()

    # ---- faults --------------------------------------------------------------------------------
    FAULTS = {"down": bool, "no_carrier": bool, "stuck_echo": bool, "busy": bool, "stall": (int, float),
              "garbage": str}

    def set_faults(self, line: str, changes: dict) -> dict:
        """The emulator's fault switches: down (unplug/replug), no_carrier, stall (s), garbage (text), stuck_echo,
        busy (busy tone on the line); everything is checked before anything changes."""
        device = self.devices.devices.get(line)
        if device is None or device.driver_name != "modem":
            raise SimError(f"no modem line {line!r}", 404)
        from hotline.drivers.modem.virtual import lines
        from hotline.drivers.modem.virtual.protocol_virtualmodem import parse_url
        port = str(device.settings.get("port") or "")
        if not port.startswith("virtualmodem://"):
            self.far_end(line)  # the clear 409 for a real modem
        modem = lines.existing_modem(parse_url(port)[1])
        if modem is None:
            raise SimError(f"line {line} is down: its virtual modem has not been opened", 409)
        for key, value in changes.items():
            kind = self.FAULTS.get(key)
            if kind is None:
                raise SimError(f"{key}: unknown modem line fault; known: {', '.join(self.FAULTS)}")
            if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
                want = "true or false" if kind is bool else "text" if kind is str else "a number"
                raise SimError(f"{key}: expected {want}")
        if not 0 <= changes.get("stall", 0) <= 60:
            raise SimError("stall: expected seconds from 0 to 60")
        if len(changes.get("garbage", "")) > 4096:
            raise SimError("garbage: at most 4,096 characters")
        far = modem.far
        if changes.get("down") is True:
            far.unplug()
        elif changes.get("down") is False and not modem.plugged:
            far.replug()
        if changes.get("no_carrier"):
            far.no_carrier()
        if changes.get("busy"):
            far.busy_tone()
        if changes.get("stall"):
            far.stall(float(changes["stall"]))
        if changes.get("garbage"):
            far.garbage(changes["garbage"].encode("latin-1", "replace"))
        if "stuck_echo" in changes:
            far.stuck_echo = changes["stuck_echo"]
        return {"line": line, "up": modem.plugged, "stuck_echo": modem.stuck_echo}
