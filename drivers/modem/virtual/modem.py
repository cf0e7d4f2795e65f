"""The virtual V.253 voice modem: command/voice states, audio paced by its own 20 ms clock, DLE both ways.

Transport-free: the pyserial handler and the pty runner move bytes in with
from_dte() and out with read_to_dte(). AT commands live in commands.py.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import numpy as np

from hotline.drivers.modem import dle
from hotline.drivers.modem.codec import VoiceCodec
from hotline.drivers.modem.profiles import ChipsetProfile, HangupSignal, Quirk
import hotline.drivers.modem.virtual.fax2 as fax2
from hotline.drivers.modem.virtual.commands import execute, send_caller_id, step_dial
from hotline.drivers.modem.virtual.far_end import CallState, FarEnd, FarEvent, LineTone
from hotline.drivers.modem.virtual.results import DialPlan, ModemState, Result, Settings

__all__ = ["DialPlan", "ModemState", "Result", "Settings", "VirtualModem"]

log = logging.getLogger("hotline.virtualmodem")

TICK = 0.020
RATE = 8000
TX_LIMIT_SECONDS = 2.0    # the DTE's audio is flow-controlled beyond this much buffered
MAX_LINE = 256            # a longer command line is an ERROR (V.250 allows at least 40)


class VirtualModem:
    """One emulated voice modem on one line; thread-safe; owns a clock thread until shutdown()."""

    def __init__(self, profile: ChipsetProfile, far: FarEnd) -> None:
        self.profile = profile
        self.far = far
        far.modem = self
        self.lock = threading.RLock()
        self._readable = threading.Condition(self.lock)
        self._room = threading.Condition(self.lock)
        self._out = bytearray()
        self._line = bytearray()
        self.plugged = True
        self.generation = 0
        self.stuck_echo = False
        self._stalled_until = 0.0
        self.counters = {"underruns": 0, "commands": 0, "tx_bytes": 0, "rx_bytes": 0}
        self.plug_listeners: list[Callable[[bool], None]] = []   # transports told about unplug (False) / replug
        self._reset_state()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._clock_thread, name=f"virtualmodem-{far.name}", daemon=True)
        self._thread.start()

    # -- lifecycle ------------------------------------------------------------------------------------

    def fax2_answer(self) -> Result:
        """ATA in class 2/2.0: the fax session answers (fax2.py holds the class 2 handlers)."""
        return fax2.answer(self)

    def fax2_dialled(self) -> Result:
        """ATD in class 2/2.0 reached a fax machine."""
        return fax2.dialled(self)
    def _reset_state(self) -> None:
        self.settings = Settings()
        self.fax2 = fax2.Fax2State()
        self.state = ModemState.COMMAND
        self.off_hook = False
        self._decoder = dle.DleDecoder()
        self._tx = bytearray()
        self._tx_ending = False
        self._codec = self._new_codec()
        self._ring_count = 0
        self._ring_next = 0.0
        self._cid_at = 0.0
        self._dial: DialPlan | None = None
        self._vts: list[np.ndarray] = []
        self._voice_seen = False
        self._silent = 0
        self._silence_reported = False
        self._byte_clock = 0.0

    def shutdown(self) -> None:
        """Stop the clock thread (the modem is unusable afterwards)."""
        self._stop.set()
        with self.lock:
            self._readable.notify_all()
            self._room.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    def status(self) -> dict:
        """A snapshot for tests and the pty runner's control socket."""
        with self.lock:
            return {"profile": self.profile.name, "state": self.state.value, "off_hook": self.off_hook,
                    "fclass": self.settings.fclass, "vsm": list(self.vsm), "plugged": self.plugged,
                    "far_state": self.far.state.value, **self.counters}

    # -- byte transport -------------------------------------------------------------------------------
    def from_dte(self, data: bytes) -> None:
        """Bytes the DTE wrote: commands in command state, DLE-shielded audio and codes in voice states."""
        with self.lock:
            if time.monotonic() < self._stalled_until:
                return
            if self.state is ModemState.COMMAND:
                self._command_bytes(data)
            elif self.state is ModemState.DIALING:
                self._end_dial(Result.NO_CARRIER)
            elif self.state in (ModemState.FAX_TX, ModemState.FAX_RX):
                fax2.from_dte(self, data)
            else:
                self._voice_bytes(data)

    def read_to_dte(self, size: int, timeout: float | None) -> bytes:
        """Up to `size` bytes for the DTE, waiting up to `timeout` s (None = forever) for the first one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while not self._out and not self._stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return b""
                self._readable.wait(left if left is not None else 0.5)
            data = bytes(self._out[:size])
            del self._out[:size]
            return data

    def waiting(self) -> int:
        """Bytes ready for the DTE."""
        with self.lock:
            return len(self._out)

    def tx_room(self) -> int:
        """How many more DTE bytes the modem accepts now (flow control: CTS off when 0)."""
        with self.lock:
            if self.state not in (ModemState.VOICE_TX, ModemState.VOICE_DUPLEX):
                return 1 << 16
            return max(0, int(TX_LIMIT_SECONDS * self._codec.bytes_per_second) - len(self._tx))

    def wait_room(self, timeout: float | None) -> bool:
        """Block until tx_room() > 0 (True) or the timeout passes (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            while self.tx_room() == 0 and not self._stop.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._room.wait(left if left is not None else 0.5)
            return True

    def send(self, data: bytes) -> None:
        """Queue bytes for the DTE (dropped while stalled or unplugged)."""
        with self.lock:
            if not self.plugged or time.monotonic() < self._stalled_until:
                return
            self._out += data
            self._readable.notify_all()

    def result(self, result: Result) -> None:
        """Send a final result code in the current V0/V1 and Q settings."""
        if result is Result.NONE or self.settings.quiet:
            return
        text, number = result.value
        self.send(f"\r\n{text}\r\n".encode() if self.settings.verbose else f"{number}\r".encode())

    def info(self, text: str) -> None:
        """Send an information text line (before the final result)."""
        self.send(f"\r\n{text}\r\n".encode() if self.settings.verbose else f"{text}\r\n".encode())

    # -- command state --------------------------------------------------------------------------------
    def _command_bytes(self, data: bytes) -> None:
        s = self.settings.s
        for byte in data:
            if byte == s[3]:
                line = self._line.decode("latin-1")
                self._line.clear()
                if self.settings.echo and not self.stuck_echo:
                    self.send(b"\r")
                self._execute_line(line)
            elif byte == s[5]:
                if self._line:
                    self._line.pop()
                    if self.settings.echo:
                        self.send(b"\x08 \x08")
            elif byte == s[4] or byte == 0:
                continue
            else:
                if self.settings.echo and not self.stuck_echo:
                    self.send(bytes((byte,)))
                if len(self._line) <= MAX_LINE:   # one byte more marks the overflow
                    self._line.append(byte)

    def _execute_line(self, line: str) -> None:
        if self.stuck_echo:
            self.send(line.encode("latin-1") + b"\r\n")
            return
        text = line.strip()
        if not text:
            return
        at = text.upper().find("AT")   # like a real modem, look for the prefix: line noise before it is dropped
        if at < 0:
            log.debug("%s: ignored line %r", self.far.name, text)
            return
        if at:
            log.debug("%s: dropped %r before AT", self.far.name, text[:at])
            text = text[at:]
        self.counters["commands"] += 1
        try:
            result = Result.ERROR if len(line) > MAX_LINE else execute(self, text[2:])
        except Exception:  # noqa: BLE001 - a command the handlers did not foresee is an ERROR, never a dead modem
            log.exception("%s: command %r failed", self.far.name, text)
            result = Result.ERROR
        self.result(result)

    # -- voice data states ----------------------------------------------------------------------------
    def _voice_bytes(self, data: bytes) -> None:
        for part in self._decoder.feed(data):
            if isinstance(part, bytes):
                if self.state in (ModemState.VOICE_TX, ModemState.VOICE_DUPLEX) and not self._tx_ending:
                    self._tx += part
                continue
            kind = part.kind
            if kind is dle.DleKind.END_OF_STREAM:
                if self.state is ModemState.VOICE_RX:
                    continue
                self._tx_ending = True
            elif kind is dle.DleKind.CLEAR_BUFFER:
                self._tx.clear()
            elif kind is dle.DleKind.ABORT:
                self._tx.clear()
                self._tx_ending = False
                self._end_voice()

    def _end_voice(self) -> None:
        """Leave a voice data state: DLE ETX after receive, then OK; back to online voice command state."""
        if self.state in (ModemState.VOICE_RX, ModemState.VOICE_DUPLEX):
            self.send(dle.dle(dle.ETX))
        self.state = ModemState.COMMAND
        self._decoder.reset()
        self.result(Result.OK)
        self._room.notify_all()

    def start_voice(self, state: ModemState) -> None:
        """Enter +VTX/+VRX/+VTR after CONNECT has been sent."""
        self.state = state
        self._codec = self._new_codec()
        self._decoder.reset()
        self._tx.clear()
        self._tx_ending = False
        self._voice_seen, self._silent, self._silence_reported = False, 0, False

    @property
    def vsm(self) -> tuple[int, int]:
        """The selected (+VSM code, sample rate)."""
        code, rate = self.settings.vsm
        return (code, rate) if code else (self.profile.preferred, self.profile.preferred_rate)

    def _new_codec(self) -> VoiceCodec:
        code, rate = self.vsm
        return VoiceCodec(self.profile.format(code).encoding, rate)

    # -- the line -------------------------------------------------------------------------------------
    def go_off_hook(self) -> bool:
        """Take the line; answers a ringing call (True when a call was answered)."""
        self.off_hook = True
        if self.far.state is CallState.RINGING:
            self._ring_count = 0
            self.far.on_answered()
            return True
        return False

    def go_on_hook(self) -> None:
        """Hang up: end any voice state and dialing; the far end's call ends."""
        if self.state is not ModemState.COMMAND:
            self.state = ModemState.COMMAND
        self._dial = None
        self.off_hook = False
        self.fax2.end_call()
        self.settings.vls = 0
        self._tx.clear()
        self._vts.clear()
        self.far.on_hook()

    def begin_dial(self, plan: DialPlan) -> None:
        """Start an ATD; the clock runs its steps."""
        self.off_hook = True
        plan.started = plan.step_started = time.monotonic()
        self._dial = plan
        self.state = ModemState.DIALING

    def _end_dial(self, result: Result) -> None:
        self._dial = None
        self.state = ModemState.COMMAND
        if result is not Result.VCON:
            self.off_hook = result is not Result.NO_CARRIER and self.off_hook
        self.result(result)

    def queue_vts(self, pcm: np.ndarray) -> None:
        """Play a +VTS tone to the line; OK follows when it has played."""
        self._vts.append(pcm)

    def far_hung_up(self) -> None:
        """Called by the far end: signal the hang-up the way this chipset does."""
        with self.lock:
            signal = self.profile.hangup_signal
            if signal is HangupSignal.NO_CARRIER:
                self.fault_no_carrier()
                return
            if signal is HangupSignal.LOOP_BREAK and self.off_hook and self.settings.fclass == "8":
                self.send(dle.dle("l"))
            self.far.put_tone(LineTone.BUSY)

    # -- faults ---------------------------------------------------------------------------------------
    def fault_no_carrier(self) -> None:
        """NO CARRIER now: end a voice state (DLE ETX first when receiving) and drop the line."""
        with self.lock:
            if self.state in (ModemState.VOICE_RX, ModemState.VOICE_DUPLEX):
                self.send(dle.dle(dle.ETX))
            self.go_on_hook()
            self.result(Result.NO_CARRIER)

    def fault_garbage(self, data: bytes) -> None:
        """Emit raw bytes to the DTE."""
        self.send(bytes(data))

    def fault_unplug(self) -> None:
        """Vanish: the transport raises on every read and write until replug() (a pty runner closes its pty)."""
        with self.lock:
            self.plugged = False
            self.go_on_hook()
            self._out.clear()
            self._readable.notify_all()
            self._room.notify_all()
        self._tell_transports(False)

    def fault_replug(self) -> None:
        """Come back reset to power-on state; ports opened before the unplug stay dead."""
        with self.lock:
            self._reset_state()
            self.generation += 1
            self.plugged = True
        self._tell_transports(True)

    def _tell_transports(self, plugged: bool) -> None:
        for listener in list(self.plug_listeners):  # outside our lock: a transport takes its own locks
            try:
                listener(plugged)
            except Exception:  # noqa: BLE001 - a transport's failure must not stop the fault switch
                log.exception("%s: transport failed on %s", self.far.name, "replug" if plugged else "unplug")

    def fault_stall(self, seconds: float) -> None:
        """Answer nothing for `seconds`."""
        with self.lock:
            self._stalled_until = time.monotonic() + seconds

    # -- the clock ------------------------------------------------------------------------------------
    def _clock_thread(self) -> None:
        start = time.monotonic()
        done = 0
        while not self._stop.wait(max(0.0, start + (done + 160) / RATE - time.monotonic())):
            due = int((time.monotonic() - start) * RATE) - done
            if due <= 0:
                continue
            if due > RATE:            # the process was stopped: skip, do not burst
                done += due - 160
                due = 160
            try:
                with self.lock:
                    self._step(due)
            except Exception:  # noqa: BLE001 - a bug here must not kill the line silently
                log.exception("%s: virtual modem clock step failed", self.far.name)
            done += due

    def _step(self, n: int) -> None:
        now = time.monotonic()
        if not self.plugged:
            return
        self._step_ringing(now)
        if self.fax2.due:
            fax2.step(self, now)
        if self._dial is not None:
            step_dial(self, now)
        connected = self.far.state in (CallState.CONNECTED, CallState.HUNG_UP) and self.off_hook
        pcm, events = self.far.pull(n, voice=connected and self.state in (
            ModemState.VOICE_RX, ModemState.VOICE_TX, ModemState.VOICE_DUPLEX))
        if connected:
            self._step_tx(n)
            if self.state in (ModemState.VOICE_RX, ModemState.VOICE_DUPLEX):
                self._step_rx(pcm)
        if self.off_hook and self.settings.fclass == "8" and self.state is not ModemState.DIALING:
            for event in events:
                self._report(event)
        if self._tx_ending and not self._tx:
            self._tx_ending = False
            if self.state is ModemState.VOICE_DUPLEX:
                self.state = ModemState.VOICE_RX
            elif self.state is ModemState.VOICE_TX:
                self._end_voice()

    def _step_ringing(self, now: float) -> None:
        call = self.far.incoming
        if call is None or self.far.state is not CallState.RINGING or self.off_hook:
            self._ring_count = 0
            return
        if self._ring_count == 0 or now >= self._ring_next:
            if self._ring_count >= call.rings:
                self._ring_count = 0
                self.far.on_missed()
                return
            self._ring_count += 1
            self._ring_next = now + call.period
            self._cid_at = now + min(2.5, call.period * 0.45) if self._ring_count == 1 else 0.0
            self.result(Result.RING)
            auto = self.settings.s.get(0, 0)
            if auto and self._ring_count >= auto:
                if fax2.is_fax(self):
                    self.result(fax2.answer(self))
                else:
                    self.go_off_hook()
                    self.result(Result.VCON if self.settings.fclass == "8" else Result.CONNECT)
        elif self._cid_at and now >= self._cid_at:
            self._cid_at = 0.0
            if self.settings.caller_id:
                send_caller_id(self, call)

    def _step_tx(self, n: int) -> None:
        played = np.zeros(n, dtype=np.int16)
        if self.state in (ModemState.VOICE_TX, ModemState.VOICE_DUPLEX):
            self._byte_clock += n * self._codec.bytes_per_second / RATE
            want = int(self._byte_clock)
            self._byte_clock -= want
            chunk = bytes(self._tx[:want])
            del self._tx[:want]
            self._room.notify_all()
            self.counters["tx_bytes"] += len(chunk)
            if len(chunk) < want and not self._tx_ending:
                self.counters["underruns"] += 1
            audio = self._codec.decode(chunk)[:n]
            played[:audio.size] = audio
        if self._vts:
            tone = self._vts[0]
            take = min(n, tone.size)
            played[:take] = np.clip(played[:take].astype(np.int32) + tone[:take], -32768, 32767)
            self._vts[0] = tone[take:]
            if not self._vts[0].size:
                self._vts.pop(0)
                self.result(Result.OK)
        self.far.record_heard(played)

    def _step_rx(self, pcm: np.ndarray) -> None:
        data = self._codec.encode(pcm)
        self.counters["rx_bytes"] += len(data)
        self.send(dle.shield(data))
        self._detect_silence(pcm)

    def _detect_silence(self, pcm: np.ndarray) -> None:
        """DLE q (voice, then silence) or DLE s (no voice at all) after the +VSD interval."""
        loud = pcm.size and int(np.abs(pcm.astype(np.int32)).max()) > 600
        if loud:
            self._voice_seen, self._silent, self._silence_reported = True, 0, False
            return
        self._silent += pcm.size
        interval = self.settings.vsd[1]
        if interval and not self._silence_reported and self._silent >= interval * RATE // 10:
            self._silence_reported = True
            silence_only = bool(self.profile.quirks & Quirk.SILENCE_ONLY)
            self.send(dle.dle("q" if self._voice_seen and not silence_only else "s"))

    def _report(self, event: FarEvent) -> None:
        if event.code == "dtmf_start":
            self.send((dle.dle("/") if self.profile.dtmf_shielded else b"") + dle.dle(event.digit or "0"))
        elif event.code == "dtmf_end":
            if self.profile.dtmf_shielded:
                self.send(dle.dle("~"))
        else:
            self.send(dle.dle(event.code))
