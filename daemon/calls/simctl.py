"""QA control of the simulated card's far end: callers and agent phones as a person would use them."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import numpy as np

from hotline.drivers.base import LineKind
from hotline.drivers.sim.card import FarState, SimCard, SimLine, check_faults

from hotline.drivers.common.tones import dtmf_freqs, dtmf_tone

from ..media.wavio import parse_wav, to_mono_8k
from .simerrors import SimCallRefused, SimError
from .text import check_text


@dataclass
class SimCall:
    """A call QA placed, tied to the box's call uuid."""

    id: str
    line: SimLine
    card: SimCard
    session: int
    heard: np.ndarray | None = None  # kept once the call on the line is over


def digits_audio(digits: str, tone_ms: float = 80, gap_ms: float = 80, level_dbm0: float = -10.0,
                 twist_db: float = 0.0, freq_offset: float = 0.0) -> np.ndarray:
    """Real DTMF audio for a string of keys, with silence between them."""
    parts = []
    gap = np.zeros(int(round(gap_ms * 8)), dtype=np.int16)
    for d in digits:
        parts.append(dtmf_tone(d, tone_ms, level_dbm0=level_dbm0, twist_db=twist_db, freq_offset=freq_offset))
        parts.append(gap)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def check_digits(digits: Any) -> str:
    """Validate a DTMF string from a request."""
    if not isinstance(digits, str) or not digits:
        raise SimError("digits must be a non-empty string of 0-9 * # A-D")
    for d in digits:
        try:
            dtmf_freqs(d)
        except ValueError:
            raise SimError(f"digits: {d!r} is not a DTMF key (0-9 * # A-D)") from None
    if len(digits) > 64:
        raise SimError("digits: at most 64 keys at once")
    return digits.upper()


def check_key_timing(tone_ms: Any, gap_ms: Any, level_dbm0: Any, twist_db: Any, freq_offset: Any) -> None:
    """Validate the tone parameters of a DTMF request."""
    for name, value, lo, hi in (("tone_ms", tone_ms, 10, 2000), ("gap_ms", gap_ms, 0, 5000),
                                ("level_dbm0", level_dbm0, -60, 3), ("twist_db", twist_db, -20, 20),
                                ("freq_offset", freq_offset, -0.1, 0.1)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
            raise SimError(f"{name}: expected a number from {lo} to {hi}")


class SimControl:
    """The far end of every simulated line, driven by the QA API and CLI."""

    def __init__(self, devices: Any, calls: Any, engine: Any):
        self.devices = devices
        self.calls = calls
        self.engine = engine
        self.sim_calls: dict[str, SimCall] = {}
        calls.on_call_ended.append(self._call_ended)
        from .modemqa import ModemQa
        self.modems = ModemQa(devices, calls)  # virtual modem lines answer the same per-call requests

    def _cards(self) -> list[SimCard]:
        return [d.driver for d in self.devices.devices.values()
                if isinstance(d.driver, SimCard) and d.state == "up"]

    def line_names(self) -> list[str]:
        """Every line of the simulated cards (for the QA console)."""
        return sorted(name for card in self._cards() for name in card.lines)

    def _line(self, name: str) -> tuple[SimCard, SimLine]:
        for card in self._cards():
            if name in card.lines:
                return card, card.lines[name]
        raise SimError(f"no simulated line {name!r}", 404)

    def _station(self, ext: str) -> tuple[SimCard, SimLine]:
        for card in self._cards():
            if ext in card.by_extension:
                return card, card.by_extension[ext]
        raise SimError(f"no simulated station with extension {ext!r}", 404)

    # ---- callers -------------------------------------------------------------------------------
    async def ring(self, caller: str, name: str = "", to: str = "", line: str | None = None) -> Any:
        """POST /sim/calls: a caller rings in on a free simulated trunk, or on the named line, which may be a
        virtual modem line (then once the box has taken the call: caller ID comes after the first RING)."""
        if line and self.modems.is_modem_line(line):
            self._check_caller(caller, name, to, line)
            return await self.modems.place_call(caller, name, to, line)
        return await self.place_call_async(caller, name, to, line)

    def place_call(self, caller: str, name: str = "", to: str = "", line: str | None = None) -> SimCall:
        """A caller rings in on a free trunk (or the named one); the box takes or refuses the call at once. Cards
        that send caller-ID audio ring only once it is decoded: use ``place_call_async`` for them."""
        self._check_caller(caller, name, to, line)
        card, ln = self._free_trunk(line)
        if card.callerid is not None:
            raise SimError(f"{card.device_name} sends caller-ID audio (callerid_audio: true): its calls ring only "
                           "once the box decoded it; place them with POST /api/v1/sim/calls", 409)
        return self._placed(card, ln, self._ring_in(card, ln, caller, name, to))

    async def place_call_async(self, caller: str, name: str = "", to: str = "", line: str | None = None) -> SimCall:
        """``place_call`` for every card: with caller-ID audio, waits (at most 10 s of media time) until the box
        decoded the caller and took or refused the call."""
        self._check_caller(caller, name, to, line)
        card, ln = self._free_trunk(line)
        session = self._ring_in(card, ln, caller, name, to)
        if card.callerid is not None:
            deadline = self.engine.ticks + 500
            while card.callerid.pending(ln) and ln.name not in self.calls.owner and self.engine.ticks < deadline:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0)  # Ringing crosses into the loop with call_soon when posted from a device thread
        return self._placed(card, ln, session)

    def _free_trunk(self, line: str | None) -> tuple[SimCard, SimLine]:
        if line:
            card, ln = self._line(line)
            if ln.kind is not LineKind.TRUNK or ln.far.state is not FarState.IDLE or ln.name in self.devices.busy:
                raise SimError(f"line {line} is not a free trunk", 409)
            return card, ln
        free = [(c, ln) for c in self._cards() for ln in c.lines.values()
                if ln.kind is LineKind.TRUNK and ln.far.state is FarState.IDLE and ln.name not in self.devices.busy]
        if not free:
            raise SimError("every simulated trunk is busy", 409)
        return free[0]

    @staticmethod
    def _check_caller(caller: Any, name: str, to: str, line: str | None) -> None:
        """What QA gave for a new call, checked before any line is touched."""
        if not isinstance(caller, str) or not caller or len(caller) > 32:
            raise SimError("from: a caller number of 1-32 characters is required")
        try:  # what the box journals must be storable: refuse invalid Unicode here, naming the field
            for field, value in (("from", caller), ("name", name), ("to", to), ("line", line)):
                check_text(value, field)
        except ValueError as exc:
            raise SimError(str(exc)) from None
        if len(name or "") > 64 or len(to or "") > 32:
            raise SimError("name: at most 64 characters" if len(name or "") > 64 else "to: at most 32 characters")

    def _ring_in(self, card: SimCard, ln: SimLine, caller: str, name: str, to: str) -> int:
        """Ring the box from the far end of ``ln``; the far end's session number."""
        try:
            return card.far_call(ln, caller, name or "", to or "")
        except ValueError as exc:  # a caller the card's caller-ID standard cannot carry
            raise SimError(f"from: {exc}") from None

    def _placed(self, card: SimCard, ln: SimLine, session: int) -> SimCall:
        """The QA call for a caller that rang: the box's call, or SimCallRefused."""
        leg = self.calls.owner.get(ln.name)
        call_id = leg.call.uuid if leg is not None else self._refused_uuid(ln.name)
        sc = SimCall(call_id, ln, card, session)
        self.sim_calls[call_id] = sc
        if len(self.sim_calls) > 5000:
            self.sim_calls.pop(next(iter(self.sim_calls)))
        if leg is None:
            raise SimCallRefused(call_id, ln.name, self.calls.refused.get(call_id, "refused"))
        return sc

    def _refused_uuid(self, line: str) -> str:
        for uuid, summary in reversed(list(self.calls.finished.items())):
            if summary.get("line") == line:
                return uuid
        raise SimError("the box did not take the call", 503)

    def get(self, call_id: str) -> Any:
        """A QA call by id (a SimCall, or a ModemCall on a virtual modem line)."""
        sc = self.sim_calls.get(call_id) or self.modems.modem_calls.get(call_id)
        if sc is None:
            raise SimError(f"no simulated call {call_id!r}", 404)
        return sc

    def _live(self, sc: SimCall) -> None:
        if sc.heard is not None or sc.line.far.session != sc.session or sc.line.far.state in (
                FarState.IDLE, FarState.DOWN):
            raise SimError("the call has ended", 409)

    def state(self, call_id: str) -> dict:
        """The box's view of the call plus the far end's."""
        sc = self.get(call_id)
        if call_id in self.modems.modem_calls:
            return self.modems.state(sc)
        call = self.calls.calls.get(call_id)
        summary = call.summary() if call is not None else self.calls.finished.get(call_id, {})
        return {"id": call_id, "line": sc.line.name, "state": summary.get("state", "ended"),
                "cause": summary.get("cause"), "call": summary,
                "far_end": "ended" if sc.heard is not None else sc.line.far.state.value}

    def send_dtmf(self, call_id: str, digits: Any, mode: str = "inband", tone_ms: float = 80,
                  gap_ms: float = 80, level_dbm0: float = -10.0, twist_db: float = 0.0,
                  freq_offset: float = 0.0) -> float:
        """The caller presses keys: real audio (inband) or signalled; returns seconds it takes."""
        sc = self.get(call_id)
        if call_id in self.modems.modem_calls:
            check_key_timing(tone_ms, gap_ms, level_dbm0, twist_db, freq_offset)
            return self.modems.send_dtmf(sc, check_digits(digits), mode, tone_ms, gap_ms, level_dbm0, twist_db,
                                         freq_offset)
        self._live(sc)
        return self._keys(sc.card, sc.line, digits, mode, tone_ms, gap_ms, level_dbm0, twist_db, freq_offset)

    def _keys(self, card: SimCard, line: SimLine, digits: Any, mode: str, tone_ms: float, gap_ms: float,
              level_dbm0: float, twist_db: float, freq_offset: float) -> float:
        digits = check_digits(digits)
        check_key_timing(tone_ms, gap_ms, level_dbm0, twist_db, freq_offset)
        if mode == "inband":
            card.far_send(line, digits_audio(digits, tone_ms, gap_ms, level_dbm0, twist_db, freq_offset))
        elif mode == "signal":
            for d in digits:
                card.far_signal_digit(line, d, tone_ms)
        else:
            raise SimError("mode: expected 'inband' or 'signal'")
        return len(digits) * (tone_ms + gap_ms) / 1000.0

    def send_audio(self, call_id: str, wav: bytes) -> float:
        """The caller speaks a WAV (any rate and channels); returns its length in seconds (blocking: from the
        event loop, decode with decode_audio in a thread and send with send_samples)."""
        self.get(call_id)
        samples = decode_audio(wav)
        self.send_samples(call_id, samples)
        return len(samples) / 8000.0

    def send_samples(self, call_id: str, samples: np.ndarray) -> None:
        """Raw 8 kHz samples from a live media connection (or a decoded WAV)."""
        sc = self.get(call_id)
        if call_id in self.modems.modem_calls:
            return self.modems.send_samples(sc, samples)
        self._live(sc)
        sc.card.far_send_live(sc.line, samples)

    def heard(self, call_id: str) -> np.ndarray:
        """Everything the caller has heard so far (or in the whole call, once ended)."""
        sc = self.get(call_id)
        if call_id in self.modems.modem_calls:
            return self.modems.heard(sc)
        if sc.heard is not None:
            return sc.heard
        return sc.card.heard(sc.line)

    def hangup(self, call_id: str) -> None:
        """The caller hangs up."""
        sc = self.get(call_id)
        if call_id in self.modems.modem_calls:
            return self.modems.hangup(sc)
        self._live(sc)
        sc.card.far_hangup(sc.line)

    def add_listener(self, call_id: str, fn: Any) -> None:
        """Receive every frame the caller hears (live media; not on modem lines)."""
        sc = self.get(call_id)
        if call_id in self.modems.modem_calls:
            raise SimError("live media is not available on a modem line: use heard.wav and audio", 409)
        sc.line.far.listeners.append(fn)

    def remove_listener(self, call_id: str, fn: Any) -> None:
        """Stop receiving frames."""
        sc = self.sim_calls.get(call_id)
        if sc is not None and fn in sc.line.far.listeners:
            sc.line.far.listeners.remove(fn)

    def _call_ended(self, call: Any) -> None:
        sc = self.sim_calls.get(call.uuid)
        if sc is not None and sc.heard is None:
            sc.heard = sc.card.heard(sc.line)

    # ---- stations (agent phones) ------------------------------------------------------------------
    def stations(self) -> list[dict]:
        """Every simulated station and what it is doing."""
        out = []
        for card in self._cards():
            for ext, ln in sorted(card.by_extension.items()):
                leg = self.calls.owner.get(ln.name)
                out.append({"extension": ext, "line": ln.name, "state": ln.far.state.value, "up": ln.up,
                            "call": leg.call.uuid if leg is not None else None, "lamp": ln.lamp})
        return out

    def station_answer(self, ext: str) -> None:
        """The agent picks up a ringing phone."""
        card, ln = self._station(ext)
        if ln.far.state is not FarState.RINGING:
            raise SimError(f"station {ext} is not ringing", 409)
        card.far_answer(ln)

    def station_hangup(self, ext: str) -> None:
        """The agent hangs up."""
        card, ln = self._station(ext)
        if ln.far.state not in (FarState.CONNECTED, FarState.RINGING):
            raise SimError(f"station {ext} is on hook", 409)
        card.far_hangup(ln)

    def station_dtmf(self, ext: str, digits: Any, mode: str = "inband", tone_ms: float = 80,
                     gap_ms: float = 80) -> float:
        """The agent presses keys on the phone."""
        card, ln = self._station(ext)
        if ln.far.state is not FarState.CONNECTED:
            raise SimError(f"station {ext} is on hook", 409)
        return self._keys(card, ln, digits, mode, tone_ms, gap_ms, -10.0, 0.0, 0.0)

    async def station_dial(self, ext: str, number: Any) -> str:
        """Idle phone: lift and dial (internal/outside call). In a call: flash and dial (blind transfer)."""
        card, ln = self._station(ext)
        check_digits(number)
        if ln.far.state is FarState.CONNECTED:
            card.far_flash(ln)
            action = "transfer"
        elif ln.far.state is FarState.IDLE:
            card.far_offhook(ln)
            action = "call"
        else:
            raise SimError(f"station {ext} is {ln.far.state.value}", 409)
        await self.engine.sleep(0.3)  # the dial tone starts before the first key
        card.far_send(ln, digits_audio(number) if len(number) else np.zeros(0, np.int16))
        return action

    def station_heard(self, ext: str) -> np.ndarray:
        """What a phone heard in its current (or last) call."""
        card, ln = self._station(ext)
        return card.heard(ln)

    def station_send(self, ext: str, samples: np.ndarray) -> None:
        """The agent speaks (raw samples), e.g. for audio-path tests."""
        card, ln = self._station(ext)
        if ln.far.state is not FarState.CONNECTED:
            raise SimError(f"station {ext} is on hook", 409)
        card.far_send(ln, samples)

    def station_flash(self, ext: str) -> None:
        """The agent presses hook flash."""
        card, ln = self._station(ext)
        if ln.far.state is not FarState.CONNECTED:
            raise SimError(f"station {ext} is on hook", 409)
        card.far_flash(ln)

    def set_faults(self, line: str, changes: dict) -> dict:
        """Flip a line's fault switches: down, never_answer, busy, hangup_after, noise_dbm0 (a virtual modem line:
        its emulator's switches)."""
        if self.modems.is_modem_line(line):
            return self.modems.set_faults(line, changes)
        card, ln = self._line(line)
        changes = dict(changes)
        down = changes.pop("down", None)
        if down is not None and not isinstance(down, bool):
            raise SimError("down: expected true or false")
        try:
            checked = check_faults(changes)  # everything is checked before anything changes
        except ValueError as exc:
            raise SimError(str(exc).replace("known: ", "known: down, ")) from None
        if down is not None:
            card.set_down(ln, down)
        faults = card.set_faults(ln, **checked)
        return {"line": ln.name, "up": ln.up, **faults.__dict__}


MAX_AUDIO_SECONDS = 600.0  # what a QA caller or agent may say in one request


def decode_audio(wav: bytes) -> np.ndarray:
    """A posted WAV as 8 kHz mono samples (bounded rate, channels and length); SimError when it is refused.
    CPU-bound: call it off the event loop."""
    try:
        return to_mono_8k(parse_wav(wav, "request body", MAX_AUDIO_SECONDS))
    except ValueError as exc:
        raise SimError(f"audio: {exc}") from None


async def wait_for_state(ctl: SimControl, call_id: str, state: str, timeout: float = 10.0) -> dict:
    """Poll a QA call until it reaches a state (tests and the CLI)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        st = ctl.state(call_id)
        if st["state"] == state or loop.time() > deadline:
            return st
        await asyncio.sleep(0.02)
