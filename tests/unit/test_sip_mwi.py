"""Message waiting on an IP phone over real UDP: the station line's message_waiting(True) sends the registered
phone an unsolicited NOTIFY (RFC 3842: Event message-summary, Messages-Waiting: yes for its account), resent until
the phone answers; False sends "no"; a phone that registers again is told the current state at once."""
from __future__ import annotations

import socket

from hotline.drivers.base import LineUp

from tests.unit.test_sip_endpoint import Far, _digest, _register, sip_phones, wait_for  # noqa: F401 - the fixture


def register(phone: Far, cseq: int, expires: int = 600) -> None:
    challenge = _register(phone, "1001", cseq=cseq, expires=expires)
    auth = _digest(challenge.headers.get("www-authenticate"), "1001", "right-password")
    assert _register(phone, "1001", cseq=cseq + 1, expires=expires, auth=auth).status == 200


def ok(phone: Far, notify) -> None:
    """The phone answers a NOTIFY 200 OK."""
    vias = "".join(f"Via: {v}\r\n" for v in notify.headers.get_all("via"))
    phone.send(f"SIP/2.0 200 OK\r\n{vias}From: {notify.headers.get('from')}\r\nTo: {notify.headers.get('to')};tag=p\r\n"
               f"Call-ID: {notify.call_id}\r\nCSeq: {notify.headers.get('cseq')}\r\nContent-Length: 0\r\n\r\n")


def test_the_phones_lamp_follows_message_waiting_by_notify(sip_phones) -> None:
    sip = sip_phones
    phone = Far(sip.endpoint.port)
    register(phone, 1)
    wait_for(sip.events, LineUp)
    line = sip.line_map["sip0-1001"]

    line.message_waiting(True)
    notify = phone.recv(b"NOTIFY")
    assert notify.headers.get("event") == "message-summary"
    assert notify.headers.get("content-type") == "application/simple-message-summary"
    assert notify.uri.user_plain == "1001" and b"Messages-Waiting: yes\r\n" in notify.body
    assert b"Message-Account: sip:1001@" in notify.body
    again = phone.recv(b"NOTIFY")                             # not answered yet: resent (T1)
    assert again.call_id == notify.call_id
    ok(phone, notify)
    phone.sig.settimeout(1.2)
    try:                                                      # answered: no more resends
        while True:
            assert not phone.sig.recv(8192).startswith(b"NOTIFY")
    except socket.timeout:
        pass
    phone.sig.settimeout(3)

    line.message_waiting(False)
    cleared = phone.recv(b"NOTIFY")
    assert b"Messages-Waiting: no\r\n" in cleared.body
    ok(phone, cleared)

    line.message_waiting(True)                                # set while the phone is away ...
    ok(phone, phone.recv(b"NOTIFY"))
    register(phone, 10, expires=0)                            # unregistered
    register(phone, 20)                                       # ... and told again when it comes back
    back = phone.recv(b"NOTIFY")
    assert b"Messages-Waiting: yes\r\n" in back.body
    ok(phone, back)
    phone.close()
