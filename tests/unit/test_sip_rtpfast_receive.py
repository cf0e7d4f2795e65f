"""The C receive path (rtpfast: epoll drain, jitter buffer ring, decode, RTCP reception statistics) against the
Python reference (rtp.Poller, RtpStream.receive, decode_frames, rtcp.Reception): the same datagrams through real
loopback sockets into both, tick by tick the same decoded frames and keys, and the same state at the end, byte for
byte; then random and mutated datagrams (a bounded fuzz) that must not crash nor change a valid call's audio."""
from __future__ import annotations

import dataclasses
import select
import socket
import struct
import types

import numpy as np
import pytest

from hotline.drivers.sip import rtcp, rtpfast
from hotline.drivers.sip.rtp import Poller, RtpStream, decode_frames

LINE_PREFIX = "sip0-"


def _udp() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


def rtp(seq: int, ts: int, payload: bytes, pt: int = 8, ssrc: int = 0x1234, first: int = 0x80) -> bytes:
    return struct.pack("!BBHII", first, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc & 0xFFFFFFFF) + payload


class Twins:
    """Calls run twice: by the Python reference path and by the C path, each with its own sockets and far ends."""

    def __init__(self, specs: list[tuple[str, int]], fars: int = 2) -> None:
        self.socks: list[socket.socket] = []
        self.sides = []
        for _ in range(2):
            streams, far_ends = [], []
            for codec, pt in specs:
                mine = self._open()
                ends = [self._open() for _ in range(fars)]
                stream = RtpStream(mine, codec=codec, payload_type=pt, dtmf_payload_type=101,
                                   remote=ends[0].getsockname(), ssrc=1, seq=1, timestamp=1)
                stream.reception = rtcp.Reception()
                streams.append(stream)
                far_ends.append(ends)
            self.sides.append((streams, far_ends))
        self.sentinel = self._open()
        self.lines = [f"{LINE_PREFIX}{i}" for i in range(len(specs))]
        self.poller = Poller()
        self.table = rtpfast.RtpTable(capacity=1)   # grows while binding
        self.clock = [1000.0]

    def _open(self) -> socket.socket:
        s = _udp()
        self.socks.append(s)
        return s

    def close(self) -> None:
        self.poller.close()
        self.table.close()
        for s in self.socks:
            s.close()

    def send(self, packets: list[tuple[int, int, bytes]]) -> None:
        """(call, far end, datagram) to both sides, then wait until loopback delivered them (a datagram sent after
        them from the same thread reached its socket)."""
        for side_streams, side_fars in self.sides:
            for call, far, data in packets:
                side_fars[call][far].sendto(data, side_streams[call].sock.getsockname())
        self.sides[0][1][0][0].sendto(b"x", self.sentinel.getsockname())
        poll = select.poll()
        poll.register(self.sentinel, select.POLLIN)
        assert poll.poll(2000), "loopback did not deliver"
        self.sentinel.recv(16)

    def tick(self, monkeypatch, packets: list[tuple[int, int, bytes]], calls: list[int] | None = None) -> None:
        """One tick on both sides: the same keys and the same decoded frames (``calls``: the calls with a channel)."""
        self.send(packets)
        self.clock[0] += 0.02 + 0.0013 * (len(packets) % 3)   # arrival times with some jitter
        monkeypatch.setattr(rtcp, "time", types.SimpleNamespace(monotonic=lambda: self.clock[0]))
        self.table.now = self.clock[0]
        chosen = list(range(len(self.lines))) if calls is None else calls
        lines = [self.lines[i] for i in chosen]
        (py, _), (c, _) = self.sides
        py_streams, c_streams = [py[i] for i in chosen], [c[i] for i in chosen]
        keys_py = self.poller.drain(lines, py_streams)
        keys_c = self.table.drain(lines, c_streams)
        assert keys_c == keys_py
        out_py = np.full((len(lines) + 1, 160), 7, dtype=np.int16)
        out_c = out_py.copy()
        decode_frames(py_streams + [None], out_py)
        self.table.decode(c_streams + [None], out_c)
        assert np.array_equal(out_c, out_py)

    def assert_same_state(self) -> None:
        """Counters, comfort noise, far end, RTCP statistics; after the rows are released, the buffers."""
        (py, py_fars), (c, c_fars) = self.sides
        for i, (a, b) in enumerate(zip(py, c)):
            assert dataclasses.asdict(b.stats) == dataclasses.asdict(a.stats), f"call {i}"
            assert (b.underruns, b.cn_level) == (a.underruns, a.cn_level), f"call {i}"
            where_a = [f.getsockname() for f in py_fars[i]].index(a.remote)
            where_b = [f.getsockname() for f in c_fars[i]].index(b.remote)
            assert where_a == where_b, f"call {i}"
            assert bytes(b.reception.state) == bytes(a.reception.state), f"call {i}"
        self.table.close()
        self.table = rtpfast.RtpTable(capacity=1)
        for i, (a, b) in enumerate(zip(py, c)):
            assert b._table is None
            assert (bytes(b._play), b._filled, b._play_ts, b._primed, b._depth, b._remote_ssrc) == \
                   (bytes(a._play), a._filled, a._play_ts, a._primed, a._depth, a._remote_ssrc), f"call {i}"


@pytest.fixture
def twins():
    made: list[Twins] = []

    def make(specs: list[tuple[str, int]], fars: int = 2) -> Twins:
        made.append(Twins(specs, fars))
        return made[-1]
    yield make
    for t in made:
        t.close()


def frame(n: int, size: int = 160) -> bytes:
    return bytes((n * 7 + k) & 0xFF for k in range(size))


def test_reordering_loss_late_packets_and_a_fast_clock_play_the_same(twins, monkeypatch) -> None:
    t = twins([("PCMA", 8), ("PCMU", 0)])
    script = [[0, 1], [3, 2], [4], [], [6], [5], [7, 8, 9, 10], [11, 12], [13, 14, 15], [2], [16], [17], [18],
              [], [], [], [], [19], [20]] + [[]] * 8
    for ticks in script:
        packets = [(call, 0, rtp(n, 160 * n, frame(n), pt=(8, 0)[call])) for call in (0, 1) for n in ticks]
        t.tick(monkeypatch, packets)
    assert t.table.handed_back == 0   # the usual packets, reordered or not, never left C
    t.assert_same_state()
    py = t.sides[0][0][0]
    assert py.stats.late >= 1 and py.stats.lost >= 1 and py.underruns >= 1   # the script exercised them


def test_wraparound_ssrc_change_time_jump_and_10_30_ms_packets(twins, monkeypatch) -> None:
    t = twins([("PCMA", 8)])
    seq, ts = 0xFFFC, 0xFFFFFFFF - 500
    for n in range(12):
        t.tick(monkeypatch, [(0, 0, rtp(seq + n, ts + 160 * n, frame(n)))])
    seq, ts = seq + 12, ts + 12 * 160
    t.tick(monkeypatch, [(0, 0, rtp(seq, ts, frame(1, 80))), (0, 0, rtp(seq + 1, ts + 80, frame(2, 80)))])
    t.tick(monkeypatch, [(0, 0, rtp(seq + 2, ts + 160, frame(3, 240)))])
    t.tick(monkeypatch, [(0, 0, rtp(seq + 3, ts + 400, frame(4, 240)))])
    for n in range(6):   # a new source (a transfer upstream): starts over
        t.tick(monkeypatch, [(0, 0, rtp(900 + n, 50 + 160 * n, frame(n), ssrc=0xABCDEF))])
    for n in range(6):   # a jump in time beyond the buffer: anchors afresh
        t.tick(monkeypatch, [(0, 0, rtp(906 + n, 50 + 40000 + 160 * n, frame(n), ssrc=0xABCDEF))])
    t.assert_same_state()


def test_events_comfort_noise_source_change_and_malformed_in_one_tick_keep_their_order(twins, monkeypatch) -> None:
    """Uncommon packets go to Python; a call's later packets in the same tick follow them there, so comfort noise
    then audio ends the noise on both paths."""
    t = twins([("PCMU", 0), ("PCMA", 8)])

    def event(key: int, ts: int, end: bool = False) -> bytes:
        return rtp(500, ts, struct.pack("!BBH", key, 0x80 if end else 10, 160), pt=101)
    for n in range(4):
        t.tick(monkeypatch, [(0, 0, rtp(n, 160 * n, frame(n), pt=0)), (1, 0, rtp(n, 160 * n, frame(n)))])
    t.tick(monkeypatch, [(0, 0, rtp(4, 640, b"\x28", pt=13)), (0, 0, rtp(5, 800, frame(5), pt=0)),
                         (1, 0, event(5, 9000)), (1, 0, event(5, 9000, end=True)), (1, 0, rtp(4, 640, frame(4)))])
    t.tick(monkeypatch, [(0, 0, rtp(6, 960, b"\x28", pt=13)), (1, 1, rtp(5, 800, frame(5)))])   # moved (NAT)
    for n in range(7, 10):
        t.tick(monkeypatch, [(1, 1, rtp(n - 1, 160 * (n - 1), frame(n)))])   # call 0 silent: comfort noise
    bad = [b"", b"\x80", rtp(1, 1, b"")[:12], rtp(9, 1440, frame(9), first=0x40), rtp(9, 1440, b"\x01" * 8, first=0xA0),
           rtp(9, 1440, b"\x00\x00\x00\x09" + frame(9), first=0x90), rtp(9, 1440, b"\x00" * 4 + frame(9), first=0x81),
           rtp(9, 1440, frame(9) + b"\0\0\0\x04", first=0xA0), rtp(9, 1440, frame(9), pt=99), b"\x80" * 1501,
           rtp(9, 1440, b"\x01\x02", pt=101), rtp(9, 1440, b"", pt=13), rtp(9, 1440, b"\xff", pt=13)]
    t.tick(monkeypatch, [(0, 0, data) for data in bad] + [(1, 1, rtp(9, 1440, frame(9)))])
    t.tick(monkeypatch, [(0, 0, rtp(20, 3200, frame(20), pt=0, first=0x80 | 0x20) + b"")])
    t.assert_same_state()
    c = t.sides[1][0]
    assert c[0].stats.malformed >= 5 and c[1].stats.events == 1


def test_a_call_without_a_channel_keeps_its_packets_and_a_flood_is_read_sixteen_a_tick(twins, monkeypatch) -> None:
    t = twins([("PCMA", 8), ("PCMA", 8)])
    t.tick(monkeypatch, [(0, 0, rtp(n, 160 * n, frame(n))) for n in range(3)], calls=[0, 1])
    t.tick(monkeypatch, [(1, 0, rtp(n, 160 * n, frame(n))) for n in range(3)], calls=[0])   # call 1 waits
    t.tick(monkeypatch, [(0, 0, rtp(n, 160 * n, frame(n))) for n in range(3, 40)], calls=[0, 1])
    for _ in range(4):
        t.tick(monkeypatch, [], calls=[1, 0])
    t.assert_same_state()
    assert t.sides[1][0][0].stats.received == 40


def test_more_unusual_datagrams_than_the_hand_back_buffer_wait_for_the_next_tick(twins, monkeypatch) -> None:
    """18 calls x 16 event packets (288) in one tick: the C path hands 256 to Python (every call's first 14 or 15, in
    epoll rounds) and reads the rest on the next tick: nothing is lost, the keys come out the same."""
    t = twins([("PCMU", 0)] * 18, fars=1)
    burst = [(call, 0, rtp(n, 8000 + 160 * (n == 15), struct.pack("!BBH", 1 + (n == 15), 10, 160), pt=101))
             for call in range(18) for n in range(16)]   # a key, its 14 repeats, and a second key last
    t.send(burst)
    (py, _), (c, _) = t.sides
    keys_py = t.poller.drain(t.lines, py)
    keys_c = t.table.drain(t.lines, c)
    assert t.table.handed_back == rtpfast.MAX_BACKS and len(keys_c) < len(keys_py)
    keys_c += t.table.drain(t.lines, c)
    assert t.table.handed_back == 288 and sorted(keys_c) == sorted(keys_py) and len(keys_py) == 18 * 2
    t.assert_same_state()


def _scenario(rng: np.random.Generator, ticks: int, pt: int) -> list[list[tuple[int, bytes]]]:
    """Per tick the (far end, datagram) of one call: audio with loss, reordering, bursts, late duplicates, pauses,
    a new source, a move to another address, events, comfort noise and garbage."""
    seq, ts, ssrc, far = int(rng.integers(65536)), int(rng.integers(2 ** 32)), int(rng.integers(2 ** 32)), 0
    sent: list[bytes] = []
    held: bytes | None = None
    out = []
    for n in range(ticks):
        this: list[tuple[int, bytes]] = []
        roll = rng.random()
        count = 0 if roll < 0.08 else 2 if roll < 0.16 else 1
        for _ in range(count):
            marker = 0x80 if rng.random() < 0.03 else 0   # the marker bit (a talk spurt's start) is still audio
            packet = rtp(seq, ts, frame(seq), pt=pt | marker, ssrc=ssrc)
            seq, ts = seq + 1, ts + 160
            if held is None and rng.random() < 0.06:
                held = packet          # reordered: goes out after the next one
                continue
            this.append((far, packet))
            sent.append(packet)
            if held is not None:
                this.append((far, held))
                held = None
        if sent and rng.random() < 0.04:
            this.append((far, sent[int(rng.integers(len(sent)))]))   # a duplicate, usually late
        if rng.random() < 0.03:
            this.append((far, rtp(seq, ts, bytes([int(rng.integers(0, 130))]), pt=13, ssrc=ssrc)))
        if rng.random() < 0.03:
            this.append((far, rtp(seq, ts, struct.pack("!BBH", int(rng.integers(0, 20)), int(rng.integers(256)), 160),
                                  pt=101, ssrc=ssrc)))
        if rng.random() < 0.04:
            garbage = rng.integers(0, 256, int(rng.integers(0, 1600)), dtype=np.uint8).tobytes()
            this.append((far, garbage))
        if rng.random() < 0.02:
            ssrc = int(rng.integers(2 ** 32))
        if rng.random() < 0.02:
            far = 1 - far
        if rng.random() < 0.02:
            ts += int(rng.integers(-3000, 20000))
        out.append(this)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_call_histories_give_the_same_audio_and_state(twins, monkeypatch, seed: int) -> None:
    rng = np.random.default_rng(seed)
    specs = [("PCMA", 8), ("PCMU", 0), ("PCMA", 96)]
    t = twins(specs)
    scripts = [_scenario(rng, 80, pt) for _codec, pt in specs]
    for n in range(80):
        t.tick(monkeypatch, [(call, far, data) for call in range(len(specs)) for far, data in scripts[call][n]])
    for _ in range(10):
        t.tick(monkeypatch, [])
    t.assert_same_state()


def _mutations(rng: np.random.Generator, count: int) -> list[bytes]:
    """Random datagrams and valid packets with mutated headers (CSRC counts, extensions, padding, lengths)."""
    out = []
    for _ in range(count):
        base = bytearray(rtp(int(rng.integers(65536)), int(rng.integers(2 ** 32)), frame(3, int(rng.integers(0, 400)))))
        kind = rng.integers(5)
        if kind == 0:
            out.append(rng.integers(0, 256, int(rng.integers(0, 2000)), dtype=np.uint8).tobytes())
            continue
        if kind == 1:
            base[0] = int(rng.integers(256))
        elif kind == 2:
            base[1] = int(rng.integers(256))
        elif kind == 3 and len(base) > 1:
            base[-1] = int(rng.integers(256))
            base[0] |= 0x20
        for _ in range(int(rng.integers(0, 4))):
            base[int(rng.integers(len(base)))] ^= 1 << int(rng.integers(8))
        out.append(bytes(base[:int(rng.integers(0, len(base) + 1))] if rng.random() < 0.2 else base))
    return out


def test_fuzzed_datagrams_never_crash_and_leave_the_valid_call_alone(twins, monkeypatch) -> None:
    """1,500 random or mutated datagrams at one call (up to 15 a tick) while another call talks normally: both paths
    agree on everything, and the valid call's counters are those of its own packets only."""
    rng = np.random.default_rng(4733)
    t = twins([("PCMA", 8), ("PCMU", 0)])
    fuzz = _mutations(rng, 1500)
    for n in range(100):
        packets = [(0, 0, data) for data in fuzz[15 * n:15 * (n + 1)]]
        packets.append((1, 0, rtp(n, 160 * n, frame(n), pt=0)))
        t.tick(monkeypatch, packets)
    t.assert_same_state()
    valid = t.sides[1][0][1]
    assert (valid.stats.received, valid.stats.malformed, valid.stats.late, valid.stats.lost) == (100, 0, 0, 0)
    fuzzed = t.sides[1][0][0]
    assert fuzzed.stats.received + fuzzed.stats.malformed <= 1500


def test_c_entry_points_refuse_bad_rows_and_lengths() -> None:
    table = rtpfast.RtpTable(capacity=2)
    ptr, lib = table.rows.ctypes.data, rtpfast.LIB
    assert lib.rtp_audio(ptr, 2, 2, 0, 0, 0, b"x", 1, 1.0) == -1
    assert lib.rtp_audio(ptr, 2, -1, 0, 0, 0, b"x", 1, 1.0) == -1
    assert lib.rtp_audio(ptr, 2, 0, 0, 0, 0, b"x" * 1501, 1501, 1.0) == -1
    assert lib.rtp_audio(ptr, 2, 0, 0, 0, 0, b"x", 0, 1.0) == -1
    assert lib.rtp_rx_note(ptr, 2, 5, 0, 0, 0, 1.0) == -1
    idx = np.array([7, -3], dtype=np.int32)   # rows outside the table decode as silence and send nothing
    out = np.ones((2, 160), dtype=np.int16)
    assert lib.rtp_decode(ptr, 2, 2, idx.ctypes.data, rtpfast._DECODE.ctypes.data, out.ctypes.data,
                          np.empty(2, dtype=np.int32).ctypes.data) == 0
    assert not out.any()
    frames, codes = np.zeros((2, 160), dtype=np.int16), np.zeros((2, 160), dtype=np.uint8)
    assert lib.rtp_send(ptr, 2, 2, idx.ctypes.data, frames.ctypes.data, rtpfast.ENCODE.ctypes.data, codes.ctypes.data,
                        np.empty(2, dtype=np.int32).ctypes.data) == 0
    table.close()
