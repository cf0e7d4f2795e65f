"""SDP offer/answer: the box picks PCMU/PCMA and telephone-event, answers hold right, refuses what it cannot speak."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.drivers.sip import sdp
from hotline.drivers.sip.errors import SipParseError

# What SIPp's uac_pcap scenario and baresip offer, give or take the codecs.
OFFER = (b"v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
         b"m=audio 6000 RTP/AVP 9 8 0 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\n"
         b"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n")


def test_the_first_common_codec_of_the_offer_wins_and_dtmf_events_are_kept() -> None:
    neg = sdp.negotiate(sdp.parse(OFFER))
    assert (neg.codec, neg.payload_type, neg.dtmf_payload_type) == ("PCMA", 8, 101)
    assert (neg.remote_address, neg.remote_port, neg.direction) == ("127.0.0.1", 6000, sdp.Direction.SENDRECV)


def test_the_answer_names_one_codec_and_the_offered_event_type() -> None:
    body, neg = sdp.answer(sdp.parse(OFFER), "127.0.0.1", 12000)
    back = sdp.parse(body)
    audio = back.audio()
    assert audio is not None and audio.port == 12000
    assert audio.formats == [8, 101] and audio.codec(101) == ("TELEPHONE-EVENT", 8000)


def test_hold_offers_get_the_mirror_direction() -> None:
    held = OFFER + b"a=sendonly\r\n"
    assert sdp.negotiate(sdp.parse(held)).direction is sdp.Direction.RECVONLY
    inactive = OFFER + b"a=inactive\r\n"
    assert sdp.negotiate(sdp.parse(inactive)).direction is sdp.Direction.INACTIVE


def test_static_payload_types_without_rtpmap_are_understood() -> None:
    bare = b"v=0\r\nc=IN IP4 10.1.2.3\r\nm=audio 4000 RTP/AVP 0\r\n"
    neg = sdp.negotiate(sdp.parse(bare))
    assert (neg.codec, neg.dtmf_payload_type, neg.remote_address) == ("PCMU", None, "10.1.2.3")


@pytest.mark.parametrize("body,status", [
    (OFFER.replace(b"9 8 0 101", b"9 101"), 488),                 # only G.722
    (OFFER.replace(b"m=audio", b"m=video"), 488),                  # no audio
    (OFFER.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 not-an-ip"), 488),
    (OFFER.replace(b"RTP/AVP", b"RTP/SAVP"), 488),                # SRTP only
    (b"garbage", 488),
    (b"v=0\r\n" + b"a=x\r\n" * 500, 413),
    (b"v=0\r\n\xff", 400),
])
def test_offers_the_box_cannot_take_are_refused_with_488(body: bytes, status: int) -> None:
    with pytest.raises(SipParseError) as err:
        sdp.negotiate(sdp.parse(body))
    assert err.value.status == status


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1500))
def test_random_sdp_is_refused_or_read(data: bytes) -> None:
    try:
        sdp.negotiate(sdp.parse(b"v=0\r\n" + data))
    except SipParseError as exc:
        assert exc.status in (400, 413, 488)
