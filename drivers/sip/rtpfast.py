"""The SIP driver's per-tick RTP work in C (rtpfast.c, loaded with ctypes): every call's state (send counters, the
jitter buffer as a ring, RTCP reception statistics) in one row of a per-device table, all calls' packets read,
buffered, decoded, built and sent in one C call each per tick. rtp.py stays the reference path and the fallback."""
from __future__ import annotations

import ctypes
import importlib.util
import logging
import operator
import os
import select
import socket
import sys
import threading
from typing import Any

import numpy as np

from . import comfort
from .rtcp import RxState
from hotline.drivers.common import g711

from .rtp import _DECODE, _HEADER, FRAME_SAMPLES, MAX_PACKET, RtpStream, parse_header

log = logging.getLogger("hotline.drivers.sip")

ADDR_MAX = 28
RING = 16384
# One call's row; the same layout as rtp_row in rtpfast.c (checked at load against rtp_layout()).
ROW = np.dtype([("fd", "<i4"), ("addrlen", "<i4"), ("addr", "u1", ADDR_MAX), ("ssrc", "<u4"), ("ts", "<u4"),
                ("seq", "<u4"), ("pt", "<u4"), ("sent", "<i8"), ("received", "<i8"), ("lost", "<i8"),
                ("late", "<i8"), ("underruns", "<i8"), ("rx", "<u8"), ("law", "<i4"), ("cn_level", "<i4"),
                ("depth", "<i4"), ("primed", "<i4"), ("anchored", "<i4"), ("play_ts", "<u4"), ("head", "<i4"),
                ("filled", "<i4"), ("has_remote_ssrc", "<i4"), ("remote_ssrc", "<u4"), ("mark", "<u4"),
                ("pad_", "<i4"), ("ring", "u1", RING)], align=True)
# A datagram handed back to Python (rtp_back).
BACK = np.dtype([("slot", "<i4"), ("offset", "<i4"), ("len", "<i4"), ("addrlen", "<i4"), ("moved", "<i4"),
                 ("addr", "u1", ADDR_MAX)], align=True)
MAX_BACKS = 256                # datagrams handed back per tick at most (the rest wait for the next tick)
BACK_BYTES = 256 * 1024
_COLUMN = {"timestamp": "ts", "payload_type": "pt", "ssrc": "ssrc", "seq": "seq", "sent": "sent", "fd": "fd",
           "received": "received", "lost": "lost", "late": "late", "underruns": "underruns", "cn_level": "cn_level"}
_COUNTERS = ("sent", "received", "lost", "late")
_EVERY_SAMPLE = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.int16)   # index = the sample as uint16
# The G.711 encoders tabulated (µ-law then A-law): the C path's codes are g711's own, sample for sample.
ENCODE = np.ascontiguousarray(np.concatenate([g711.ulaw_encode(_EVERY_SAMPLE), g711.alaw_encode(_EVERY_SAMPLE)]),
                              dtype=np.uint8)


def _load() -> tuple[Any, str]:
    """The compiled helper and '', or None and why it is not there."""
    if os.environ.get("HOTLINE_SIP_RTP", "").lower() == "python":
        return None, "turned off (HOTLINE_SIP_RTP=python)"
    spec = importlib.util.find_spec("hotline.drivers.sip._rtpfast")
    if spec is None or not spec.origin:
        return None, "not built (no compiler when the package was installed?)"
    try:
        # PyDLL: the calls keep the GIL. A tick's C work is a few milliseconds of system calls; other threads wait
        # for it instead of running in the middle of the tick (and never see a row half-written by it).
        lib = ctypes.PyDLL(spec.origin)
    except OSError as exc:
        return None, f"cannot load {spec.origin}: {exc}"
    i32, u32, f64, vp = ctypes.c_int, ctypes.c_uint32, ctypes.c_double, ctypes.c_void_p
    lib.rtp_layout.argtypes, lib.rtp_layout.restype = [ctypes.POINTER(ctypes.c_int64), i32], i32
    lib.rtp_pack_addr.argtypes, lib.rtp_pack_addr.restype = [i32, ctypes.c_char_p, i32, vp], i32
    lib.rtp_send.argtypes, lib.rtp_send.restype = [vp, i32, i32, vp, vp, vp, vp, vp], i32
    lib.rtp_drain.argtypes, lib.rtp_drain.restype = [vp, i32, i32, u32, f64, vp, i32, vp, i32], i32
    lib.rtp_decode.argtypes, lib.rtp_decode.restype = [vp, i32, i32, vp, vp, vp, vp], i32
    lib.rtp_audio.argtypes, lib.rtp_audio.restype = [vp, i32, i32, u32, u32, u32, ctypes.c_char_p, i32, f64], i32
    lib.rtp_rx_note.argtypes, lib.rtp_rx_note.restype = [vp, i32, i32, u32, u32, u32, f64], i32
    lib.rtp_rx_update.argtypes, lib.rtp_rx_update.restype = [vp, u32, u32, u32, f64], None
    lib.rtp_watch.argtypes, lib.rtp_watch.restype = [i32, i32, i32, i32], i32
    layout = (ctypes.c_int64 * 64)()
    count = lib.rtp_layout(layout, 64)
    expected = ([ROW.itemsize] + [ROW.fields[name][1] for name in ROW.names]
                + [ctypes.sizeof(RxState)] + [getattr(RxState, name).offset for name, _ in RxState._fields_]
                + [BACK.itemsize, BACK.fields["addr"][1]])
    if list(layout[:count]) != expected:
        return None, f"built with another layout ({list(layout[:count])} != {expected})"
    return lib, ""


LIB, WHY_NOT = _load()
AVAILABLE = LIB is not None


def describe() -> str:
    """Which RTP path runs, for the log."""
    return "C (rtpfast)" if AVAILABLE else f"Python (the C helper is {WHY_NOT})"


def pack_addr(family: int, remote: tuple | None) -> tuple[int, bytes]:
    """(length, sockaddr bytes) of ``remote`` for a socket of ``family``: 0 when None, -1 when not numeric."""
    if remote is None:
        return 0, bytes(ADDR_MAX)
    out = (ctypes.c_uint8 * ADDR_MAX)()
    try:
        host = str(remote[0]).encode("ascii")
        port = int(remote[1])
    except (UnicodeEncodeError, ValueError, TypeError, IndexError):
        return -1, bytes(ADDR_MAX)
    length = LIB.rtp_pack_addr(int(family), host, port, out)
    return length, bytes(out)


def unpack_addr(raw: bytes) -> tuple | None:
    """A sockaddr as the socket module gives it: (host, port) or (host, port, flowinfo, scope_id)."""
    family = int.from_bytes(raw[:2], sys.byteorder)
    port = int.from_bytes(raw[2:4], "big")
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), port
    if family == socket.AF_INET6:
        return (socket.inet_ntop(socket.AF_INET6, raw[8:24]), port, int.from_bytes(raw[4:8], "big"),
                int.from_bytes(raw[24:28], sys.byteorder))
    return None


def _ptr(array: np.ndarray) -> int:
    return array.ctypes.data


class RtpTable:
    """The C path's rows for the calls of one device's tick: a row is bound to a stream while the tick asks for
    it (its socket watched by the table's epoll set) and released, its state written back to the stream, when the
    stream leaves the tick. Other threads write the fields they change (far end, codec, RTCP) through to the row."""

    def __init__(self, capacity: int = 64) -> None:
        self.rows = np.zeros(capacity, dtype=ROW)
        self.lock = threading.Lock()    # other threads write rows; the tick grows the table
        self.now: float | None = None   # a fixed arrival time for the RTCP statistics (tests), else the clock
        self.handed_back = 0            # datagrams the C path left to Python (events, comfort noise, unusual ones)
        self._free = list(range(capacity - 1, -1, -1))
        self._bound: dict[int, RtpStream] = {}   # slot -> stream
        self._names: dict[int, str] = {}         # slot -> line
        self._asked: tuple[list[str] | None, list[RtpStream | None]] = (None, [])
        self._idx = np.empty(0, dtype=np.int32)
        self._spare = np.empty(0, dtype=np.int32)
        self._codes = np.zeros((0, FRAME_SAMPLES), dtype=np.uint8)   # the codes of packets Python sends
        self._epoll = select.epoll()
        self._mark = 0
        self._backs = np.zeros(MAX_BACKS, dtype=BACK)
        self._buf = np.zeros(BACK_BYTES, dtype=np.uint8)
        self._closing: list[socket.socket] = []   # sockets of bound streams closed by other threads

    # -- binding ----------------------------------------------------------------------------------------------

    def index(self, streams: list[RtpStream | None], lines: list[str] | None = None) -> np.ndarray:
        """The row of each stream (-1 for none) as int32; binds new streams and releases those gone, only when the
        list of streams (or of lines) changed since the last call."""
        asked_lines, asked = self._asked
        if (len(asked) == len(streams) and all(map(operator.is_, asked, streams))
                and (lines is None or asked_lines is lines or asked_lines == lines)):
            if self._closing:
                self._close_pending()
            return self._idx
        present = {id(s) for s in streams if s is not None}
        for slot, stream in list(self._bound.items()):
            if id(stream) not in present:
                self._release(slot, stream)
        self._close_pending()
        slots: list[int] = []
        for i, stream in enumerate(streams):
            if stream is None:
                slots.append(-1)
                continue
            if stream._table is not self:
                self._bind(stream)
            slots.append(stream._slot)
            if lines is not None:
                self._names[stream._slot] = lines[i]
        idx = np.array(slots, dtype=np.int32)
        self._asked, self._idx = (lines, list(streams)), idx
        if len(self._spare) < len(streams):
            self._spare = np.empty(len(streams), dtype=np.int32)
        return idx

    def _bind(self, stream: RtpStream) -> None:
        if not self._free:
            with self.lock:
                old = self.rows
                self.rows = np.zeros(2 * len(old), dtype=ROW)
                self.rows[:len(old)] = old
                self._free = list(range(len(self.rows) - 1, len(old) - 1, -1))
        slot = self._free.pop()
        stream._slot = slot
        stream._table = self   # from here on other threads write through to the row; then the row is filled
        stream._kept = []
        self._bound[slot] = stream
        with self.lock:
            row = self.rows[slot]
            fd = stream.sock.fileno()
            row["fd"] = fd
            row["addrlen"], row["addr"] = self._addr(stream, stream._remote)
            row["ssrc"], row["ts"], row["seq"] = stream._ssrc, stream._timestamp, stream._seq & 0xFFFF
            row["pt"] = stream._payload_type & 0xFF
            for name in _COUNTERS:
                row[name] = getattr(stream._stats, name)
            row["underruns"] = stream._underruns
            row["rx"] = self._rx(stream, stream._reception)
            row["law"] = stream._codec == "PCMA"
            row["cn_level"] = -1 if stream._cn_level is None else stream._cn_level
            play = stream._play
            row["depth"], row["primed"] = stream._depth, stream._primed
            row["anchored"] = stream._play_ts is not None
            row["play_ts"] = stream._play_ts or 0
            row["head"], row["filled"] = 0, len(play)
            row["ring"][:len(play)] = np.frombuffer(bytes(play), dtype=np.uint8)
            row["has_remote_ssrc"] = stream._remote_ssrc is not None
            row["remote_ssrc"] = stream._remote_ssrc or 0
            row["mark"] = 0
        if fd >= 0:
            LIB.rtp_watch(self._epoll.fileno(), fd, slot, 1)

    def _release(self, slot: int, stream: RtpStream) -> None:
        with self.lock:
            row = self.rows[slot]
            fd = int(row["fd"])
            if fd >= 0:
                LIB.rtp_watch(self._epoll.fileno(), fd, slot, 0)
            stream._seq, stream._timestamp = int(row["seq"]), int(row["ts"])
            for name in _COUNTERS:
                setattr(stream._stats, name, int(row[name]))
            stream._underruns = int(row["underruns"])
            level = int(row["cn_level"])
            stream._cn_level = None if level < 0 else level
            head, filled = int(row["head"]), int(row["filled"])
            stream._play = bytearray(np.roll(row["ring"], -head)[:filled].tobytes())
            stream._filled = filled
            stream._play_ts = int(row["play_ts"]) if row["anchored"] else None
            stream._primed, stream._depth = bool(row["primed"]), int(row["depth"])
            stream._remote_ssrc = int(row["remote_ssrc"]) if row["has_remote_ssrc"] else None
            stream._table, stream._slot, stream._kept = None, -1, []
            row["fd"], row["addrlen"], row["rx"] = -1, 0, 0
        del self._bound[slot]
        self._names.pop(slot, None)
        self._free.append(slot)

    def _close_pending(self) -> None:
        with self.lock:
            closing, self._closing = self._closing, []
        for sock in closing:
            try:
                sock.close()
            except OSError:
                pass

    @staticmethod
    def _addr(stream: RtpStream, remote: tuple | None) -> tuple[int, np.ndarray]:
        try:
            family = stream.sock.family
        except OSError:
            family = socket.AF_INET
        length, raw = pack_addr(family, remote)
        return length, np.frombuffer(raw, dtype=np.uint8)

    @staticmethod
    def _rx(stream: RtpStream, reception: Any) -> int:
        if reception is None:
            return 0
        stream._kept.append(reception)   # alive until the row is released (a tick may still be writing it)
        return ctypes.addressof(reception.state)

    # -- fields shared with other threads ----------------------------------------------------------------------

    def write(self, stream: RtpStream, name: str, value: Any) -> None:
        """Write a stream's field into its row (from any thread)."""
        with self.lock:
            if stream._table is not self:
                return
            row = self.rows[stream._slot]
            if name == "remote":
                row["addrlen"], row["addr"] = self._addr(stream, value)
            elif name == "seq":
                row["seq"] = value & 0xFFFF
            elif name == "codec":
                row["law"] = value == "PCMA"
            elif name == "reception":
                row["rx"] = self._rx(stream, value)
            elif name == "cn_level":
                row["cn_level"] = -1 if value is None else value
            else:
                row[_COLUMN[name]] = value

    def read(self, stream: RtpStream, name: str, default: Any) -> Any:
        """A field of a stream's row (``default`` when the stream left the table meanwhile)."""
        with self.lock:
            if stream._table is not self:
                return default
            value = int(self.rows[stream._slot][_COLUMN[name]])
        return (None if value < 0 else value) if name == "cn_level" else value

    def add(self, stream: RtpStream, name: str, amount: int) -> None:
        """Add to a counter of a stream's row."""
        with self.lock:
            if stream._table is not self:
                setattr(stream._stats, name, getattr(stream._stats, name) + amount)
                return
            self.rows[stream._slot][_COLUMN[name]] += amount

    def refresh_stats(self, stream: RtpStream) -> None:
        """Copy the counters the C path keeps into the stream's RtpStats."""
        with self.lock:
            if stream._table is not self:
                return
            row = self.rows[stream._slot]
            for name in _COUNTERS:
                setattr(stream._stats, name, int(row[name]))

    def close_socket(self, stream: RtpStream) -> bool:
        """Stop using a bound stream's socket and close it at the tick's next look (never under a running drain or
        send, whose fd could otherwise be reused by another socket); False when the stream is not bound."""
        with self.lock:
            if stream._table is not self:
                return False
            row = self.rows[stream._slot]
            fd = int(row["fd"])
            row["fd"] = -1
            if fd >= 0:
                LIB.rtp_watch(self._epoll.fileno(), fd, stream._slot, 0)
            self._closing.append(stream.sock)
        return True

    # -- the tick --------------------------------------------------------------------------------------------

    def drain(self, lines: list[str], streams: list[RtpStream | None]) -> list[tuple[str, str]]:
        """Read what waits on the sockets of ``streams`` (at most 16 datagrams per socket); (line, key) for each
        RFC 4733 key received, in arrival order. The usual packets go into the rows' buffers in C; the others
        (events, comfort noise, a new source address, anything unusual) are handled here as rtp.py does."""
        self.index(streams, lines)
        self._mark = self._mark % 0xFFFFFFFF + 1
        now = -1.0 if self.now is None else self.now
        rows = self.rows
        count = LIB.rtp_drain(_ptr(rows), len(rows), self._epoll.fileno(), self._mark, now, _ptr(self._backs),
                              MAX_BACKS, _ptr(self._buf), BACK_BYTES)
        if count == 0:
            return []
        self.handed_back += count
        keys: list[tuple[str, str]] = []
        backs = self._backs[:count]
        addrs = backs["addr"]
        meta = backs[["slot", "offset", "len", "addrlen", "moved"]].tolist()
        for k, (slot, offset, length, addrlen, moved) in enumerate(meta):
            stream = self._bound.get(slot)
            if stream is None:
                continue
            source = unpack_addr(addrs[k].tobytes()) if addrlen else None
            key = self._take(stream, slot, self._buf[offset:offset + length].tobytes(), source, moved, now)
            if key:
                keys.append((self._names.get(slot, ""), key))
        return keys

    def _take(self, stream: RtpStream, slot: int, data: bytes, source: tuple | None, moved: int,
              now: float) -> str | None:
        """RtpStream.receive for a datagram the C path handed back, on the row's state."""
        rows = self.rows
        if 12 < len(data) <= MAX_PACKET and data[0] == 0x80 and data[1] & 0x7F == stream._payload_type:
            seq, ts, ssrc = _HEADER.unpack_from(data)[2:]
            payload = data[12:]
        else:
            parsed = parse_header(data)
            if parsed is None:
                stream._stats.malformed += 1
                return None
            pt, seq, ts, ssrc, _marker, view = parsed
            payload = None
        if source is not None and (moved or stream._remote != source):
            stream.remote = source   # symmetric RTP: answer where the packets come from (NAT)
        rows[slot]["received"] += 1
        if payload is None:
            if stream.dtmf_payload_type is not None and pt == stream.dtmf_payload_type:
                return stream._event(ts, view)
            if pt == comfort.PAYLOAD_TYPE:
                level = comfort.level_of(view)
                rows[slot]["cn_level"] = -1 if level is None else level
                LIB.rtp_rx_note(_ptr(rows), len(rows), slot, seq, ts, ssrc, now)
                return None
            if pt != stream._payload_type or not view:
                return None
            payload = bytes(view[:MAX_PACKET])
        LIB.rtp_audio(_ptr(rows), len(rows), slot, seq, ts, ssrc, payload, len(payload), now)
        return None

    def decode(self, streams: list[RtpStream | None], out: np.ndarray) -> None:
        """Fill ``out[i]`` with stream i's frame this tick (decode_frames on the rows)."""
        n = len(streams)
        if n == 0:
            return
        idx = self.index(streams)
        noisy = self._spare
        rows = self.rows
        fits = out.dtype == np.int16 and out.flags.c_contiguous and out.shape == (n, FRAME_SAMPLES)
        target = out if fits else np.empty((n, FRAME_SAMPLES), dtype=np.int16)   # C writes n x 160 int16
        count = LIB.rtp_decode(_ptr(rows), len(rows), n, _ptr(idx), _ptr(_DECODE), _ptr(target), _ptr(noisy))
        if not fits:
            out[:n] = target
        for i in noisy[:count].tolist():   # a silent far end that asked for comfort noise hears noise at its level
            stream = streams[i]
            level = int(rows[idx[i]]["cn_level"])
            out[i], stream.cn_phase = comfort.noise_frame(level, stream.cn_phase)

    def send(self, streams: list[RtpStream | None], frames: np.ndarray) -> None:
        """Encode ``frames[i]`` (int16) in stream i's law and send one packet each, all in one C call."""
        n = len(streams)
        if n == 0:
            return
        idx = self.index(streams)
        frames = np.ascontiguousarray(frames, dtype=np.int16)
        if frames.shape != (n, FRAME_SAMPLES):
            raise ValueError(f"frames of shape {frames.shape} for {n} streams (expected {n} x {FRAME_SAMPLES})")
        if len(self._codes) < n:
            self._codes = np.zeros((n, FRAME_SAMPLES), dtype=np.uint8)
        rows, codes = self.rows, self._codes
        deferred = LIB.rtp_send(_ptr(rows), len(rows), n, _ptr(idx), _ptr(frames), _ptr(ENCODE), _ptr(codes),
                                _ptr(self._spare))
        for i in self._spare[:deferred].tolist():   # a far end given by name: the socket module resolves it
            stream = streams[i]
            if stream is not None:
                stream.send(stream.packet(codes[i].tobytes()))

    def close(self) -> None:
        """Release every row (the streams keep their state) and the epoll set."""
        for slot, stream in list(self._bound.items()):
            self._release(slot, stream)
        self._close_pending()
        self._asked, self._idx = (None, []), np.empty(0, dtype=np.int32)
        self._epoll.close()
