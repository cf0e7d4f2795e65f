"""100rel (RFC 3262) over real UDP: a caller that requires it hears a reliable 180 (Require: 100rel, RSeq), resent
until its PRACK; the box's 200 OK waits for that PRACK; a PRACK naming nothing gets 481; an INVITE requiring an
extension the box lacks gets 420 with Unsupported, and one without 100rel gets no 180 at all."""
from __future__ import annotations

import socket

from hotline.drivers.base import AnswerConfirmed, Ringing
from hotline.drivers.sip import message as sipmsg

from tests.unit.test_sip_endpoint import Far, sip, wait_for  # noqa: F401 - the fixture

BODY = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n")


def invite(far: Far, call_id: str, extra: str) -> None:
    body = BODY % far.media.getsockname()[1]
    far.send(f"INVITE sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{far.port};branch=z9hG4bK{call_id}\r\n"
             f"From: <sip:13700000021@127.0.0.1>;tag=far1\r\nTo: <sip:8001@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
             f"CSeq: 1 INVITE\r\nContact: <sip:far@127.0.0.1:{far.port}>\r\n{extra}Max-Forwards: 70\r\n"
             f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n", body)


def test_a_caller_requiring_100rel_gets_a_reliable_180_and_the_answer_after_its_prack(sip) -> None:
    far = Far(sip.endpoint.port)
    invite(far, "rel-1", "Require: 100rel\r\nSupported: 100rel\r\n")
    first = far.recv(b"SIP/2.0 180")
    assert first.headers.get("require") == "100rel" and first.headers.get("rseq") == "1" and first.to.tag
    assert far.recv(b"SIP/2.0 180").headers.get("rseq") == "1"      # no PRACK yet: resent (0.5 s)
    ring = wait_for(sip.events, Ringing)
    sip.line_map[ring.line].answer()                                    # the engine answers before the PRACK
    far.sig.settimeout(0.4)
    try:
        early = far.recv(b"SIP/2.0 200")
    except socket.timeout:
        early = None
    assert early is None                                                # held until the PRACK
    far.sig.settimeout(3)
    to = first.headers.get("to")
    far.in_dialog("PRACK", "rel-1", 2, to, "z9hG4bKp0", extra="RAck: 7 1 INVITE\r\n")   # names no 180 of ours
    assert far.recv(b"SIP/2.0 481").status == 481
    far.in_dialog("PRACK", "rel-1", 3, to, "z9hG4bKp1", extra="RAck: 1 1 INVITE\r\n")
    prack_ok = far.recv(b"SIP/2.0 200")
    assert prack_ok.cseq == (3, "PRACK")
    answer = far.recv(b"SIP/2.0 200")
    assert answer.cseq == (1, "INVITE") and b"m=audio" in answer.body
    far.in_dialog("ACK", "rel-1", 1, answer.headers.get("to"), "z9hG4bKa1")
    wait_for(sip.events, AnswerConfirmed)
    far.sig.settimeout(1.2)                                             # the 180 is no longer resent
    try:
        while True:
            assert not far.sig.recv(8192).startswith(b"SIP/2.0 180")
    except socket.timeout:
        pass
    far.close()


def test_unknown_required_extensions_get_420_and_plain_callers_no_180(sip) -> None:
    far = Far(sip.endpoint.port)
    invite(far, "rel-2", "Require: 100rel, foo\r\n")
    refused = far.recv(b"SIP/2.0")
    assert refused.status == 420 and refused.headers.get("unsupported") == "foo"
    invite(far, "rel-3", "")
    assert far.recv(b"SIP/2.0").status == 100
    wait_for(sip.events, Ringing)
    far.sig.settimeout(0.7)
    try:
        while True:
            assert not far.sig.recv(8192).startswith(b"SIP/2.0 180")
    except socket.timeout:
        pass
    far.close()


def test_options_says_100rel_is_supported(sip) -> None:
    far = Far(sip.endpoint.port)
    far.send(f"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{far.port};branch=z9hG4bKo1\r\n"
             f"From: <sip:x@127.0.0.1>;tag=o1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: opt-1\r\nCSeq: 1 OPTIONS\r\n"
             f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    resp = far.recv(b"SIP/2.0")
    assert "100rel" in resp.headers.get("supported") and "PRACK" in resp.headers.get_all("allow")
    assert isinstance(resp, sipmsg.Response)
    far.close()


def test_sipp_requiring_100rel_pracks_the_180_and_is_answered(sip) -> None:
    """SIPp (tests/scenarios/sip/caller_100rel.xml) as the independent caller: 180 with Require/RSeq, its PRACK
    answered 200, then the call's 200 OK, ACK and BYE, all checked by the scenario itself."""
    import subprocess
    from tests.scenarios.conftest import udp_port
    from tests.scenarios.test_sip_sipp import HERE, SIPP
    from hotline.drivers.base import HungUp
    assert SIPP is not None, "sipp is missing: scripts/setup-env test installs sip-tester"
    proc = subprocess.Popen([SIPP, f"127.0.0.1:{sip.endpoint.port}", "-sf", str(HERE / "caller_100rel.xml"),
                             "-s", "8001", "-key", "caller", "13700000026", "-i", "127.0.0.1", "-p", str(udp_port()),
                             "-mp", str(udp_port()), "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error",
                             "-trace_err", "-error_file", "/dev/stderr"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ring = wait_for(sip.events, Ringing, timeout=10)
        sip.line_map[ring.line].answer()
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (out[-1500:], err[-2000:])
    wait_for(sip.events, AnswerConfirmed)
    wait_for(sip.events, HungUp)
