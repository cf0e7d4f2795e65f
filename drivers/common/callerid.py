"""Caller-ID messages: what a line says about the caller, and the SDMF/MDMF byte layouts that carry it over FSK.

SDMF (message type 0x04, Bellcore GR-30 and the Chinese YD/T 1277 variant) is the date and time
(``MMDDHHMM``) followed by the number, or by ``O`` (unavailable) / ``P`` (private). MDMF (0x80:
GR-30, ETSI EN 300 659-3 "call set-up", YD/T 1277) is a list of parameters (type, length, value):
0x01 date and time, 0x02 number, 0x04 reason the number is absent, 0x07 name, 0x08 reason the name is
absent. A message ends with a checksum byte that makes the sum of all its bytes 0 modulo 256. Names
are ASCII in North America, Latin-1 in Europe and GB 2312 in China; the decoder recognises Chinese
text by itself.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["SDMF", "MDMF", "Param", "Absence", "CallerId", "MessageError", "encode_message", "decode_message",
           "decode_name"]

SDMF = 0x04
MDMF = 0x80
_MESSAGE_TYPES = (SDMF, MDMF)
_DIGITS = re.compile(r"[0-9*#A-D+ -]{0,32}")
_TIME = re.compile(r"(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])([01][0-9]|2[0-3])[0-5][0-9]")


class Param(enum.IntEnum):
    """MDMF parameter types used for caller ID."""

    TIME = 0x01
    NUMBER = 0x02
    NUMBER_ABSENT = 0x04
    NAME = 0x07
    NAME_ABSENT = 0x08


class Absence(enum.Enum):
    """Why a number or name is not presented."""

    UNAVAILABLE = "O"  # out of area, unknown
    PRIVATE = "P"  # withheld by the caller


class MessageError(ValueError):
    """A caller-ID message that cannot be built or does not parse."""


@dataclass(frozen=True)
class CallerId:
    """The caller as the line presents it; empty strings and None mean "not sent"."""

    number: str = ""
    name: str = ""
    time: str = ""  # MMDDHHMM, local time of the exchange
    number_absent: Absence | None = None
    name_absent: Absence | None = None

    def __post_init__(self) -> None:
        if not _DIGITS.fullmatch(self.number):
            raise MessageError(f"caller number {self.number!r}: up to 32 of 0-9 * # A-D + - and space")
        if self.time and not _TIME.fullmatch(self.time):
            raise MessageError(f"caller-ID time {self.time!r}: expected MMDDHHMM")
        if self.number and self.number_absent:
            raise MessageError("a caller-ID message has either a number or a reason for its absence")

    @property
    def shown_number(self) -> str:
        """The number, or the reason it is absent (O/P), for one-line output."""
        return self.number or (self.number_absent.value if self.number_absent else "")


def _encode_name(name: str, chinese: bool) -> bytes:
    """Name bytes: GB 2312 for the Chinese variant, Latin-1 elsewhere."""
    try:
        return name.encode("gb2312" if chinese else "latin-1")
    except UnicodeEncodeError:
        raise MessageError(f"caller name {name!r} cannot be encoded for this caller-ID standard") from None


def decode_name(raw: bytes) -> str:
    """Name text: ASCII as is, Chinese when it is valid GB 2312, else Latin-1."""
    if all(b < 0x80 for b in raw):
        return raw.decode("ascii")
    try:
        return raw.decode("gb2312")  # both bytes of a GB 2312 character are 0xA1-0xFE: Latin-1 text rarely fits
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def encode_message(cid: CallerId, message_type: int = MDMF, chinese: bool = False) -> bytes:
    """Type, length, body and checksum of one caller-ID message."""
    if message_type == SDMF:
        if cid.name or cid.name_absent:
            raise MessageError("SDMF carries no name: use MDMF")
        body = (cid.time or "").encode("ascii") + (cid.number or (cid.number_absent or Absence.UNAVAILABLE).value
                                                   ).encode("ascii")
        if len(cid.time) != 8:
            raise MessageError("SDMF needs the date and time (MMDDHHMM)")
    elif message_type == MDMF:
        params: list[tuple[int, bytes]] = []
        if cid.time:
            params.append((Param.TIME, cid.time.encode("ascii")))
        if cid.number:
            params.append((Param.NUMBER, cid.number.encode("ascii")))
        elif cid.number_absent:
            params.append((Param.NUMBER_ABSENT, cid.number_absent.value.encode("ascii")))
        if cid.name:
            params.append((Param.NAME, _encode_name(cid.name, chinese)))
        elif cid.name_absent:
            params.append((Param.NAME_ABSENT, cid.name_absent.value.encode("ascii")))
        for kind, value in params:
            if len(value) > 255:
                raise MessageError(f"parameter {kind:#04x} is {len(value)} bytes long (255 at most)")
        body = b"".join(bytes((kind, len(value))) + value for kind, value in params)
    else:
        raise MessageError(f"message type {message_type:#04x}: SDMF (0x04) or MDMF (0x80) expected")
    if len(body) > 255:
        raise MessageError(f"caller-ID message body is {len(body)} bytes long (255 at most)")
    head = bytes((message_type, len(body))) + body
    return head + bytes(((-sum(head)) & 0xFF,))


def _absence(raw: bytes) -> Absence:
    """Decode a one-letter reason for absence."""
    try:
        return Absence(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise MessageError(f"reason for absence {raw!r}: O or P expected") from None


def decode_message(data: bytes) -> CallerId:
    """Parse one message (type, length, body, checksum); MessageError when it is not a valid caller ID."""
    if len(data) < 3 or data[0] not in _MESSAGE_TYPES or len(data) != data[1] + 3:
        raise MessageError("not a caller-ID message (type, length and checksum do not fit)")
    if sum(data) & 0xFF:
        raise MessageError("caller-ID checksum mismatch")
    body = data[2:-1]
    try:
        if data[0] == SDMF:
            if len(body) < 9:
                raise MessageError("SDMF body shorter than date, time and one digit")
            rest = body[8:].decode("ascii")
            if rest in ("O", "P"):
                return CallerId(time=body[:8].decode("ascii"), number_absent=Absence(rest))
            return CallerId(number=rest, time=body[:8].decode("ascii"))
        fields: dict[str, object] = {}
        pos = 0
        while pos < len(body):
            if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                raise MessageError("MDMF parameter runs past the end of the message")
            kind, value = body[pos], body[pos + 2:pos + 2 + body[pos + 1]]
            pos += 2 + len(value)
            if kind == Param.TIME:
                fields["time"] = value.decode("ascii")
            elif kind == Param.NUMBER:
                fields["number"] = value.decode("ascii")
            elif kind == Param.NUMBER_ABSENT:
                fields["number_absent"] = _absence(value)
            elif kind == Param.NAME:
                fields["name"] = decode_name(value)
            elif kind == Param.NAME_ABSENT:
                fields["name_absent"] = _absence(value)
            # other parameters (call type, redirection, ...) are skipped
        return CallerId(**fields)  # type: ignore[arg-type]
    except UnicodeDecodeError:
        raise MessageError("caller-ID field with non-ASCII digits") from None
