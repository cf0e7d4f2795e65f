"""SIP over TCP and TLS (RFC 3261 §18.3, §26.2): a listener beside the UDP socket, messages framed by
Content-Length, answers and in-dialog requests sent back on the connection a peer used. Bounded in connections
and buffer. TLS handshakes run non-blocking in the signalling thread's selector, each within HANDSHAKE_SECONDS."""
from __future__ import annotations

import logging
import select
import selectors
import socket
import ssl
import time
from typing import Callable

from . import message as sipmsg
from .errors import SipParseError

log = logging.getLogger("hotline.drivers.sip")

MAX_CONNECTIONS = 256
HANDSHAKE_SECONDS = 10.0      # a TLS connection that has not finished its handshake by then is closed
SEND_SECONDS = 2.0            # how long a send may wait for a full socket buffer before the connection is dropped


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 or later) from PEM files; OSError/ssl.SSLError naming what failed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


class TcpTransport:
    """Accepts connections and hands each framed message to ``on_message(data, source)``; TLS with ``context``."""

    def __init__(self, host: str, port: int, on_message: Callable[[bytes, tuple[str, int]], None],
                 context: ssl.SSLContext | None = None) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self.on_message = on_message
        self.context = context
        self.name = "TLS" if context is not None else "TCP"
        self.conns: dict[tuple[str, int], socket.socket] = {}
        self.buffers: dict[tuple[str, int], bytes] = {}
        self.handshaking: dict[tuple[str, int], float] = {}   # TLS: source -> deadline (monotonic)
        self.refused = 0
        self.handshake_failures = 0
        self._sel: selectors.BaseSelector | None = None

    def register(self, sel: selectors.BaseSelector) -> None:
        """Watch the listener in the signalling thread's selector."""
        self._sel = sel
        sel.register(self.listener, selectors.EVENT_READ, data=(self, "listen", None))

    def handle(self, key: selectors.SelectorKey) -> None:
        """A ready listener (accept) or connection (handshake, read and frame)."""
        _, kind, source = key.data
        if kind == "listen":
            self._accept()
        elif source in self.handshaking:
            self._handshake(source)
        else:
            self._read(source)

    def expire(self) -> None:
        """Close TLS connections whose handshake did not finish in time (called from the signalling loop)."""
        now = time.monotonic()
        for source in [s for s, deadline in self.handshaking.items() if deadline <= now]:
            self.handshake_failures += 1
            log.info("SIP over TLS from %s:%s closed: no handshake within %.0f s", source[0], source[1],
                     HANDSHAKE_SECONDS)
            self.drop(source)

    def _accept(self) -> None:
        try:
            conn, addr = self.listener.accept()
        except OSError:
            return
        source = (addr[0], addr[1])
        if len(self.conns) >= MAX_CONNECTIONS:
            self.refused += 1
            conn.close()
            return
        conn.setblocking(False)
        if self.context is not None:
            try:
                conn = self.context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            except (OSError, ValueError):
                conn.close()
                return
            self.handshaking[source] = time.monotonic() + HANDSHAKE_SECONDS
        self.conns[source] = conn
        self.buffers[source] = b""
        assert self._sel is not None
        self._sel.register(conn, selectors.EVENT_READ, data=(self, "conn", source))
        if self.context is not None:
            self._handshake(source)

    def _handshake(self, source: tuple[str, int]) -> None:
        conn = self.conns.get(source)
        if conn is None:
            return
        assert isinstance(conn, ssl.SSLSocket) and self._sel is not None
        try:
            conn.do_handshake()
        except ssl.SSLWantReadError:
            self._sel.modify(conn, selectors.EVENT_READ, data=(self, "conn", source))
            return
        except ssl.SSLWantWriteError:
            self._sel.modify(conn, selectors.EVENT_WRITE, data=(self, "conn", source))
            return
        except (OSError, ValueError) as exc:
            self.handshake_failures += 1
            log.info("SIP over TLS from %s:%s closed: handshake failed: %s", source[0], source[1], exc)
            self.drop(source)
            return
        del self.handshaking[source]
        self._sel.modify(conn, selectors.EVENT_READ, data=(self, "conn", source))
        self._read(source)     # records that came with the handshake's last flight

    def _read(self, source: tuple[str, int]) -> None:
        conn = self.conns.get(source)
        if conn is None:
            return
        buf = self.buffers[source]
        while True:
            try:
                chunk = conn.recv(65536)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except OSError:
                chunk = b""
            if not chunk:
                self.drop(source)
                return
            buf += chunk
            if len(buf) > 2 * sipmsg.MAX_MESSAGE or not (isinstance(conn, ssl.SSLSocket) and conn.pending()):
                break
        while True:
            try:
                msg, buf = sipmsg.frame_stream(buf)
            except SipParseError as err:
                log.info("SIP over %s from %s:%s closed: %s", self.name, source[0], source[1], err.reason)
                self.drop(source)
                return
            if msg is None:
                break
            self.on_message(msg, source)
            if source not in self.conns:      # the handler closed it
                return
        if len(buf) > 2 * sipmsg.MAX_MESSAGE:
            self.drop(source)
            return
        self.buffers[source] = buf

    def send(self, dest: tuple[str, int], data: bytes) -> bool:
        """Send on the connection ``dest`` opened; False when there is none (the caller uses UDP)."""
        conn = self.conns.get(dest)
        if conn is None or dest in self.handshaking:
            return False
        view, deadline = memoryview(data), time.monotonic() + SEND_SECONDS
        try:
            while view:
                try:
                    view = view[conn.send(view):]
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise OSError("send timed out") from None
                    select.select([], [conn], [], min(left, 0.1))
        except OSError:
            self.drop(dest)
        return True

    def drop(self, source: tuple[str, int]) -> None:
        """Close one connection."""
        conn = self.conns.pop(source, None)
        self.buffers.pop(source, None)
        self.handshaking.pop(source, None)
        if conn is not None:
            if self._sel is not None:
                try:
                    self._sel.unregister(conn)
                except (KeyError, ValueError):
                    pass
            conn.close()

    def close(self) -> None:
        """Close the listener and every connection."""
        for source in list(self.conns):
            self.drop(source)
        self.listener.close()
