"""The driver contract: devices expose lines, lines take commands and post typed past-tense events.

This module imports nothing from hotline; driver implementations import only this
module and their hardware library.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import numpy as np

FRAME_SAMPLES = 160  # 20 ms at 8 kHz
RATE = 8000


class Capability(enum.Flag):
    """Loose capability flags of contract v1 (informational); the daemon reads ``Line.traits`` instead."""

    NONE = 0
    VOICE_FRAMES = enum.auto()     # exchanges 20 ms audio frames with the media engine
    DEVICE_PLAYBACK = enum.auto()  # plays and records on the device (half-duplex modems)
    DTMF_DETECT = enum.auto()      # detects DTMF itself and posts DigitReceived
    CALLER_ID = enum.auto()
    DIAL = enum.auto()
    FLASH = enum.auto()
    RING_STATION = enum.auto()
    FAX = enum.auto()


class LineKind(enum.Enum):
    """Which side of the box a line faces."""

    TRUNK = "trunk"      # outside callers (FXO port, trunk timeslot)
    STATION = "station"  # an agent phone (FXS port)


class Duplex(enum.Enum):
    """Whether a line carries audio both ways at once."""

    FULL = "full"   # cards, SIP, most FXO/FXS ports
    HALF = "half"   # many voice modems: play (+VTX) or record (+VRX), never both; never bridged or queued


class DtmfMode(enum.Enum):
    """Where a line's DTMF digits come from (dtmf_in) or go to (dtmf_out)."""

    INBAND = "inband"  # tones in the audio: the media engine detects them / plays them
    EVENTS = "events"  # out of band: DigitReceived events / Line.send_dtmf
    BOTH = "both"      # both (dtmf_in: the daemon drops the second report of the same key)


class AnswerSupervision(enum.Enum):
    """How the box learns that its ``answer()`` took effect."""

    IMMEDIATE = "immediate"  # answer() is final when it returns
    CONFIRMED = "confirmed"  # the line posts AnswerConfirmed (modem VCON, SIP ACK, FXO supervision)


class FaxMode(enum.Enum):
    """How a line carries fax."""

    NONE = "none"
    AUDIO = "audio"    # fax tones as audio (a soft modem in the box could decode them)
    CLASS1 = "class1"  # T.31 class 1 modem: the box runs T.30
    CLASS2 = "class2"  # class 2/2.0 modem: the modem runs T.30


@dataclass(frozen=True)
class LineTraits:
    """What a line can do; the daemon reads these (bridging, queueing, DTMF, answering, fax)."""

    duplex: Duplex = Duplex.FULL
    dtmf_in: DtmfMode = DtmfMode.INBAND
    dtmf_out: DtmfMode = DtmfMode.INBAND
    answer_supervision: AnswerSupervision = AnswerSupervision.IMMEDIATE
    fax: FaxMode = FaxMode.AUDIO
    caller_id_send: bool = False  # the line can send caller id when it rings a phone (FXS) or dials out
    dial_out: bool = True         # the box may place calls on it (a SIP trunk only with allow_outbound and a peer)
    fax_only: bool = False        # every call on it is fax (a modem line with mode: fax): never picked for a voice call


class ToneKind(enum.Enum):
    """Call-progress and fax tones a device recognised on a line."""

    BUSY = "busy"
    DIAL = "dial"
    CONGESTION = "congestion"
    SIT = "sit"            # special information tone (number unobtainable, ...)
    RINGBACK = "ringback"
    FAX_CNG = "fax_cng"    # calling fax (1100 Hz)
    FAX_CED = "fax_ced"    # answering fax (2100 Hz)


class ProgressKind(enum.Enum):
    """What an outgoing call reports before it is answered."""

    RINGBACK = "ringback"        # the far end rings (SIP 180, modem RINGING)
    EARLY_MEDIA = "early_media"  # in-band announcements before answer (SIP 183)


class HangupCause(enum.Enum):
    """Why a call or leg ended."""

    NORMAL = "normal"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    LINE_DOWN = "line_down"
    CONGESTION = "congestion"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    SHUTDOWN = "shutdown"
    ORPHANED = "orphaned"


# ---- events (past tense) ---------------------------------------------------------------

@dataclass(frozen=True)
class LineEvent:
    """Base of every event a line posts."""

    line: str


@dataclass(frozen=True)
class Seized(LineEvent):
    """An incoming call started on a trunk (first ring, polarity reversal, SIP INVITE) and caller id is still
    being collected: the line counts as busy from now on. Ringing follows once caller id is final, or HungUp."""


@dataclass(frozen=True)
class Ringing(LineEvent):
    """An incoming call rings on a trunk, posted once when caller id is final (repeats are ignored)."""

    caller_id: str = ""
    caller_name: str = ""
    dialed: str = ""


@dataclass(frozen=True)
class OffHook(LineEvent):
    """A station's handset was lifted (to answer a ring or to dial)."""


@dataclass(frozen=True)
class Answered(LineEvent):
    """The far end answered a call the box placed (outbound trunk call or ringing station)."""


@dataclass(frozen=True)
class AnswerConfirmed(LineEvent):
    """The line confirmed the box's answer() (traits.answer_supervision CONFIRMED): audio may flow now."""


@dataclass(frozen=True)
class Progress(LineEvent):
    """An outgoing call progresses before answer (ringback, early media)."""

    kind: ProgressKind = ProgressKind.RINGBACK


@dataclass(frozen=True)
class ToneDetected(LineEvent):
    """The device recognised a tone on the line (a busy tone is the only hang-up signal of many analog lines)."""

    kind: ToneKind = ToneKind.BUSY


class PhoneAction(enum.Enum):
    """Call handling an IP phone signals in SIP instead of a bare hook flash (attended transfer)."""

    HOLD = "hold"            # the caller is put on hold
    RESUME = "resume"        # back to the caller (a consultation in progress ends)
    CONSULT = "consult"      # the phone calls a colleague while the caller holds (``target``: the extension)
    COMPLETE = "complete"    # the attended transfer: caller and colleague are joined


@dataclass(frozen=True)
class Flashed(LineEvent):
    """A station pressed hook flash (transfers); an IP phone names its call handling in ``action``."""

    action: PhoneAction | None = None
    target: str = ""


@dataclass(frozen=True)
class DigitReceived(LineEvent):
    """A DTMF digit signalled out of band by the device."""

    digit: str = ""
    duration_ms: float = 0.0


@dataclass(frozen=True)
class HungUp(LineEvent):
    """The far end hung up."""

    cause: HangupCause = HangupCause.NORMAL


@dataclass(frozen=True)
class MediaFinished(LineEvent):
    """A device-side play or record finished."""


@dataclass(frozen=True)
class FaxFinished(LineEvent):
    """A device-side fax transfer finished."""

    ok: bool = True
    pages: int = 0
    detail: str = ""


@dataclass(frozen=True)
class LineDown(LineEvent):
    """The line stopped working."""

    reason: str = ""


@dataclass(frozen=True)
class MediaQuality(LineEvent):
    """How a call's audio fared, reported by the device as the call ends (SIP: from RTCP); None = not measured."""

    loss_pct: float | None = None        # of the far end's packets, lost on the way to the box
    jitter_ms: float | None = None       # interarrival jitter of the far end's packets (RFC 3550)
    far_loss_pct: float | None = None    # of the box's packets, as the far end reported (last interval)
    far_jitter_ms: float | None = None


@dataclass(frozen=True)
class LineUp(LineEvent):
    """The line works again."""


@dataclass(frozen=True)
class DeviceFailed(LineEvent):
    """The whole device stopped working after it was open (unplugged, I/O error); ``line`` holds the device name.
    The daemon marks its lines down, closes it and re-opens it with backoff."""

    reason: str = ""


EventSink = Callable[[LineEvent], None]


class DriverError(Exception):
    """A driver failed."""


class DriverNotReady(DriverError):
    """The device is not there yet or not usable; the daemon retries with backoff."""


@dataclass(frozen=True)
class Option:
    """One setting of a driver's device section, declared without depending on the daemon."""

    name: str
    type: type
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    help: str = ""
    required: bool = False
    pattern: str | None = None   # a regular expression the whole value (each item of a list) must match
    item_fields: tuple["Option", ...] = ()   # a list's items may also be mappings with these keys


@dataclass(eq=False)
class Line:
    """One port of a device; commands are non-blocking and results come back as events."""

    name: str
    kind: LineKind
    capabilities: Capability = Capability.NONE
    extension: str = ""  # station lines: the extension number
    up: bool = True
    down_reason: str = ""
    traits: LineTraits = field(default_factory=LineTraits)

    def answer(self) -> None:
        """Go off hook on an incoming call."""
        raise NotImplementedError

    def hangup(self) -> None:
        """Go on hook / end the call on this line."""
        raise NotImplementedError

    def reject(self, cause: HangupCause = HangupCause.REJECTED) -> None:
        """Refuse a call that was offered and not answered (busy, congestion); by default a plain hangup."""
        self.hangup()

    def dial(self, number: str) -> None:
        """Place an outgoing call (trunks)."""
        raise NotImplementedError

    def ring(self, caller_id: str = "", caller_name: str = "") -> None:
        """Ring a station phone."""
        raise NotImplementedError

    def stop_ring(self) -> None:
        """Stop ringing a station."""
        raise NotImplementedError

    def flash(self) -> None:
        """Hook flash."""
        raise NotImplementedError

    def send_dtmf(self, digits: str) -> None:
        """Send DTMF to the far end out of band (when the device supports it)."""
        raise NotImplementedError

    def message_waiting(self, on: bool) -> None:
        """Light or clear the message-waiting lamp of a station's phone; a line with no lamp ignores it."""


class FrameDevice(Protocol):
    """A driver whose lines exchange audio frames; the media engine calls it once per tick.

    Optionally it also has ``tick() -> None``, called once per tick before ``read_frames`` (even when
    none of its lines carries a call): the place to pull a tick's audio out of an elastic buffer or to
    advance a device clock. A device without ``tick`` is fine.
    """

    def read_frames(self, lines: list[str], out: np.ndarray) -> None:
        """Fill ``out[i]`` (int16, 160 samples) with what line ``lines[i]`` received this tick."""

    def write_frames(self, lines: list[str], frames: np.ndarray) -> None:
        """Send ``frames[i]`` to line ``lines[i]``'s far end."""


class Driver:
    """One device (a card, a modem, a USB box, the simulator) exposing lines."""

    name: str = ""
    schema: tuple[Option, ...] = ()

    def __init__(self, device_name: str, settings: dict[str, Any], sink: EventSink):
        self.device_name = device_name
        self.settings = settings
        self.sink = sink

    @classmethod
    def probe(cls) -> list[dict]:
        """Ports of this kind found on this box (for the panel's "add device")."""
        return []

    @classmethod
    def configured_traits(cls, settings: dict[str, Any]) -> LineTraits | None:
        """The traits the device's trunk lines will have, known from its settings alone (flow validation reads
        them before anything is opened); None when only the opened device can tell (full duplex is assumed)."""
        return None

    def validate_environment(self) -> list[str]:
        """Problems with the environment (missing device node, permissions); empty when fine."""
        return []

    def open(self) -> list[Line]:
        """Open the device and return its lines; raise DriverNotReady to be retried."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the device."""

    def status(self) -> dict:
        """State for the panel and metrics."""
        return {"device": self.device_name, "driver": self.name}


@dataclass
class LineRef:
    """Where a line lives: its device and name (used by the registry of open lines)."""

    device: str
    line: Line
    meta: dict = field(default_factory=dict)
