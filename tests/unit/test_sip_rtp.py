"""SIP RTP in the tick: the epoll drain across calls, the jitter buffer's fast path and the batched G.711."""
from __future__ import annotations

import socket
import struct
import time

import numpy as np
import pytest

from hotline.drivers.common import g711
from hotline.drivers.sip.rtp import PortPool, Poller, RtpStream, decode_frames, encode_frames


def _pair(codec: str = "PCMU", pt: int = 0) -> tuple[RtpStream, socket.socket]:
    """A stream on a free port and the far end's socket."""
    pool = PortPool("127.0.0.1", 40000, 60000)
    stream = RtpStream(pool.open(), codec=codec, payload_type=pt, dtmf_payload_type=101)
    far = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    far.bind(("127.0.0.1", 0))
    far.settimeout(2)
    return stream, far


def _packet(seq: int, ts: int, payload: bytes, pt: int = 0, ssrc: int = 7, first: int = 0x80) -> bytes:
    return struct.pack("!BBHII", first, pt, seq, ts, ssrc) + payload


def _wait_readable() -> None:
    """Loopback datagrams are queued by the time sendto returns; a short pause covers a loaded machine."""
    time.sleep(0.02)


@pytest.fixture
def streams():
    made: list = []
    yield made
    for stream, far in made:
        stream.close()
        far.close()


def test_reordered_late_and_padded_packets_play_as_the_same_audio(streams) -> None:
    """Frames 0-5 arrive in order except 2/3 swapped, one padded packet (the generic parse) and one duplicate
    that came too late: the caller hears the six frames in order, the late one is counted."""
    stream, far = _pair()
    streams.append((stream, far))
    frames = [bytes([n + 1]) * 160 for n in range(6)]
    order = [0, 1, 3, 2, 4, 5]
    for n in order:
        if n == 4:   # padding bit and 4 bytes of padding: not the fast path
            far.sendto(_packet(n, n * 160, frames[n] + b"\0\0\0\x04", first=0xA0), ("127.0.0.1", stream.port))
        else:
            far.sendto(_packet(n, n * 160, frames[n]), ("127.0.0.1", stream.port))
    _wait_readable()
    poller = Poller()
    assert poller.drain(["sip0-1"], [stream]) == []
    played = [stream.next_frame() for _ in range(6)]
    assert played == frames
    far.sendto(_packet(1, 160, frames[1]), ("127.0.0.1", stream.port))   # a duplicate after its frame played
    _wait_readable()
    poller.drain(["sip0-1"], [stream])
    assert stream.stats.late == 1 and stream.stats.received == 7
    assert stream.remote == far.getsockname()   # symmetric RTP: answers go where packets come from
    poller.close()


def test_the_poller_reads_only_the_calls_asked_for_and_reports_their_keys(streams) -> None:
    """Two calls: the one without a channel this tick keeps its packets queued until it is asked for; an RFC 4733
    event comes back as (line, key); a closed call's socket is skipped."""
    (a, far_a), (b, far_b) = _pair(), _pair()
    streams += [(a, far_a), (b, far_b)]
    far_a.sendto(struct.pack("!BBHIIBBH", 0x80, 101, 1, 500, 7, 5, 10, 160), ("127.0.0.1", a.port))
    far_b.sendto(_packet(0, 0, b"\x11" * 160), ("127.0.0.1", b.port))
    _wait_readable()
    poller = Poller()
    assert poller.drain(["sip0-1"], [a]) == [("sip0-1", "5")]
    assert b.stats.received == 0
    assert poller.drain(["sip0-1", "sip0-2"], [a, b]) == []
    assert b.stats.received == 1
    b.close()
    assert poller.drain(["sip0-1", "sip0-2"], [a, b]) == []
    poller.close()


def test_a_flood_is_read_at_most_sixteen_packets_a_tick(streams) -> None:
    stream, far = _pair()
    streams.append((stream, far))
    for n in range(40):
        far.sendto(_packet(n, n * 160, b"\x22" * 160), ("127.0.0.1", stream.port))
    _wait_readable()
    poller = Poller()
    poller.drain(["sip0-1"], [stream])
    assert stream.stats.received == 16
    poller.close()


def test_decode_and_encode_mix_pcmu_pcma_and_idle_rows(streams) -> None:
    """One batch with a µ-law call, an A-law call and a line without a call decodes as G.711 row by row, and
    each call gets its own law back."""
    (u, far_u), (a, far_a) = _pair("PCMU", 0), _pair("PCMA", 8)
    streams += [(u, far_u), (a, far_a)]
    rng = np.random.default_rng(3)
    speech = rng.normal(0, 2000, (2, 160)).astype(np.int16)
    for stream, far, codes, pt in ((u, far_u, g711.ulaw_encode(speech[0]), 0),
                                   (a, far_a, g711.alaw_encode(speech[1]), 8)):
        stream._depth = 1   # play from the first frame
        far.sendto(_packet(0, 0, codes.tobytes(), pt=pt), ("127.0.0.1", stream.port))
    _wait_readable()
    poller = Poller()
    poller.drain(["sip0-1", "sip0-2"], [u, a])
    out = np.full((3, 160), 99, dtype=np.int16)
    decode_frames([u, a, None], out)
    assert np.array_equal(out[0], g711.ulaw_decode(g711.ulaw_encode(speech[0])))
    assert np.array_equal(out[1], g711.alaw_decode(g711.alaw_encode(speech[1])))
    assert not out[2].any()
    encode_frames([u, a, None], speech[[0, 1, 0]])
    back_u, back_a = far_u.recv(2048), far_a.recv(2048)
    assert back_u[1] & 0x7F == 0 and back_u[12:] == g711.ulaw_encode(speech[0]).tobytes()
    assert back_a[1] & 0x7F == 8 and back_a[12:] == g711.alaw_encode(speech[1]).tobytes()
    poller.close()


def test_the_poller_follows_a_new_call_on_the_same_line_between_unchanged_ticks(streams) -> None:
    """Ticks with the same calls skip the per-call registration; packets arriving later are still read, and a new
    call on the same line (same line list, another stream) is registered and read on its first tick."""
    (a, far_a), (b, far_b) = _pair(), _pair()
    streams += [(a, far_a), (b, far_b)]
    lines = ["sip0-1"]
    poller = Poller()
    assert poller.drain(lines, [a]) == []
    for n in range(3):   # later ticks with the same call: each packet still read
        far_a.sendto(_packet(n, n * 160, b"\x33" * 160), ("127.0.0.1", a.port))
        _wait_readable()
        poller.drain(lines, [a])
        assert a.stats.received == n + 1
    far_b.sendto(_packet(0, 0, b"\x44" * 160), ("127.0.0.1", b.port))
    far_a.sendto(_packet(3, 480, b"\x33" * 160), ("127.0.0.1", a.port))
    _wait_readable()
    poller.drain(lines, [b])          # the line's call changed: b read, a (no longer asked for) left alone
    assert b.stats.received == 1 and a.stats.received == 3
    poller.close()
