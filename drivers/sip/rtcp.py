"""RTCP (RFC 3550 §6): receive statistics per call, SR/RR + SDES CNAME reports every ~5 s on the RTP port + 1,
and parsing of the far end's reports (its loss and jitter of our audio); malformed RTCP is counted, never raised.

A mixin of ``Endpoint`` (``RtcpService``) runs the reports from the signalling thread's timers: RTCP is a few
packets a call every five seconds, so it stays out of the 20 ms media tick.
"""
from __future__ import annotations

import ctypes
import logging
import random
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field

from hotline.drivers.base import MediaQuality

from .calls import CallState

log = logging.getLogger("hotline.drivers.sip")

INTERVAL = 5.0              # seconds between reports (randomised 0.5-1.5x, RFC 3550 §6.2)
TICK = 1.0                  # seconds between services of the sessions
SR, RR, SDES, BYE = 200, 201, 202, 203
MAX_RTCP = 1500
CLOCK = 8000                 # G.711 timestamp units per second
NTP_EPOCH = 2208988800       # seconds from 1900 to 1970
_COMMON = struct.Struct("!BBH")
_BLOCK = struct.Struct("!IIIIII")


class RtcpError(ValueError):
    """A malformed RTCP packet."""


class RxState(ctypes.Structure):
    """Reception's fields in C layout: the C RTP path (rtpfast) updates them in place, as update() does."""

    _fields_ = [("has_ssrc", ctypes.c_int32), ("ssrc", ctypes.c_uint32), ("base_seq", ctypes.c_uint32),
                ("max_seq", ctypes.c_uint32), ("has_transit", ctypes.c_int32), ("pad_", ctypes.c_int32),
                ("cycles", ctypes.c_int64), ("received", ctypes.c_int64), ("expected_prior", ctypes.c_int64),
                ("received_prior", ctypes.c_int64), ("transit", ctypes.c_double), ("jitter", ctypes.c_double)]


def _field(name: str) -> property:
    return property(lambda self: getattr(self.state, name), lambda self, value: setattr(self.state, name, value))


class Reception:
    """What we received from the far end's source (RFC 3550 A.1, A.3, A.8): sequence, loss and jitter."""

    __slots__ = ("state",)

    base_seq = _field("base_seq")
    max_seq = _field("max_seq")
    cycles = _field("cycles")
    received = _field("received")
    expected_prior = _field("expected_prior")
    received_prior = _field("received_prior")
    jitter = _field("jitter")            # in timestamp units (1/8000 s)

    def __init__(self) -> None:
        self.state = RxState()

    def __repr__(self) -> str:
        return (f"Reception(ssrc={self.ssrc}, base_seq={self.base_seq}, max_seq={self.max_seq}, cycles={self.cycles}, "
                f"received={self.received}, jitter={self.jitter})")

    @property
    def ssrc(self) -> int | None:
        """The far end's source counted, None before its first packet."""
        return self.state.ssrc if self.state.has_ssrc else None

    @property
    def transit(self) -> float | None:
        """The last packet's relative transit time (timestamp units), None before the first."""
        return self.state.transit if self.state.has_transit else None

    def update(self, seq: int, ts: int, ssrc: int, arrival: float | None = None) -> None:
        """Count one audio packet (called from the media path; a new SSRC starts the statistics over)."""
        s = self.state
        if not s.has_ssrc or ssrc != s.ssrc:
            ctypes.memset(ctypes.addressof(s), 0, ctypes.sizeof(s))
            s.has_ssrc, s.ssrc, s.base_seq, s.max_seq = 1, ssrc, seq, seq
        else:
            delta = (seq - s.max_seq) & 0xFFFF
            if delta < 3000:
                if seq < s.max_seq:
                    s.cycles += 1 << 16
                s.max_seq = seq
        s.received += 1
        now = (time.monotonic() if arrival is None else arrival) * CLOCK
        transit = now - ts
        if s.has_transit:
            d = abs(transit - s.transit)
            if d < CLOCK * 10:   # a timestamp jump (a new talk spurt after a long pause) is not jitter
                s.jitter += (d - s.jitter) / 16
        s.transit, s.has_transit = transit, 1

    @property
    def expected(self) -> int:
        """Packets the sequence numbers say were sent."""
        return 0 if self.ssrc is None else self.cycles + self.max_seq - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Packets that never came (duplicates can make it negative; clamped)."""
        return max(0, self.expected - self.received)

    def block(self) -> bytes:
        """A report block about this source (and the interval's counters moved on)."""
        expected, lost = self.expected, self.lost
        interval_expected = expected - self.expected_prior
        interval_lost = interval_expected - (self.received - self.received_prior)
        self.expected_prior, self.received_prior = expected, self.received
        fraction = 0
        if interval_expected > 0 and interval_lost > 0:
            fraction = min(255, (interval_lost << 8) // interval_expected)
        highest = (self.cycles + self.max_seq) & 0xFFFFFFFF
        return _BLOCK.pack(self.ssrc or 0, (fraction << 24) | min(lost, 0x7FFFFF), highest,
                           int(self.jitter) & 0xFFFFFFFF, 0, 0)


@dataclass(frozen=True)
class ReportBlock:
    """One report block of an SR or RR: what its sender saw of source ``ssrc``."""

    ssrc: int
    fraction_lost: float     # 0..1 in the last interval
    cumulative_lost: int
    highest_seq: int
    jitter: int              # timestamp units


@dataclass(frozen=True)
class Report:
    """One SR or RR from a compound packet."""

    kind: int
    sender: int
    blocks: tuple[ReportBlock, ...]
    packets_sent: int | None = None    # SR only


def parse(data: bytes) -> list[Report]:
    """The SR/RR reports of a compound RTCP packet (SDES, BYE and others are checked and skipped);
    RtcpError for anything malformed."""
    if not 8 <= len(data) <= MAX_RTCP:
        raise RtcpError(f"RTCP of {len(data)} bytes")
    reports: list[Report] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise RtcpError("truncated RTCP header")
        b0, pt, words = _COMMON.unpack_from(data, pos)
        if b0 >> 6 != 2:
            raise RtcpError(f"RTCP version {b0 >> 6}")
        end = pos + 4 * (words + 1)
        if end > len(data):
            raise RtcpError(f"RTCP packet of type {pt} runs past the datagram")
        if pos == 0 and pt not in (SR, RR):
            raise RtcpError(f"compound RTCP must start with SR or RR, not {pt}")
        count = b0 & 0x1F
        if pt in (SR, RR):
            head = 4 + 4 + (20 if pt == SR else 0)
            if end - pos < head + 24 * count:
                raise RtcpError(f"{'SR' if pt == SR else 'RR'} too short for {count} report blocks")
            sender = struct.unpack_from("!I", data, pos + 4)[0]
            sent = struct.unpack_from("!I", data, pos + 20)[0] if pt == SR else None
            blocks = []
            for n in range(count):
                ssrc, lost_word, highest, jitter, _lsr, _dlsr = _BLOCK.unpack_from(data, pos + head + 24 * n)
                lost = lost_word & 0xFFFFFF
                if lost & 0x800000:
                    lost -= 1 << 24          # signed 24 bits: duplicates make it negative
                blocks.append(ReportBlock(ssrc, (lost_word >> 24) / 256, lost, highest, jitter))
            reports.append(Report(pt, sender, tuple(blocks), sent))
        pos = end
    return reports


def _sdes(ssrc: int, cname: str) -> bytes:
    item = cname.encode("utf-8")[:255]
    chunk = struct.pack("!IBB", ssrc, 1, len(item)) + item + b"\x00"
    chunk += b"\x00" * (-len(chunk) % 4)
    return _COMMON.pack(0x81, SDES, len(chunk) // 4) + chunk


def build_report(ssrc: int, *, sending: bool, packets: int, octets: int, rtp_ts: int, reception: Reception,
                 cname: str, now: float | None = None) -> bytes:
    """A compound RTCP packet: SR (when we sent audio since the last report) or RR, one report block about the
    far end when it sent anything, and SDES CNAME."""
    blocks = reception.block() if reception.ssrc is not None else b""
    count = 1 if blocks else 0
    if sending:
        wall = time.time() if now is None else now
        ntp_sec = int(wall) + NTP_EPOCH
        ntp_frac = int((wall % 1) * 2 ** 32)
        body = struct.pack("!IIIIII", ssrc, ntp_sec & 0xFFFFFFFF, ntp_frac, rtp_ts & 0xFFFFFFFF,
                           packets & 0xFFFFFFFF, octets & 0xFFFFFFFF) + blocks
        head = _COMMON.pack(0x80 | count, SR, (len(body) + 4) // 4 - 1)
    else:
        body = struct.pack("!I", ssrc) + blocks
        head = _COMMON.pack(0x80 | count, RR, (len(body) + 4) // 4 - 1)
    return head + body + _sdes(ssrc, cname)


@dataclass
class RtcpSession:
    """One call's RTCP: its socket on the RTP port + 1, the reports it sends and what the far end reported."""

    sock: socket.socket
    stream: object                     # the call's rtp.RtpStream
    cname: str
    reception: Reception = field(default_factory=Reception)
    next_due: float = 0.0
    sent: int = 0
    received: int = 0
    malformed: int = 0
    remote: tuple[str, int] | None = None   # where the far end's RTCP comes from (symmetric), else RTP port + 1
    far_fraction_lost: float | None = None  # what the far end said about our audio
    far_cumulative_lost: int | None = None
    far_jitter_ms: float | None = None
    _sent_prior: int = 0

    def __post_init__(self) -> None:
        self.next_due = time.monotonic() + INTERVAL * random.uniform(0.5, 1.0)   # RFC 3550 §6.2 randomisation

    def drain(self) -> None:
        """Read the waiting RTCP datagrams (bounded); malformed ones are counted."""
        for _ in range(32):
            try:
                data, source = self.sock.recvfrom(MAX_RTCP + 1)
            except (BlockingIOError, InterruptedError, OSError):
                return
            try:
                reports = parse(data)
            except (RtcpError, struct.error):
                self.malformed += 1
                continue
            self.received += 1
            self.remote = source
            ours = getattr(self.stream, "ssrc", None)
            for report in reports:
                for block in report.blocks:
                    if block.ssrc == ours:
                        self.far_fraction_lost = block.fraction_lost
                        self.far_cumulative_lost = block.cumulative_lost
                        self.far_jitter_ms = block.jitter * 1000 / CLOCK

    def service(self, now: float) -> None:
        """Drain, and send a report when one is due."""
        self.drain()
        if now < self.next_due:
            return
        self.next_due = now + INTERVAL * random.uniform(0.5, 1.5)
        stats = self.stream.stats
        target = self.remote
        rtp_remote = self.stream.remote
        if target is None and rtp_remote is not None:
            target = (rtp_remote[0], rtp_remote[1] + 1)
        if target is None:
            return
        sending = stats.sent > self._sent_prior
        self._sent_prior = stats.sent
        data = build_report(self.stream.ssrc, sending=sending, packets=stats.sent, octets=stats.sent * 160,
                            rtp_ts=self.stream.timestamp, reception=self.reception, cname=self.cname)
        try:
            self.sock.sendto(data, target)
            self.sent += 1
        except OSError:
            pass

    def quality(self) -> dict:
        """The call's audio quality as we measured it and as the far end reported it."""
        r = self.reception
        expected = r.expected
        return {"loss_pct": round(100 * r.lost / expected, 2) if expected else None,
                "jitter_ms": round(r.jitter * 1000 / CLOCK, 1) if r.ssrc is not None else None,
                "far_loss_pct": None if self.far_fraction_lost is None else round(100 * self.far_fraction_lost, 1),
                "far_lost": self.far_cumulative_lost,
                "far_jitter_ms": None if self.far_jitter_ms is None else round(self.far_jitter_ms, 1),
                "rtcp_sent": self.sent, "rtcp_received": self.received, "rtcp_malformed": self.malformed}

    def close(self) -> None:
        """Release the socket (and stop feeding the stream's statistics)."""
        if getattr(self.stream, "reception", None) is self.reception:
            self.stream.reception = None
        try:
            self.sock.close()
        except OSError:
            pass


def open_rtcp(rtp_sock: socket.socket) -> socket.socket | None:
    """A non-blocking socket on the RTP port + 1 (None when that port is taken: the call goes without RTCP)."""
    host, port = rtp_sock.getsockname()[:2]
    sock = socket.socket(rtp_sock.family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port + 1))
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


class RtcpService:
    """The endpoint's RTCP: a session per call that is up, serviced once a second from the signalling thread."""

    rtcp_sessions: dict[str, RtcpSession]
    call_quality: deque

    def _rtcp_start(self) -> None:
        self.rtcp_sessions, self.call_quality = {}, deque(maxlen=50)
        self.timers.call_later(TICK, self._rtcp_tick)

    def _rtcp_tick(self) -> None:
        now = time.monotonic()
        for line, call in self.calls.items():
            if call.state is CallState.UP and line not in self.rtcp_sessions:
                sock = open_rtcp(call.stream.sock)
                if sock is not None:
                    session = RtcpSession(sock, call.stream, cname=f"hotline@{self.media_host}")
                    call.stream.reception = session.reception
                    self.rtcp_sessions[line] = session
        for line, session in list(self.rtcp_sessions.items()):
            call = self.calls.get(line)
            if call is None or call.stream is not session.stream:
                self._rtcp_end(line)
            else:
                session.service(now)
        self.timers.call_later(TICK, self._rtcp_tick)

    def _rtcp_end(self, line: str) -> dict | None:
        """Close a call's RTCP and keep its quality (the panel's recent calls, logged, and a MediaQuality event that
        the call engine journals as ``line.quality``)."""
        session = self.rtcp_sessions.pop(line, None)
        if session is None:
            return None
        session.drain()
        quality = {"line": line, "ended": time.time(), **session.quality()}
        session.close()
        self.call_quality.append(quality)
        self.sink(MediaQuality(line, loss_pct=quality["loss_pct"], jitter_ms=quality["jitter_ms"],
                               far_loss_pct=quality["far_loss_pct"], far_jitter_ms=quality["far_jitter_ms"]))
        log.info("SIP call on %s ended: loss %s %%, jitter %s ms (far end: loss %s %%, jitter %s ms)", line,
                 quality["loss_pct"], quality["jitter_ms"], quality["far_loss_pct"], quality["far_jitter_ms"])
        return quality

    def rtcp_rows(self) -> dict:
        """Quality of the calls up now (by line) and of the last 50 ended ones, for the panel."""
        return {"calls": [{"line": line, **s.quality()} for line, s in sorted(self.rtcp_sessions.items())],
                "recent": list(self.call_quality)}
