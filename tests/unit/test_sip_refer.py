"""Blind transfer from an IP phone over real UDP: REFER is accepted (202) in the dialog of a call the box rang,
becomes a hook flash and the target's digits, and the phone hears the outcome as sipfrag NOTIFYs (100, then 200
before the BYE, or 503 when the engine did not take the caller), each resent until the phone answers it."""
from __future__ import annotations

import time

from hotline.drivers.base import DigitReceived, Flashed, LineUp, OffHook
from hotline.drivers.sip import message as sipmsg
from hotline.drivers.sip import refer

from tests.unit.test_sip_endpoint import Far, _digest, _register, wait_for
from tests.unit.test_sip_limits import make_driver  # noqa: F401 - the fixture


def answered_station(sip) -> tuple[Far, sipmsg.Request]:
    """Phone 1001 registers, the box rings it, it answers: (phone, the box's INVITE)."""
    phone = Far(sip.endpoint.port)
    challenge = _register(phone, "1001")
    assert _register(phone, "1001", cseq=2,
                     auth=_digest(challenge.headers.get("www-authenticate"), "1001", "right-password")).status == 200
    wait_for(sip.events, LineUp)
    sip.line_map["sip0-1001"].ring("13700000021", "")
    invite = phone.recv(b"INVITE ")
    body = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            b"m=audio %d RTP/AVP 0\r\n" % phone.media.getsockname()[1])
    ok = sipmsg.response_to(invite, 200, "OK", to_tag="ph1", body=body, content_type="application/sdp",
                            extra=[("contact", f"<sip:1001@127.0.0.1:{phone.port}>")])
    phone.sig.sendto(ok.to_bytes(), ("127.0.0.1", sip.endpoint.port))
    phone.recv(b"ACK ")
    wait_for(sip.events, OffHook)
    return phone, invite


def send_refer(phone: Far, invite: sipmsg.Request, target: str, cseq: int = 2) -> sipmsg.Response:
    """The phone (the callee of the box's INVITE) refers the box to ``target``."""
    phone.send(f"REFER {invite.headers.get('contact')[1:-1]} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bKref{cseq}\r\n"
               f"From: {invite.headers.get('to')};tag=ph1\r\nTo: {invite.headers.get('from')}\r\n"
               f"Call-ID: {invite.call_id}\r\nCSeq: {cseq} REFER\r\nRefer-To: {target}\r\n"
               f"Referred-By: <sip:1001@127.0.0.1>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    return phone.recv(b"SIP/2.0")


def notify_frag(phone: Far, answer: bool = True) -> tuple[str, str]:
    """The next NOTIFY's sipfrag status line and Subscription-State (answered 200 unless ``answer`` is False)."""
    notify = phone.recv(b"NOTIFY ")
    assert notify.headers.get("event") == "refer" and notify.headers.get("content-type").startswith("message/sipfrag")
    if answer:
        phone.sig.sendto(sipmsg.response_to(notify, 200, "OK").to_bytes(), phone.box)
    return notify.body.decode().strip(), notify.headers.get("subscription-state")


def test_refer_becomes_flash_and_digits_and_the_phone_hears_200_before_bye(make_driver) -> None:
    sip = make_driver()
    phone, invite = answered_station(sip)
    assert send_refer(phone, invite, "<sip:1002@127.0.0.1>").status == 202
    assert notify_frag(phone, answer=False) == ("SIP/2.0 100 Trying", "active;expires=60")
    assert notify_frag(phone) == ("SIP/2.0 100 Trying", "active;expires=60")      # unanswered: resent
    assert wait_for(sip.events, Flashed).line == "sip0-1001"
    wait_for(sip.events, DigitReceived)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len([e for e in sip.events if isinstance(e, DigitReceived)]) < 5:
        time.sleep(0.02)
    assert "".join(e.digit for e in sip.events if isinstance(e, DigitReceived)) == "1002#"
    sip.line_map["sip0-1001"].hangup()                # the engine took the caller away
    assert notify_frag(phone) == ("SIP/2.0 200 OK", "terminated;reason=noresource")
    assert phone.recv(b"BYE ").call_id == invite.call_id
    phone.close()


def test_a_transfer_nobody_carried_out_reports_503_and_the_call_goes_on(make_driver, monkeypatch) -> None:
    monkeypatch.setattr(refer, "REFER_TIMEOUT", 0.5)
    sip = make_driver()
    phone, invite = answered_station(sip)
    assert send_refer(phone, invite, "<sip:9999@127.0.0.1>").status == 202
    assert notify_frag(phone)[0] == "SIP/2.0 100 Trying"
    assert notify_frag(phone) == ("SIP/2.0 503 Service Unavailable", "terminated;reason=noresource")
    assert "sip0-1001" in sip.endpoint.calls                     # the call goes on
    assert send_refer(phone, invite, "<sip:1002@127.0.0.1?Replaces=abc%40x>", cseq=3).status == 403
    assert send_refer(phone, invite, "<mailto:a@example.com>", cseq=4).status == 400
    phone.close()


def test_a_trunk_call_may_not_refer(make_driver) -> None:
    from tests.unit.test_sip_endpoint import answer_call
    sip = make_driver(trunks=["lab=127.0.0.1"])
    far = Far(sip.endpoint.port)
    answer_call(sip, far, "t1")
    far.in_dialog("REFER", "t1", 2, far.to_line, "z9hG4bKr1", extra="Refer-To: <sip:1002@127.0.0.1>\r\n")
    assert far.recv(b"SIP/2.0").status == 403
    assert not any(isinstance(e, Flashed) for e in sip.events)
    far.close()
