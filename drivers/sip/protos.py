"""Test cases of the PROTOS c07-sip classes: an INVITE with one element replaced by a hostile value, then a CANCEL.

The OUSPG PROTOS c07-sip suite (4,527 INVITEs) is distributed only as a Java jar that is not packaged anywhere
this box installs from, so this module rebuilds its classes: one valid INVITE (case 0), then for each of 62
elements of the request line, the SIP headers and the SDP body (the element's "group", as PROTOS names them:
``SIP-Via-Host``, ``SDP-Media-Port`` ...) the same 73 replacements (overflows of growing length in several
characters, format strings, integer values, ANSI escapes, CR/LF injection, bad encodings, the element missing):
1 + 62 x 73 = 4,527 cases. ``extra_cases`` adds what PROTOS lacks: whole headers missing and huge counts.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

MAX_DATAGRAM = 65000          # a UDP datagram's payload must stay under 65,507 bytes

# The INVITE of every case; each {slot} is one element a group replaces.
TEMPLATE = (
    "{method} {ruri_scheme}{ruri_colon}{ruri_user}{ruri_at}{ruri_host} {sip_version}{request_crlf}"
    "Via: {via_version} {via_host}{via_hostcolon}{via_hostport};{via_branch}={via_tag}\r\n"
    "From{from_colon} {from_display} {from_left}{from_uri}{from_right};tag={from_tag}\r\n"
    "To{to_colon} {to_display} {to_left}{to_uri}{to_right}\r\n"
    "Call-ID: {callid_value}{callid_at}{callid_host}\r\n"
    "CSeq: {cseq_integer} {cseq_method}\r\n"
    "Contact: {contact_display} {contact_left}{contact_uri}{contact_right}\r\n"
    "Expires: {expires}\r\n"
    "Max-Forwards: {max_forwards}\r\n"
    "Content-Type: {content_type}\r\n"
    "Content-Length: {content_length}\r\n"
    "{header_end}"
)
SDP = (
    "{v_identifier}{v_equal}{v_integer}\r\n"
    "o={o_username} {o_sessionid} 1 {o_networktype} {o_addrtype} {o_ip}\r\n"
    "s={s_session}\r\n"
    "c={c_networktype} {c_addrtype} {c_ip}\r\n"
    "t={t_start} {t_stop}\r\n"
    "m={m_media} {m_port} {m_transport} {m_type}\r\n"
    "a={a_rtpmap}:{a_rtpint} {a_codec}{a_crlf}"
)
_SLOT = re.compile(r"\{(\w+)\}")


def _defaults(n: int, user: str, host: str, local: tuple[str, int], transport: str) -> dict[str, str]:
    lhost, lport = local
    return {
        "method": "INVITE", "ruri_scheme": "sip", "ruri_colon": ":", "ruri_user": user, "ruri_at": "@",
        "ruri_host": host, "sip_version": "SIP/2.0", "request_crlf": "\r\n",
        "via_version": f"SIP/2.0/{transport}", "via_host": lhost, "via_hostcolon": ":", "via_hostport": str(lport),
        "via_branch": "branch", "via_tag": f"z9hG4bKp{n}",
        "from_colon": ":", "from_display": '"PROTOS"', "from_left": "<", "from_uri": f"sip:user@{lhost}:{lport}",
        "from_right": ">", "from_tag": f"t{n}",
        "to_colon": ":", "to_display": '"Receiver"', "to_left": "<", "to_uri": f"sip:{user}@{host}", "to_right": ">",
        "callid_value": f"p{n}", "callid_at": "@", "callid_host": lhost,
        "cseq_integer": str(n + 1), "cseq_method": "INVITE",
        "contact_display": '"PROTOS"', "contact_left": "<", "contact_uri": f"sip:user@{lhost}:{lport}",
        "contact_right": ">", "expires": "1200", "max_forwards": "70", "content_type": "application/sdp",
        "content_length": "", "header_end": "\r\n",
        "v_identifier": "v", "v_equal": "=", "v_integer": "0", "o_username": "user", "o_sessionid": "1",
        "o_networktype": "IN", "o_addrtype": "IP4", "o_ip": lhost, "s_session": "-", "c_networktype": "IN",
        "c_addrtype": "IP4", "c_ip": lhost, "t_start": "0", "t_stop": "0", "m_media": "audio", "m_port": "9876",
        "m_transport": "RTP/AVP", "m_type": "0", "a_rtpmap": "rtpmap", "a_rtpint": "0", "a_codec": "PCMU/8000",
        "a_crlf": "\r\n",
    }


# The 62 groups, named as PROTOS names its groups, each the slot it replaces.
GROUPS: dict[str, str] = {
    "SIP-Method": "method", "SIP-Request-URI-Scheme": "ruri_scheme", "SIP-Request-URI-Colon": "ruri_colon",
    "SIP-Request-URI-User": "ruri_user", "SIP-Request-URI-At": "ruri_at", "SIP-Request-URI-Host": "ruri_host",
    "SIP-Version": "sip_version", "SIP-Request-CRLF": "request_crlf",
    "SIP-Via-Version": "via_version", "SIP-Via-Host": "via_host", "SIP-Via-Hostcolon": "via_hostcolon",
    "SIP-Via-Hostport": "via_hostport", "SIP-Via-Tag": "via_tag",
    "SIP-From-Colon": "from_colon", "SIP-From-Displayname": "from_display",
    "SIP-From-Left-Paranthesis": "from_left", "SIP-From-URI": "from_uri",
    "SIP-From-Right-Paranthesis": "from_right", "SIP-From-Tag": "from_tag",
    "SIP-To-Colon": "to_colon", "SIP-To-Displayname": "to_display", "SIP-To-Left-Paranthesis": "to_left",
    "SIP-To-URI": "to_uri", "SIP-To-Right-Paranthesis": "to_right",
    "SIP-Call-Id-Value": "callid_value", "SIP-Call-Id-At": "callid_at", "SIP-Call-Id-Ip": "callid_host",
    "SIP-Cseq-Integer": "cseq_integer", "SIP-Cseq-String": "cseq_method",
    "SIP-Contact-Displayname": "contact_display", "SIP-Contact-Left-Paranthesis": "contact_left",
    "SIP-Contact-URI": "contact_uri", "SIP-Contact-Right-Paranthesis": "contact_right",
    "SIP-Expires": "expires", "SIP-Max-Forwards": "max_forwards", "SIP-Content-Type": "content_type",
    "SIP-Content-Length": "content_length", "CRLF-Request": "header_end",
    "SDP-Proto-v-Identifier": "v_identifier", "SDP-Proto-v-Equal": "v_equal", "SDP-Proto-v-Integer": "v_integer",
    "SDP-Origin-Username": "o_username", "SDP-Origin-Sessionid": "o_sessionid",
    "SDP-Origin-Networktype": "o_networktype", "SDP-Origin-Addrtype": "o_addrtype", "SDP-Origin-Ip": "o_ip",
    "SDP-Session": "s_session", "SDP-Connection-Networktype": "c_networktype",
    "SDP-Connection-Addrtype": "c_addrtype", "SDP-Connection-Ip": "c_ip", "SDP-Time-Start": "t_start",
    "SDP-Time-Stop": "t_stop", "SDP-Media-Media": "m_media", "SDP-Media-Port": "m_port",
    "SDP-Media-Transport": "m_transport", "SDP-Media-Type": "m_type", "SDP-Attribute-Rtpmap": "a_rtpmap",
    "SDP-Attribute-Rtpint": "a_rtpint", "SDP-Attribute-Codec": "a_codec", "SDP-Attribute-CRLF": "a_crlf",
    "SIP-Via-Branch": "via_branch", "SIP-Request-URI-Host-Port": "ruri_host_port",
}


def _payloads() -> list[tuple[str, bytes]]:
    """The 73 replacements every group gets, each with its PROTOS-style exception class name."""
    out: list[tuple[str, bytes]] = []
    for n in (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, MAX_DATAGRAM):
        out.append(("overflow-general", b"a" * n))
    for name, char in (("overflow-space", b" "), ("overflow-null", b"\x00"), ("overflow-colon", b":"),
                       ("overflow-slash", b"/"), ("overflow-at", b"@"), ("overflow-semicolon", b";"),
                       ("overflow-percent", b"%")):
        for n in (256, 2048, 16384):
            out.append((name, char * n))
    for fmt in (b"%s" * 10, b"%n" * 10, b"%x" * 64, b"%s" * 1024, b"%.1024d", b"%99999999999s", b"%p%p%p%p",
                b"%@%@%@", b"%-9999999999d", b"%08x." * 128):
        out.append(("fmtstring", fmt))
    for value in (b"-1", b"0", b"1", b"127", b"128", b"255", b"256", b"32767", b"32768", b"65535", b"65536",
                  b"2147483647", b"2147483648", b"4294967295", b"4294967296", b"-2147483649",
                  b"99999999999999999999", b"0x7fffffff", b"1e9", b"00000000000000000000001"):
        out.append(("integer-values", value))
    for esc in (b"\x1b[2J\x1b[H", b"\x1b]0;hotline\x07", b"\x1b[31m" * 100):
        out.append(("ansi-escape", esc))
    for crlf in (b"\r\n", b"\r\n\r\n", b"x\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKinjected", b"\n", b"\r"):
        out.append(("crlf-injection", crlf))
    for enc in (b"\xc0\xaf", b"\xff\xfe\xfd", b"%00"):
        out.append(("encoding", enc))
    out.append(("missing", b""))
    return out


PAYLOADS = _payloads()


@dataclass(frozen=True)
class Case:
    """One test case: its number, group and class, the INVITE and the CANCEL that follows it."""

    number: int
    group: str
    kind: str
    invite: bytes
    cancel: bytes


def _render(values: dict[str, bytes]) -> bytes:
    sdp = _fill(SDP, values)
    if not values["content_length"]:
        values = {**values, "content_length": str(len(sdp)).encode()}
    return _fill(TEMPLATE, values) + sdp


def _fill(template: str, values: dict[str, bytes]) -> bytes:
    out = bytearray()
    pos = 0
    for m in _SLOT.finditer(template):
        out += template[pos:m.start()].encode()
        out += values[m.group(1)]
        pos = m.end()
    out += template[pos:].encode()
    return bytes(out)


def _values(n: int, user: str, host: str, local: tuple[str, int], transport: str) -> dict[str, bytes]:
    return {k: v.encode() for k, v in _defaults(n, user, host, local, transport).items()}


def _cancel(n: int, user: str, host: str, local: tuple[str, int], transport: str) -> bytes:
    lhost, lport = local
    return (f"CANCEL sip:{user}@{host} SIP/2.0\r\nVia: SIP/2.0/{transport} {lhost}:{lport};branch=z9hG4bKp{n}\r\n"
            f"From: \"PROTOS\" <sip:user@{lhost}:{lport}>;tag=t{n}\r\nTo: \"Receiver\" <sip:{user}@{host}>\r\n"
            f"Call-ID: p{n}@{lhost}\r\nCSeq: {n + 1} CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def _replace(values: dict[str, bytes], slot: str, payload: bytes) -> dict[str, bytes]:
    values = dict(values)
    if slot == "ruri_host_port":             # a port after the Request-URI host
        values["ruri_host"] = values["ruri_host"] + b":" + payload
    else:
        values[slot] = payload
    return values


CASES = 1 + len(GROUPS) * len(PAYLOADS)   # 4,527


def case(number: int, *, user: str = "8001", host: str = "127.0.0.1", local: tuple[str, int] = ("127.0.0.1", 5070),
         transport: str = "UDP", limit: int = MAX_DATAGRAM) -> Case:
    """Case ``number`` (0: the valid INVITE), addressed to ``user@host`` from ``local``; an INVITE that would pass
    ``limit`` bytes has its overflow shortened to fit."""
    values = _values(number, user, host, local, transport)
    cancel = _cancel(number, user, host, local, transport)
    if number == 0:
        return Case(0, "valid", "valid", _render(values), cancel)
    if not 0 < number < CASES:
        raise IndexError(f"case {number}: there are {CASES}")
    group, slot = list(GROUPS.items())[(number - 1) // len(PAYLOADS)]
    kind, payload = PAYLOADS[(number - 1) % len(PAYLOADS)]
    invite = _render(_replace(values, slot, payload))
    if len(invite) > limit:
        payload = payload[:max(0, len(payload) - (len(invite) - limit))]
        invite = _render(_replace(values, slot, payload))
    return Case(number, group, kind, invite, cancel)


def cases(*, user: str = "8001", host: str = "127.0.0.1", local: tuple[str, int] = ("127.0.0.1", 5070),
          transport: str = "UDP", limit: int = MAX_DATAGRAM) -> Iterator[Case]:
    """All 4,527 cases in PROTOS order (case 0 valid)."""
    for number in range(CASES):
        yield case(number, user=user, host=host, local=local, transport=transport, limit=limit)


def extra_cases(start: int, *, user: str = "8001", host: str = "127.0.0.1",
                local: tuple[str, int] = ("127.0.0.1", 5070), transport: str = "UDP") -> Iterator[Case]:
    """Beyond PROTOS: each header missing, and huge counts (a header repeated, a list of thousands of items)."""
    n = start
    names = [b"Via", b"From", b"To", b"Call-ID", b"CSeq", b"Contact", b"Expires", b"Max-Forwards",
             b"Content-Type", b"Content-Length"]
    for name in names:
        base = _render(_values(n, user, host, local, transport))
        head, sep, body = base.partition(b"\r\n\r\n")
        lines = [ln for ln in head.split(b"\r\n") if not ln.startswith(name + b":")]
        yield Case(n, "Missing-Header", name.decode(), b"\r\n".join(lines) + sep + body,
                   _cancel(n, user, host, local, transport))
        n += 1
    for name, line, count in ((b"Via", b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKv", 20),
                              (b"Via", b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKv", 2000),
                              (b"X-Header", b"X-Header: x", 100), (b"X-Header", b"X-Header: x", 5000),
                              (b"Contact", b"Contact: <sip:a@192.0.2.1>", 1000),
                              (b"List", b"Supported: " + b"x," * 20000 + b"x", 1),
                              (b"Params", b"X-P: v" + b";p=1" * 10000, 1)):
        base = _render(_values(n, user, host, local, transport))
        head, sep, body = base.partition(b"\r\n\r\n")
        first, _, rest = head.partition(b"\r\n")
        data = first + b"\r\n" + b"\r\n".join([line] * count) + b"\r\n" + rest + sep + body
        yield Case(n, "Huge-Count", f"{name.decode()} x{count}", data[:MAX_DATAGRAM],
                   _cancel(n, user, host, local, transport))
        n += 1
