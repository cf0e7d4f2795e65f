"""The line state machine of one voice modem: parsed inputs in (result codes, caller-ID lines, DLE events, the
box's commands, clock ticks), actions out (AT commands, raw DLE bytes, audio mode changes, contract events).
Pure: no I/O and no clock of its own, so tests drive it by feeding inputs."""
from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from hotline.drivers.base import (AnswerConfirmed, Answered, DigitReceived, Duplex, HangupCause, HungUp, LineEvent,
                                  ProgressKind, Progress, Ringing, Seized, ToneDetected, ToneKind)

from .at import FINAL, CallerId, Result, apply_cid
from .dle import DleEvent, DleKind

log = logging.getLogger("hotline.drivers.modem")

DLE, ETX = b"\x10", b"\x03"
RING_GONE = 8.0        # seconds without RING: the caller gave up before the box answered
CID_SETTLE = 0.7       # seconds after the last caller-ID line: the block is complete
COMMAND_TIMEOUT = 5.0  # seconds a command may take before the modem counts as stalled
KEEPALIVE = 30.0       # seconds of quiet on an idle line before an AT checks that the modem still answers
DIAL_TIMEOUT = 60.0    # ATD waits for dial tone, the digits, and (where detected) the answer


class LineState(enum.Enum):
    """Where one modem line is."""

    DOWN = "down"              # the port is gone (unplugged) or not initialised
    RESETTING = "resetting"    # recovering a modem that stopped answering
    IDLE = "idle"              # on hook, waiting for RING
    SEIZED = "seized"          # RING came, caller ID is being collected
    RINGING = "ringing"        # Ringing posted, waiting for the box to answer
    ANSWERING = "answering"    # AT+FCLASS=8 / AT+VLS=1 sent, waiting for VCON/OK
    VOICE = "voice"            # off hook in voice command mode (between play/record)
    PLAYING = "playing"        # +VTX: the box's audio goes to the line
    RECORDING = "recording"    # +VRX: the line's audio comes to the box
    DUPLEX = "duplex"          # +VTR: both at once
    DIALLING = "dialling"      # ATD sent
    FAX = "fax"                # the modem's thread runs a fax receive (class 2: the modem runs T.30)
    HANGING_UP = "hanging_up"  # stopping audio / ATH sent


class AudioMode(enum.Enum):
    """Which way audio bytes flow through the port right now."""

    NONE = "none"
    TX = "tx"
    RX = "rx"
    DUPLEX = "duplex"


AUDIO_STATES = {LineState.PLAYING: AudioMode.TX, LineState.RECORDING: AudioMode.RX, LineState.DUPLEX: AudioMode.DUPLEX}
CALL_STATES = frozenset({LineState.ANSWERING, LineState.VOICE, LineState.PLAYING, LineState.RECORDING,
                         LineState.DUPLEX, LineState.DIALLING, LineState.FAX})
FAX_FROM = frozenset({LineState.SEIZED, LineState.RINGING, LineState.VOICE, LineState.PLAYING, LineState.RECORDING,
                      LineState.DUPLEX})   # where a fax receive may start: a ringing call, or one in voice


@dataclass(frozen=True)
class Dialect:
    """How a modem spells the voice commands (built from its chipset profile)."""

    duplex: Duplex = Duplex.HALF
    answer: tuple[str, ...] = ("AT+FCLASS=8", "AT+VLS=1")
    dial_prefix: tuple[str, ...] = ("AT+FCLASS=8",)
    play: str = "AT+VTX"
    record: str = "AT+VRX"
    full_duplex: str = "AT+VTR"
    end_play: bytes = DLE + ETX        # the end of the data the box sends
    stop_record: bytes = DLE + b"!"    # stops +VRX (the modem answers DLE ETX, then OK/VCON)
    stop_duplex: bytes = DLE + b"^"    # ends +VTR
    hangup: tuple[str, ...] = ("ATH0",)
    flash: str = "ATD!;"               # V.250 dial modifier ! (hook flash), ; back to command mode
    dtmf_shielded: bool = False        # digits come as DLE / DLE 4 DLE ~ (else plain DLE 4)


# ---- inputs ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Code:
    """A result code line."""

    result: Result
    now: float


@dataclass(frozen=True)
class CidLine:
    """One caller-ID line (parsed key and value)."""

    key: str
    value: str
    now: float


@dataclass(frozen=True)
class Dle:
    """A DLE-shielded event from the data stream (decoded by dle.DleDecoder)."""

    event: DleEvent
    now: float


@dataclass(frozen=True)
class Command:
    """A command from the box (answer, hangup, dial, flash, listen, stop_listen)."""

    kind: str
    arg: str = ""
    now: float = 0.0


@dataclass(frozen=True)
class Tick:
    """Time passes (the port thread feeds one every ~100 ms)."""

    now: float


# ---- actions -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Post:
    """Post a contract event."""

    event: LineEvent


@dataclass(frozen=True)
class Send:
    """Write one AT command (CR appended by the port)."""

    text: str


@dataclass(frozen=True)
class SendRaw:
    """Write raw bytes (DLE sequences)."""

    data: bytes


@dataclass(frozen=True)
class SetAudio:
    """Start or stop streaming audio bytes in a direction."""

    mode: AudioMode


@dataclass(frozen=True)
class Stalled:
    """A command got no answer in time: the driver starts the reset sequence."""

    command: str


Action = Post | Send | SendRaw | SetAudio | Stalled


@dataclass
class _Step:
    text: str
    expect: frozenset  # result codes that complete it


class LineMachine:
    """One line's states and transitions; ``feed(input) -> actions``."""

    def __init__(self, line: str, dialect: Dialect, state: LineState = LineState.IDLE, number: str = ""):
        self.line = line
        self.number = number  # what the line answers for: Ringing's dialed number unless caller ID says
        self.dialect = dialect
        self.state = state
        self.cid = CallerId()
        self.last_ring = 0.0
        self.last_cid = 0.0
        self.rings = 0
        self.listening = False  # the box records (half duplex: +VRX instead of +VTX)
        self.steps: deque[_Step] = deque()
        self.sent_at = 0.0
        self.waiting: _Step | None = None
        self.then: Callable[[float], list] | None = None
        self.dtmf_open: tuple[str, float] | None = None  # DLE / seen at this time (digit inside)
        self.early_digits: list[str] = []  # digits heard between AT+VLS=1 and its VCON
        self.last_heard = 0.0     # when the modem last said anything (result code, caller ID, DLE)
        self.keepalive = False    # an idle-line AT is waiting for its OK
        self.deferred: Command | None = None  # answer/dial that came while the keepalive AT was out
        self.counters: dict[str, int] = {"silence": 0, "quiet": 0, "garbage": 0, "dial_tone": 0}
        self.out: list = []

    # ---- helpers ------------------------------------------------------------------------------------------
    def _post(self, event: LineEvent) -> None:
        self.out.append(Post(event))

    def _run(self, commands: tuple[str, ...] | list[str], then: Callable[[float], None], now: float,
             expect: frozenset = frozenset({Result.OK, Result.VCON})) -> None:
        """Send commands one after the other (each waits for its final code), then call ``then``."""
        self.steps = deque(_Step(c, expect) for c in commands)
        self.then = then
        self._next(now)

    def _next(self, now: float) -> None:
        if self.steps:
            self.waiting = self.steps.popleft()
            self.sent_at = now
            self.out.append(Send(self.waiting.text))
        else:
            self.waiting, then, self.then = None, self.then, None
            if then is not None:
                then(now)

    def _audio(self, state: LineState) -> None:
        self.state = state
        self.out.append(SetAudio(AUDIO_STATES.get(state, AudioMode.NONE)))

    # ---- entry point --------------------------------------------------------------------------------------
    def feed(self, item: Code | CidLine | Dle | Command | Tick) -> list:
        """Feed one input; returns the actions to carry out, in order."""
        self.out = []
        if isinstance(item, (Code, CidLine, Dle)):
            self.last_heard = item.now
        if isinstance(item, Code):
            self._on_code(item.result, item.now)
        elif isinstance(item, CidLine):
            self._on_cid(item)
        elif isinstance(item, Dle):
            self._on_dle(item.event, item.now)
        elif isinstance(item, Command):
            self._on_command(item)
        elif isinstance(item, Tick):
            self._on_tick(item.now)
        return self.out

    # ---- result codes -------------------------------------------------------------------------------------
    def _on_code(self, result: Result, now: float) -> None:
        if result is Result.RING:
            self._on_ring(now)
            return
        if self.waiting is not None and result in FINAL:
            step = self.waiting
            if result in step.expect:
                self.waiting = None
                self._next(now)
                return
            self.waiting, self.steps, self.then = None, deque(), None
            if self.keepalive:  # ERROR to a plain AT: the modem answers, which is all the keepalive asks
                self._keepalive_done(now)
                return
            self._failed(step.text, result, now)
            return
        if result in (Result.NO_CARRIER, Result.BUSY) and self.state in CALL_STATES | {LineState.HANGING_UP}:
            self._far_gone(HangupCause.BUSY if result is Result.BUSY else HangupCause.NORMAL, now, stop=False)
        elif result is Result.RINGING and self.state is LineState.DIALLING:
            self._post(Progress(self.line, ProgressKind.RINGBACK))

    def _failed(self, command: str, result: Result, now: float) -> None:
        """A command ended with the wrong code."""
        log.warning("event=modem_command_failed line=%s command=%s result=%s state=%s", self.line, command,
                    result.value, self.state.value)
        if self.state is LineState.DIALLING:
            cause = {Result.BUSY: HangupCause.BUSY, Result.NO_ANSWER: HangupCause.NO_ANSWER,
                     Result.NO_DIALTONE: HangupCause.CONGESTION}.get(result, HangupCause.NORMAL)
            self._far_gone(cause, now, stop=False)
        elif self.state is LineState.HANGING_UP:
            self._on_hook(now)  # ATH failed: nothing better to do than to count the line idle
        elif self.state in CALL_STATES:
            self._far_gone(HangupCause.NORMAL if result is Result.NO_CARRIER else HangupCause.REJECTED, now,
                           stop=False)

    # ---- incoming ------------------------------------------------------------------------------------------
    def _on_ring(self, now: float) -> None:
        self.last_ring = now
        if self.state is LineState.IDLE:
            self.state, self.rings = LineState.SEIZED, 1
            self._post(Seized(self.line))
        elif self.state is LineState.SEIZED:
            self.rings += 1
            if self.rings >= 2:  # caller ID comes between the first and second ring: now it is final
                self._ring_final()
        elif self.state is LineState.RINGING:
            self.rings += 1

    def _on_cid(self, item: CidLine) -> None:
        if self.state is LineState.IDLE:  # some modems print the block before the first RING
            self.state, self.rings, self.last_ring = LineState.SEIZED, 0, item.now
            self._post(Seized(self.line))
        if self.state is LineState.SEIZED:
            apply_cid(self.cid, item.key, item.value)
            self.last_cid = item.now

    def _ring_final(self) -> None:
        self.state = LineState.RINGING
        cid = self.cid
        # no number: the reason (private / unavailable) is what the box can show instead of a name
        self._post(Ringing(self.line, caller_id=cid.number, caller_name=cid.name or cid.reason or cid.name_reason.value,
                           dialed=cid.dialed or self.number))

    # ---- DLE events ---------------------------------------------------------------------------------------
    def _on_dle(self, ev: DleEvent, now: float) -> None:
        in_call = self.state in (LineState.VOICE, LineState.PLAYING, LineState.RECORDING, LineState.DUPLEX,
                                 LineState.DIALLING)
        kind = ev.kind
        if kind is DleKind.DTMF:
            self._flush_digit(now)
            if self.state is LineState.ANSWERING and not self.dialect.dtmf_shielded:
                self.early_digits.append(ev.digit or "")  # off hook before VCON: posted after AnswerConfirmed
                return
            if not in_call and self.state is not LineState.ANSWERING:
                return
            if self.dialect.dtmf_shielded:  # DLE / DLE 4 DLE ~: the digit counts when the tone ends
                self.dtmf_open = (ev.digit or "", now)
            else:
                self._post(DigitReceived(self.line, ev.digit or "", 0.0))
        elif kind is DleKind.DTMF_END:
            if self.dtmf_open is not None and self.state is LineState.ANSWERING:
                self.early_digits.append(ev.digit or self.dtmf_open[0])
            elif self.dtmf_open is not None and in_call:
                digit = ev.digit or self.dtmf_open[0]
                if digit:
                    self._post(DigitReceived(self.line, digit, round((now - self.dtmf_open[1]) * 1000.0, 1)))
            self.dtmf_open = None
        elif kind is DleKind.BUSY and in_call:
            self._far_gone(HangupCause.BUSY, now, stop=True)
        elif kind is DleKind.LOOP_BREAK and in_call:
            self._far_gone(HangupCause.NORMAL, now, stop=True)
        elif kind is DleKind.FAX_CNG and in_call:
            self._post(ToneDetected(self.line, ToneKind.FAX_CNG))
        elif kind is DleKind.DIAL_TONE:
            self.counters["dial_tone"] += 1
            if in_call:
                self._post(ToneDetected(self.line, ToneKind.DIAL))
        elif kind is DleKind.SIT_TONE and in_call:
            self._post(ToneDetected(self.line, ToneKind.SIT))
        elif kind is DleKind.ANSWER_TONE and in_call:
            self._post(ToneDetected(self.line, ToneKind.FAX_CED))
        elif kind is DleKind.RINGBACK and self.state is LineState.DIALLING:
            self._post(Progress(self.line, ProgressKind.RINGBACK))
        elif kind is DleKind.RING:
            self._on_ring(now)
        elif kind is DleKind.SILENCE:
            self.counters["silence"] += 1
        elif kind is DleKind.QUIET:
            self.counters["quiet"] += 1
        elif kind is DleKind.END_OF_STREAM:  # the modem ended its data (after DLE ! or on its own)
            # on its own while receiving: back to command mode, so that what follows (NO CARRIER) is read as text
            if self.state in (LineState.RECORDING, LineState.DUPLEX) and self.waiting is None:
                self.state = LineState.VOICE
                self.out.append(SetAudio(AudioMode.NONE))
        elif kind is DleKind.UNKNOWN:
            self.counters["garbage"] += 1
        else:
            self.counters["other"] = self.counters.get("other", 0) + 1

    def _flush_digit(self, now: float) -> None:
        """A bracketed digit whose DLE ~ never came (a lost byte) still counts, once."""
        if self.dtmf_open is not None and self.dtmf_open[0]:
            self._post(DigitReceived(self.line, self.dtmf_open[0], round((now - self.dtmf_open[1]) * 1000.0, 1)))
        self.dtmf_open = None

    # ---- the box's commands --------------------------------------------------------------------------------
    def _on_command(self, cmd: Command) -> None:
        now, d = cmd.now, self.dialect
        if self.keepalive and cmd.kind in ("answer", "dial"):
            self.deferred = cmd  # after the keepalive's OK, so that OK is not taken for this command's
            return
        if cmd.kind == "answer":
            if self.state in (LineState.RINGING, LineState.SEIZED):
                self.state = LineState.ANSWERING
                self._run(d.answer, self._answered, now)
        elif cmd.kind == "hangup":
            self._hangup(now)
        elif cmd.kind == "dial":
            if self.state is LineState.IDLE:
                self.state = LineState.DIALLING
                self.steps = deque(_Step(c, frozenset({Result.OK})) for c in d.dial_prefix)
                self.steps.append(_Step("ATD" + cmd.arg, frozenset({Result.VCON, Result.OK, Result.CONNECT})))
                self.then = self._dialled
                self._next(now)
        elif cmd.kind == "flash":
            if self.state in AUDIO_STATES or self.state is LineState.VOICE:
                self._leave_audio(now, lambda t: self._run((d.flash,), self._resume_audio, t))
        elif cmd.kind in ("listen", "stop_listen"):
            self.listening = cmd.kind == "listen"
            if d.duplex is Duplex.HALF and self.state in (LineState.PLAYING, LineState.RECORDING):
                want = LineState.RECORDING if self.listening else LineState.PLAYING
                if self.state is not want:
                    self._leave_audio(now, self._resume_audio)

    def _answered(self, now: float) -> None:
        self.state = LineState.VOICE
        self._post(AnswerConfirmed(self.line))
        for digit in self.early_digits:  # keys pressed while the modem was still confirming the answer
            if digit:
                self._post(DigitReceived(self.line, digit, 0.0))
        self.early_digits = []
        self._resume_audio(now)

    def _dialled(self, now: float) -> None:
        self.state = LineState.VOICE
        self._post(Answered(self.line))  # a modem cannot tell answer from dial complete (like DIALCOMPLETE)
        self._resume_audio(now)

    def _resume_audio(self, now: float) -> None:
        """Enter the audio mode the line needs now: +VTR (full duplex), else +VRX while the box records, +VTX."""
        d = self.dialect
        if d.duplex is Duplex.FULL:
            cmd, state = d.full_duplex, LineState.DUPLEX
        elif self.listening:
            cmd, state = d.record, LineState.RECORDING
        else:
            cmd, state = d.play, LineState.PLAYING
        self.state = LineState.VOICE
        self._run((cmd,), lambda t: self._audio(state), now, expect=frozenset({Result.CONNECT}))

    def _leave_audio(self, now: float, then: Callable[[float], None]) -> None:
        """Stop the current audio mode (DLE sequence), wait for the modem's OK/VCON, then ``then``."""
        d = self.dialect
        stop = {LineState.PLAYING: d.end_play, LineState.RECORDING: d.stop_record,
                LineState.DUPLEX: d.stop_duplex}.get(self.state)
        if stop is None:
            then(now)
            return
        self.out.append(SetAudio(AudioMode.NONE))
        self.out.append(SendRaw(stop))
        self.state = LineState.VOICE
        self.steps, self.then = deque(), then
        self.waiting, self.sent_at = _Step(stop.decode("latin-1"), frozenset({Result.OK, Result.VCON})), now

    def _hangup(self, now: float) -> None:
        if self.state in (LineState.IDLE, LineState.DOWN, LineState.RESETTING, LineState.HANGING_UP):
            return
        if self.state in (LineState.SEIZED, LineState.RINGING):
            self._on_hook(now)  # never off hook: nothing to send; the caller keeps hearing ringback
            return
        if self.state in AUDIO_STATES:
            self._leave_audio(now, lambda t: self._run(self.dialect.hangup, self._on_hook, t))
            self.state = LineState.HANGING_UP
        else:
            self.state = LineState.HANGING_UP
            self.waiting, self.steps = None, deque()
            self._run(self.dialect.hangup, self._on_hook, now)

    def _on_hook(self, now: float) -> None:
        self.state = LineState.IDLE
        self.cid, self.rings, self.listening, self.dtmf_open = CallerId(), 0, False, None
        self.early_digits = []
        self.keepalive, self.deferred = False, None
        self.waiting, self.steps, self.then = None, deque(), None

    def _far_gone(self, cause: HangupCause, now: float, stop: bool) -> None:
        """The far end hung up (busy, no carrier, loop current lost): tell the box and go on hook."""
        self._post(HungUp(self.line, cause))
        if stop and self.state in AUDIO_STATES:
            self._leave_audio(now, lambda t: self._run(self.dialect.hangup, self._on_hook, t))
            self.state = LineState.HANGING_UP
        else:
            self.out.append(SetAudio(AudioMode.NONE))
            self.state = LineState.HANGING_UP
            self.waiting, self.steps = None, deque()
            self._run(self.dialect.hangup, self._on_hook, now)

    def _keepalive_done(self, now: float) -> None:
        self.keepalive = False
        cmd, self.deferred = self.deferred, None
        if cmd is not None:
            self._on_command(Command(cmd.kind, cmd.arg, now))

    # ---- time -------------------------------------------------------------------------------------------------
    def _on_tick(self, now: float) -> None:
        if self.dtmf_open is not None and now - self.dtmf_open[1] > 1.0:
            self._flush_digit(now)
        if self.state is LineState.SEIZED and self.cid.fields and now - self.last_cid >= CID_SETTLE:
            self._ring_final()
        elif self.state in (LineState.SEIZED, LineState.RINGING) and now - self.last_ring > RING_GONE:
            self._post(HungUp(self.line, HangupCause.NORMAL))  # the caller gave up before the box answered
            self._on_hook(now)
        if self.last_heard == 0.0:  # just opened: count the quiet from now
            self.last_heard = now
        if self.state is LineState.IDLE and self.waiting is None and not self.keepalive \
                and now - max(self.last_heard, self.sent_at) > KEEPALIVE:
            self.keepalive = True  # a modem that stopped answering while idle is found before the next call
            self._run(("AT",), self._keepalive_done, now)
        if self.waiting is not None:
            limit = DIAL_TIMEOUT if self.waiting.text.startswith("ATD") else COMMAND_TIMEOUT
            if now - self.sent_at > limit:
                text = self.waiting.text
                self.waiting, self.steps, self.then = None, deque(), None
                self.keepalive, self.deferred = False, None
                self.out.append(Stalled(text))

    # ---- faults -----------------------------------------------------------------------------------------------
    def fax_begin(self) -> bytes:
        """The call becomes a fax (the modem's thread runs it outside this machine): the DLE bytes that end the
        current audio mode (empty when none runs), and the line is FAX until ``fax_end``."""
        d = self.dialect
        stop = {LineState.PLAYING: DLE + b"\x18" + d.end_play,    # DLE CAN drops what is still buffered
                LineState.RECORDING: d.stop_record, LineState.DUPLEX: d.stop_duplex}.get(self.state, b"")
        self.waiting, self.steps, self.then = None, deque(), None
        self.keepalive, self.deferred = False, None
        self.state = LineState.FAX
        return stop

    def fax_end(self, now: float) -> None:
        """The fax is over and the modem on hook: idle again."""
        self._on_hook(now)
        self.last_heard = now

    def port_lost(self) -> list:
        """The port went away: end any call (HungUp line_down) and go DOWN."""
        self.out = []
        if self.state in CALL_STATES or self.state in (LineState.SEIZED, LineState.RINGING, LineState.HANGING_UP):
            self._post(HungUp(self.line, HangupCause.LINE_DOWN))
        self._on_hook(0.0)
        self.state = LineState.DOWN
        return self.out

    def port_back(self) -> None:
        """The port is back and initialised: idle again."""
        self._on_hook(0.0)
        self.last_heard = 0.0

    @property
    def busy(self) -> bool:
        """True while a command waits for its answer."""
        return self.waiting is not None
