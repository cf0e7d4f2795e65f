"""SIP over TCP (RFC 3261 §18.3): a listener beside the UDP socket, messages framed by Content-Length,
answers and in-dialog requests sent back on the connection a peer used. Bounded in connections and buffer."""
from __future__ import annotations

import logging
import selectors
import socket
from typing import Callable

from . import message as sipmsg
from .errors import SipParseError

log = logging.getLogger("hotline.drivers.sip")

MAX_CONNECTIONS = 256


class TcpTransport:
    """Accepts connections and hands each framed message to ``on_message(data, source)``."""

    def __init__(self, host: str, port: int, on_message: Callable[[bytes, tuple[str, int]], None]) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.on_message = on_message
        self.conns: dict[tuple[str, int], socket.socket] = {}
        self.buffers: dict[tuple[str, int], bytes] = {}
        self.refused = 0
        self._sel: selectors.BaseSelector | None = None

    def register(self, sel: selectors.BaseSelector) -> None:
        """Watch the listener in the signalling thread's selector."""
        self._sel = sel
        sel.register(self.listener, selectors.EVENT_READ, data=("tcp-listen", None))

    def handle(self, key: selectors.SelectorKey) -> None:
        """A ready listener (accept) or connection (read and frame)."""
        kind, source = key.data
        if kind == "tcp-listen":
            self._accept()
        else:
            self._read(source)

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
        self.conns[source] = conn
        self.buffers[source] = b""
        assert self._sel is not None
        self._sel.register(conn, selectors.EVENT_READ, data=("tcp", source))

    def _read(self, source: tuple[str, int]) -> None:
        conn = self.conns.get(source)
        if conn is None:
            return
        try:
            chunk = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.drop(source)
            return
        buf = self.buffers[source] + chunk
        while True:
            try:
                msg, buf = sipmsg.frame_stream(buf)
            except SipParseError as err:
                log.info("SIP over TCP from %s:%s closed: %s", source[0], source[1], err.reason)
                self.drop(source)
                return
            if msg is None:
                break
            self.on_message(msg, source)
        if len(buf) > 2 * sipmsg.MAX_MESSAGE:
            self.drop(source)
            return
        self.buffers[source] = buf

    def send(self, dest: tuple[str, int], data: bytes) -> bool:
        """Send on the connection ``dest`` opened; False when there is none (the caller uses UDP)."""
        conn = self.conns.get(dest)
        if conn is None:
            return False
        try:
            conn.sendall(data)
        except OSError:
            self.drop(dest)
        return True

    def drop(self, source: tuple[str, int]) -> None:
        """Close one connection."""
        conn = self.conns.pop(source, None)
        self.buffers.pop(source, None)
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
