"""RTCP (RFC 3550): receive statistics, SR/RR + SDES building and parsing, malformed packets counted, and the
real endpoint over UDP on 127.0.0.1 reporting a call's loss and jitter both ways (panel data, at hang-up)."""
from __future__ import annotations

import random
import socket
import struct
import time

import numpy as np
import pytest

from hotline.drivers.base import HungUp, MediaQuality
from hotline.drivers.sip import rtcp
from hotline.drivers.sip.rtcp import SR, RR, Reception, RtcpError, build_report, parse
from tests.unit.test_sip_endpoint import Far, answer_call, sip, wait_for  # noqa: F401 - the endpoint fixture


def test_reception_counts_loss_across_a_sequence_wrap_and_reports_the_interval_fraction() -> None:
    r = Reception()
    seqs = [(65500 + n) & 0xFFFF for n in range(100) if n % 10 != 3]     # 10 of 100 never came
    for n, seq in enumerate(seqs):
        r.update(seq, 1000 + 160 * n, ssrc=7, arrival=n * 0.02)
    assert (r.expected, r.received, r.lost) == (100, 90, 10)
    ssrc, lost_word, highest, _jitter, _, _ = struct.unpack("!IIIIII", r.block())
    assert ssrc == 7 and lost_word & 0xFFFFFF == 10 and lost_word >> 24 == 25     # 10 % of 256
    assert highest == (1 << 16) + seqs[-1]
    assert struct.unpack("!IIIIII", r.block())[1] >> 24 == 0                    # nothing lost since


def test_jitter_follows_the_arrival_spread_in_milliseconds() -> None:
    steady, shaky = Reception(), Reception()
    for n in range(200):
        steady.update(n, 160 * n, ssrc=1, arrival=n * 0.02)
        shaky.update(n, 160 * n, ssrc=1, arrival=n * 0.02 + (0.01 if n % 2 else 0.0))   # every other 10 ms late
    assert steady.jitter < 1e-6
    assert 9 < shaky.jitter * 1000 / 8000 <= 10.0                              # D = 10 ms each packet


def test_a_report_is_built_and_parsed_back() -> None:
    r = Reception()
    for n in range(50):
        if n not in (4, 5):
            r.update(n, 160 * n, ssrc=0xABCD, arrival=n * 0.02 + (0.004 if n % 2 else 0))
    data = build_report(0x1234, sending=True, packets=300, octets=48000, rtp_ts=99, reception=r, cname="hotline@x")
    assert len(data) % 4 == 0 and b"hotline@x" in data
    (report,) = parse(data)
    assert (report.kind, report.sender, report.packets_sent) == (SR, 0x1234, 300)
    (block,) = report.blocks
    assert block.ssrc == 0xABCD and block.cumulative_lost == 2 and block.fraction_lost == 10 / 256
    rr = parse(build_report(0x1234, sending=False, packets=0, octets=0, rtp_ts=0, reception=Reception(), cname="c"))
    assert rr[0].kind == RR and rr[0].blocks == ()


def test_random_bytes_and_mutated_reports_never_raise_anything_but_rtcp_error() -> None:
    rnd = random.Random(3550)
    r = Reception()
    r.update(1, 160, 5, 0.0)
    good = build_report(9, sending=True, packets=1, octets=160, rtp_ts=0, reception=r, cname="c")
    refused = 0
    for n in range(20000):
        if n % 2:
            data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(64)))
        else:
            data = bytearray(good)
            for _ in range(rnd.randrange(1, 4)):
                data[rnd.randrange(len(data))] = rnd.randrange(256)
            data = bytes(data[:rnd.randrange(len(data) + 1)])
        try:
            parse(data)
        except RtcpError:
            refused += 1
    assert refused > 10000


@pytest.fixture
def fast_sip(monkeypatch, request):
    """The endpoint fixture with reports every ~0.2 s serviced every 0.05 s (instead of 5 s and 1 s)."""
    monkeypatch.setattr(rtcp, "INTERVAL", 0.2)
    monkeypatch.setattr(rtcp, "TICK", 0.05)
    return request.getfixturevalue("sip")


def test_a_call_reports_its_loss_and_jitter_both_ways_over_udp(fast_sip) -> None:
    sip = fast_sip
    far = Far(sip.endpoint.port)
    line = answer_call(sip, far, "q1")
    deadline = time.monotonic() + 3
    while line not in sip.endpoint.rtcp_sessions and time.monotonic() < deadline:
        time.sleep(0.01)
    call = sip.endpoint.calls[line]
    box_rtp, box_rtcp = ("127.0.0.1", call.stream.port), ("127.0.0.1", call.stream.port + 1)
    # The far end's RTCP socket speaks first (the box answers where it comes from): garbage, then a real RR
    # saying it lost 10 % of the box's audio with 12.5 ms jitter.
    far_rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    far_rtcp.bind(("127.0.0.1", 0))
    far_rtcp.settimeout(3)
    far_rtcp.sendto(b"\x80\xc9\x00\x07garbage", box_rtcp)
    block = struct.pack("!IIIIII", call.stream.ssrc, (26 << 24) | 9, 500, 100, 0, 0)   # 26/256 lost, 9 in all
    rr = struct.pack("!BBHI", 0x81, RR, 7, 0x5151) + block
    far_rtcp.sendto(rr, box_rtcp)
    # The far end sends 25 packets of audio, 5 of them lost on the way.
    silence = bytes([0xFF]) * 160
    for n in range(25):
        if n % 5 != 2:
            far.media.sendto(struct.pack("!BBHII", 0x80, 0, 1000 + n, 160 * n, 0x7777) + silence, box_rtp)
    time.sleep(0.05)
    out = np.zeros((1, 160), dtype=np.int16)
    for _ in range(3):
        sip.read_frames([line], out)        # the media ticks drain the audio (16 packets a tick at most)
        sip.write_frames([line], out)       # and send some: the reports are SRs
    while True:                             # reports come every ~0.2 s here; one after the audio counts it all
        report = parse(far_rtcp.recv(1500))[0]
        if report.blocks and report.blocks[0].highest_seq == 1024:
            break
    assert report.kind == SR and report.sender == call.stream.ssrc and report.packets_sent >= 1
    assert [(b.ssrc, b.cumulative_lost) for b in report.blocks] == [(0x7777, 5)]
    media = sip.overview()["media"]["calls"]
    assert [(q["line"], q["loss_pct"], q["far_loss_pct"], q["far_lost"], q["far_jitter_ms"], q["rtcp_malformed"])
            for q in media] == [(line, 20.0, 10.2, 9, 12.5, 1)]
    assert media[0]["jitter_ms"] is not None and media[0]["rtcp_received"] == 1
    far.in_dialog("BYE", "q1", 2, far.to_line, "z9hG4bKbyeq")
    assert far.recv(b"SIP/2.0").status == 200
    wait_for(sip.events, HungUp)            # the box answers the BYE before it reports the hang-up
    ended = [e for e in sip.events if isinstance(e, (MediaQuality, HungUp))]
    assert [type(e) for e in ended] == [MediaQuality, HungUp]     # quality first: the call still owns the line
    assert (ended[0].line, ended[0].loss_pct, ended[0].far_loss_pct, ended[0].far_jitter_ms) == (line, 20.0, 10.2, 12.5)
    recent = sip.overview()["media"]["recent"]
    assert [(q["line"], q["loss_pct"], q["far_loss_pct"]) for q in recent] == [(line, 20.0, 10.2)]
    assert sip.overview()["media"]["calls"] == []
    far_rtcp.close()
    far.close()
