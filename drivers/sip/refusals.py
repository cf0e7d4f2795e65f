"""Requests the endpoint refuses before any method's handler sees them: malformed ones, answered statelessly from
their raw head, and any request whose ``Require`` names an extension the box lacks (RFC 3261 §8.2.2.3: 420 Bad
Extension with ``Unsupported``, for every method but ACK and CANCEL).

A mixin of ``Endpoint`` (endpoint.py), which calls ``_refuse_malformed`` when a message does not parse and
``_refuse_unsupported`` for every request it is about to hand to a handler.
"""
from __future__ import annotations

import logging
import re

from . import message as sipmsg
from .calls import new_tag
from .errors import SipParseError
from .message import Request
from .prack import SUPPORTED, options

log = logging.getLogger("hotline.drivers.sip")

NO_REQUIRE_CHECK = ("ACK", "CANCEL")   # RFC 3261 §8.2.2.3: these two are never refused for their Require
_RAW_HEADER = re.compile(rb"(?im)^(via|v|from|f|to|t|call-id|i|cseq)[ \t]*:[^\r\n]*(?:\r?\n[ \t]+[^\r\n]*)*")


def unsupported(req: Request) -> list[str]:
    """The option tags the request's Require names that the box does not support (sorted, lower-cased)."""
    if req.method in NO_REQUIRE_CHECK:
        return []
    return sorted(options(req, "require") - set(SUPPORTED))


class Refusals:
    """Answers for requests no handler should see (the endpoint's ``_reply``, ``_final``, ``_send``, ``stats``)."""

    def _refuse_unsupported(self, req: Request, source: tuple[str, int]) -> bool:
        """True (after answering 420 Bad Extension with Unsupported) when the request requires an extension the
        box does not support. An INVITE's 420 is resent until its ACK, as any final answer to an INVITE; an INVITE
        already answered (a retransmission) is left to its handler, which repeats that answer."""
        missing = unsupported(req)
        if not missing or (req.method == "INVITE" and self._txn(req) in self._answered):
            return False
        extra = [("unsupported", ", ".join(missing)), ("supported", ", ".join(SUPPORTED))]
        log.info("SIP %s from %s:%s refused (420): requires %s", req.method, source[0], source[1], ", ".join(missing))
        if req.method == "INVITE":
            self._final(req, source, 420, "Bad Extension", extra=extra)
        else:
            self._reply(req, source, 420, "Bad Extension", to_tag=new_tag(), extra=extra)
        return True

    def _refuse_malformed(self, data: bytes, source: tuple[str, int], err: SipParseError) -> None:
        """Count it; answer a malformed request with its status when its head names where to answer."""
        self.stats.malformed += 1
        key = str(err.status)
        self.stats.rejections[key] = self.stats.rejections.get(key, 0) + 1
        log.info("SIP message from %s:%s refused (%s): %s", source[0], source[1], err.status, err.reason)
        if data.lstrip(b"\r\n")[:4].upper() == b"SIP/" or data.lstrip(b"\r\n")[:3].upper() == b"ACK":
            return
        found = {}
        for m in _RAW_HEADER.finditer(data[:sipmsg.MAX_MESSAGE]):
            name = m.group(1).lower().decode()
            name = sipmsg.COMPACT.get(name, name)
            found.setdefault(name, m.group(0))
        if {"via", "from", "to", "call-id", "cseq"} - found.keys():
            return
        reason = re.sub(r"[^\x20-\x7e]", "?", err.reason)[:100]
        head = f"SIP/2.0 {err.status} {reason}\r\n".encode()
        lines = [found[n] for n in ("via", "from", "to", "call-id", "cseq")]
        self._send(head + b"\r\n".join(lines) + b"\r\nContent-Length: 0\r\n\r\n", source)
