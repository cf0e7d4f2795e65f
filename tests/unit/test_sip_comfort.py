"""Comfort noise (RFC 3389): CN offered and answered in SDP, and a far end's CN packets over real UDP heard as
noise at their level (not as loss) until its speech resumes; bad CN payloads are ignored."""
from __future__ import annotations

import random
import socket
import struct

import numpy as np
import pytest

from hotline.drivers.sip import comfort, sdp
from hotline.drivers.sip.rtp import Poller, RtpStream, decode_frames
from tests.unit.test_sip_endpoint import Far, sip  # noqa: F401 - the endpoint fixture

OFFER_CN = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            b"m=audio 40000 RTP/AVP 8 13 101\r\na=rtpmap:101 telephone-event/8000\r\n")


def test_cn_is_offered_and_answered_only_when_offered() -> None:
    body, neg = sdp.answer(sdp.parse(OFFER_CN), "127.0.0.1", 20000)
    assert neg.comfort_noise and b"m=audio 20000 RTP/AVP 8 13 101\r\n" in body and b"a=rtpmap:13 CN/8000" in body
    body, neg = sdp.answer(sdp.parse(OFFER_CN.replace(b" 13 ", b" ")), "127.0.0.1", 20000)
    # (not " 13" anywhere: the o= line's session id, a process-wide counter, reads 13 after twelve answers)
    assert not neg.comfort_noise and b"CN" not in body and b"m=audio 20000 RTP/AVP 8 101\r\n" in body
    assert sdp.negotiate(sdp.parse(sdp.build("127.0.0.1", 1, codecs=[(0, "PCMU")], comfort_noise=True))).comfort_noise


def test_the_box_answers_a_cn_offer_with_cn(sip) -> None:
    far = Far(sip.endpoint.port)
    far.send(f"INVITE sip:8001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{far.port};branch=z9hG4bKcn\r\n"
             f"From: <sip:1390000@127.0.0.1>;tag=cn1\r\nTo: <sip:8001@127.0.0.1>\r\nCall-ID: cn1\r\nCSeq: 1 INVITE\r\n"
             f"Contact: <sip:far@127.0.0.1:{far.port}>\r\nContent-Type: application/sdp\r\n"
             f"Content-Length: {len(OFFER_CN)}\r\n\r\n", OFFER_CN)
    assert far.recv(b"SIP/2.0 100").status == 100
    line = next(iter(sip.endpoint.calls))
    sip.line_map[line].answer()
    ok = far.recv(b"SIP/2.0 200")
    assert b"a=rtpmap:13 CN/8000" in ok.body and b"RTP/AVP 8 13 101" in ok.body
    far.close()


@pytest.fixture
def stream():
    box = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    box.bind(("127.0.0.1", 0))
    box.setblocking(False)
    far = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    far.bind(("127.0.0.1", 0))
    s = RtpStream(box, codec="PCMU", payload_type=0)
    s.far = far
    yield s
    s.close()
    far.close()


def play(stream: RtpStream, ticks: int) -> np.ndarray:
    """What the box hears over ``ticks`` media ticks (each drains the socket first)."""
    out = np.zeros((1, 160), dtype=np.int16)
    heard = []
    poller = Poller()
    try:
        for _ in range(ticks):
            poller.drain(["sip0-1"], [stream])
            decode_frames([stream], out)
            heard.append(out[0].copy())
    finally:
        poller.close()
    return np.concatenate(heard)


def send(stream: RtpStream, pt: int, seq: int, payload: bytes) -> None:
    stream.far.sendto(struct.pack("!BBHII", 0x80, pt, seq, 160 * seq, 42) + payload, stream.sock.getsockname())


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def test_cn_packets_become_noise_at_their_level_not_loss_until_speech_resumes(stream) -> None:
    speech = bytes([0x20]) * 160          # a loud µ-law code: speech
    for seq in range(4):
        send(stream, 0, seq, speech)
    send(stream, 13, 4, bytes([40]))      # then silence: noise at -40 dBov
    heard = play(stream, 12)
    noise = heard[-160 * 6:]
    assert 0.8 * comfort.rms_of(40) < rms(noise) < 1.2 * comfort.rms_of(40)    # about 327
    assert len(set(noise.tolist())) > 100                                        # noise, not a constant
    assert stream.underruns == 0
    send(stream, 13, 5, bytes([70, 1, 2, 3]))      # an update, quieter, with spectral coefficients
    assert rms(play(stream, 3)) < 1.3 * comfort.rms_of(70)
    for seq in range(30, 34):                       # speech resumes: no noise any more
        send(stream, 0, seq, speech)
    heard = play(stream, 4)
    assert stream.cn_level is None and rms(heard[-160:]) > 10 * comfort.rms_of(40)
    assert rms(play(stream, 3)[-160:]) == 0 and stream.underruns == 1   # dry without CN: silence, counted


def test_bad_cn_payloads_are_ignored_and_random_ones_never_raise(stream) -> None:
    send(stream, 13, 1, b"")
    send(stream, 13, 2, bytes([200]))
    assert rms(play(stream, 3)) == 0 and stream.cn_level is None
    rnd = random.Random(13)
    for _ in range(5000):
        payload = bytes(rnd.randrange(256) for _ in range(rnd.randrange(8)))
        level = comfort.level_of(payload)
        assert level is None or 0 <= level <= 127
    for level in (0, 127):
        frame, _ = comfort.noise_frame(level, 7)
        assert frame.dtype == np.int16 and len(frame) == 160
