"""RFC 3261 §8.2.2.3 over real UDP: any request (but ACK and CANCEL) whose Require names an extension the box lacks
is refused 420 Bad Extension with Unsupported listing exactly those, and does nothing else: a BYE that requires one
leaves the call up, a re-sent INVITE gets the same 420; CANCEL with such a Require still cancels, and a Require of
only what the box supports (100rel) is served."""
from __future__ import annotations

from hotline.drivers.base import HungUp, Ringing

from tests.unit.test_sip_endpoint import Far, answer_call, sip, wait_for  # noqa: F401 - the fixture

REQUIRE = "Require: foo, 100rel\r\nRequire: Bar\r\n"


def request(far: Far, method: str, call_id: str, extra: str = REQUIRE, to: str = "<sip:8001@127.0.0.1>") -> None:
    far.send(f"{method} sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{far.port};branch=z9hG4bK{call_id}\r\n"
             f"From: <sip:13700000021@127.0.0.1>;tag=far1\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
             f"CSeq: 1 {method}\r\nContact: <sip:far@127.0.0.1:{far.port}>\r\n{extra}Max-Forwards: 70\r\n"
             f"Content-Length: 0\r\n\r\n")


def test_every_method_requiring_an_unknown_extension_gets_420_and_nothing_else_happens(sip) -> None:
    far = Far(sip.endpoint.port)
    for method in ("OPTIONS", "REGISTER", "INFO", "REFER", "PRACK", "INVITE"):
        request(far, method, f"req-{method}")
        refused = far.recv(b"SIP/2.0")
        assert (refused.status, refused.cseq[1]) == (420, method), (method, refused.status)
        assert refused.headers.get_all("unsupported") == ["bar", "foo"] and refused.to.tag
    request(far, "INVITE", "req-INVITE")                   # the INVITE re-sent: the same 420, no call offered
    again = far.recv(b"SIP/2.0")
    assert again.status == 420 and again.cseq == (1, "INVITE")
    assert not any(isinstance(e, Ringing) for e in sip.events)
    request(far, "OPTIONS", "req-ok", extra="Require: 100rel\r\n")   # what the box has: served
    assert far.recv(b"SIP/2.0").status == 200
    far.close()


def test_a_bye_requiring_an_unknown_extension_leaves_the_call_up_and_cancel_is_never_refused(sip) -> None:
    far = Far(sip.endpoint.port)
    line = answer_call(sip, far, "req-call")
    far.in_dialog("BYE", "req-call", 2, far.to_line, "z9hG4bKbye1", extra="Require: foo\r\n")
    refused = far.recv(b"SIP/2.0")
    assert (refused.status, refused.headers.get("unsupported")) == (420, "foo")
    assert line in sip.endpoint.calls and not any(isinstance(e, HungUp) for e in sip.events)
    far.in_dialog("BYE", "req-call", 3, far.to_line, "z9hG4bKbye2")
    assert far.recv(b"SIP/2.0").status == 200
    wait_for(sip.events, HungUp)

    sip.events.clear()
    far.invite("req-cancel", branch="z9hG4bKc1")
    assert far.recv(b"SIP/2.0 100").status == 100
    wait_for(sip.events, Ringing)
    far.send(f"CANCEL sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{far.port};branch=z9hG4bKc1\r\n"
             f"From: \"Li Lei\" <sip:13700000021@127.0.0.1>;tag=far1\r\nTo: <sip:8001@127.0.0.1>\r\n"
             f"Call-ID: req-cancel\r\nCSeq: 1 CANCEL\r\nRequire: foo\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    assert far.recv(b"SIP/2.0").status == 200
    assert far.recv(b"SIP/2.0").status == 487
    wait_for(sip.events, HungUp)
    far.close()
