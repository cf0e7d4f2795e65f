"""Errors of the SIP stack: a malformed message becomes one SipParseError carrying the status to answer."""
from __future__ import annotations


class SipParseError(ValueError):
    """A message or header value that breaks RFC 3261; ``status`` is what a request gets back (400 by default)."""

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
