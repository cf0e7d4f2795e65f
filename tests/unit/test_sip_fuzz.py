"""Malformed SIP cannot crash the parser: random bytes, mutations and PROTOS-style classes give SipParseError only."""
from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.drivers.sip import message as sipmsg
from hotline.drivers.sip.errors import SipParseError
from hotline.drivers.sip.uri import parse_name_addr

VALID = (
    "INVITE sip:8001@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Caller\" <sip:13700000021@127.0.0.1:5070>;tag=77\r\n"
    "To: <sip:8001@127.0.0.1>\r\n"
    "Call-ID: 1-2@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:13700000021@127.0.0.1:5070>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 10\r\n\r\n"
    "v=0\r\no=- 1\r\n"
)


def _parse_or_refuse(data: bytes) -> str:
    """Parse; a success must serialise and parse back the same. Returns 'ok' or 'refused'."""
    try:
        msg = sipmsg.parse(data)
    except SipParseError as exc:
        assert 400 <= exc.status < 600 and exc.reason
        return "refused"
    again = sipmsg.parse(msg.to_bytes())
    assert again.call_id == msg.call_id and again.cseq == msg.cseq
    for value in msg.headers.get_all("contact"):
        if value != "*":
            try:
                parse_name_addr(value)
            except SipParseError:
                pass
    return "ok"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_are_refused_or_read(data: bytes) -> None:
    _parse_or_refuse(data)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.sampled_from(["del", "ins", "rep"]),
                          st.binary(min_size=1, max_size=8)), min_size=1, max_size=6))
def test_mutated_invites_are_refused_or_read(edits: list[tuple[int, str, bytes]]) -> None:
    data = bytearray(VALID.encode())
    for pos, kind, blob in edits:
        pos = min(pos, len(data))
        if kind == "del":
            del data[pos:pos + len(blob)]
        elif kind == "ins":
            data[pos:pos] = blob
        else:
            data[pos:pos + len(blob)] = blob
    _parse_or_refuse(bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_stream_framing_never_raises_anything_else(data: bytes) -> None:
    try:
        msg, rest = sipmsg.frame_stream(data)
    except SipParseError:
        return
    assert msg is None or len(msg) + len(rest) <= len(data)


# PROTOS c07-sip style classes: each header value, the method, the URI and the version replaced
# by overflows, format strings, bad separators, control bytes, huge numbers; and each header dropped.
PAYLOADS = [b"A" * n for n in (128, 1024, 4000, 8000, 20000)] + [
    b"%s%s%s%s%n%n", b"%.1024d", b"\x00", b"\xff\xfe", b"\r\n", b"\r", b"\n \n", b";;;;", b",,,,",
    b"<<<<", b">>>>", b"\"", b"::::", b"@@@@", b"sip:", b"sip:@", b"-1", b"4294967296",
    b"99999999999999999999999", b"\x1b[2J", b"\t\t\t", b"\xe4\xb8\xad", b"'or'1'='1", b"",
]


def _protos_cases() -> list[bytes]:
    lines = VALID.encode().split(b"\r\n")
    cases: list[bytes] = []
    for i, line in enumerate(lines):
        if not line:
            continue
        name, sep, _ = line.partition(b": ")
        for payload in PAYLOADS:
            new = list(lines)
            new[i] = name + sep + payload if sep else payload
            cases.append(b"\r\n".join(new))
        cases.append(b"\r\n".join(lines[:i] + lines[i + 1:]))
    first = lines[0].split(b" ")
    for pos, payload in itertools.product(range(3), PAYLOADS):
        parts = list(first)
        parts[pos] = payload
        cases.append(b"\r\n".join([b" ".join(parts)] + lines[1:]))
    for count in (100, 1000, 5000):
        cases.append(VALID.encode().replace(b"Max-Forwards: 70\r\n", b"Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\n" * count))
        cases.append(VALID.encode().replace(b"Max-Forwards: 70\r\n", b"X: " + b"a," * count + b"\r\n"))
    return cases


def test_protos_style_classes_are_all_refused_or_read() -> None:
    cases = _protos_cases()
    outcomes = [_parse_or_refuse(case) for case in cases]
    assert len(cases) > 400
    # The unchanged message and harmless payloads still parse; the others are refused, none crash.
    assert outcomes.count("ok") >= 10 and outcomes.count("refused") >= 300, (outcomes.count("ok"), outcomes.count("refused"))


def test_the_live_endpoint_survives_hostile_dialogs_with_bounded_state() -> None:
    """Mutated INVITE/ACK/BYE/CANCEL/REGISTER/OPTIONS/INFO from many sources into a running endpoint: no handler
    fails (internal_errors stays 0), calls never exceed the channels, remembered answers and timers stay bounded."""
    import random
    import socket

    from hotline.drivers.sip.driver import SipDriver

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1] // 2 * 2
    base = base if base < 64000 else 30000
    events: list = []
    drv = SipDriver("sip0", {"listen": "127.0.0.1:0", "rtp_ports": f"{base}-{base + 40}", "channels": 4,
                             "trunks": ["lab=127.0.0.1"], "extensions": ["1001"]}, events.append)
    drv.open()
    ep = drv.endpoint
    rng = random.Random(7)
    methods = ["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "PRACK", "REFER"]
    try:
        for n in range(3000):
            method = rng.choice(methods)
            call_id = f"f{rng.randrange(40)}"
            msg = (VALID.replace("INVITE sip:", f"{method} sip:", 1).replace("CSeq: 1 INVITE", f"CSeq: {n} {method}")
                   .replace("1-2@127.0.0.1", call_id).replace("z9hG4bK-1", f"z9hG4bK-{rng.randrange(60)}"))
            if rng.random() < 0.3:
                msg = msg.replace("To: <sip:8001@127.0.0.1>", f"To: <sip:8001@127.0.0.1>;tag=t{rng.randrange(5)}")
            data = bytearray(msg.encode())
            for _ in range(rng.randrange(3)):
                pos = rng.randrange(len(data))
                data[pos:pos + rng.randrange(1, 6)] = bytes(rng.randrange(256) for _ in range(rng.randrange(6)))
            source = ("127.0.0.1" if rng.random() < 0.7 else f"10.0.0.{rng.randrange(1, 9)}", 5070 + rng.randrange(3))
            ep._datagram(bytes(data), source)
            if n % 500 == 0:
                for name in list(ep.calls):
                    rng.choice([drv.endpoint.answer, drv.endpoint.hangup])(name)
        assert ep.stats.internal_errors == 0
        assert len(ep.calls) <= 4
        assert len(ep._answered) <= 4096 and len(ep._acks) <= 4096
        assert len(ep.timers) < 20000
        assert ep.stats.malformed > 100 and ep.stats.datagrams == 3000
    finally:
        drv.close()
