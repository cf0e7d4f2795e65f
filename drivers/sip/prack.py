"""Reliable provisional responses (RFC 3262, 100rel) and the extensions the box supports.

A mixin of ``Endpoint`` (endpoint.py). A trunk's INVITE with ``Require: 100rel`` (or ``Supported: 100rel``)
gets its "180 Ringing" reliably: with ``Require: 100rel`` and an ``RSeq``, resent (T1, 2*T1 ...) until the caller's
PRACK names it in ``RAck``; the box's 200 OK waits for that PRACK, so the caller sees 180, its PRACK's 200, then
the answer. Without a PRACK within 32 s the call is refused (504). ``SUPPORTED`` lists the extensions the box has:
a request requiring any other gets 420 with ``Unsupported`` (refusals.py).
"""
from __future__ import annotations

import logging
import re

from hotline.drivers.base import HangupCause, HungUp

from .calls import CallState, SipCall
from .message import Request
from .timers import Retransmit

log = logging.getLogger("hotline.drivers.sip")

SUPPORTED = ("100rel",)
_RACK = re.compile(r"^\s*(\d{1,10})\s+(\d{1,10})\s+([A-Za-z]+)\s*$")


def options(req: Request, header: str) -> set[str]:
    """The option tags of a Require/Supported header (all of them, lower-cased)."""
    return {tag.strip().lower() for value in req.headers.get_all(header) for tag in value.split(",") if tag.strip()}


class Reliable:
    """100rel for calls that arrive: the reliable 180, PRACK, and the answer held until it."""

    def _ring_reliably(self, req: Request, source: tuple[str, int], call: SipCall) -> None:
        """A caller that requires or supports 100rel hears a reliable 180 (RSeq 1), resent until its PRACK."""
        if "100rel" not in options(req, "require") | options(req, "supported"):
            return
        call.rseq = 1
        data = self._reply(req, source, 180, "Ringing", to_tag=call.local_tag,
                           extra=[("require", "100rel"), ("rseq", str(call.rseq)),
                                  ("contact", self._contact(source))])

        def no_prack() -> None:
            if self.calls.get(call.line) is call and call.state is CallState.OFFERED and call.invite is not None:
                log.info("SIP call on %s: no PRACK for our reliable 180 within 32 s, refused", call.line)
                self._final(call.invite, call.peer, 504, "Server Time-out", to_tag=call.local_tag)
                self._release(call)
                self.sink(HungUp(call.line, HangupCause.TIMEOUT))
        call.prack_wait = Retransmit(self.timers, lambda: self._send(data, source), no_prack, cap=64.0)

    def _on_prack(self, req: Request, source: tuple[str, int]) -> None:
        call = self._find_dialog(req)
        m = _RACK.match(req.headers.get("rack"))
        if call is None or call.prack_wait is None or m is None or int(m.group(1)) != call.rseq \
                or m.group(3).upper() != "INVITE" or call.invite is None or int(m.group(2)) != call.invite.cseq[0]:
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        call.prack_wait.stop()
        call.prack_wait = None
        self._reply(req, source, 200, "OK", to_tag=call.local_tag)
        if call.answer_waiting and call.state is CallState.OFFERED:
            call.answer_waiting = False
            self._answer_locked(call)

    def _hold_answer(self, call: SipCall) -> bool:
        """True when the answer must wait for the PRACK of our reliable 180 (it is sent when the PRACK comes)."""
        if call.prack_wait is not None and not call.prack_wait.stopped:
            call.answer_waiting = True
            return True
        return False
