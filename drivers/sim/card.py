"""The simulated card: lines plus the far end behind each one (caller or agent phone).

The card is hardware as far as the daemon can tell: it posts the same events and
exchanges the same 20 ms frames as a real card. The far end is what QA controls:
what the caller sends (audio queued sample by sample), what the caller hears
(captured), and when the far end answers, hangs up or fails.
"""
from __future__ import annotations

import collections
import enum
import logging
import math
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from hotline.drivers.base import (FRAME_SAMPLES, RATE, AnswerConfirmed, Answered, AnswerSupervision, Capability,
                                  DeviceFailed, DigitReceived, Driver, DriverNotReady, DtmfMode, Duplex, Flashed,
                                  HangupCause, HungUp, Line, LineDown, LineEvent, LineKind, LineTraits, LineUp,
                                  OffHook, Ringing, Seized)
from hotline.drivers.common.callerid import CallerId
from hotline.drivers.common.callerid_audio import CidStandard

from .callerid import SimCallerId, callerid_audio

__all__ = ["FarState", "Faults", "FarEnd", "SimLine", "SimCard", "Flashed"]

log = logging.getLogger("hotline.drivers.sim")


class FarState(enum.Enum):
    """What the far end of a line is doing."""

    IDLE = "idle"
    CALLING = "calling"        # a caller rings the box (trunk) / the box has not answered yet
    ANSWERING = "answering"    # the box answered; the line confirms after answer_confirm_delay
    RINGING = "ringing"        # the box rings this station, or dials out on this trunk
    CONNECTED = "connected"    # off hook, audio flows
    DOWN = "down"


@dataclass
class Faults:
    """Switches QA flips to test how the box copes."""

    never_answer: bool = False
    busy: bool = False
    hangup_after: float | None = None   # seconds after the far end is connected
    noise_dbm0: float | None = None


_NUMBER_FAULTS = {"hangup_after": (0.0, 86400.0, "seconds"), "noise_dbm0": (-100.0, 3.0, "dBm0")}
LIVE_PRIME = 480         # samples (60 ms) of live media gathered before it plays, when nothing is queued
LIVE_HOLD_TICKS = 3      # or ticks a short burst waits at most


def check_faults(changes: dict) -> dict:
    """Fault switch changes checked strictly (true/false switches, numbers in range or null); raises ValueError
    naming the first bad one, so a bad value is never stored where the tick would trip over it."""
    out: dict = {}
    for key, value in changes.items():
        if key in ("never_answer", "busy"):
            if not isinstance(value, bool):
                raise ValueError(f"{key}: expected true or false")
        elif key in _NUMBER_FAULTS:
            low, high, unit = _NUMBER_FAULTS[key]
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                        or not low <= value <= high:
                    raise ValueError(f"{key}: expected null or a number of {unit} from {low:g} to {high:g}")
                value = float(value)
        else:
            raise ValueError(f"unknown fault {key!r}; known: never_answer, busy, hangup_after, noise_dbm0")
        out[key] = value
    return out


@dataclass
class FarEnd:
    """The person or phone at the far end of one line."""

    state: FarState = FarState.IDLE
    faults: Faults = field(default_factory=Faults)
    pending: collections.deque = field(default_factory=collections.deque)  # int16 arrays to send
    offset: int = 0                      # samples already sent of pending[0]
    heard: list = field(default_factory=list)   # frames the far end received in this call
    heard_samples: int = 0
    listeners: list = field(default_factory=list)  # callables(frame) for live media
    connected_tick: int = 0
    answer_at_tick: int | None = None
    session: int = 0                     # increments with every new call on the line
    ended_by: str = ""                   # "far" or "box" once the call on this line ended
    confirm_at_tick: int | None = None   # ANSWERING: when the line confirms the box's answer
    premature_samples: int = 0           # audio the box sent before the answer was confirmed (must stay 0)
    reject_cause: HangupCause | None = None  # the box refused the call with this cause

    # live media (a WebSocket far end) waits in ``hold`` until LIVE_PRIME samples or LIVE_HOLD_TICKS ticks have
    # gathered whenever nothing is queued, so one frame sent a little late is no gap inside a tone
    hold: list = field(default_factory=list)
    held: int = 0
    hold_ticks: int = 0

    def queued_samples(self) -> int:
        """Samples still waiting to be sent."""
        return sum(len(a) for a in self.pending) - self.offset

    def clear_audio(self) -> None:
        """Drop everything queued or held (the call ended); the caller holds the card's far_lock."""
        self.pending.clear()
        self.offset = 0
        self.hold.clear()
        self.held = self.hold_ticks = 0

    def release_hold(self) -> None:
        """Queue the held live audio (the caller holds the card's far_lock)."""
        self.pending.extend(self.hold)
        self.hold.clear()
        self.held = self.hold_ticks = 0


class SimLine(Line):
    """A line of the simulated card; commands change the far end's state."""

    def __init__(self, card: "SimCard", name: str, kind: LineKind, extension: str = ""):
        caps = (Capability.VOICE_FRAMES | Capability.CALLER_ID | Capability.DIAL | Capability.FLASH)
        if kind is LineKind.STATION:
            caps |= Capability.RING_STATION
        super().__init__(name=name, kind=kind, capabilities=caps, extension=extension, traits=card.traits)
        self.card = card
        self.far = FarEnd()
        self.lamp = False   # a station's message-waiting lamp

    def answer(self) -> None:
        """The box answers a caller ringing on this trunk; the line confirms at once or after answer_confirm_delay."""
        if self.far.state is FarState.CALLING:
            self.card._answering(self)

    def reject(self, cause: HangupCause = HangupCause.REJECTED) -> None:
        """The box refuses the call (the caller hears busy or congestion)."""
        if self.far.state in (FarState.CALLING, FarState.RINGING):
            self.far.reject_cause = cause
        self.hangup()

    def hangup(self) -> None:
        """The box ends the call on this line (or rejects a ringing caller)."""
        far = self.far
        if far.state in (FarState.CALLING, FarState.ANSWERING, FarState.RINGING, FarState.CONNECTED):
            far.ended_by = far.ended_by or "box"
            far.state = FarState.IDLE
            far.answer_at_tick = far.confirm_at_tick = None
            with self.card.far_lock:
                far.clear_audio()

    def dial(self, number: str) -> None:
        """The box dials out on this trunk; the far end answers after answer_delay unless faulted."""
        self.card._ring_far(self, caller_id="", dialed=number)

    def ring(self, caller_id: str = "", caller_name: str = "") -> None:
        """The box rings this station."""
        self.card._ring_far(self, caller_id=caller_id, dialed=self.extension)

    def stop_ring(self) -> None:
        """The box stops ringing this station."""
        if self.far.state is FarState.RINGING:
            self.far.state = FarState.IDLE
            self.far.answer_at_tick = None

    def flash(self) -> None:
        """Hook flash towards the far end (no effect on a simulated line)."""

    def send_dtmf(self, digits: str) -> None:
        """Out-of-band DTMF to the far end: the sim far end just ignores it."""

    def message_waiting(self, on: bool) -> None:
        """A station's phone lights or clears its message-waiting lamp (shown in /api/v1/sim/stations)."""
        if self.kind is LineKind.STATION:
            self.lamp = bool(on)


class SimCard(Driver):
    """Implements the card; SimDriver (driver.py) adds the name and schema."""

    def __init__(self, device_name: str, settings: dict, sink: Callable[[LineEvent], None]):
        super().__init__(device_name, settings, sink)
        self.lines: dict[str, SimLine] = {}
        self.by_extension: dict[str, SimLine] = {}
        self.rng = np.random.default_rng(settings.get("seed", 0))
        self.tick_count = 0
        self.capture_samples = int(float(settings.get("capture_seconds", 600.0)) * RATE)
        self.answer_delay = float(settings.get("answer_delay", 1.0))
        auto = settings.get("station_auto_answer")
        self.station_auto_answer = None if auto is None else float(auto)
        self.confirm_ticks = int(round(float(settings.get("answer_confirm_delay") or 0.0) * RATE / FRAME_SAMPLES))
        self.traits = self.configured_traits(settings)
        self.callerid = None  # SimCallerId when calls send caller-ID audio (callerid_audio: true)
        if settings.get("callerid_audio"):
            self.callerid = SimCallerId(self._callerid_decoded, CidStandard(settings.get("callerid") or "cn"))
        self._sending: set[SimLine] = set()
        self._timed: set[SimLine] = set()
        self._noisy: set[SimLine] = set()
        self.opened = False
        self.far_lock = threading.Lock()  # far ends' queued audio, shared with the device thread (threaded: true)
        self.audio = None  # DeviceThread when threaded
        # numbers answered by a QA client (GET /api/v1/sim/numbers/{number}/media): dialled, they ring until the
        # client answers, instead of answering by themselves after answer_delay
        self.answerers: dict[str, Callable[[SimLine, str], None]] = {}

    # ---- Driver contract ------------------------------------------------------------
    @classmethod
    def configured_traits(cls, settings: dict) -> LineTraits:
        """Every line of the card has the same traits, set by ``duplex:`` and ``dtmf:``."""
        return LineTraits(duplex=Duplex(settings.get("duplex") or "full"),
                          dtmf_in=DtmfMode(settings.get("dtmf") or "both"), dtmf_out=DtmfMode.BOTH,
                          answer_supervision=AnswerSupervision.CONFIRMED, caller_id_send=True)

    def open(self) -> list[Line]:
        """Create the trunk and station lines (DriverNotReady while QA has it unplugged)."""
        if self.settings.get("unplugged"):
            raise DriverNotReady("card not found (simulated: unplugged)")
        for i in range(1, int(self.settings.get("trunks", 8)) + 1):
            line = SimLine(self, f"{self.device_name}-t{i}", LineKind.TRUNK)
            self.lines[line.name] = line
            if self.settings.get("noise_dbm0") is not None:
                self.set_faults(line, noise_dbm0=float(self.settings["noise_dbm0"]))
        for ext in self.settings.get("stations", []):
            line = SimLine(self, f"{self.device_name}-s{ext}", LineKind.STATION, extension=str(ext))
            self.lines[line.name] = line
            self.by_extension[str(ext)] = line
        if self.settings.get("threaded"):
            from .threaded import DeviceThread
            self.audio = DeviceThread(self, float(self.settings.get("jitter_ms", 40.0)),
                                      float(self.settings.get("drift", 0.0)), int(self.settings.get("seed", 0)))
            self.audio.start()
        self.opened = True
        return list(self.lines.values())

    def close(self) -> None:
        """Forget every far end (and stop the device thread)."""
        self.opened = False
        if self.audio is not None:
            self.audio.close()

    def status(self) -> dict:
        """Lines by far-end state."""
        states = collections.Counter(ln.far.state.value for ln in self.lines.values())
        out = {"device": self.device_name, "driver": "sim", "state": "up" if self.opened else "down",
               "lines": len(self.lines), "far_states": dict(states)}
        if self.audio is not None:
            out["buffers"] = self.audio.status()
        if self.callerid is not None:
            out["callerid"] = self.callerid.status()
        return out

    # ---- frames (called by the media engine once per tick) -----------------------------
    def tick(self) -> None:
        """Advance the far ends' clocks: auto-answers, dialled numbers answering, timed hangups."""
        self.tick_count += 1
        if self.audio is not None:
            self.audio.tick()
        if self.callerid is not None:
            self.callerid.tick()
        for line in list(self._timed):
            try:
                self._tick_line(line)
            except Exception:  # one line's bad state must not stop the others' clocks, nor repeat every tick
                log.exception("event=sim_line_tick_failed line=%s (its timed faults are cleared)", line.name)
                self._timed.discard(line)
                line.far.faults.hangup_after = None

    def _tick_line(self, line: SimLine) -> None:
        far = line.far
        if far.state is FarState.ANSWERING:
            if far.confirm_at_tick is not None and self.tick_count >= far.confirm_at_tick:
                self._timed.discard(line)
                self._confirm(line)
        elif far.state is FarState.RINGING and far.answer_at_tick is not None \
                and self.tick_count >= far.answer_at_tick:
            far.answer_at_tick = None
            self._timed.discard(line)
            self.far_answer(line)
        elif far.state is FarState.CONNECTED and far.faults.hangup_after is not None:
            if self.tick_count >= far.connected_tick + far.faults.hangup_after * 50:
                self._timed.discard(line)
                self.far_hangup(line)
        elif far.state not in (FarState.RINGING, FarState.CONNECTED, FarState.ANSWERING):
            self._timed.discard(line)

    def read_frames(self, lines: list[str], out: np.ndarray) -> None:
        """Fill ``out[i]`` with what the far end of ``lines[i]`` sends this tick."""
        if self.audio is not None:
            self.audio.read_frames(lines, out)
            return
        if self._sending:
            index = {name: i for i, name in enumerate(lines)} if len(self._sending) > 8 else None
            for line in list(self._sending):
                i = index.get(line.name) if index is not None else (
                    lines.index(line.name) if line.name in lines else None)
                if i is None:
                    continue
                self._pull(line, out[i])
        for line in self._noisy:
            if line.name in lines and line.far.state is FarState.CONNECTED:
                self._add_noise(line, out[lines.index(line.name)])

    def _add_noise(self, line: SimLine, dest: np.ndarray) -> None:
        """White noise at the line's fault level added to what its far end sends."""
        level = line.far.faults.noise_dbm0
        if level is None:
            return
        rms = 32767 / np.sqrt(2) * 10 ** ((level - 3.17) / 20)  # 0 dBm0 is 3.17 dB below a full-scale sine
        noise = self.rng.normal(0.0, rms, len(dest))
        dest[:] = np.clip(dest + noise, -32768, 32767).astype(np.int16)

    def set_faults(self, line: SimLine, **changes: object) -> Faults:
        """Change a line's fault switches (never_answer, busy, hangup_after, noise_dbm0); ValueError names a bad
        one and nothing is changed."""
        for key, value in check_faults(changes).items():
            setattr(line.far.faults, key, value)
        if line.far.faults.noise_dbm0 is not None:
            self._noisy.add(line)
        else:
            self._noisy.discard(line)
        if line.far.faults.hangup_after is not None and line.far.state is FarState.CONNECTED:
            self._timed.add(line)
        return line.far.faults

    def _pull(self, line: SimLine, dest: np.ndarray) -> None:
        far = line.far
        if far.hold:
            far.hold_ticks += 1
            if far.hold_ticks >= LIVE_HOLD_TICKS or far.pending:
                far.release_hold()
        pos, want = 0, len(dest)
        while pos < want and far.pending:
            chunk = far.pending[0]
            take = min(want - pos, len(chunk) - far.offset)
            dest[pos:pos + take] = chunk[far.offset:far.offset + take]
            pos += take
            far.offset += take
            if far.offset >= len(chunk):
                far.pending.popleft()
                far.offset = 0
        if not far.pending and not far.hold:
            self._sending.discard(line)

    def write_frames(self, lines: list[str], frames: np.ndarray) -> None:
        """Capture what the box sends to each far end (what the caller hears)."""
        threaded = self.audio is not None
        if threaded:
            self.audio.write_frames(lines, frames)  # heard is captured by the device thread, after transport
        for i, name in enumerate(lines):
            far = self.lines[name].far
            if far.state is not FarState.CONNECTED:
                if far.state in (FarState.CALLING, FarState.ANSWERING):  # a modem would read it as AT commands
                    far.premature_samples += int(np.count_nonzero(frames[i]))
                continue
            if not threaded:
                self._capture(self.lines[name], frames[i])
            for listener in far.listeners:
                listener(frames[i])

    def _capture(self, line: SimLine, samples: np.ndarray) -> None:
        """Keep what the far end heard (bounded by capture_seconds)."""
        far = line.far
        if far.state is FarState.CONNECTED and far.heard_samples < self.capture_samples:
            far.heard.append(samples.copy())
            far.heard_samples += len(samples)

    # ---- far-end actions (what QA makes the caller or agent do) -------------------------
    def far_call(self, line: SimLine, caller_id: str, caller_name: str, dialed: str) -> int:
        """A caller rings the box on this trunk; returns the session number of the call. With caller-ID audio,
        Ringing follows once the receiver decoded it (ValueError, before anything happens, for a caller the
        standard cannot carry); otherwise at once."""
        far = line.far
        if far.state is FarState.DOWN:
            raise RuntimeError(f"line {line.name} is down")
        if self.callerid is not None:
            callerid_audio(caller_id, caller_name, self.callerid.standard)  # refuse before the line is touched
        self._new_session(line, FarState.CALLING)
        self.sink(Seized(line.name))
        if self.callerid is not None:
            self.callerid.start(line, caller_id, caller_name, dialed)
        else:
            self.sink(Ringing(line.name, caller_id=caller_id, caller_name=caller_name, dialed=dialed))
        return far.session

    def _callerid_decoded(self, line: SimLine, session: int, dialed: str, cid: CallerId | None) -> None:
        """The receiver read a call's caller ID (or gave up on it): the box sees the call ring, if it still does."""
        if line.far.session != session or line.far.state is not FarState.CALLING:
            return  # the caller gave up while the caller ID was on the line (HungUp was posted)
        cid = cid or CallerId()
        self.sink(Ringing(line.name, caller_id=cid.number, caller_name=cid.name, dialed=dialed))

    def far_offhook(self, line: SimLine) -> int:
        """A station lifts the handset to dial (an internal or outbound call)."""
        self._new_session(line, FarState.CONNECTED)
        line.far.connected_tick = self.tick_count
        self.sink(OffHook(line.name))
        return line.far.session

    def far_answer(self, line: SimLine) -> None:
        """The far end picks up (a ringing station, or a number the box dialled)."""
        if line.far.state is not FarState.RINGING:
            return
        self._connect(line)
        self.sink(OffHook(line.name) if line.kind is LineKind.STATION else Answered(line.name))

    def far_hangup(self, line: SimLine) -> None:
        """The far end hangs up."""
        far = line.far
        if far.state in (FarState.CALLING, FarState.ANSWERING, FarState.RINGING, FarState.CONNECTED):
            far.ended_by = far.ended_by or "far"
            far.state = FarState.IDLE
            with self.far_lock:
                far.clear_audio()
                self._sending.discard(line)
            self.sink(HungUp(line.name, cause=HangupCause.NORMAL))

    def far_flash(self, line: SimLine) -> None:
        """A station presses hook flash."""
        if line.far.state is FarState.CONNECTED:
            self.sink(Flashed(line.name))

    def far_send(self, line: SimLine, samples: np.ndarray) -> None:
        """Queue audio the far end sends (speech, DTMF tones, silence gaps)."""
        if len(samples):
            with self.far_lock:
                line.far.pending.append(np.asarray(samples, dtype=np.int16))
                self._sending.add(line)

    def far_send_live(self, line: SimLine, samples: np.ndarray) -> None:
        """Queue audio a live far end streams (the media WebSocket): while nothing is queued it is held until
        LIVE_PRIME samples are there (or LIVE_HOLD_TICKS ticks passed), a cushion against a frame that comes a
        little late, which would otherwise be a gap of silence in the middle of what the caller says."""
        if not len(samples):
            return
        with self.far_lock:
            far = line.far
            if far.pending and not far.hold:
                far.pending.append(np.asarray(samples, dtype=np.int16))
            else:
                far.hold.append(np.asarray(samples, dtype=np.int16))
                far.held += len(samples)
                if far.held >= LIVE_PRIME:
                    far.release_hold()
            self._sending.add(line)

    def far_signal_digit(self, line: SimLine, digit: str, duration_ms: float = 80.0) -> None:
        """A digit signalled out of band (as a card with hardware DTMF would report it)."""
        self.sink(DigitReceived(line.name, digit=digit, duration_ms=duration_ms))

    def set_down(self, line: SimLine, down: bool, reason: str = "simulated fault") -> None:
        """Take a line down (a call on it is lost) or bring it back."""
        if down:
            line.far.state = FarState.DOWN
            line.up, line.down_reason = False, reason
            self.sink(LineDown(line.name, reason=reason))
        else:
            line.far.state = FarState.IDLE
            line.up, line.down_reason = True, ""
            self.sink(LineUp(line.name))

    def fail(self, reason: str = "simulated device failure") -> None:
        """The whole card stops working (QA: a USB box unplugged); the daemon closes it and re-opens it."""
        self.sink(DeviceFailed(self.device_name, reason=reason))

    def heard(self, line: SimLine) -> np.ndarray:
        """Everything the far end heard in the current (or last) call on the line."""
        far = line.far
        heard = list(far.heard)  # the device thread may be appending
        return np.concatenate(heard) if heard else np.zeros(0, dtype=np.int16)

    # ---- internals -----------------------------------------------------------------------
    def _new_session(self, line: SimLine, state: FarState) -> None:
        far = line.far
        far.session += 1
        far.state = state
        far.heard = []
        far.heard_samples = 0
        with self.far_lock:
            far.clear_audio()
        far.ended_by = ""
        far.answer_at_tick = far.confirm_at_tick = None
        far.premature_samples = 0
        far.reject_cause = None

    def _answering(self, line: SimLine) -> None:
        if self.confirm_ticks <= 0:
            self._confirm(line)
            return
        line.far.state = FarState.ANSWERING
        line.far.confirm_at_tick = self.tick_count + self.confirm_ticks
        self._timed.add(line)

    def _confirm(self, line: SimLine) -> None:
        line.far.confirm_at_tick = None
        self._connect(line)
        self.sink(AnswerConfirmed(line.name))

    def _connect(self, line: SimLine) -> None:
        far = line.far
        far.state = FarState.CONNECTED
        far.connected_tick = self.tick_count
        if far.faults.hangup_after is not None:
            self._timed.add(line)

    def _ring_far(self, line: SimLine, caller_id: str, dialed: str) -> None:
        far = line.far
        if far.state is FarState.DOWN:
            return
        if far.faults.busy or far.state is not FarState.IDLE:
            self.sink(HungUp(line.name, cause=HangupCause.BUSY))
            return
        self._new_session(line, FarState.RINGING)
        answerer = self.answerers.get(dialed) if line.kind is LineKind.TRUNK else None
        if answerer is not None:
            answerer(line, dialed)
            return
        delay = self.answer_delay if line.kind is LineKind.TRUNK else self.station_auto_answer
        if delay is not None and not far.faults.never_answer:
            far.answer_at_tick = self.tick_count + max(1, int(round(delay * RATE / FRAME_SAMPLES)))
            self._timed.add(line)
