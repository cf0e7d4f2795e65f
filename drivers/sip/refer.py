"""Blind transfer from an IP phone (RFC 3515 REFER, progress as RFC 3420 sipfrag NOTIFYs).

A mixin of ``Endpoint`` (endpoint.py). A phone in a call the box rang (an agent with a caller) sends REFER to
another extension: the box accepts it (202), tells the phone "100 Trying", and presents it to the call engine as
an analog phone would do it: a hook flash, then the extension's digits and #. When the engine takes the caller
away it hangs up the phone's leg: the phone hears "200 OK" in a last NOTIFY, then BYE. When nothing happened
within ``REFER_TIMEOUT`` (an unknown or busy extension: the engine gave the caller back) it hears "503".
A REFER whose Refer-To carries Replaces is an attended transfer (attended.py).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote

from hotline.drivers.base import DigitReceived, Flashed, PhoneAction

from .calls import CallState, SipCall
from .errors import SipParseError
from .message import Request, Response
from .timers import Retransmit
from .uri import parse_name_addr, parse_params

log = logging.getLogger("hotline.drivers.sip")

REFER_TIMEOUT = 8.0          # seconds the engine has to take the caller away before the transfer counts as failed
KEYS_AFTER = 0.3             # the flash first, the digits a moment later (the engine gives dial tone in between)


@dataclass
class Referral:
    """A REFER the box accepted and has not finished reporting on."""

    target: str
    timer: int | None = None


def refer_replaces(req: Request) -> tuple[str, str, str] | None:
    """(Call-ID, to-tag, from-tag) of the ``Replaces`` in a REFER's Refer-To; None when there is none.
    SipParseError (400) for a Replaces that cannot be read."""
    value = req.headers.get("refer-to")
    if not value or "replaces" not in value.lower():
        return None
    uri = parse_name_addr(value).uri
    for part in uri.headers.split("&"):
        name, _, text = part.partition("=")
        if name.strip().lower() == "replaces":
            call_id, _, params = unquote(text).partition(";")
            tags = parse_params(params, what="Replaces")
            if not call_id.strip():
                break
            return call_id.strip(), tags.get("to-tag", ""), tags.get("from-tag", "")
    raise SipParseError("Refer-To: unreadable Replaces")


class Transfers:
    """REFER in a phone's dialog, and the NOTIFYs that report on it."""

    notifies: dict[str, Retransmit]      # NOTIFY branch -> resent until answered

    def _on_refer(self, req: Request, source: tuple[str, int]) -> None:
        call = self._find_dialog(req)
        if call is None or call.state is CallState.ENDED:
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        try:
            replaces = refer_replaces(req)
        except SipParseError:
            self._reply(req, source, 400, "Bad Refer-To", to_tag=call.local_tag)
            return
        if replaces is not None and call.station:
            self._attended_refer(call, req, source, replaces)   # attended.py
            return
        if not (call.station and call.outbound) or call.state is not CallState.UP:
            # only a phone the box rang (an agent with a caller) may move its caller; trunks may not
            self._reply(req, source, 403, "Forbidden", to_tag=call.local_tag)
            return
        if call.referral is not None:
            self._reply(req, source, 491, "Request Pending", to_tag=call.local_tag)
            return
        target = self._refer_target(req)
        if target is None:
            self._reply(req, source, 400, "Bad Refer-To", to_tag=call.local_tag)
            return
        self._reply(req, source, 202, "Accepted", to_tag=call.local_tag)
        call.referral = Referral(target)
        log.info("SIP REFER on %s: blind transfer to %s", call.line, target)
        self._notify(call, "100 Trying", final=False)
        if call.held:      # the phone held the caller first: back to the call, then the flash
            call.held = False
            self.sink(Flashed(call.line, action=PhoneAction.RESUME))
        self.sink(Flashed(call.line))

        def keys() -> None:
            if self.calls.get(call.line) is call and call.referral is not None:
                for key in target + "#":
                    self.sink(DigitReceived(call.line, digit=key))
        self.timers.call_later(KEYS_AFTER, keys)

        def failed() -> None:
            if self.calls.get(call.line) is call and call.referral is not None:
                log.info("SIP REFER on %s to %s: the caller was not taken (unknown or busy)", call.line, target)
                self._notify(call, "503 Service Unavailable", final=True)
                call.referral = None
        call.referral.timer = self.timers.call_later(REFER_TIMEOUT, failed)

    @staticmethod
    def _refer_target(req: Request) -> str | None:
        """The extension in Refer-To (digits, * and #); None for anything else (other schemes, Replaces)."""
        value = req.headers.get("refer-to")
        if not value or "replaces" in value.lower():
            return None
        try:
            user = parse_name_addr(value).uri.user_plain
        except SipParseError:
            return None
        return user if re.fullmatch(r"[0-9*#]{1,16}", user or "") else None

    def _notify(self, call: SipCall, status_line: str, *, final: bool) -> None:
        """A sipfrag NOTIFY with the transfer's progress in the phone's dialog."""
        notify = self._in_dialog(call, "NOTIFY")
        notify.headers.add("event", "refer")
        notify.headers.add("subscription-state", "terminated;reason=noresource" if final else "active;expires=60")
        notify.headers.add("contact", self._contact(call.peer))
        notify.headers.add("content-type", "message/sipfrag;version=2.0")
        notify.body = f"SIP/2.0 {status_line}\r\n".encode()
        self._send_notify(notify, call.peer)

    def _send_notify(self, notify: Request, dest: tuple) -> None:
        """Send one of our NOTIFYs (REFER progress, message waiting) and resend it (T1, 2*T1 ... T2) until the
        phone answers it, for at most 64*T1, even after its dialog ended; at most 256 wait (the oldest is given
        up first)."""
        data, branch = notify.to_bytes(), notify.vias[0].branch
        self._send(data, dest)
        self.notifies[branch] = Retransmit(self.timers, lambda: self._send(data, dest),
                                           lambda: self.notifies.pop(branch, None))
        if len(self.notifies) > 256:
            self.notifies.pop(next(iter(self.notifies))).stop()

    def _notify_answered(self, resp: Response) -> None:
        """A response to one of our NOTIFYs: stop resending it."""
        waiting = self.notifies.pop(resp.vias[0].branch, None)
        if waiting is not None:
            waiting.stop()

    def _refer_done(self, call: SipCall) -> None:
        """The engine hangs up a phone whose REFER is pending: the transfer happened, say so before the BYE."""
        referral = call.referral
        if referral is not None:
            self.timers.cancel(referral.timer)
            call.referral = None
            self._notify(call, "200 OK", final=True)
