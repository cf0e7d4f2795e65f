"""Sends the PROTOS-class cases (protos.py) to a running SIP device and accounts for every answer.

A case is its INVITE then its CANCEL (always well-formed, so always answered: 200, or 481 when the INVITE was
refused); the CANCEL's answer closes the case. Answers to the INVITE are told apart by the case number in the
branch, Call-ID or CSeq; a final non-2xx is ACKed and a 2xx (a call the box took because the CANCEL could not
find it) is ACKed and ended with BYE, as a user agent would. After each batch an OPTIONS must be answered 200
(the device is alive). Bytes in flight are bounded so no datagram is lost in the kernel's buffers.
"""
from __future__ import annotations

import re
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import protos

_BRANCH = re.compile(rb"branch=z9hG4bKp(\d{1,5})\b")
_CALL_ID = re.compile(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*p(\d{1,5})@")
_CSEQ = re.compile(rb"(?im)^cseq[ \t]*:[ \t]*(\d{1,9})[ \t]+([A-Za-z]+)")
_STATUS = re.compile(rb"^SIP/2\.0 (\d{3}) ")


@dataclass
class Report:
    """What happened to the cases sent."""

    cases: int = 0
    sent: int = 0                       # datagrams (or TCP messages) sent, every kind
    invite_answers: Counter = field(default_factory=Counter)   # status -> cases whose INVITE got it
    unanswered: list[int] = field(default_factory=list)        # cases whose INVITE got no answer at all
    cancel_lost: list[int] = field(default_factory=list)       # cases whose CANCEL got no answer (a failure)
    closed: int = 0                     # TCP: cases after which the box closed the connection (framing refused)
    desynced: int = 0                   # TCP: cases whose INVITE swallowed its CANCEL (no blank line ending the
                                        # head, or a Content-Length past the end): the test closes the stream
    options_sent: int = 0
    options_ok: int = 0
    acks: int = 0
    byes: int = 0
    unmatched: int = 0                  # answers naming no case (counted, not a failure)
    seconds: float = 0.0

    @property
    def answered(self) -> int:
        """Cases whose INVITE got at least one answer."""
        return self.cases - len(self.unanswered)


def _case_of(data: bytes) -> int | None:
    for rx in (_BRANCH, _CALL_ID):
        m = rx.search(data[:4096])
        if m:
            return int(m.group(1))
    m = _CSEQ.search(data[:4096])
    return int(m.group(1)) - 1 if m else None


def _header(data: bytes, name: bytes, compact: bytes) -> bytes | None:
    m = re.search(rb"(?im)^(?:%s|%s)[ \t]*:[^\r\n]*" % (name, compact), data[:8192])
    return m.group(0) if m else None


class _Dialogue:
    """The answers of one transport, turned into ACKs, BYEs and the report."""

    def __init__(self, report: Report, send: Callable[[bytes], None], local: tuple[str, int], transport: str,
                 target: tuple[str, int]) -> None:
        self.report, self.send, self.local, self.transport, self.target = report, send, local, transport, target
        self.answered: set[int] = set()
        self.done: set[int] = set()
        self.pings_ok: set[int] = set()
        self.finals: set[tuple[int, int]] = set()

    def answer(self, data: bytes) -> None:
        """One message from the box."""
        status = _STATUS.match(data)
        if status is None:
            return   # a request (a BYE from the box after no ACK): nothing to do
        code = int(status.group(1))
        m = re.search(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*ping-(\d+)", data[:4096])
        if m:
            if code == 200:
                self.pings_ok.add(int(m.group(1)))
            return
        n = _case_of(data)
        cseq = _CSEQ.search(data[:4096])
        method = cseq.group(2).upper() if cseq else b"INVITE"
        if n is None:
            self.report.unmatched += 1
            return
        if method == b"CANCEL":
            self.done.add(n)
            return
        if method in (b"ACK", b"BYE"):
            return
        if n not in self.answered:
            self.answered.add(n)
            self.report.invite_answers[code] += 1
        if code >= 200 and cseq is not None and (n, code) not in self.finals:
            self.finals.add((n, code))
            self._ack(data, n, code, cseq.group(1))

    def _ack(self, resp: bytes, n: int, code: int, cseq: bytes) -> None:
        via, frm, to, call_id = (_header(resp, b"via", b"v"), _header(resp, b"from", b"f"),
                                 _header(resp, b"to", b"t"), _header(resp, b"call-id", b"i"))
        if None in (via, frm, to, call_id):
            return
        host, port = self.target
        ruri = f"sip:{host}:{port}".encode()
        if code < 300:   # the box took the call: a 2xx ACK is a new transaction, then BYE
            branch = b"Via: SIP/2.0/%s %s:%d;branch=z9hG4bKp%dack" % (self.transport.encode(),
                                                                     self.local[0].encode(), self.local[1], n)
            via = branch
        ack = (b"ACK %s SIP/2.0\r\n%s\r\n%s\r\n%s\r\n%s\r\nCSeq: %s ACK\r\nMax-Forwards: 70\r\n"
               b"Content-Length: 0\r\n\r\n" % (ruri, via, frm, to, call_id, cseq))
        self.send(ack)
        self.report.acks += 1
        if code < 300:
            bye_via = b"Via: SIP/2.0/%s %s:%d;branch=z9hG4bKp%dbye" % (self.transport.encode(),
                                                                     self.local[0].encode(), self.local[1], n)
            self.send(b"BYE %s SIP/2.0\r\n%s\r\n%s\r\n%s\r\n%s\r\nCSeq: %d BYE\r\nMax-Forwards: 70\r\n"
                      b"Content-Length: 0\r\n\r\n" % (ruri, bye_via, frm, to, call_id, int(cseq) + 1))
            self.report.byes += 1

    def options(self, k: int) -> bytes:
        """An OPTIONS whose 200 proves the box alive."""
        lhost, lport = self.local
        host, port = self.target
        return (f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/{self.transport} {lhost}:{lport};branch=z9hG4bKping{k}\r\n"
                f"From: <sip:protos@{lhost}>;tag=ping\r\nTo: <sip:{host}>\r\nCall-ID: ping-{k}\r\n"
                f"CSeq: {k + 1} OPTIONS\r\n"
                f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()


def run_udp(target: tuple[str, int], *, user: str = "8001", extras: bool = True, batch: int = 500,
            max_in_flight: int = 48 * 1024, timeout: float = 5.0,
            progress: Callable[[Report], None] | None = None) -> Report:
    """Send every case (and the extra classes) over UDP from 127.0.0.1; wait for each CANCEL's answer."""
    report = Report()
    t0 = time.monotonic()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()
        host = target[0]

        def send(data: bytes) -> None:
            sock.sendto(data, target)
            report.sent += 1
        talk = _Dialogue(report, send, local, "UDP", target)
        all_cases: Iterable[protos.Case] = protos.cases(user=user, host=host, local=local)
        if extras:
            all_cases = [*all_cases, *protos.extra_cases(protos.CASES, user=user, host=host, local=local)]
        pending: dict[int, tuple[float, int]] = {}   # case -> (sent at, bytes)

        def drain(wait: float) -> int:
            sock.settimeout(wait)
            got = 0
            while True:
                try:
                    data = sock.recv(65536)
                except (socket.timeout, BlockingIOError):
                    return got
                got += 1
                talk.answer(data)
                sock.settimeout(0.0)
                for n in [n for n in pending if n in talk.done]:
                    del pending[n]

        def settle() -> None:
            deadline = time.monotonic() + timeout
            while pending and time.monotonic() < deadline:
                drain(0.05)
            for n in pending:
                report.cancel_lost.append(n)
            pending.clear()

        for case in all_cases:
            big = len(case.invite) > 8192    # one big datagram at a time: its buffer is twice its size
            while pending and (big or sum(size for _, size in pending.values()) + len(case.invite) > max_in_flight):
                drain(0.05)
                oldest = min(t for t, _ in pending.values()) if pending else 0
                if pending and time.monotonic() - oldest > timeout:
                    settle()
            send(case.invite)
            send(case.cancel)
            pending[case.number] = (time.monotonic(), len(case.invite))
            report.cases += 1
            drain(0.0)
            if report.cases % batch == 0:
                settle()
                _ping(talk, send, drain, report)
                if progress:
                    progress(report)
        settle()
        _ping(talk, send, drain, report)
        quiet_by = time.monotonic() + 5.0   # late answers (a 487 after its CANCEL's 200, calls the box took late)
        while drain(1.0) and time.monotonic() < quiet_by:
            pass
        report.unanswered = sorted(set(range(report.cases)) - talk.answered)
    report.seconds = time.monotonic() - t0
    return report


def _ping(talk: _Dialogue, send: Callable[[bytes], None], drain: Callable[[float], int], report: Report) -> None:
    k = report.options_sent
    report.options_sent += 1
    send(talk.options(k))
    deadline = time.monotonic() + 5.0
    while k not in talk.pings_ok and time.monotonic() < deadline:
        drain(0.05)
    if k in talk.pings_ok:
        report.options_ok += 1


def run_tcp(target: tuple[str, int], *, every: int = 20, user: str = "8001", timeout: float = 1.0) -> Report:
    """Send every ``every``-th case over TCP (one connection, opened again when the box closes it)."""
    report = Report()
    t0 = time.monotonic()
    conn: socket.socket | None = None
    numbers: list[int] = []

    def send(data: bytes) -> None:
        assert conn is not None
        conn.sendall(data)
        report.sent += 1
    talk = _Dialogue(report, send, ("127.0.0.1", 0), "TCP", target)
    try:
        for index in range(0, protos.CASES, every):
            if conn is None:
                conn = socket.create_connection(target, timeout=timeout)
                talk.local = conn.getsockname()[:2]
            case = protos.case(index, user=user, host=target[0], local=conn.getsockname(), transport="TCP")
            numbers.append(case.number)
            report.cases += 1
            try:
                talk.send(case.invite)
                talk.send(case.cancel)
            except OSError:
                report.closed += 1
                conn.close()
                conn = None
                continue
            buf = b""
            deadline = time.monotonic() + timeout
            settle_by = None
            while time.monotonic() < deadline:
                if case.number in talk.done:   # then a moment more for the INVITE's own final answer
                    settle_by = settle_by or time.monotonic() + 0.05
                    if time.monotonic() > settle_by:
                        break
                    conn.settimeout(0.05)
                else:
                    conn.settimeout(timeout)
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    report.closed += 1
                    conn.close()
                    conn = None
                    break
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, _, rest = buf.partition(b"\r\n\r\n")
                    m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
                    size = int(m.group(1)) if m else 0
                    if len(rest) < size:
                        break
                    talk.answer(head + b"\r\n\r\n" + rest[:size])
                    buf = rest[size:]
            if conn is not None and case.number not in talk.done:
                report.desynced += 1
                conn.close()
                conn = None
        if conn is not None:
            report.options_sent += 1
            talk.send(talk.options(0))
            conn.settimeout(timeout)
            data = conn.recv(65536)
            if data.startswith(b"SIP/2.0 200"):
                report.options_ok += 1
    finally:
        if conn is not None:
            conn.close()
    report.unanswered = [n for n in numbers if n not in talk.answered]
    report.seconds = time.monotonic() - t0
    return report
