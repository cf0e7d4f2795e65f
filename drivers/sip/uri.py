"""SIP header values (RFC 3261 §19, §20, §25): URIs, name-addr, Via, CSeq and parameter lists, parsed strictly."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from .errors import SipParseError

SCHEMES = ("sip", "sips", "tel")
MAX_PARAMS = 32

_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_HOSTNAME = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?\.?$")
_IPV4 = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
_IPV6 = re.compile(r"^\[[0-9A-Fa-f:.]{2,45}\]$")
_USER = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|%[0-9A-Fa-f]{2})+$")
_PASSWORD = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()&=+$,]|%[0-9A-Fa-f]{2})*$")
_PARAM_VALUE = re.compile(r"^(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|%[0-9A-Fa-f]{2})*$")
_TEL = re.compile(r"^\+?[0-9A-Fa-f*#().\-]+$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_URI_BAD = re.compile(r"[ \t<>\"]")
_VIA = re.compile(r"^\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z0-9.!%*_+`'~-]+)\s+([^;\s]+)\s*(.*)$", re.S)
_VIA_SPACES = re.compile(r"\s*([;=])\s*")
_SPACE = re.compile(r"\s")
_HOSTS: dict[str, str] = {}   # hosts found valid -> as returned (bounded: the hosts peers use)
MAX_HOSTS = 1024


def is_token(text: str) -> bool:
    """True when ``text`` is an RFC 3261 token (methods, parameter names, transports)."""
    return bool(_TOKEN.match(text))


def _split_outside_quotes(text: str, sep: str, limit: int = MAX_PARAMS) -> list[str]:
    """Split ``text`` on ``sep`` where it is not inside double quotes or angle brackets."""
    if '"' not in text and "<" not in text and ">" not in text:   # the usual case: nothing to skip over
        parts = text.split(sep)
        if len(parts) > limit + 1:
            raise SipParseError(f"more than {limit} items separated by {sep!r}")
        return parts
    parts = []
    buf: list[str] = []
    quoted = escaped = False
    depth = 0
    for ch in text:
        if quoted:
            buf.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            continue
        if ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        if ch == sep and depth == 0:
            parts.append("".join(buf))
            buf = []
            if len(parts) > limit:
                raise SipParseError(f"more than {limit} items separated by {sep!r}")
            continue
        buf.append(ch)
    if quoted:
        raise SipParseError("unbalanced double quote")
    parts.append("".join(buf))
    return parts


def split_list(value: str, limit: int = MAX_PARAMS) -> list[str]:
    """Split a comma-separated header value (Via, Contact, Allow...) into its items, quotes respected."""
    items = [part.strip() for part in _split_outside_quotes(value, ",", limit)]
    if any(not item for item in items):
        raise SipParseError("empty item in a comma-separated list")
    return items


def parse_params(text: str, *, what: str) -> dict[str, str]:
    """Parse ``;name=value;flag`` pairs (the leading ``;`` already removed); names lower-cased."""
    params: dict[str, str] = {}
    if not text.strip():
        return params
    for raw in _split_outside_quotes(text, ";"):
        name, eq, value = raw.partition("=")
        name = name.strip().lower()
        value = value.strip()
        if not is_token(name):
            raise SipParseError(f"bad parameter name {name!r} in {what}")
        if eq and not value:
            raise SipParseError(f"parameter {name!r} in {what} has '=' and no value")
        if value.startswith('"'):
            if len(value) < 2 or not value.endswith('"'):
                raise SipParseError(f"unbalanced quotes in parameter {name!r} of {what}")
        elif value and not (_PARAM_VALUE.match(value) or _TOKEN.match(value)):
            raise SipParseError(f"bad value for parameter {name!r} in {what}")
        if name in params:
            raise SipParseError(f"parameter {name!r} repeated in {what}")
        params[name] = value
    return params


def format_params(params: dict[str, str]) -> str:
    """``;name=value`` text for a parameter dict (flags have an empty value)."""
    return "".join(f";{k}={v}" if v != "" else f";{k}" for k, v in params.items())


def check_host(host: str, *, what: str) -> str:
    """Validate a host (name, IPv4 or bracketed IPv6) and return it lower-cased."""
    known = _HOSTS.get(host)
    if known is not None:
        return known
    if _IPV6.match(host):
        checked = host.lower()
    elif m := _IPV4.match(host):
        if any(int(part) > 255 for part in m.groups()):
            raise SipParseError(f"bad IPv4 address {host!r} in {what}")
        checked = host
    elif len(host) > 253 or not _HOSTNAME.match(host):
        raise SipParseError(f"bad host {host!r} in {what}")
    else:
        checked = host.lower()
    if len(_HOSTS) < MAX_HOSTS:
        _HOSTS[host] = checked
    return checked


def _split_hostport(text: str, *, what: str) -> tuple[str, int | None]:
    """``host[:port]`` with IPv6 brackets kept on the host."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"unclosed IPv6 bracket in {what}")
        host, rest = text[:end + 1], text[end + 1:]
        if rest and not rest.startswith(":"):
            raise SipParseError(f"junk after IPv6 address in {what}")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_s = text.partition(":")
        port_text = port_text_s if colon else None
    port = None
    if port_text is not None:
        if not port_text.isdigit() or len(port_text) > 5 or not 0 < int(port_text) < 65536:
            raise SipParseError(f"bad port {port_text!r} in {what}")
        port = int(port_text)
    return check_host(host, what=what), port


@dataclass
class SipUri:
    """A sip:, sips: or tel: URI."""

    scheme: str
    user: str = ""
    host: str = ""
    port: int | None = None
    password: str = ""
    params: dict[str, str] = field(default_factory=dict)
    headers: str = ""

    @property
    def user_plain(self) -> str:
        """The user part with %-escapes decoded (what a dialled number is compared as)."""
        return unquote(self.user)

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.user}{format_params(self.params)}"
        auth = ""
        if self.user:
            auth = self.user + (f":{self.password}" if self.password else "") + "@"
        port = f":{self.port}" if self.port else ""
        hdrs = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{auth}{self.host}{port}{format_params(self.params)}{hdrs}"


def parse_uri(text: str) -> SipUri:
    """Parse a SIP/SIPS/tel URI; other schemes raise with status 416."""
    scheme, colon, rest = text.partition(":")
    scheme = scheme.lower()
    if not colon or not _SCHEME.match(scheme):
        raise SipParseError(f"not a URI: {text[:80]!r}")
    if scheme not in SCHEMES:
        raise SipParseError(f"unsupported URI scheme {scheme!r}", status=416)
    if not rest or _URI_BAD.search(rest):
        raise SipParseError(f"bad characters in URI {text[:80]!r}")
    if scheme == "tel":
        number, _, params = rest.partition(";")
        if not _TEL.match(number):
            raise SipParseError(f"bad telephone number {number!r} in tel: URI")
        return SipUri("tel", user=number, params=parse_params(params, what="tel: URI"))
    rest, _, headers = rest.partition("?")
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        userinfo, hostpart = "", rest
    user, pw_sep, password = userinfo.partition(":")
    if at and not user:
        raise SipParseError("empty user part before '@' in URI")
    if user and not _USER.match(user):
        raise SipParseError(f"bad user part {user[:40]!r} in URI")
    if pw_sep and not _PASSWORD.match(password):
        raise SipParseError("bad password part in URI")
    hostport, _, params = hostpart.partition(";")
    host, port = _split_hostport(hostport, what="URI")
    return SipUri(scheme, user=user, host=host, port=port, password=password,
                  params=parse_params(params, what="URI"), headers=headers)


@dataclass
class NameAddr:
    """A From/To/Contact/Route value: optional display name, URI, header parameters (tag, expires...)."""

    uri: SipUri
    display: str = ""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """The dialog tag parameter ('' when absent)."""
        return self.params.get("tag", "")

    def __str__(self) -> str:
        display = ""
        if self.display:
            escaped = self.display.replace("\\", "\\\\").replace('"', '\\"')
            display = f'"{escaped}" '
        return f"{display}<{self.uri}>{format_params(self.params)}"


def _unquote_display(text: str) -> str:
    """Decode a quoted-string display name (backslash escapes)."""
    inner = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(inner):
        ch = inner[i]
        if ch == "\\" and i + 1 < len(inner):
            i += 1
            ch = inner[i]
        out.append(ch)
        i += 1
    return "".join(out)


def parse_name_addr(text: str) -> NameAddr:
    """Parse ``"Name" <uri>;params`` or ``uri;params`` (params then belong to the header)."""
    text = text.strip()
    if text.startswith('"') or "<" in text:
        display = ""
        rest = text
        if rest.startswith('"'):
            end = 1
            while end < len(rest):
                if rest[end] == "\\":
                    end += 2
                    continue
                if rest[end] == '"':
                    break
                end += 1
            if end >= len(rest):
                raise SipParseError("unterminated display name")
            display = _unquote_display(rest[:end + 1])
            rest = rest[end + 1:].lstrip()
            if not rest.startswith("<"):
                raise SipParseError("display name not followed by <URI>")
        else:
            lt = rest.find("<")
            display = rest[:lt].strip()
            if display and not all(is_token(word) for word in display.split()):
                raise SipParseError(f"unquoted display name {display[:40]!r} has separators")
            rest = rest[lt:]
        gt = rest.find(">")
        if gt < 0:
            raise SipParseError("missing '>' after URI")
        uri = parse_uri(rest[1:gt].strip())
        tail = rest[gt + 1:].strip()
        if tail and not tail.startswith(";"):
            raise SipParseError(f"junk after '>': {tail[:40]!r}")
        return NameAddr(uri, display, parse_params(tail[1:], what="address"))
    uri_text, _, params = text.partition(";")
    if "?" in uri_text or "," in uri_text:
        raise SipParseError("an address with '?' or ',' must be in angle brackets")
    return NameAddr(parse_uri(uri_text.strip()), "", parse_params(params, what="address"))


@dataclass
class Via:
    """One Via hop: transport, sent-by host and port, and parameters (branch, received, rport)."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def branch(self) -> str:
        """The transaction branch ('' when the sender gave none)."""
        return self.params.get("branch", "")

    def __str__(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"


def parse_via(text: str) -> Via:
    """Parse one Via value (``SIP/2.0/UDP host:port;branch=...``), spaces around '/' allowed."""
    m = _VIA.match(text)
    if not m:
        raise SipParseError(f"bad Via {text[:80]!r}")
    transport, hostport, rest = m.group(1).upper(), m.group(2), m.group(3).strip()
    if rest and not rest.startswith(";"):
        raise SipParseError(f"junk in Via after the host: {rest[:40]!r}")
    if _SPACE.search(rest):   # spaces around ';' and '=' (without any, there is nothing to take out)
        rest = _VIA_SPACES.sub(r"\1", rest)
    params = parse_params(rest[1:], what="Via")
    host, port = _split_hostport(hostport, what="Via")
    return Via(transport, host, port, params)


def parse_cseq(text: str) -> tuple[int, str]:
    """Parse ``CSeq: 314159 INVITE`` into (number, method); the number must fit 31 bits."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or len(parts[0]) > 10 or not is_token(parts[1]):
        raise SipParseError(f"bad CSeq {text[:60]!r}")
    number = int(parts[0])
    if number >= 2 ** 31:
        raise SipParseError(f"CSeq number {number} too large")
    return number, parts[1]
