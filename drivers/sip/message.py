"""SIP messages (RFC 3261 §7): bounded parsing of requests and responses from bytes, and serialising them.

Every malformed input raises ``SipParseError`` (with the status a request should get back), never
anything else: the parser is fuzzed for that. Sizes and counts are bounded before any work grows
with the input.
"""
from __future__ import annotations

import re
from typing import Any, Callable
from dataclasses import dataclass, field

from .errors import SipParseError
from .uri import (NameAddr, SipUri, Via, is_token, parse_cseq, parse_name_addr, parse_uri, parse_via,
                  split_list)

MAX_MESSAGE = 16384   # bytes in one datagram / one framed TCP message
MAX_HEADERS = 96      # header fields, after unfolding
MAX_HEADER = 4096     # bytes in one (unfolded) header field
MAX_BODY = 8192       # bytes of body (SDP is a few hundred)
MAX_VIAS = 16
VERSION = "SIP/2.0"

COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
           "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
           "v": "via", "o": "event", "r": "refer-to", "b": "referred-by", "u": "allow-events",
           "x": "session-expires"}

# How a lower-case header name is written back (anything else: capitalised words).
CANONICAL = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
             "mime-version": "MIME-Version", "rseq": "RSeq", "rack": "RAck"}

# Headers whose value is a comma-separated list (RFC 3261 §7.3.1): split into items.
LIST_HEADERS = frozenset({"via", "contact", "route", "record-route", "allow", "supported", "require",
                          "proxy-require", "unsupported", "accept", "accept-encoding",
                          "accept-language", "allow-events", "content-encoding", "in-reply-to"})
EMPTY_LIST_HEADERS = frozenset({"allow", "supported", "accept", "accept-encoding", "accept-language"})

REQUIRED = ("via", "from", "to", "call-id", "cseq")
_METHOD = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]{1,32}$")
_CRLF2 = re.compile(rb"\r?\n\r?\n")
_NEWLINE = re.compile(r"\r?\n")
_SPACE = re.compile(r"\s")
_NAMES: dict[str, str] = {}   # header names as written -> checked long-form lower-case name (bounded: see below)
MAX_NAMES = 512


def canonical_name(name: str) -> str:
    """How a lower-case header name is written in messages we send."""
    return CANONICAL.get(name) or "-".join(part.capitalize() for part in name.split("-"))


@dataclass
class Headers:
    """Ordered header fields, names stored lower-case and long-form; list headers split into items."""

    fields: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        """The first value of a header (or ``default``)."""
        name = name.lower()
        for key, value in self.fields:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of a header, in order (one item per list element)."""
        name = name.lower()
        return [value for key, value in self.fields if key == name]

    def add(self, name: str, value: str) -> None:
        """Append a header field."""
        self.fields.append((name.lower(), value))

    def set(self, name: str, value: str) -> None:
        """Replace every field of ``name`` with one value."""
        self.remove(name)
        self.add(name, value)

    def remove(self, name: str) -> None:
        """Drop every field of ``name``."""
        name = name.lower()
        self.fields = [(k, v) for k, v in self.fields if k != name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k == name.lower() for k, _ in self.fields)

    def copy(self) -> "Headers":
        """A shallow copy."""
        return Headers(list(self.fields))


@dataclass
class Message:
    """What requests and responses share: headers, body and typed accessors for the core headers."""

    headers: Headers
    body: bytes = b""

    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return self.headers.get("call-id")

    @property
    def cseq(self) -> tuple[int, str]:
        """(number, method) of the CSeq header."""
        return parse_cseq(self.headers.get("cseq"))

    @property
    def vias(self) -> list[Via]:
        """The Via hops, topmost first."""
        return self._parsed("via", tuple(self.headers.get_all("via")), lambda raw: [parse_via(v) for v in raw])

    @property
    def from_(self) -> NameAddr:
        """The From address."""
        return self._parsed("from", self.headers.get("from"), parse_name_addr)

    @property
    def to(self) -> NameAddr:
        """The To address."""
        return self._parsed("to", self.headers.get("to"), parse_name_addr)

    def _parsed(self, name: str, raw: Any, parse: Callable[[Any], Any]) -> Any:
        """``parse(raw)``, kept while the header's text stays the same (a message's handling reads its Via, From
        and To many times: parsing them was most of the signalling thread's time per call)."""
        memo = self.__dict__.setdefault("_memo", {})
        hit = memo.get(name)
        if hit is not None and hit[0] == raw:
            return hit[1]
        value = parse(raw)
        memo[name] = (raw, value)
        return value

    def _head_lines(self) -> list[str]:
        out: list[str] = []
        for name, value in self.headers.fields:
            if name != "content-length":
                out.append(f"{canonical_name(name)}: {value}")
        out.append(f"Content-Length: {len(self.body)}")
        return out


@dataclass
class Request(Message):
    """A SIP request."""

    method: str = ""
    uri: SipUri | None = None

    def to_bytes(self) -> bytes:
        """The request as sent on the wire (Content-Length computed)."""
        lines = [f"{self.method} {self.uri} {VERSION}", *self._head_lines(), "", ""]
        return "\r\n".join(lines).encode("utf-8") + self.body


@dataclass
class Response(Message):
    """A SIP response."""

    status: int = 0
    reason: str = ""

    def to_bytes(self) -> bytes:
        """The response as sent on the wire (Content-Length computed)."""
        lines = [f"{VERSION} {self.status} {self.reason}", *self._head_lines(), "", ""]
        return "\r\n".join(lines).encode("utf-8") + self.body


def is_keepalive(data: bytes) -> bool:
    """True for a CRLF keep-alive (RFC 5626 ping ``\\r\\n\\r\\n`` or pong ``\\r\\n``) or empty datagram."""
    return not data.strip(b"\r\n")


def _unfold(head: str) -> list[str]:
    """Header lines with continuation lines (leading SP/HT) joined to the previous one."""
    lines: list[str] = []
    for raw in _NEWLINE.split(head):
        if raw[:1] in (" ", "\t"):
            if not lines:
                raise SipParseError("continuation line before any header")
            lines[-1] += " " + raw.strip()
        else:
            lines.append(raw)
        if len(lines) > MAX_HEADERS + 1:
            raise SipParseError(f"more than {MAX_HEADERS} header fields", status=413)
    return lines


def _parse_header_line(line: str) -> tuple[str, str]:
    raw, colon, value = line.partition(":")
    name = _NAMES.get(raw) if colon else None
    if name is None:
        name = raw.strip().lower()
        if not colon or not is_token(name):
            raise SipParseError(f"bad header line {line[:60]!r}")
        name = COMPACT.get(name, name)
        if len(_NAMES) < MAX_NAMES and len(raw) <= 64:   # the names peers use, remembered as checked
            _NAMES[raw] = name
    if len(line) > MAX_HEADER:
        raise SipParseError(f"header {name!r} longer than {MAX_HEADER} bytes", status=413)
    return name, value.strip()


def _start_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if parts[0] == VERSION or parts[0].upper().startswith("SIP/"):
        if len(parts) < 2:
            raise SipParseError(f"bad status line {line[:80]!r}")
        return parts[0], parts[1], " ".join(parts[2:])
    if len(parts) != 3:
        raise SipParseError(f"bad request line {line[:80]!r} (method, URI and version separated by one space)")
    return parts[0], parts[1], parts[2]


def _decode_head(raw: bytes) -> str:
    if b"\x00" in raw:
        raise SipParseError("NUL byte in the message head")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"message head is not UTF-8 (byte {exc.start})") from None


def _content_length(headers: Headers) -> int | None:
    values = headers.get_all("content-length")
    if not values:
        return None
    if len(set(values)) != 1:
        raise SipParseError("conflicting Content-Length headers")
    text = values[0]
    if not text.isdigit() or len(text) > 9:
        raise SipParseError(f"bad Content-Length {text[:20]!r}")
    length = int(text)
    if length > MAX_BODY:
        raise SipParseError(f"body of {length} bytes is over the {MAX_BODY}-byte limit", status=413)
    return length


def _check(msg: Message) -> None:
    """Required headers present and well-formed; for requests, CSeq's method matches."""
    counts: dict[str, int] = {}
    for name, _ in msg.headers.fields:
        counts[name] = counts.get(name, 0) + 1
    missing = [name for name in REQUIRED if name not in counts]
    if missing:
        raise SipParseError("missing header(s): " + ", ".join(canonical_name(n) for n in missing))
    for name in ("from", "to", "call-id", "cseq"):
        if counts[name] != 1:
            raise SipParseError(f"{canonical_name(name)} appears more than once")
    if counts["via"] > MAX_VIAS:
        raise SipParseError(f"more than {MAX_VIAS} Via hops", status=483)
    msg.vias   # each parsed (and kept for the handling)
    _, method = msg.cseq
    msg.from_
    msg.to
    call_id = msg.call_id
    if not call_id or _SPACE.search(call_id):
        raise SipParseError(f"bad Call-ID {call_id[:60]!r}")
    if isinstance(msg, Request) and method != msg.method:
        raise SipParseError(f"CSeq method {method} does not match the request's {msg.method}")
    max_forwards = msg.headers.get("max-forwards")
    if max_forwards and (not max_forwards.isdigit() or len(max_forwards) > 9 or int(max_forwards) > 255):
        raise SipParseError(f"bad Max-Forwards {max_forwards[:20]!r}")


def split_head(data: bytes) -> tuple[bytes, bytes] | None:
    """(head, rest) at the first blank line, or None when the head has not ended yet."""
    m = _CRLF2.search(data)
    if not m:
        return None
    return data[:m.start()], data[m.end():]


def parse(data: bytes, *, stream: bool = False) -> Request | Response:
    """Parse one complete message; for UDP (``stream=False``) bytes past Content-Length are dropped."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError(f"message of {len(data)} bytes is over the {MAX_MESSAGE}-byte limit", status=413)
    data = data.lstrip(b"\r\n")
    parts = split_head(data)
    if parts is None:
        raise SipParseError("the message head does not end with an empty line")
    head_raw, body = parts
    lines = _unfold(_decode_head(head_raw))
    first, header_lines = lines[0], lines[1:]
    headers = Headers()
    for line in header_lines:
        name, value = _parse_header_line(line)
        if name in EMPTY_LIST_HEADERS and not value.strip():
            continue   # RFC 3261 §25.1: these lists may be empty ("Supported:" from baresip)
        if name in LIST_HEADERS and not (name == "contact" and value == "*"):
            for item in split_list(value):
                headers.add(name, item)
        else:
            headers.add(name, value)
        if len(headers.fields) > MAX_HEADERS:
            raise SipParseError(f"more than {MAX_HEADERS} header fields", status=413)
    length = _content_length(headers)
    if length is None:
        if stream:
            raise SipParseError("a message on a stream transport needs Content-Length")
        length = len(body)
    if length > len(body):
        raise SipParseError(f"Content-Length {length} but only {len(body)} bytes of body")
    body = body[:length]
    a, b, c = _start_line(first)
    msg: Request | Response
    if a.upper().startswith("SIP/"):
        if a != VERSION:
            raise SipParseError(f"unsupported version {a[:20]!r}", status=505)
        if not (b.isdigit() and len(b) == 3 and 100 <= int(b) <= 699):
            raise SipParseError(f"bad status code {b[:10]!r}")
        msg = Response(headers, body, status=int(b), reason=c)
    else:
        if not _METHOD.match(a):
            raise SipParseError(f"bad method {a[:40]!r}")
        if c != VERSION:
            raise SipParseError(f"unsupported version {c[:20]!r}", status=505)
        uri = parse_uri(b)
        if getattr(uri, "headers", ""):
            raise SipParseError("header fields in the Request-URI")   # RFC 3261 §19.1.1: not allowed there
        msg = Request(headers, body, method=a, uri=uri)
    _check(msg)
    return msg


def frame_stream(buffer: bytes) -> tuple[bytes | None, bytes]:
    """Cut the first whole message off a TCP/TLS byte stream: (message or None, the rest).

    Raises ``SipParseError`` when the stream cannot be framed any more (head too long, bad
    Content-Length): the connection must then be closed.
    """
    buffer = buffer.lstrip(b"\r\n")
    parts = split_head(buffer)
    if parts is None:
        if len(buffer) > MAX_MESSAGE:
            raise SipParseError("message head over the size limit", status=413)
        return None, buffer
    head, rest = parts
    m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\S*)[ \t]*$", head)
    if not m or not m.group(1).isdigit() or len(m.group(1)) > 9:
        raise SipParseError("a message on a stream transport needs a valid Content-Length")
    length = int(m.group(1))
    if length > MAX_BODY:
        raise SipParseError(f"body of {length} bytes is over the {MAX_BODY}-byte limit", status=413)
    if len(rest) < length:
        return None, buffer
    end = len(buffer) - len(rest) + length
    return buffer[:end], buffer[end:]


def response_to(req: Request, status: int, reason: str, *, to_tag: str = "",
                extra: list[tuple[str, str]] | None = None, body: bytes = b"",
                content_type: str = "") -> Response:
    """A response to ``req`` (RFC 3261 §8.2.6): Via, From, To (+tag), Call-ID and CSeq copied."""
    headers = Headers()
    for via in req.headers.get_all("via"):
        headers.add("via", via)
    headers.add("from", req.headers.get("from"))
    to = req.headers.get("to")
    if to_tag and ";tag=" not in to.replace(" ", "").lower():
        to = f"{to};tag={to_tag}"
    headers.add("to", to)
    headers.add("call-id", req.call_id)
    headers.add("cseq", req.headers.get("cseq"))
    for name, value in extra or []:
        headers.add(name, value)
    if content_type:
        headers.add("content-type", content_type)
    return Response(headers, body, status=status, reason=reason)
