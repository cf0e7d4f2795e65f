"""The far end of a virtual modem's phone line, scripted from Python: ring, talk, press keys, hang up, break things.

The modem's clock pulls the far end's audio (pull()) and tells it about the
call (on_* methods); tests call the public methods from any thread.
"""
from __future__ import annotations

import threading
import time
import wave
from collections import deque
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np

from hotline.drivers.common.resample import resample
from hotline.drivers.common.tones import ToneName, ToneSpec, dtmf_tone, get_profile

RATE = 8000
DTMF_ON_MS = 100
DTMF_OFF_MS = 100
CNG = ToneSpec((1100.0,), -10.0, (500, 3000))   # T.30 calling tone


class CallState(Enum):
    """Where the far end's call stands."""

    IDLE = "idle"
    RINGING = "ringing"          # the far end rings the modem
    CALLED = "called"            # the modem dialled the far end, not answered yet
    CONNECTED = "connected"
    HUNG_UP = "hung_up"          # the far end hung up; the modem may still be off hook


class LineTone(Enum):
    """Call-progress tones the far end's exchange can put on the line; the modem reports them as DLE codes."""

    NONE = "none"
    DIAL = "dial"
    BUSY = "busy"
    CNG = "cng"


@dataclass
class IncomingCall:
    """A call ringing the modem: caller ID fields and how many rings before the caller gives up."""

    number: str | None
    name: str | None
    rings: int
    period: float


@dataclass
class FarEvent:
    """Something the modem's detectors notice on the line this frame (a DLE letter, or DTMF start/end)."""

    code: str            # 'dtmf_start', 'dtmf_end', or a DLE letter such as 'b', 'c', 'd'
    digit: str | None = None


class FarEnd:
    """The scripted telephone at the other end of a virtual modem's line."""

    def __init__(self, name: str, country: str = "CN") -> None:
        self.name = name
        self.tones = get_profile(country)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self.state = CallState.IDLE
        self.incoming: IncomingCall | None = None
        self.dialled: list[str] = []
        self.flashes = 0
        self.missed = 0
        self._speech: deque[np.ndarray] = deque()
        self._dtmf: deque[tuple[str, int, int]] = deque()  # digit, samples of tone, samples of gap after
        self._dtmf_pos = 0
        self._dtmf_live: str | None = None
        self._tone = LineTone.NONE
        self._tone_pos = 0
        self._next_report = 0
        self._audio_started = False        # keys and speech wait until the modem carries the call's audio
        self._heard: list[np.ndarray] = []
        self._heard_len = 0
        self.busy_on_dial = False          # answer the modem's next ATD with busy tone
        self.dial_tone_present = True      # ATDW waits for this
        self.answered_at: float | None = None
        self.modem = None                  # set by VirtualModem (faults are switched on it)
        self.fax = None                    # a FarFax (far_fax.py): a fax machine answers, or calls with pages

    # -- scripting API --------------------------------------------------------------------------------
    def ring(self, caller_id: str | None = "5551234", name: str | None = None, rings: int = 10,
             period: float = 6.0) -> None:
        """Ring the modem: RING every `period` s, caller ID between the 1st and 2nd RING.

        caller_id/name "P" = withheld (private), "O" = unavailable (out of area); None sends no such line.
        """
        with self._lock:
            self.incoming = IncomingCall(caller_id, name, rings, period)
            self.state = CallState.RINGING
            self._changed.notify_all()

    def answer(self) -> None:
        """Pick up a call the modem dialled (the modem reports VCON)."""
        with self._lock:
            if self.state is CallState.CALLED:
                self._set_connected()

    def send_dtmf(self, digits: str, on_ms: int = DTMF_ON_MS, off_ms: int = DTMF_OFF_MS) -> None:
        """Press keys: real DTMF tones in the audio, reported by the modem as DLE events at the tone edges.

        Keys (and speech) queued before the call's audio flows (ringing, or answered but the modem not yet
        in +VRX/+VTX/+VTR) wait for it, then all are sent in order; a call that ends drops them."""
        with self._lock:
            for digit in digits:
                self._dtmf.append((digit, on_ms * RATE // 1000, off_ms * RATE // 1000))

    def speak(self, audio: np.ndarray | str | Path) -> float:
        """Queue speech: pcm16 at 8 kHz, or a 16-bit PCM WAV file (any rate, mono or stereo). Returns seconds."""
        pcm = _read_wav(Path(audio)) if isinstance(audio, (str, Path)) else np.asarray(audio, dtype=np.int16)
        with self._lock:
            self._speech.append(pcm.copy())
        return pcm.size / RATE

    def silence(self) -> None:
        """Go quiet: drop queued speech, keys and line tones."""
        with self._lock:
            self._speech.clear()
            self._dtmf.clear()
            self._dtmf_pos = 0
            self._tone = LineTone.NONE

    def busy_tone(self) -> None:
        """Put busy tone on the line (also makes the modem's next ATD report BUSY)."""
        with self._lock:
            self.busy_on_dial = True
            self._set_tone(LineTone.BUSY)

    def dial_tone(self) -> None:
        """Put dial tone on the line."""
        with self._lock:
            self.dial_tone_present = True
            self._set_tone(LineTone.DIAL)

    def cng(self) -> None:
        """Play the fax calling tone (1,100 Hz, 0.5 s every 3.5 s)."""
        with self._lock:
            self._set_tone(LineTone.CNG)

    def hangup(self) -> None:
        """Hang up; the modem learns it as its profile says (NO CARRIER, loop break, or only busy tone)."""
        tell_modem = False
        with self._lock:
            if self.state is CallState.RINGING:
                self._drop_queued()
                self.incoming = None
                self.state = CallState.IDLE
            elif self.state in (CallState.CONNECTED, CallState.CALLED):
                self.state = CallState.HUNG_UP
                self._speech.clear()
                self._dtmf.clear()
                self._dtmf_pos = 0
                tell_modem = self.modem is not None
            self._changed.notify_all()
        if tell_modem:  # outside our lock: the modem's clock takes its lock, then ours
            self.modem.far_hung_up()

    def heard(self, clear: bool = False) -> np.ndarray:
        """Everything the box played to this line since the call was answered (pcm16, 8 kHz, real time)."""
        with self._lock:
            out = np.concatenate(self._heard) if self._heard else np.zeros(0, dtype=np.int16)
            if clear:
                self._heard, self._heard_len = [], 0
            return out

    def heard_seconds(self) -> float:
        """Seconds of call time recorded in heard() so far."""
        with self._lock:
            return self._heard_len / RATE

    def wait_for(self, state: CallState, timeout: float) -> bool:
        """Block until the call reaches `state` (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.state is not state:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def wait_dialled(self, timeout: float) -> str | None:
        """Block until the modem dials this line; return the digits dialled (None on timeout)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self.dialled:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
            return self.dialled[-1]

    @property
    def speaking(self) -> bool:
        """True while queued speech or keys remain to be played."""
        with self._lock:
            return bool(self._speech or self._dtmf)

    # -- fault switches (forwarded to the modem) -------------------------------------------------------
    def no_carrier(self) -> None:
        """The modem reports NO CARRIER and drops the line, whatever its profile."""
        self._modem().fault_no_carrier()

    def garbage(self, data: bytes) -> None:
        """The modem emits these bytes to the box right now."""
        self._modem().fault_garbage(data)

    def unplug(self) -> None:
        """The device vanishes: reads/writes raise SerialException, reopening fails until replug()."""
        self._modem().fault_unplug()

    def replug(self) -> None:
        """The device comes back, reset to power-on state."""
        self._modem().fault_replug()

    def stall(self, seconds: float) -> None:
        """The modem stops answering (no output, input ignored) for `seconds`."""
        self._modem().fault_stall(seconds)

    @property
    def stuck_echo(self) -> bool:
        """When True the modem echoes every command line and never answers it."""
        return self._modem().stuck_echo

    @stuck_echo.setter
    def stuck_echo(self, value: bool) -> None:
        self._modem().stuck_echo = bool(value)

    # -- called by the modem (under the modem's clock) -------------------------------------------------
    def _modem(self):
        if self.modem is None:
            raise RuntimeError(f"far end {self.name}: no modem is attached (open virtualmodem://...?name={self.name})")
        return self.modem

    def _set_connected(self) -> None:
        self.state = CallState.CONNECTED
        self.answered_at = time.monotonic()
        self.incoming = None
        self._audio_started = False
        self._heard, self._heard_len = [], 0
        if self._tone is not LineTone.CNG:
            self._tone = LineTone.NONE
        self._changed.notify_all()

    def put_tone(self, tone: LineTone) -> None:
        """Put a line tone on (used by the modem after a hang-up)."""
        with self._lock:
            self._set_tone(tone)

    def _set_tone(self, tone: LineTone) -> None:
        self._tone, self._tone_pos, self._next_report = tone, 0, 0

    def on_answered(self) -> None:
        """The modem went off hook on the ringing call."""
        with self._lock:
            if self.state is CallState.RINGING:
                self._set_connected()

    def on_dialled(self, number: str) -> None:
        """The modem dialled `number` on this line."""
        with self._lock:
            self.dialled.append(number)
            self.state = CallState.CALLED
            if self.fax is not None and not self.busy_on_dial:   # a fax machine answers at once
                self._set_connected()
            self._changed.notify_all()

    def on_flash(self) -> None:
        """The modem flashed the hook."""
        with self._lock:
            self.flashes += 1

    def on_missed(self) -> None:
        """The caller gave up after its rings."""
        with self._lock:
            self._drop_queued()
            self.incoming = None
            self.missed += 1
            self.state = CallState.IDLE
            self._changed.notify_all()

    def on_hook(self) -> None:
        """The modem hung up: the call is over for the far end too."""
        with self._lock:
            if self.state in (CallState.CONNECTED, CallState.CALLED, CallState.HUNG_UP):
                self._drop_queued()
                self.state = CallState.IDLE
                if self._tone is not LineTone.DIAL:
                    self._tone = LineTone.NONE
                self._changed.notify_all()

    def record_heard(self, pcm: np.ndarray) -> None:
        """Append what the box played during one clock step (only while a call is up)."""
        with self._lock:
            if self.state is CallState.CONNECTED and pcm.size:
                self._heard.append(pcm)
                self._heard_len += pcm.size

    def _drop_queued(self) -> None:
        self._speech.clear()
        self._dtmf.clear()
        self._dtmf_pos = 0
        self._audio_started = False

    def pull(self, n: int, voice: bool = True) -> tuple[np.ndarray, list[FarEvent]]:
        """The next n samples the far end sends (speech + keys + line tone), and the events they carry.

        `voice`: the modem carries the call's audio now; until it first does in a call, queued speech and keys
        wait (a key pressed before the answer is sent once audio flows, never lost)."""
        with self._lock:
            out = np.zeros(n, dtype=np.float64)
            events: list[FarEvent] = []
            if voice and self.state is CallState.CONNECTED:
                self._audio_started = True
            if self._audio_started:
                self._pull_speech(out)
                self._pull_dtmf(out, events)
            self._pull_tone(out, events)
            return np.clip(np.rint(out), -32768, 32767).astype(np.int16), events

    def _pull_speech(self, out: np.ndarray) -> None:
        pos = 0
        while pos < out.size and self._speech:
            head = self._speech[0]
            take = min(head.size, out.size - pos)
            out[pos:pos + take] += head[:take]
            pos += take
            if take == head.size:
                self._speech.popleft()
            else:
                self._speech[0] = head[take:]

    def _pull_dtmf(self, out: np.ndarray, events: list[FarEvent]) -> None:
        pos = 0
        while pos < out.size and self._dtmf:
            digit, on, off = self._dtmf[0]
            if self._dtmf_pos < on:
                if self._dtmf_pos == 0:
                    events.append(FarEvent("dtmf_start", digit))
                take = min(on - self._dtmf_pos, out.size - pos)
                burst = dtmf_tone(digit, on * 1000 / RATE)[self._dtmf_pos:self._dtmf_pos + take]
                out[pos:pos + take] += burst
                self._dtmf_pos += take
                pos += take
                if self._dtmf_pos == on:
                    events.append(FarEvent("dtmf_end", digit))
            else:
                take = min(on + off - self._dtmf_pos, out.size - pos)
                self._dtmf_pos += take
                pos += take
                if self._dtmf_pos == on + off:
                    self._dtmf.popleft()
                    self._dtmf_pos = 0

    def _pull_tone(self, out: np.ndarray, events: list[FarEvent]) -> None:
        if self._tone is LineTone.NONE:
            return
        spec = {LineTone.DIAL: self.tones.tone(ToneName.DIAL), LineTone.BUSY: self.tones.tone(ToneName.BUSY),
                LineTone.CNG: CNG}[self._tone]
        out += spec.synth(self._tone_pos, out.size)
        self._tone_pos += out.size
        # The modem's tone detectors: busy after two cadences, dial tone after 1 s, CNG after each burst.
        first = {LineTone.BUSY: int(sum(spec.cadence_ms) * 2 * RATE / 1000), LineTone.DIAL: RATE,
                 LineTone.CNG: 500 * RATE // 1000}[self._tone]
        if self._next_report == 0:
            self._next_report = first
        if self._tone_pos >= self._next_report:
            code = {LineTone.BUSY: "b", LineTone.DIAL: "d", LineTone.CNG: "c"}[self._tone]
            events.append(FarEvent(code))
            self._next_report += 4 * RATE if self._tone is not LineTone.CNG else 3500 * RATE // 1000


def _read_wav(path: Path) -> np.ndarray:
    """Read a 16-bit PCM WAV (mono or stereo, any rate) as pcm16 mono at 8 kHz."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getsampwidth() != 2:
                raise ValueError(f"{path}: {8 * wav.getsampwidth()}-bit samples; speak() wants 16-bit PCM")
            rate, channels = wav.getframerate(), wav.getnchannels()
            data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{path}: not a PCM WAV file ({exc})") from None
    mono = data.reshape(-1, channels).mean(axis=1)
    if rate != RATE:
        mono = resample(mono, rate, RATE)
    return np.clip(np.rint(mono), -32768, 32767).astype(np.int16)
