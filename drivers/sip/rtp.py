"""RTP for SIP calls inside the media tick: non-blocking sockets drained per tick, a jitter buffer per call,
RFC 4733 DTMF events, and G.711 both ways decoded and encoded for all calls at once."""
from __future__ import annotations

import operator
import random
import select
import socket
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from hotline.drivers.base import FRAME_SAMPLES
from hotline.drivers.common import g711

from . import comfort

RTP_VERSION = 2
MAX_PACKET = 1500
MAX_PACKETS_PER_TICK = 16        # per call: a flood beyond this waits (and is then dropped as late)
JITTER_MIN, JITTER_MAX = 2, 8    # frames of playout delay, adapted per call
MAX_BUFFER = 8000                # samples (1 s) a buffer may hold ahead of playout
_HEADER = struct.Struct("!BBHII")
EVENT_KEYS = "0123456789*#ABCD"

# One table decodes µ-law (codes 0-255) and A-law (codes 256-511): a call's offset picks its law.
_DECODE = np.concatenate([g711.ulaw_decode(np.arange(256, dtype=np.uint8)),
                          g711.alaw_decode(np.arange(256, dtype=np.uint8))]).astype(np.int16)
SILENCE = {"PCMU": g711.ULAW_SILENCE, "PCMA": g711.ALAW_SILENCE}
_SILENT_FRAME = {law: bytes([code]) * FRAME_SAMPLES for law, code in SILENCE.items()}
_SILENT_ULAW = _SILENT_FRAME["PCMU"]


@dataclass
class RtpStats:
    """Counters of one stream, for status() and the benchmark."""

    received: int = 0
    sent: int = 0
    lost: int = 0           # frames dropped because the sender's clock runs ahead
    late: int = 0           # packets that came after their frame was played
    malformed: int = 0
    events: int = 0         # DTMF keys received as RFC 4733 events


def parse_header(data: bytes) -> tuple[int, int, int, int, bool, memoryview] | None:
    """(payload type, sequence, timestamp, ssrc, marker, payload) of an RTP packet, or None when malformed."""
    if len(data) < 12 or len(data) > MAX_PACKET:
        return None
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(data)
    if b0 >> 6 != RTP_VERSION:
        return None
    offset = 12 + 4 * (b0 & 0x0F)
    if b0 & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if b0 & 0x20:  # padding
        pad = data[-1]
        if pad == 0 or pad > end - offset:
            return None
        end -= pad
    if offset > end:
        return None
    return b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80), memoryview(data)[offset:end]


def _through(name: str, doc: str, row: bool = False) -> property:
    """A field of RtpStream written through to the C path's row while it runs the call (``row``: the C path
    changes it too, so it is read from the row then)."""
    private = "_" + name

    def get(self: RtpStream) -> Any:
        table = self._table
        if row and table is not None:
            return table.read(self, name, getattr(self, private))
        return getattr(self, private)

    def set(self: RtpStream, value: Any) -> None:
        setattr(self, private, value)
        self._shared(name, value)

    return property(get, set, doc=doc)


class RtpStream:
    """One call's media: its socket, the negotiated codec, the far end's address and the jitter buffer.

    While the C path (rtpfast) runs the call, the fields it writes (sequence number, timestamp, packets sent) live
    in the call's row of the device's table and the fields it reads are written through to that row: the
    properties below keep every reader (RTCP, events, tests) seeing one state."""

    def __init__(self, sock: socket.socket, codec: str = "PCMU", payload_type: int = 0,
                 dtmf_payload_type: int | None = None, remote: tuple[str, int] | None = None,
                 ssrc: int | None = None, seq: int | None = None, timestamp: int | None = None,
                 stats: RtpStats | None = None, comfort_noise: bool = False) -> None:
        self._table: Any = None        # rtpfast.RtpTable while the C path runs this call, and the row's slot
        self._slot = -1
        self._kept: list = []          # receptions the row pointed to (alive until it is released)
        self.sock = sock
        self._codec = codec
        self._payload_type = payload_type
        self.dtmf_payload_type = dtmf_payload_type
        self._remote = remote
        self._ssrc = random.getrandbits(32) if ssrc is None else ssrc
        self._seq = random.getrandbits(16) if seq is None else seq
        self._timestamp = random.getrandbits(32) if timestamp is None else timestamp
        self._stats = RtpStats() if stats is None else stats
        self._underruns = 0
        self._play = bytearray()       # codes from _play_ts on (silence where none came)
        self._play_ts: int | None = None   # RTP timestamp of _play[0]; None until a packet anchors the buffer
        self._filled = 0               # offset just past the latest sample received
        self._primed = False
        self._depth = JITTER_MIN       # frames buffered before playing, grown by late packets
        self._event_ts: int | None = None   # timestamp of the last DTMF event reported
        self._remote_ssrc: int | None = None
        self._poll_tick = 0            # the Poller's tick that last asked for this stream
        self._reception: Any = None    # rtcp.Reception counting this call's audio packets while RTCP runs
        self.comfort_noise = comfort_noise   # CN (RFC 3389) was negotiated: offered back in answers
        self._cn_level: int | None = None    # the far end is silent and asked for noise at this level (-dBov)
        self.cn_phase = 0

    def __repr__(self) -> str:
        return (f"RtpStream(port={self.sock.getsockname()[1] if self.sock.fileno() >= 0 else None}, "
                f"codec={self.codec!r}, remote={self._remote!r})")

    def _shared(self, name: str, value: Any) -> None:
        """Write a field the C path reads into the call's row (when it runs this call)."""
        table = self._table
        if table is not None:
            table.write(self, name, value)

    codec = _through("codec", "The negotiated codec, PCMU or PCMA.")
    payload_type = _through("payload_type", "The audio payload type we send and expect.")
    remote = _through("remote", "The far end's RTP address (None until known).")
    ssrc = _through("ssrc", "Our synchronisation source.")
    reception = _through("reception", "The rtcp.Reception counting this call's audio packets while RTCP runs.")
    seq = _through("seq", "The next packet's sequence number.", row=True)
    timestamp = _through("timestamp", "The next packet's RTP timestamp.", row=True)
    cn_level = _through("cn_level", "The comfort noise level (-dBov) a silent far end asked for, else None.", row=True)
    underruns = _through("underruns", "Times the buffer ran dry (not counted during comfort noise).", row=True)

    @property
    def stats(self) -> RtpStats:
        """The stream's counters (those the C path counts read from its row while it runs this call)."""
        table = self._table
        if table is not None:
            table.refresh_stats(self)
        return self._stats

    def _count_sent(self) -> None:
        table = self._table
        if table is None:
            self._stats.sent += 1
        else:
            table.add(self, "sent", 1)

    @property
    def port(self) -> int:
        """The local RTP port."""
        return self.sock.getsockname()[1]

    @property
    def law_offset(self) -> int:
        """0 for µ-law, 256 for A-law (the index offset into the shared decode table)."""
        return 256 if self._codec == "PCMA" else 0

    def receive(self, data: bytes, source: tuple[str, int]) -> str | None:
        """Take one datagram; returns a DTMF key when an RFC 4733 event for a new key began."""
        if 12 < len(data) <= MAX_PACKET and data[0] == 0x80 and data[1] & 0x7F == self.payload_type:
            # The usual packet (no padding, extension or CSRC, our codec): no memoryview, no generic parse.
            if self._remote != source:
                self.remote = source
            self._stats.received += 1
            _b0, _b1, _seq, ts, ssrc = _HEADER.unpack_from(data)
            self._cn_level = None
            reception = self._reception     # read once: the signalling thread may detach it meanwhile
            if reception is not None:
                reception.update(_seq, ts, ssrc)
            if self._remote_ssrc is not None and ssrc != self._remote_ssrc:
                self._reset()
            self._remote_ssrc = ssrc
            play, play_ts = self._play, self._play_ts
            if play_ts is not None and ts - play_ts & 0xFFFFFFFF == self._filled == len(play) <= MAX_BUFFER:
                play += data[12:]          # the next packet in order: appended (what _store does, inline)
                self._filled = len(play)
                return None
            self._store(ts, data[12:])
            return None
        parsed = parse_header(data)
        if parsed is None:
            self._stats.malformed += 1
            return None
        pt, _seq, ts, ssrc, _marker, payload = parsed
        if self._remote != source:
            self.remote = source   # symmetric RTP: answer where the packets come from (NAT)
        self._stats.received += 1
        if self.dtmf_payload_type is not None and pt == self.dtmf_payload_type:
            return self._event(ts, payload)
        reception = self._reception    # read once: the signalling thread may detach it meanwhile
        if pt == comfort.PAYLOAD_TYPE:
            self._cn_level = comfort.level_of(payload)
            if reception is not None:
                reception.update(_seq, ts, ssrc)
            return None
        if pt != self._payload_type or not payload:
            return None
        self._cn_level = None
        if reception is not None:
            reception.update(_seq, ts, ssrc)
        if self._remote_ssrc is not None and ssrc != self._remote_ssrc:
            self._reset()          # a new source (re-INVITE, transfer upstream): start over
        self._remote_ssrc = ssrc
        self._store(ts, bytes(payload[:MAX_PACKET]))
        return None

    def _reset(self) -> None:
        self._play = bytearray()
        self._play_ts = None
        self._filled = 0
        self._primed = False

    def _store(self, ts: int, payload: bytes) -> None:
        """Place a packet's samples by timestamp, so any packet time (10, 20, 30 ms) and reordering work."""
        if self._play_ts is None:
            self._play_ts = ts
        offset = ((ts - self._play_ts + 2 ** 31) % 2 ** 32) - 2 ** 31
        if offset == self._filled == len(self._play) and 0 <= offset <= MAX_BUFFER:   # in order: append
            self._play += payload
            self._filled += len(payload)
            return
        if offset < 0:
            self._stats.late += 1
            self._depth = min(JITTER_MAX, self._depth + 1)
            payload, offset = payload[-offset:], 0
            if not payload:
                return
        if offset > MAX_BUFFER:    # a jump in time (a long pause in sending): anchor afresh
            self._reset()
            self._play_ts, offset = ts, 0
        end = offset + len(payload)
        if len(self._play) < end:
            self._play.extend(bytes([SILENCE.get(self._codec, 0xFF)]) * (end - len(self._play)))
        self._play[offset:end] = payload
        self._filled = max(self._filled, end)

    def _event(self, ts: int, payload: memoryview) -> str | None:
        if len(payload) < 4:
            self._stats.malformed += 1
            return None
        event = payload[0]
        if event >= len(EVENT_KEYS) or ts == self._event_ts:
            return None
        self._event_ts = ts   # one key per event timestamp: retransmitted end packets are ignored
        self._stats.events += 1
        return EVENT_KEYS[event]

    def next_frame(self) -> bytes | None:
        """The 160 codes to play this tick (None: silence, while buffering or after running dry)."""
        if self._play_ts is None:
            return None
        if not self._primed:
            if self._filled < self._depth * FRAME_SAMPLES:
                return None
            self._primed = True
        if self._filled < FRAME_SAMPLES:
            self._underruns += self._cn_level is None   # running dry during comfort noise is expected, not loss
            self._reset()          # ran dry: the next packet anchors and primes again
            return None
        frame = bytes(self._play[:FRAME_SAMPLES])
        del self._play[:FRAME_SAMPLES]
        self._filled -= FRAME_SAMPLES
        self._play_ts = (self._play_ts + FRAME_SAMPLES) % 2 ** 32
        if self._filled > (self._depth + 4) * FRAME_SAMPLES:   # the sender's clock runs fast: drop a frame
            del self._play[:FRAME_SAMPLES]
            self._filled -= FRAME_SAMPLES
            self._play_ts = (self._play_ts + FRAME_SAMPLES) % 2 ** 32
            self._stats.lost += 1
        return frame

    def packet(self, payload: bytes, *, payload_type: int | None = None, marker: bool = False,
               advance: bool = True) -> bytes:
        """An RTP packet carrying ``payload`` from us; the timestamp moves on by one frame when ``advance``."""
        pt = self.payload_type if payload_type is None else payload_type
        header = _HEADER.pack(0x80, (0x80 if marker else 0) | pt, self.seq, self.timestamp, self.ssrc)
        self.seq = (self.seq + 1) & 0xFFFF
        if advance:
            self.timestamp = (self.timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
        return header + payload

    def send(self, data: bytes) -> None:
        """Send one packet to the far end (dropped when the socket is full or the peer unknown)."""
        if self.remote is None:
            return
        try:
            self.sock.sendto(data, self.remote)
            self._count_sent()
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        """Release the socket (while the C path runs the call, it stops using it and closes it in the tick)."""
        table = self._table
        if table is not None and table.close_socket(self):
            return
        try:
            self.sock.close()
        except OSError:
            pass


def decode_frames(streams: list[RtpStream | None], out: np.ndarray) -> None:
    """Fill ``out[i]`` with stream i's frame this tick, all calls decoded with one table lookup."""
    n = len(streams)
    if n == 0:
        return
    parts: list[bytes] = []
    append = parts.append
    offsets: list[int] = []
    law = offsets.append
    alaw = False
    noisy: list[int] = []
    frame: bytes | None
    for i, stream in enumerate(streams):
        if stream is None:
            append(_SILENT_ULAW)
            law(0)
            continue
        play = stream._play
        filled = stream._filled
        if stream._primed and filled >= FRAME_SAMPLES and filled <= (stream._depth + 5) * FRAME_SAMPLES:
            # The usual frame (primed, enough buffered, no frame to drop): next_frame() inline.
            frame = bytes(play[:FRAME_SAMPLES])
            del play[:FRAME_SAMPLES]
            stream._filled = filled - FRAME_SAMPLES
            stream._play_ts = (stream._play_ts + FRAME_SAMPLES) % 2 ** 32
        else:
            frame = stream.next_frame()
            if frame is None and stream._cn_level is not None:
                noisy.append(i)
            if frame is None or len(frame) < FRAME_SAMPLES:
                silence = _SILENT_FRAME.get(stream._codec, _SILENT_ULAW)
                frame = silence if not frame else frame + silence[len(frame):]
        append(frame)
        if stream._codec == "PCMA":
            law(256)
            alaw = True
        else:
            law(0)
    # Indices as intp and mode="wrap" (all are < 512): take() then writes into ``out`` unbuffered, about twice as
    # fast as uint16 indices with the default mode (which copies through a buffer).
    wide = np.frombuffer(b"".join(parts), dtype=np.uint8).reshape(n, FRAME_SAMPLES).astype(np.intp)
    if alaw:
        wide += np.array(offsets, dtype=np.intp)[:, None]
    _DECODE.take(wide, out=out, mode="wrap")
    for i in noisy:   # a silent far end that asked for comfort noise (RFC 3389) hears noise at its level
        stream = streams[i]
        out[i], stream.cn_phase = comfort.noise_frame(stream._cn_level, stream.cn_phase)


def encode_codes(streams: list[RtpStream | None], frames: np.ndarray) -> np.ndarray:
    """``frames[i]`` encoded in stream i's law (µ-law and A-law rows at once; µ-law where there is no stream)."""
    pcma = [s is not None and s._codec == "PCMA" for s in streams]
    if all(pcma):
        codes = g711.alaw_encode(frames)
    elif not any(pcma):
        codes = g711.ulaw_encode(frames)
    else:   # both laws (a bridge between a PCMA and a PCMU call): each row encoded once, in its own law
        alaw = np.array(pcma, dtype=bool)
        codes = np.empty(frames.shape, dtype=np.uint8)
        rows = np.flatnonzero(alaw)
        codes[rows] = g711.alaw_encode(frames[rows])
        rows = np.flatnonzero(~alaw)
        codes[rows] = g711.ulaw_encode(frames[rows])
    return codes


def encode_frames(streams: list[RtpStream | None], frames: np.ndarray) -> None:
    """Encode ``frames[i]`` for stream i and send one packet each (the Python reference path)."""
    if not streams:
        return
    payloads = encode_codes(streams, frames).tobytes()
    pack = _HEADER.pack
    start = 0
    for stream in streams:
        end = start + FRAME_SAMPLES
        if stream is not None and (remote := stream._remote) is not None:
            # stream.send(stream.packet(payload)) inline: one packet per call per tick is the hot path (the
            # reference path: its streams are not run by the C path, so their fields are their own).
            seq, ts = stream._seq, stream._timestamp
            stream._seq = (seq + 1) & 0xFFFF
            stream._timestamp = (ts + FRAME_SAMPLES) & 0xFFFFFFFF
            try:
                stream.sock.sendto(pack(0x80, stream._payload_type, seq, ts, stream._ssrc) + payloads[start:end],
                                   remote)
                stream._stats.sent += 1
            except OSError:   # BlockingIOError included: a full socket drops the packet
                pass
        start = end


class Poller:
    """One epoll set over the RTP sockets of a device's calls: each tick a poll names the sockets that hold
    packets, so idle sockets cost no system call and a busy one costs one read per packet (no read that fails)."""

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._by_fd: dict[int, tuple[RtpStream, str]] = {}
        self._registered: dict[int, int] = {}   # id(stream) -> fd it was registered under
        self._tick = 0          # the generation of the set of streams asked for (bumped when it changes)
        self._asked: tuple[list[str], list[RtpStream | None]] = ([], [])
        self._stale = True      # a socket left the set: register again on the next drain

    def drain(self, lines: list[str], streams: list[RtpStream | None]) -> list[tuple[str, str]]:
        """Read what waits on the sockets of ``streams`` (at most MAX_PACKETS_PER_TICK per socket: a flood beyond
        that waits and is then dropped as late); (line, key) for each RFC 4733 key received, in arrival order."""
        by_fd, registered = self._by_fd, self._registered
        asked_lines, asked = self._asked
        if (self._stale or len(asked) != len(streams) or not all(map(operator.is_, asked, streams))
                or (asked_lines is not lines and asked_lines != lines)):
            # The calls changed (or a socket was dropped): mark and register them; otherwise nothing per call.
            self._stale = False
            self._tick += 1
            tick = self._tick
            self._asked = (lines, list(streams))
            for name, stream in zip(lines, streams):
                if stream is None:
                    continue
                stream._poll_tick = tick
                if id(stream) not in registered:
                    self._register(stream, name)
        tick = self._tick
        if len(registered) > 2 * len(lines) + 64:
            self._prune(tick)
        keys: list[tuple[str, str]] = []
        for _ in range(MAX_PACKETS_PER_TICK):
            ready = self._epoll.poll(0)
            if not ready:
                break
            for fd, _mask in ready:
                entry = by_fd.get(fd)
                if entry is None:
                    self._forget_fd(fd)
                    continue
                stream, name = entry
                if stream._poll_tick != tick or stream.sock.fileno() != fd:
                    self._forget(stream, fd)   # not asked for this tick (no channel) or closed: left alone
                    continue
                try:
                    data, source = stream.sock.recvfrom(MAX_PACKET + 1)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    self._forget(stream, fd)
                    continue
                key = stream.receive(data, source)
                if key:
                    keys.append((name, key))
        return keys

    def _register(self, stream: RtpStream, name: str) -> None:
        fd = stream.sock.fileno()
        if fd < 0:
            self._stale = True     # try again next tick, as for a socket dropped from the set
            return
        try:
            self._epoll.register(fd, select.EPOLLIN)
        except FileExistsError:   # the fd of a closed socket came back for this one
            self._epoll.modify(fd, select.EPOLLIN)
        except OSError:
            self._stale = True
            return
        old = self._by_fd.get(fd)
        if old is not None:
            self._registered.pop(id(old[0]), None)
        self._by_fd[fd] = (stream, name)
        self._registered[id(stream)] = fd

    def _forget(self, stream: RtpStream, fd: int) -> None:
        self._stale = True
        self._registered.pop(id(stream), None)
        self._forget_fd(fd)

    def _forget_fd(self, fd: int) -> None:
        entry = self._by_fd.pop(fd, None)
        if entry is not None:
            self._registered.pop(id(entry[0]), None)
        try:
            self._epoll.unregister(fd)
        except OSError:
            pass   # closed sockets leave the set by themselves

    def _prune(self, tick: int) -> None:
        for fd, (stream, _name) in list(self._by_fd.items()):
            if stream._poll_tick != tick or stream.sock.fileno() != fd:
                self._forget(stream, fd)

    def close(self) -> None:
        """Release the epoll descriptor."""
        self._epoll.close()
        self._by_fd.clear()
        self._registered.clear()


def event_packets(stream: RtpStream, key: str, duration_ms: int = 100) -> list[bytes]:
    """RFC 4733 packets for one key press (start, updates every 20 ms, three end packets)."""
    if stream.dtmf_payload_type is None:
        return []
    code = EVENT_KEYS.index(key.upper())
    start_ts = stream.timestamp
    packets = []
    steps = max(1, duration_ms // 20)
    for n in range(1, steps + 1):
        stream.timestamp = start_ts
        payload = struct.pack("!BBH", code, 10, min(n * FRAME_SAMPLES, 0xFFFF))
        packets.append(stream.packet(payload, payload_type=stream.dtmf_payload_type, marker=n == 1, advance=False))
    for _ in range(3):
        stream.timestamp = start_ts
        payload = struct.pack("!BBH", code, 0x80 | 10, min(steps * FRAME_SAMPLES, 0xFFFF))
        packets.append(stream.packet(payload, payload_type=stream.dtmf_payload_type, advance=False))
    stream.timestamp = (start_ts + steps * FRAME_SAMPLES) & 0xFFFFFFFF
    return packets


class PortPool:
    """Even local ports for RTP (RTCP would take the odd one above) within a configured range."""

    def __init__(self, host: str, first: int, last: int) -> None:
        self.host = host
        self.first = first + (first % 2)
        self.last = last
        self._next = self.first

    def open(self) -> socket.socket:
        """A bound non-blocking UDP socket on the next free even port; OSError when the range is exhausted."""
        span = (self.last - self.first) // 2 + 1
        for _ in range(span):
            port = self._next
            self._next = port + 2 if port + 2 <= self.last else self.first
            sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((self.host, port))
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            return sock
        raise OSError(f"no free RTP port in {self.first}-{self.last}")
