"""The SIP driver's per-tick RTP work in C (rtpfast.c, loaded with ctypes): every call's send state in one row of a
per-device table, all calls' packets built and sent in one call per tick. rtp.py stays the reference path."""
from __future__ import annotations

import ctypes
import importlib.util
import logging
import operator
import socket
import threading
from typing import Any

import numpy as np

from .rtp import FRAME_SAMPLES, RtpStream, encode_codes

log = logging.getLogger("hotline.drivers.sip")

ADDR_MAX = 28
# One call's row; the same layout as rtp_row in rtpfast.c (checked at load against rtp_layout()).
ROW = np.dtype([("fd", "<i4"), ("addrlen", "<i4"), ("addr", "u1", ADDR_MAX), ("ssrc", "<u4"), ("ts", "<u4"),
                ("seq", "<u4"), ("pt", "<u4"), ("sent", "<i8")], align=True)
_FIELDS = ("fd", "addrlen", "addr", "ssrc", "ts", "seq", "pt", "sent")
_COLUMN = {"timestamp": "ts", "payload_type": "pt", "ssrc": "ssrc", "seq": "seq", "sent": "sent", "fd": "fd"}


def _load() -> tuple[Any, str]:
    """The compiled helper and '' or None and why it is not there."""
    spec = importlib.util.find_spec("hotline.drivers.sip._rtpfast")
    if spec is None or not spec.origin:
        return None, "not built (no compiler when the package was installed?)"
    try:
        lib = ctypes.CDLL(spec.origin)
    except OSError as exc:
        return None, f"cannot load {spec.origin}: {exc}"
    i32, i64p, u8p, i32p, vp = ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p, ctypes.c_void_p, \
        ctypes.c_void_p
    lib.rtp_layout.argtypes, lib.rtp_layout.restype = [i64p, i32], i32
    lib.rtp_pack_addr.argtypes, lib.rtp_pack_addr.restype = [i32, ctypes.c_char_p, i32, u8p], i32
    lib.rtp_send.argtypes, lib.rtp_send.restype = [vp, i32, i32, i32p, u8p, i32p], i32
    layout = (ctypes.c_int64 * 16)()
    count = lib.rtp_layout(layout, 16)
    expected = [ROW.itemsize] + [ROW.fields[name][1] for name in _FIELDS]
    if list(layout[:count]) != expected:
        return None, f"row layout differs from the C helper's ({list(layout[:count])} != {expected})"
    return lib, ""


LIB, WHY_NOT = _load()
AVAILABLE = LIB is not None


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


class RtpTable:
    """The C path's rows for the calls of one device's tick: a row is bound to a stream while the tick asks for
    it and released (its state written back to the stream) when the stream leaves the tick."""

    def __init__(self, capacity: int = 64) -> None:
        self.rows = np.zeros(capacity, dtype=ROW)
        self.lock = threading.Lock()    # other threads write rows (the far end's address); the tick grows the table
        self._free = list(range(capacity - 1, -1, -1))
        self._bound: dict[int, RtpStream] = {}   # slot -> stream
        self._asked: list[RtpStream | None] = []
        self._idx = np.empty(0, dtype=np.int32)
        self._python_rows = np.empty(0, dtype=np.int32)

    def index(self, streams: list[RtpStream | None]) -> np.ndarray:
        """The row of each stream (-1 for none) as int32; binds new streams and releases those gone, only when the
        list of streams changed since the last call."""
        asked = self._asked
        if len(asked) == len(streams) and all(map(operator.is_, asked, streams)):
            return self._idx
        present = {id(s) for s in streams if s is not None}
        for slot, stream in list(self._bound.items()):
            if id(stream) not in present:
                self._release(slot, stream)
        idx = np.full(len(streams), -1, dtype=np.int32)
        for i, stream in enumerate(streams):
            if stream is None:
                continue
            if stream._table is not self:
                self._bind(stream)
            idx[i] = stream._slot
        self._asked, self._idx = list(streams), idx
        if len(self._python_rows) < len(streams):
            self._python_rows = np.empty(len(streams), dtype=np.int32)
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
        self._bound[slot] = stream
        with self.lock:
            row = self.rows[slot]
            row["fd"] = stream.sock.fileno()
            row["addrlen"], row["addr"] = self._addr(stream, stream._remote)
            row["ssrc"], row["ts"], row["seq"] = stream._ssrc, stream._timestamp, stream._seq & 0xFFFF
            row["pt"], row["sent"] = stream._payload_type & 0xFF, stream._stats.sent

    def _release(self, slot: int, stream: RtpStream) -> None:
        with self.lock:
            row = self.rows[slot]
            stream._seq, stream._timestamp, stream._stats.sent = int(row["seq"]), int(row["ts"]), int(row["sent"])
            stream._table, stream._slot = None, -1
            row["fd"], row["addrlen"] = -1, 0
        del self._bound[slot]
        self._free.append(slot)

    @staticmethod
    def _addr(stream: RtpStream, remote: tuple | None) -> tuple[int, np.ndarray]:
        try:
            family = stream.sock.family
        except OSError:
            family = socket.AF_INET
        length, raw = pack_addr(family, remote)
        return length, np.frombuffer(raw, dtype=np.uint8)

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
            else:
                row[_COLUMN[name]] = value

    def read(self, stream: RtpStream, name: str, default: int) -> int:
        """A field of a stream's row (``default`` when the stream left the table meanwhile)."""
        with self.lock:
            if stream._table is not self:
                return default
            return int(self.rows[stream._slot][_COLUMN[name]])

    def add(self, stream: RtpStream, name: str, amount: int) -> None:
        """Add to a counter of a stream's row."""
        with self.lock:
            if stream._table is not self:
                setattr(stream._stats, name, getattr(stream._stats, name) + amount)
                return
            self.rows[stream._slot][_COLUMN[name]] += amount

    def send(self, streams: list[RtpStream | None], frames: np.ndarray) -> None:
        """Encode ``frames[i]`` for stream i and send one packet each, all in one C call."""
        n = len(streams)
        if n == 0:
            return
        idx = self.index(streams)
        codes = np.ascontiguousarray(encode_codes(streams, frames), dtype=np.uint8)
        rows = self.rows
        python_rows = self._python_rows
        deferred = LIB.rtp_send(rows.ctypes.data, len(rows), n, idx.ctypes.data, codes.ctypes.data,
                                python_rows.ctypes.data)
        for i in python_rows[:deferred].tolist():   # a far end given by name: the socket module resolves it
            stream = streams[i]
            if stream is not None:
                stream.send(stream.packet(codes[i].tobytes()))

    def close(self) -> None:
        """Release every row (the streams keep their state)."""
        for slot, stream in list(self._bound.items()):
            self._release(slot, stream)
        self._asked, self._idx = [], np.empty(0, dtype=np.int32)


def describe() -> str:
    """Which RTP path runs, for the log."""
    return "C (rtpfast)" if AVAILABLE else f"Python (the C helper is {WHY_NOT})"
