"""SDP offer/answer for audio (RFC 4566, RFC 3264): PCMU, PCMA, telephone-event and CN, parsed with bounds."""
from __future__ import annotations

import enum
import ipaddress
import itertools
from dataclasses import dataclass, field

from .errors import SipParseError

MAX_LINES = 128
MAX_MEDIA = 8
MAX_FORMATS = 32

STATIC = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 13: ("CN", 8000)}
SUPPORTED = ("PCMU", "PCMA")   # in the box's order of preference
_session_ids = itertools.count(1)


class Direction(enum.Enum):
    """Which way a media stream flows, as seen by the side that wrote the SDP."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    def reversed(self) -> "Direction":
        """The direction the answerer states for an offer with this one."""
        return {Direction.SENDONLY: Direction.RECVONLY,
                Direction.RECVONLY: Direction.SENDONLY}.get(self, self)


@dataclass
class Media:
    """One m= section."""

    kind: str
    port: int
    proto: str
    formats: list[int]
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)
    fmtp: dict[int, str] = field(default_factory=dict)
    direction: Direction = Direction.SENDRECV
    ptime: int = 20
    address: str = ""

    def codec(self, pt: int) -> tuple[str, int] | None:
        """(encoding name upper-case, clock rate) of a payload type, static ones included."""
        if pt in self.rtpmap:
            name, rate = self.rtpmap[pt]
            return name.upper(), rate
        return STATIC.get(pt)


@dataclass
class Session:
    """A parsed SDP body: the session connection address and the media sections."""

    address: str
    media: list[Media]
    origin: str = ""

    def audio(self) -> Media | None:
        """The first audio section with a non-zero port (None when the offer has none)."""
        for m in self.media:
            if m.kind == "audio" and m.port:
                return m
        return None


def _address(value: str, where: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SipParseError(f"bad c= line {value[:60]!r} in {where}", status=488)
    try:
        return str(ipaddress.ip_address(parts[2].split("/")[0]))
    except ValueError:
        raise SipParseError(f"c= address {parts[2][:40]!r} is not an IP address", status=488) from None


def parse(body: bytes) -> Session:
    """Parse an SDP body; anything unusable raises ``SipParseError`` with status 488 (or 400)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("SDP is not UTF-8") from None
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
    if len(lines) > MAX_LINES:
        raise SipParseError(f"SDP has more than {MAX_LINES} lines", status=413)
    if not lines or lines[0] != "v=0":
        raise SipParseError("SDP does not start with v=0", status=488)
    session_addr = ""
    origin = ""
    media: list[Media] = []
    for line in lines[1:]:
        if len(line) < 2 or line[1] != "=":
            raise SipParseError(f"bad SDP line {line[:40]!r}")
        key, value = line[0], line[2:]
        cur = media[-1] if media else None
        if key == "o":
            origin = value
        elif key == "c":
            addr = _address(value, "SDP")
            if cur is None:
                session_addr = addr
            else:
                cur.address = addr
        elif key == "m":
            if len(media) >= MAX_MEDIA:
                raise SipParseError(f"SDP has more than {MAX_MEDIA} media sections", status=413)
            parts = value.split()
            if len(parts) < 4 or not parts[1].split("/")[0].isdigit() or len(parts) > MAX_FORMATS + 3:
                raise SipParseError(f"bad m= line {value[:60]!r}", status=488)
            port = int(parts[1].split("/")[0])
            if port > 65535:
                raise SipParseError(f"m= port {port} out of range", status=488)
            formats = [int(f) for f in parts[3:] if f.isdigit() and int(f) < 128] if parts[2].startswith("RTP/") else []
            media.append(Media(parts[0], port, parts[2], formats))
        elif key == "a" and cur is not None:
            name, _, arg = value.partition(":")
            if name in Direction._value2member_map_:
                cur.direction = Direction(name)
            elif name == "rtpmap":
                pt_text, _, enc = arg.partition(" ")
                enc_name, _, rate = enc.partition("/")
                if pt_text.isdigit() and rate.split("/")[0].isdigit() and enc_name:
                    cur.rtpmap[int(pt_text)] = (enc_name, int(rate.split("/")[0]))
            elif name == "fmtp":
                pt_text, _, params = arg.partition(" ")
                if pt_text.isdigit():
                    cur.fmtp[int(pt_text)] = params.strip()
            elif name == "ptime" and arg.strip().isdigit():
                cur.ptime = max(10, min(int(arg.strip()), 60))
        elif key == "a" and value in Direction._value2member_map_:
            pass  # session-level direction: media-level ones decide here
    for m in media:
        if not m.address:
            if not session_addr and m.port:
                raise SipParseError("SDP media has no c= address", status=488)
            m.address = session_addr
    return Session(session_addr, media, origin)


@dataclass
class Negotiated:
    """The outcome of offer/answer for one call's audio."""

    remote_address: str
    remote_port: int
    codec: str          # "PCMU" or "PCMA"
    payload_type: int
    dtmf_payload_type: int | None
    direction: Direction
    ptime: int = 20
    comfort_noise: bool = False   # the offer has CN (RFC 3389) at 8000 Hz


def negotiate(offer: Session, prefer: tuple[str, ...] = SUPPORTED) -> Negotiated:
    """Choose the codec and DTMF events from a remote offer; 488 when nothing is common."""
    audio = offer.audio()
    if audio is None:
        raise SipParseError("the offer has no audio stream", status=488)
    if not audio.proto.startswith("RTP/AVP"):
        raise SipParseError(f"unsupported media profile {audio.proto}", status=488)
    chosen: tuple[int, str] | None = None
    for pt in audio.formats:
        codec = audio.codec(pt)
        if codec and codec[0] in prefer and codec[1] == 8000:
            chosen = (pt, codec[0])
            break
    if chosen is None:
        raise SipParseError("no common codec (the box speaks PCMU and PCMA)", status=488)
    dtmf = next((pt for pt in audio.formats
                 if (audio.codec(pt) or ("", 0)) == ("TELEPHONE-EVENT", 8000)), None)
    cn = any(audio.codec(pt) == ("CN", 8000) for pt in audio.formats)
    return Negotiated(audio.address, audio.port, chosen[1], chosen[0], dtmf,
                      audio.direction.reversed(), audio.ptime, comfort_noise=cn)


def build(address: str, port: int, *, codecs: list[tuple[int, str]], dtmf_payload_type: int | None = 101,
          direction: Direction = Direction.SENDRECV, session_id: int | None = None,
          comfort_noise: bool = False) -> bytes:
    """Our SDP (offer or answer): one audio stream on ``address:port`` with these payload types (and CN, payload
    type 13, with ``comfort_noise``)."""
    sid = session_id if session_id is not None else next(_session_ids)
    family = "IP6" if ":" in address else "IP4"
    pts = ([pt for pt, _ in codecs] + ([13] if comfort_noise else [])
           + ([dtmf_payload_type] if dtmf_payload_type is not None else []))
    lines = ["v=0", f"o=hotline {sid} {sid} IN {family} {address}", "s=hotline",
             f"c=IN {family} {address}", "t=0 0",
             f"m=audio {port} RTP/AVP {' '.join(str(p) for p in pts)}"]
    for pt, name in codecs:
        lines.append(f"a=rtpmap:{pt} {name}/8000")
    if comfort_noise:
        lines.append("a=rtpmap:13 CN/8000")
    if dtmf_payload_type is not None:
        lines.append(f"a=rtpmap:{dtmf_payload_type} telephone-event/8000")
        lines.append(f"a=fmtp:{dtmf_payload_type} 0-16")
    lines += ["a=ptime:20", f"a={direction.value}"]
    return ("\r\n".join(lines) + "\r\n").encode()


def answer(offer: Session, address: str, port: int) -> tuple[bytes, Negotiated]:
    """Our answer to a remote offer, with the negotiated result."""
    neg = negotiate(offer)
    body = build(address, port, codecs=[(neg.payload_type, neg.codec)],
                 dtmf_payload_type=neg.dtmf_payload_type, direction=neg.direction, comfort_noise=neg.comfort_noise)
    return body, neg
