"""The SIP driver's real endpoint over UDP on 127.0.0.1: dialogs, CANCEL, BYE both ways, retransmissions, busy,
hold, RFC 4733 keys and the media path, with a test socket as the far end."""
from __future__ import annotations

import socket
import struct
import time

import numpy as np
import pytest

from hotline.drivers.base import (AnswerConfirmed, DigitReceived, HangupCause, HungUp, LineEvent, Ringing,
                                  Seized)
from hotline.drivers.common import g711
from hotline.drivers.sip import message as sipmsg
from hotline.drivers.sip.driver import SipDriver


def _free_rtp_range() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1] // 2 * 2
    base = base if base < 64000 else 30000
    return f"{base}-{base + 30}"


class Far:
    """A SIP phone/trunk played by the test: a signalling socket and a media socket."""

    def __init__(self, box_port: int) -> None:
        self.box = ("127.0.0.1", box_port)
        self.sig = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sig.bind(("127.0.0.1", 0))
        self.sig.settimeout(3)
        self.media = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.media.bind(("127.0.0.1", 0))
        self.media.settimeout(3)
        self.port = self.sig.getsockname()[1]
        self.to_line = b""

    def invite(self, call_id: str, *, branch: str = "z9hG4bK1", user: str = "8001", dtmf: bool = True) -> None:
        fmts = b"0 101" if dtmf else b"0"
        body = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                b"m=audio %d RTP/AVP %s\r\na=rtpmap:101 telephone-event/8000\r\n" % (self.media.getsockname()[1], fmts))
        self.send(f"INVITE sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch}\r\n"
                  f"From: \"Li Lei\" <sip:13700000021@127.0.0.1>;tag=far1\r\nTo: <sip:{user}@127.0.0.1>\r\n"
                  f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:far@127.0.0.1:{self.port}>\r\n"
                  f"Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n",
                  body)

    def send(self, head: str, body: bytes = b"") -> None:
        self.sig.sendto(head.encode() + body, self.box)

    def recv(self, want: bytes = b"") -> sipmsg.Request | sipmsg.Response:
        """The next message (skipping ones not starting with ``want``)."""
        while True:
            data = self.sig.recv(8192)
            if data.startswith(want):
                return sipmsg.parse(data)

    def in_dialog(self, method: str, call_id: str, cseq: int, to: str, branch: str, extra: str = "",
                  body: bytes = b"") -> None:
        self.send(f"{method} sip:hotline@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch}\r\n"
                  f"From: \"Li Lei\" <sip:13700000021@127.0.0.1>;tag=far1\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
                  f"CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: {len(body)}\r\n\r\n", body)

    def close(self) -> None:
        self.sig.close()
        self.media.close()


@pytest.fixture
def sip():
    """An opened SIP driver with 2 channels and 127.0.0.1 as trunk peer; events collected in a list."""
    events: list[LineEvent] = []
    drv = SipDriver("sip0", {"listen": "127.0.0.1:0", "rtp_ports": _free_rtp_range(), "channels": 2,
                             "trunks": ["lab=127.0.0.1"]}, events.append)
    lines = {ln.name: ln for ln in drv.open()}
    drv.events, drv.line_map = events, lines
    yield drv
    drv.close()


def wait_for(events: list, kind: type, timeout: float = 3.0) -> LineEvent:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in events:
            if isinstance(e, kind):
                return e
        time.sleep(0.01)
    raise AssertionError(f"no {kind.__name__} in {events}")


def answer_call(sip, far: Far, call_id: str) -> str:
    far.invite(call_id)
    assert far.recv(b"SIP/2.0 100").status == 100
    ring = wait_for(sip.events, Ringing)
    assert isinstance(sip.events[0], Seized)
    sip.line_map[ring.line].answer()
    ok = far.recv(b"SIP/2.0 200")
    far.to_line = ok.headers.get("to")
    far.in_dialog("ACK", call_id, 1, far.to_line, "z9hG4bKack")
    wait_for(sip.events, AnswerConfirmed)
    return ring.line


def test_an_answered_call_confirms_on_ack_carries_audio_both_ways_and_ends_with_the_callers_bye(sip) -> None:
    far = Far(sip.endpoint.port)
    line = answer_call(sip, far, "c1")
    ring = wait_for(sip.events, Ringing)
    assert (ring.caller_id, ring.caller_name, ring.dialed) == ("13700000021", "Li Lei", "8001")
    call = sip.endpoint.calls[line]
    box_media = ("127.0.0.1", call.stream.port)
    # The caller speaks a 1 kHz tone for 200 ms; the box plays a 440 Hz tone back.
    t = np.arange(160 * 10) / 8000
    tone = (8000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    for n in range(10):
        pkt = struct.pack("!BBHII", 0x80, 0, n, n * 160, 7) + g711.ulaw_encode(tone[n * 160:(n + 1) * 160]).tobytes()
        far.media.sendto(pkt, box_media)
    time.sleep(0.1)
    got = np.zeros((1, 160), dtype=np.int16)
    heard = []
    back = (8000 * np.sin(2 * np.pi * 440 * np.arange(160) / 8000)).astype(np.int16)[None, :]
    for _ in range(12):
        sip.read_frames([line], got)
        heard.append(got[0].copy())
        sip.write_frames([line], back)
    audio = np.concatenate(heard)
    spectrum = np.abs(np.fft.rfft(audio[-800:]))
    assert abs(np.argmax(spectrum) * 8000 / 800 - 1000) < 20   # the box heard the caller's tone
    pkt = far.media.recv(2048)
    assert pkt[1] & 0x7F == 0 and len(pkt) == 172               # PCMU, 20 ms
    far.in_dialog("BYE", "c1", 2, far.to_line, "z9hG4bKbye")
    assert far.recv(b"SIP/2.0").status == 200
    assert wait_for(sip.events, HungUp).cause is HangupCause.NORMAL
    assert line not in sip.endpoint.calls
    far.close()


def test_the_200_ok_is_retransmitted_until_the_ack(sip) -> None:
    far = Far(sip.endpoint.port)
    far.invite("c2")
    ring = wait_for(sip.events, Ringing)
    sip.line_map[ring.line].answer()
    first = far.recv(b"SIP/2.0 200")
    again = far.recv(b"SIP/2.0 200")                      # T1 = 500 ms later, no ACK yet
    assert again.call_id == first.call_id and again.to.tag == first.to.tag
    assert not any(isinstance(e, AnswerConfirmed) for e in sip.events)
    far.in_dialog("ACK", "c2", 1, first.headers.get("to"), "z9hG4bKack2")
    wait_for(sip.events, AnswerConfirmed)
    far.close()


def test_cancel_before_answer_gets_487_and_ends_the_offered_call(sip) -> None:
    far = Far(sip.endpoint.port)
    far.invite("c3", branch="z9hG4bKinv3")
    assert far.recv(b"SIP/2.0 100").status == 100
    ring = wait_for(sip.events, Ringing)
    far.send(f"CANCEL sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{far.port};branch=z9hG4bKinv3\r\n"
             f"From: \"Li Lei\" <sip:13700000021@127.0.0.1>;tag=far1\r\nTo: <sip:8001@127.0.0.1>\r\nCall-ID: c3\r\n"
             f"CSeq: 1 CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    answers = [far.recv(b"SIP/2.0") for _ in range(2)]
    assert sorted((a.status, a.cseq[1]) for a in answers) == [(200, "CANCEL"), (487, "INVITE")]
    assert wait_for(sip.events, HungUp).line == ring.line
    assert ring.line not in sip.endpoint.calls
    far.close()


def test_every_line_busy_gets_486_and_a_reject_says_busy(sip) -> None:
    fars = [Far(sip.endpoint.port) for _ in range(3)]
    fars[0].invite("b1", branch="z9hG4bKb1")
    fars[1].invite("b2", branch="z9hG4bKb2")
    for f in fars[:2]:
        f.recv(b"SIP/2.0 100")
    fars[2].invite("b3", branch="z9hG4bKb3")
    assert fars[2].recv(b"SIP/2.0 4").status == 486
    assert sip.endpoint.stats.busy == 1
    first = next(e for e in sip.events if isinstance(e, Ringing))
    owner = fars[0] if sip.endpoint.calls[first.line].call_id == "b1" else fars[1]
    sip.line_map[first.line].reject(HangupCause.CONGESTION)
    answer = owner.recv(b"SIP/2.0 5")
    assert answer.status == 503 and answer.cseq[1] == "INVITE"
    assert first.line not in sip.endpoint.calls
    for f in fars:
        f.close()


def test_rfc4733_events_become_one_key_each(sip) -> None:
    far = Far(sip.endpoint.port)
    line = answer_call(sip, far, "c5")
    call = sip.endpoint.calls[line]
    box_media = ("127.0.0.1", call.stream.port)
    for ts, key in ((1000, 5), (2000, 11)):          # '5' then '#', each with updates and 3 end packets
        for i in range(6):
            end = 0x80 if i >= 3 else 0
            far.media.sendto(struct.pack("!BBHIIBBH", 0x80, 101, ts + i, ts, 7, key, end | 10, 160 * (i + 1)),
                             box_media)
    time.sleep(0.1)
    sip.read_frames([line], np.zeros((1, 160), dtype=np.int16))
    keys = [e.digit for e in sip.events if isinstance(e, DigitReceived)]
    assert keys == ["5", "#"]
    far.close()


def test_hangup_from_the_box_sends_bye_and_hold_is_answered_recvonly(sip) -> None:
    far = Far(sip.endpoint.port)
    line = answer_call(sip, far, "c6")
    body = (b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            b"m=audio %d RTP/AVP 0\r\na=sendonly\r\n" % far.media.getsockname()[1])
    far.in_dialog("INVITE", "c6", 2, far.to_line, "z9hG4bKhold", "Content-Type: application/sdp\r\n", body)
    ok = far.recv(b"SIP/2.0 200")
    assert b"a=recvonly" in ok.body
    sip.line_map[line].hangup()
    bye = far.recv(b"BYE ")
    assert bye.call_id == "c6" and bye.from_.tag == far.to_line.split("tag=")[1]
    assert line not in sip.endpoint.calls
    far.close()


def test_outbound_calls_are_refused_unless_enabled(sip) -> None:
    sip.line_map["sip0-1"].dial("0085212345678")
    assert wait_for(sip.events, HungUp).cause is HangupCause.REJECTED
    assert sip.endpoint.stats.calls_out == 0


def _register(far: Far, ext: str, *, auth: str = "", expires: int = 600, cseq: int = 1) -> sipmsg.Response:
    far.send(f"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{far.port};branch=z9hG4bKr{cseq}\r\n"
             f"From: <sip:{ext}@127.0.0.1>;tag=p{ext}\r\nTo: <sip:{ext}@127.0.0.1>\r\nCall-ID: reg-{ext}\r\n"
             f"CSeq: {cseq} REGISTER\r\nContact: <sip:{ext}@127.0.0.1:{far.port}>\r\nExpires: {expires}\r\n"
             f"{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
    return far.recv(b"SIP/2.0")


def _digest(challenge: str, ext: str, password: str, realm: str = "hotline") -> str:
    from hotline.drivers.sip.auth import md5, parse_authorization
    params = parse_authorization(challenge)
    assert params is not None
    ha1 = md5(f"{ext}:{realm}:{password}")
    ha2 = md5("REGISTER:sip:127.0.0.1")
    resp = md5(f"{ha1}:{params['nonce']}:00000001:abc:auth:{ha2}")
    return (f'Authorization: Digest username="{ext}", realm="{realm}", nonce="{params["nonce"]}", '
            f'uri="sip:127.0.0.1", response="{resp}", qop=auth, nc=00000001, cnonce="abc"\r\n')


@pytest.fixture
def sip_phones(tmp_path):
    """A SIP device with extensions 1001 and 1002 (1001's password known), bans after 3 failures."""
    from hotline.drivers.sip.auth import ha1, save_secret
    secrets_file = tmp_path / "sip-secrets"
    save_secret(secrets_file, "1001", ha1("1001", "hotline", "right-password"))
    events: list[LineEvent] = []
    drv = SipDriver("sip0", {"listen": "127.0.0.1:0", "rtp_ports": _free_rtp_range(), "channels": 1,
                             "trunks": [], "extensions": ["1001", "1002"], "secrets_file": str(secrets_file),
                             "ban_after": 3}, events.append)
    lines = {ln.name: ln for ln in drv.open()}
    drv.events, drv.line_map = events, lines
    yield drv
    drv.close()


def test_a_phone_registers_with_digest_and_its_station_rings_and_answers(sip_phones) -> None:
    from hotline.drivers.base import LineKind, LineUp, OffHook
    sip = sip_phones
    station = sip.line_map["sip0-1001"]
    assert station.kind is LineKind.STATION and station.extension == "1001" and not station.up
    phone = Far(sip.endpoint.port)
    challenge = _register(phone, "1001")
    assert challenge.status == 401
    ok = _register(phone, "1001", auth=_digest(challenge.headers.get("www-authenticate"), "1001", "right-password"),
                   cseq=2)
    assert ok.status == 200 and "expires=" in ok.headers.get("contact")
    assert wait_for(sip.events, LineUp).line == "sip0-1001"
    station.ring("13700000021", "Li Lei")
    invite = phone.recv(b"INVITE ")
    assert invite.from_.uri.user == "13700000021" and invite.from_.display == "Li Lei"
    assert invite.uri.user == "1001" and invite.uri.port == phone.port
    body = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            b"m=audio %d RTP/AVP 0\r\n" % phone.media.getsockname()[1])
    resp = sipmsg.response_to(invite, 200, "OK", to_tag="ph1", body=body, content_type="application/sdp",
                              extra=[("contact", f"<sip:1001@127.0.0.1:{phone.port}>")])
    phone.sig.sendto(resp.to_bytes(), ("127.0.0.1", sip.endpoint.port))
    ack = phone.recv(b"ACK ")
    assert ack.call_id == invite.call_id
    assert wait_for(sip.events, OffHook).line == "sip0-1001"
    phone.close()


def test_wrong_and_unknown_users_get_the_same_answer_and_repeated_failures_ban(sip_phones) -> None:
    sip = sip_phones
    phone = Far(sip.endpoint.port)
    answers = []
    for n, (ext, password) in enumerate([("1001", "wrong"), ("9999", "anything"), ("1002", "no-secret")]):
        challenge = _register(phone, ext, cseq=10 * n + 1)
        answer = _register(phone, ext, auth=_digest(challenge.headers.get("www-authenticate"), ext, password),
                           cseq=10 * n + 2)
        answers.append((answer.status, answer.reason, sorted(k for k, _ in answer.headers.fields)))
    assert answers[0][0] == 401 and answers[0][0:2] == answers[1][0:2]
    assert answers[0][2] == answers[1][2]
    # The third failure banned the address: now even the right password is refused.
    challenge = _register(phone, "1001", cseq=50)
    assert challenge.status == 403
    assert sip.endpoint.status()["banned"] == ["127.0.0.1"]
    assert not sip.line_map["sip0-1001"].up
    phone.close()


def test_a_phone_places_a_call_after_proving_who_it_is(sip_phones) -> None:
    """A phone's INVITE is challenged (407); with the right digest the box answers, and after the ACK the station
    goes off hook and the dialled number arrives as keys ending in #, as from an analog phone."""
    from hotline.drivers.base import OffHook
    from hotline.drivers.sip.auth import md5, parse_authorization
    sip = sip_phones
    phone = Far(sip.endpoint.port)

    def invite(auth: str, branch: str) -> sipmsg.Response:
        body = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                b"m=audio %d RTP/AVP 0\r\n" % phone.media.getsockname()[1])
        phone.send(f"INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{phone.port};branch={branch}\r\n"
                   f"From: <sip:1001@127.0.0.1>;tag=ph\r\nTo: <sip:1002@127.0.0.1>\r\nCall-ID: out-1\r\n"
                   f"CSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:{phone.port}>\r\n{auth}Max-Forwards: 70\r\n"
                   f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n", body)
        return phone.recv(b"SIP/2.0")

    challenge = invite("", "z9hG4bKi1")
    assert challenge.status == 407
    assert not any(isinstance(e, OffHook) for e in sip.events)
    params = parse_authorization(challenge.headers.get("proxy-authenticate"))
    ha1 = md5("1001:hotline:right-password")
    response = md5(f"{ha1}:{params['nonce']}:00000001:c1:auth:{md5('INVITE:sip:1002@127.0.0.1')}")
    auth = (f'Proxy-Authorization: Digest username="1001", realm="hotline", nonce="{params["nonce"]}", '
            f'uri="sip:1002@127.0.0.1", response="{response}", qop=auth, nc=00000001, cnonce="c1"\r\n')
    ok = invite(auth, "z9hG4bKi2")
    assert ok.status == 200 and b"m=audio" in ok.body
    phone.in_dialog("ACK", "out-1", 1, ok.headers.get("to"), "z9hG4bKa9")
    assert wait_for(sip.events, OffHook).line == "sip0-1001"
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len([e for e in sip.events if isinstance(e, DigitReceived)]) < 5:
        time.sleep(0.02)
    assert "".join(e.digit for e in sip.events if isinstance(e, DigitReceived)) == "1002#"
    phone.close()


def test_sip_over_tcp_is_framed_and_answered_on_the_same_connection(sip) -> None:
    """A trunk speaking TCP: OPTIONS and an INVITE arrive in one segment, answers come back on the connection,
    and a message without Content-Length closes it."""
    with socket.create_connection(("127.0.0.1", sip.endpoint.port), timeout=3) as conn:
        me = conn.getsockname()[1]
        options = (f"OPTIONS sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{me};branch=z9hG4bKt1\r\n"
                   f"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:8001@127.0.0.1>\r\nCall-ID: tcp-o\r\n"
                   f"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
        body = b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 40000 RTP/AVP 0\r\n"
        invite = (f"INVITE sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{me};branch=z9hG4bKt2\r\n"
                  f"From: <sip:13700000021@127.0.0.1>;tag=2\r\nTo: <sip:8001@127.0.0.1>\r\nCall-ID: tcp-i\r\n"
                  f"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        conn.sendall(options + invite)
        got = b""
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and got.count(b"SIP/2.0 ") < 2:
            got += conn.recv(8192)
        assert got.startswith(b"SIP/2.0 200 OK") and b"SIP/2.0 100 Trying" in got
        ring = wait_for(sip.events, Ringing)
        assert ring.dialed == "8001"
        sip.line_map[ring.line].hangup()       # refused before answer: 480 on the same connection
        got = b""
        while b"SIP/2.0 480" not in got:
            got += conn.recv(8192)
        conn.sendall(b"GARBAGE sip:x SIP/2.0\r\n\r\n")
        conn.settimeout(3)
        rest = b""
        try:
            while chunk := conn.recv(8192):
                rest += chunk
        except socket.timeout:
            raise AssertionError("the connection stayed open after a message without Content-Length")


def test_a_call_that_arrives_takes_the_highest_free_line_so_the_box_dials_on_another(sip) -> None:
    """Glare: the engine picks the lowest free trunk to dial on before it has seen a new INVITE's Ringing."""
    far = Far(sip.endpoint.port)
    far.invite("g1")
    assert wait_for(sip.events, Ringing).line == "sip0-2"
    far.close()


def test_a_line_whose_call_just_ended_rests_while_another_is_free(sip) -> None:
    """The engine may still be ending the last call on a line when the next INVITE arrives: it takes another."""
    far = Far(sip.endpoint.port)
    first = answer_call(sip, far, "r1")
    assert first == "sip0-2"
    far.in_dialog("BYE", "r1", 2, far.to_line, "z9hG4bKbyer1")
    assert far.recv(b"SIP/2.0").status == 200
    wait_for(sip.events, HungUp)
    far.invite("r2", branch="z9hG4bKr2")
    rings = [e for e in sip.events if isinstance(e, Ringing)]
    deadline = time.monotonic() + 5
    while len(rings) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
        rings = [e for e in sip.events if isinstance(e, Ringing)]
    assert rings[-1].line == "sip0-1"
    far.close()
