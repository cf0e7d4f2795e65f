"""SIP message parsing: tortuous valid messages are read right, malformed ones are refused with the right status."""
from __future__ import annotations

import pytest

from hotline.drivers.sip import message as sipmsg
from hotline.drivers.sip.errors import SipParseError
from hotline.drivers.sip.uri import parse_name_addr, parse_uri, parse_via


def crlf(text: str) -> bytes:
    """Test messages are written with \\n; the wire uses CRLF."""
    return text.replace("\n", "\r\n").encode("utf-8")


INVITE = crlf("""INVITE sip:8001@box.example.com SIP/2.0
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport
Max-Forwards: 70
To: <sip:8001@box.example.com>
From: "Alice" <sip:alice@carrier.example.net>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.example.net
CSeq: 314159 INVITE
Contact: <sip:alice@192.0.2.10>
Content-Type: application/sdp
Content-Length: 5

v=0
""")


def test_a_plain_invite_is_read_with_its_dialog_fields() -> None:
    req = sipmsg.parse(INVITE)
    assert isinstance(req, sipmsg.Request)
    assert req.method == "INVITE"
    assert req.uri.user == "8001" and req.uri.host == "box.example.com"
    assert req.cseq == (314159, "INVITE")
    assert req.from_.display == "Alice" and req.from_.tag == "1928301774"
    assert req.to.tag == ""
    via = req.vias[0]
    assert (via.transport, via.host, via.port, via.branch) == ("UDP", "192.0.2.10", 5060, "z9hG4bK776asdhds")
    assert "rport" in via.params
    assert req.body == b"v=0\r\n"


TORTUOUS = crlf("""INVITE sip:%2B8610%208001@box.example.com;user=phone SIP/2.0
TO :
 "Dr. \\"Who\\"" <sip:8001@box.example.com>
from   : "\u5f20\u4e09" <sip:13700000021@carrier.example.net>;tag=98asjd8
MaX-fOrWaRdS: 0068
Call-ID: wsinv.ndaksdj@192.0.2.1
Content-Length   : 0
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    192.0.2.2;branch=390skdjuw
v:  SIP/2.0/TCP spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  [2001:db8::9:1]:5070;branch=z9hG4bK30239
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
m:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =
      newvalue ;
  secondparam ; q = 0.33

""")


def test_a_changed_header_is_read_anew_not_from_what_was_parsed_before() -> None:
    """Via, From and To are parsed once and kept while their text is unchanged; a header set after that is read
    as it now is."""
    req = sipmsg.parse(INVITE)
    assert req.to.tag == "" and req.to is req.to
    req.headers.set("to", "<sip:8001@box.example.com>;tag=abc")
    req.headers.set("from", "<sip:bob@carrier.example.net>;tag=9")
    req.headers.add("via", "SIP/2.0/TCP 198.51.100.1:5070;branch=z9hG4bKsecond")
    assert req.to.tag == "abc"
    assert req.from_.uri.user == "bob" and req.from_.tag == "9"
    assert [v.host for v in req.vias] == ["192.0.2.10", "198.51.100.1"]


def test_a_tortuous_but_valid_invite_is_read() -> None:
    """Folded lines, odd case and spacing, compact names, escapes, IPv6 and UTF-8 names all parse."""
    req = sipmsg.parse(TORTUOUS)
    assert req.uri.user_plain == "+8610 8001"
    assert req.uri.params == {"user": "phone"}
    assert req.to.display == 'Dr. "Who"'
    assert req.from_.display == "\u5f20\u4e09"
    assert req.cseq == (9, "INVITE")
    assert [v.host for v in req.vias] == ["192.0.2.2", "spindle.example.com", "[2001:db8::9:1]"]
    assert [v.transport for v in req.vias] == ["UDP", "TCP", "UDP"]
    assert req.vias[2].port == 5070
    assert req.headers.get("newfangledheader") == "newfangled value continued newfangled value"
    contact = parse_name_addr(req.headers.get("contact"))
    assert contact.params == {"newparam": "newvalue", "secondparam": "", "q": "0.33"}


def test_udp_bytes_past_content_length_are_dropped() -> None:
    req = sipmsg.parse(INVITE + b"garbage after the body")
    assert req.body == b"v=0\r\n"


def test_a_response_is_read() -> None:
    resp = sipmsg.parse(crlf("""SIP/2.0 180 Ringing here
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds
To: <sip:8001@box.example.com>;tag=abc
From: <sip:alice@carrier.example.net>;tag=1928301774
Call-ID: a84b4c76e66710@pc33.example.net
CSeq: 314159 INVITE
Content-Length: 0

"""))
    assert isinstance(resp, sipmsg.Response)
    assert (resp.status, resp.reason, resp.to.tag) == (180, "Ringing here", "abc")


def _invite_with(old: str, new: str) -> bytes:
    text = INVITE.decode()
    assert old in text
    return text.replace(old, new, 1).encode("utf-8")


BAD = [
    # (what, bytes, expected status)
    ("no Call-ID", _invite_with("Call-ID: a84b4c76e66710@pc33.example.net\r\n", ""), 400),
    ("no CSeq", _invite_with("CSeq: 314159 INVITE\r\n", ""), 400),
    ("no Via", _invite_with("Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n", ""), 400),
    ("CSeq method differs", _invite_with("CSeq: 314159 INVITE", "CSeq: 314159 ACK"), 400),
    ("CSeq over 2**31", _invite_with("CSeq: 314159", "CSeq: 2147483648"), 400),
    ("CSeq not a number", _invite_with("CSeq: 314159", "CSeq: 3x4"), 400),
    ("version 7.0", _invite_with("box.example.com SIP/2.0", "box.example.com SIP/7.0"), 505),
    ("unknown URI scheme", _invite_with("INVITE sip:8001@", "INVITE nobarf:8001@"), 416),
    ("angle brackets in the Request-URI", _invite_with("INVITE sip:8001@box.example.com ",
                                                        "INVITE <sip:8001@box.example.com> "), 400),
    ("spaces in the Request-URI", _invite_with("INVITE sip:8001@box.example.com ",
                                               "INVITE sip:8001 @box.example.com "), 400),
    ("two spaces after the method", _invite_with("INVITE sip:", "INVITE  sip:"), 400),
    ("Content-Length larger than the body", _invite_with("Content-Length: 5", "Content-Length: 5000"), 400),
    ("negative Content-Length", _invite_with("Content-Length: 5", "Content-Length: -4"), 400),
    ("huge Content-Length", _invite_with("Content-Length: 5", "Content-Length: 99999999999999999999"), 400),
    ("Content-Length over the body limit", _invite_with("Content-Length: 5", "Content-Length: 900000"), 413),
    ("unbalanced quote in a display name", _invite_with('"Alice" <sip', '"Alice <sip'), 400),
    ("port out of range", _invite_with("192.0.2.10:5060", "192.0.2.10:70000"), 400),
    ("bad IPv4", _invite_with("Via: SIP/2.0/UDP 192.0.2.10", "Via: SIP/2.0/UDP 192.0.2.300"), 400),
    ("two From headers", _invite_with("Call-ID:", "From: <sip:x@example.com>;tag=2\r\nCall-ID:"), 400),
    ("Max-Forwards not a number", _invite_with("Max-Forwards: 70", "Max-Forwards: seventy"), 400),
    ("NUL in a header", _invite_with("Max-Forwards: 70", "Max-Forwards: 7\x000"), 400),
    ("head never ends", INVITE.split(b"\r\n\r\n")[0], 400),
    ("status code 1000", crlf("SIP/2.0 1000 Huh\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:a@b>\n"
                              "From: <sip:a@b>;tag=1\nCall-ID: x\nCSeq: 1 INVITE\n\n"), 400),
    ("Call-ID with spaces", _invite_with("Call-ID: a84b4c76e66710@pc33.example.net",
                                         "Call-ID: a84b c76e66710"), 400),
    ("header without colon", _invite_with("Max-Forwards: 70", "Max-Forwards 70"), 400),
    ("empty user before @", _invite_with("INVITE sip:8001@", "INVITE sip:@"), 400),
]


@pytest.mark.parametrize("what,data,status", BAD, ids=[b[0] for b in BAD])
def test_malformed_messages_are_refused_with_the_status_to_answer(what: str, data: bytes, status: int) -> None:
    with pytest.raises(SipParseError) as err:
        sipmsg.parse(data)
    assert err.value.status == status, (what, err.value.reason)
    assert err.value.reason


def test_non_utf8_and_oversize_are_refused() -> None:
    with pytest.raises(SipParseError, match="UTF-8"):
        sipmsg.parse(INVITE.replace(b"Alice", b"Al\xffice"))
    with pytest.raises(SipParseError) as err:
        sipmsg.parse(INVITE + b"x" * sipmsg.MAX_MESSAGE)
    assert err.value.status == 413
    many = INVITE.replace(b"Max-Forwards: 70\r\n", b"X-A: 1\r\n" * 200)
    with pytest.raises(SipParseError) as err:
        sipmsg.parse(many)
    assert err.value.status == 413


def test_a_message_survives_serialising_and_reading_back() -> None:
    req = sipmsg.parse(TORTUOUS)
    again = sipmsg.parse(req.to_bytes())
    assert [(k, v) for k, v in again.headers.fields if k != "content-length"] == [
        (k, v) for k, v in req.headers.fields if k != "content-length"]
    assert again.cseq == req.cseq and again.uri.user == req.uri.user
    assert b"Content-Length: 0\r\n\r\n" in req.to_bytes()


def test_a_response_copies_the_dialog_headers_and_adds_the_tag() -> None:
    req = sipmsg.parse(INVITE)
    resp = sipmsg.response_to(req, 486, "Busy Here", to_tag="box1")
    back = sipmsg.parse(resp.to_bytes())
    assert back.status == 486 and back.to.tag == "box1"
    assert back.call_id == req.call_id and back.cseq == req.cseq
    assert back.vias[0].branch == req.vias[0].branch


def test_tcp_streams_are_framed_by_content_length() -> None:
    stream = INVITE + INVITE[:40]
    first, rest = sipmsg.frame_stream(stream)
    assert first == INVITE and rest == INVITE[:40]
    assert sipmsg.frame_stream(rest) == (None, rest)
    no_length = INVITE.replace(b"Content-Length: 5\r\n", b"")
    with pytest.raises(SipParseError):
        sipmsg.frame_stream(no_length)
    with pytest.raises(SipParseError):
        sipmsg.parse(no_length, stream=True)


def test_keepalives_are_recognised() -> None:
    assert sipmsg.is_keepalive(b"\r\n\r\n") and sipmsg.is_keepalive(b"\r\n")
    assert not sipmsg.is_keepalive(INVITE)


@pytest.mark.parametrize("text,user,host,port", [
    ("sip:8001@10.0.0.1:5070;transport=udp", "8001", "10.0.0.1", 5070),
    ("sips:alice:secret@Example.COM", "alice", "example.com", None),
    ("sip:[2001:db8::1]:5060", "", "[2001:db8::1]", 5060),
    ("sip:box.example.com", "", "box.example.com", None),
])
def test_uris(text: str, user: str, host: str, port: int | None) -> None:
    uri = parse_uri(text)
    assert (uri.user, uri.host, uri.port) == (user, host, port)
    assert parse_uri(str(uri)) == uri


@pytest.mark.parametrize("text", ["sip:", "sip:a@b@", "sip:host:0", "sip:host:99999", "sip:ho st",
                                  "sip:[::1", "sip:256.1.1.1", "sip:-bad-.example", "tel:call-me",
                                  "sip:a@b;=x", "sip:a@b;p=v;p=w"])
def test_bad_uris_are_refused(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_uri(text)


def test_via_with_received_and_rport() -> None:
    via = parse_via("SIP/2.0/UDP 10.0.0.2:5062;received=192.0.2.7;rport=40000;branch=z9hG4bKx")
    assert via.params["received"] == "192.0.2.7" and via.params["rport"] == "40000"
    assert parse_via(str(via)) == via


def test_lists_that_may_be_empty_are_accepted_and_others_are_not() -> None:
    """RFC 3261 §25.1: Allow, Supported, Accept... may be empty (baresip sends "Supported:"); Require may not."""
    head = ("OPTIONS sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n"
            "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:8001@127.0.0.1>\r\nCall-ID: e1\r\nCSeq: 1 OPTIONS\r\n"
            "Supported:\r\nAllow: \r\nAccept:\r\n")
    msg = sipmsg.parse((head + "Content-Length: 0\r\n\r\n").encode())
    assert msg.headers.get_all("supported") == [] and msg.headers.get_all("allow") == []
    with pytest.raises(SipParseError):
        sipmsg.parse((head + "Require:\r\nContent-Length: 0\r\n\r\n").encode())
