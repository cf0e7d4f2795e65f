"""Attended transfer from an IP phone over real UDP: the phone holds its caller (the engine hears "hold"), calls a
colleague (its consultation becomes the station's media, the engine hears "consult"), and REFER with Replaces in
either dialog makes the engine complete the transfer; the box then ends both of the phone's calls, the REFER's
dialog hearing sipfrag 200 first. Resuming the held caller ends the consultation instead."""
from __future__ import annotations

from urllib.parse import quote

from hotline.drivers.base import Flashed, HungUp
from hotline.drivers.sip import message as sipmsg
from hotline.drivers.sip.auth import md5, parse_authorization

from tests.unit.test_sip_endpoint import Far
from tests.unit.test_sip_limits import make_driver  # noqa: F401 - the fixture
from tests.unit.test_sip_refer import answered_station, notify_frag, send_refer

LINE = "sip0-1001"


def sdp(phone: Far, direction: str = "sendrecv", port: int | None = None) -> bytes:
    return (b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            b"m=audio %d RTP/AVP 0\r\na=%s\r\n" % (port or phone.media.getsockname()[1], direction.encode()))


def reinvite(phone: Far, invite: sipmsg.Request, direction: str, cseq: int) -> sipmsg.Response:
    """The phone's re-INVITE in the call the box rang it for (hold: sendonly, resume: sendrecv)."""
    body = sdp(phone, direction)
    phone.send(f"INVITE {invite.headers.get('contact')[1:-1]} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bKre{cseq}\r\n"
               f"From: {invite.headers.get('to')};tag=ph1\r\nTo: {invite.headers.get('from')}\r\n"
               f"Call-ID: {invite.call_id}\r\nCSeq: {cseq} INVITE\r\nContact: <sip:1001@127.0.0.1:{phone.port}>\r\n"
               f"Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n", body)
    resp = phone.recv(b"SIP/2.0")
    phone.send(f"ACK {invite.headers.get('contact')[1:-1]} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bKra{cseq}\r\n"
               f"From: {invite.headers.get('to')};tag=ph1\r\nTo: {invite.headers.get('from')}\r\n"
               f"Call-ID: {invite.call_id}\r\nCSeq: {cseq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    return resp


def consult(phone: Far, target: str = "1002", call_id: str = "consult-1") -> sipmsg.Response:
    """The phone calls ``target`` (digest as 1001) and ACKs the box's 200: the consultation's 200 OK."""
    def invite(auth: str, branch: str) -> sipmsg.Response:
        body = sdp(phone)
        phone.send(f"INVITE sip:{target}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{phone.port};branch={branch}\r\n"
                   f"From: <sip:1001@127.0.0.1>;tag=ph2\r\nTo: <sip:{target}@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
                   f"CSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:{phone.port}>\r\n{auth}Max-Forwards: 70\r\n"
                   f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n", body)
        return phone.recv(b"SIP/2.0")
    challenge = invite("", "z9hG4bKc1")
    assert challenge.status == 407
    params = parse_authorization(challenge.headers.get("proxy-authenticate"))
    ha1 = md5("1001:hotline:right-password")
    response = md5(f"{ha1}:{params['nonce']}:00000001:c1:auth:{md5(f'INVITE:sip:{target}@127.0.0.1')}")
    ok = invite(f'Proxy-Authorization: Digest username="1001", realm="hotline", nonce="{params["nonce"]}", '
                f'uri="sip:{target}@127.0.0.1", response="{response}", qop=auth, nc=00000001, cnonce="c1"\r\n',
                "z9hG4bKc2")
    assert ok.status == 200
    phone.in_dialog("ACK", call_id, 1, ok.headers.get("to"), "z9hG4bKc3")
    return ok


def actions(sip) -> list[tuple[str, str]]:
    return [(e.action.value if e.action else "", e.target) for e in sip.events if isinstance(e, Flashed)]


def wait_action(sip, action: str) -> None:
    import time
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and action not in [a for a, _ in actions(sip)]:
        time.sleep(0.02)
    assert action in [a for a, _ in actions(sip)], actions(sip)


def test_hold_consult_and_refer_with_replaces_complete_an_attended_transfer(make_driver) -> None:
    sip = make_driver()
    phone, invite = answered_station(sip)
    held = reinvite(phone, invite, "sendonly", 2)
    assert held.status == 200 and b"a=recvonly" in held.body
    wait_action(sip, "hold")
    ok = consult(phone)
    wait_action(sip, "consult")
    assert ("consult", "1002") in actions(sip)
    # the consultation is now the station's media: the box sends the line's audio to the phone's new stream
    assert sip.endpoint.calls[LINE].call_id == "consult-1" and sip.endpoint.held[LINE].call_id == invite.call_id
    replaces = quote(f"consult-1;to-tag={ok.to.tag};from-tag=ph2", safe="")
    assert send_refer(phone, invite, f"<sip:1002@127.0.0.1?Replaces={replaces}>", cseq=3).status == 202
    assert notify_frag(phone) == ("SIP/2.0 100 Trying", "active;expires=60")
    wait_action(sip, "complete")
    sip.line_map[LINE].hangup()                     # the engine bridged caller and colleague, released the agent
    byes = set()
    while len(byes) < 2:
        msg = phone.recv()
        if isinstance(msg, sipmsg.Request) and msg.method == "NOTIFY":
            assert msg.call_id == invite.call_id and b"200 OK" in msg.body and invite.call_id not in byes
            phone.sig.sendto(sipmsg.response_to(msg, 200, "OK").to_bytes(), phone.box)
        elif isinstance(msg, sipmsg.Request) and msg.method == "BYE":
            byes.add(msg.call_id)
            phone.sig.sendto(sipmsg.response_to(msg, 200, "OK").to_bytes(), phone.box)
    assert byes == {invite.call_id, "consult-1"}
    assert LINE not in sip.endpoint.calls and LINE not in sip.endpoint.held
    assert not any(isinstance(e, HungUp) for e in sip.events)   # the engine ended the line; nothing hung up on it
    phone.close()


def test_resuming_the_caller_ends_the_consultation_and_a_stray_replaces_is_refused(make_driver) -> None:
    sip = make_driver()
    phone, invite = answered_station(sip)
    reinvite(phone, invite, "inactive", 2)
    wait_action(sip, "hold")
    consult(phone)
    wait_action(sip, "consult")
    refused = send_refer(phone, invite, "<sip:1002@127.0.0.1?Replaces=someone-else%3Bto-tag%3Dx%3Bfrom-tag%3Dy>",
                         cseq=3)
    assert refused.status == 403
    assert reinvite(phone, invite, "sendrecv", 4).status == 200
    assert phone.recv(b"BYE ").call_id == "consult-1"
    wait_action(sip, "resume")
    with sip.endpoint._lock:
        assert sip.endpoint.calls[LINE].call_id == invite.call_id and LINE not in sip.endpoint.held


def test_the_phone_hanging_up_its_consultation_goes_back_to_the_held_caller(make_driver) -> None:
    sip = make_driver()
    phone, invite = answered_station(sip)
    reinvite(phone, invite, "sendonly", 2)
    wait_action(sip, "hold")
    ok = consult(phone)
    wait_action(sip, "consult")
    phone.in_dialog("BYE", "consult-1", 2, ok.headers.get("to"), "z9hG4bKb1")
    assert phone.recv(b"SIP/2.0").status == 200
    with sip.endpoint._lock:     # the answer goes out before the thread swaps the calls back
        assert sip.endpoint.calls[LINE].call_id == invite.call_id and LINE not in sip.endpoint.held
    assert not any(isinstance(e, HungUp) for e in sip.events)
    phone.close()


def test_a_blind_refer_after_hold_resumes_first_then_flashes(make_driver) -> None:
    sip = make_driver()
    phone, invite = answered_station(sip)
    reinvite(phone, invite, "sendonly", 2)
    wait_action(sip, "hold")
    assert send_refer(phone, invite, "<sip:1002@127.0.0.1>", cseq=3).status == 202
    wait_action(sip, "")
    assert actions(sip) == [("hold", ""), ("resume", ""), ("", "")]    # back to the caller, then the hook flash
    phone.close()
