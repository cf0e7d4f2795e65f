"""Attended transfer from an IP phone: hold, a consultation call, and REFER with Replaces (RFC 3891, RFC 5589).

A mixin of ``Endpoint`` (endpoint.py). An agent's phone in a call the box rang (a caller from the ACD) puts the
caller on hold (a re-INVITE ``sendonly``/``inactive``): the call engine gives the caller music. The phone then
calls a colleague (a second INVITE from the same extension, the consultation): its dialog becomes the station
line's media and the engine rings the colleague for the agent. The transfer key sends REFER in either dialog with
``Refer-To: <sip:EXT@box?Replaces=OTHER-DIALOG>``: the engine bridges the caller with the colleague
(``call.transferred``, mode ``attended``) and the box ends both of the phone's dialogs, the REFER's with a
sipfrag "200 OK" first. Resuming the held call instead ends the consultation (the engine's "resume").
"""
from __future__ import annotations

import logging
import re
from hotline.drivers.base import Flashed, HangupCause, HungUp, PhoneAction

from . import sdp
from .calls import CallState, SipCall
from .errors import SipParseError
from .message import Request
from .refer import Referral

log = logging.getLogger("hotline.drivers.sip")

COMPLETE_TIMEOUT = 40.0      # seconds the engine has to complete an attended transfer (it may still be ringing)


class Consults:
    """The held call and the consultation call of a phone, and the transfer that joins their far ends."""

    held: dict[str, SipCall]          # station line -> the phone's held call while its consultation is the line's call

    def _reinvite(self, call: SipCall, req: Request, source: tuple[str, int]) -> None:
        """Hold/resume or a new address: take the new offer, answer with ours mirrored."""
        try:
            neg = sdp.negotiate(sdp.parse(req.body)) if req.body else None
        except SipParseError:
            self._reply(req, source, 488, "Not Acceptable Here", to_tag=call.local_tag)
            return
        direction = sdp.Direction.SENDRECV
        if neg is not None:
            call.stream.remote = (neg.remote_address, neg.remote_port)
            direction = neg.direction
        body = sdp.build(self.media_host, call.stream.port, codecs=[(call.stream.payload_type, call.stream.codec)],
                         dtmf_payload_type=call.stream.dtmf_payload_type, direction=direction,
                         comfort_noise=call.stream.comfort_noise)
        self._reply(req, source, 200, "OK", to_tag=call.local_tag, body=body, content_type="application/sdp",
                    extra=[("contact", self._contact(source))])
        self._hold_changed(call, neg)

    def _hold_changed(self, call: SipCall, neg: "sdp.Negotiated | None") -> None:
        """A re-INVITE in a phone's dialog: hold or resume tells the call engine (only for a call the box rang)."""
        if not (call.station and call.outbound):
            return
        holding = neg is not None and (neg.direction in (sdp.Direction.RECVONLY, sdp.Direction.INACTIVE)
                                       or neg.remote_address in ("0.0.0.0", "::"))
        if holding and not call.held and self.calls.get(call.line) is call:
            call.held = True
            log.info("SIP phone on %s put its caller on hold", call.line)
            self.sink(Flashed(call.line, action=PhoneAction.HOLD))
        elif not holding and call.held:
            call.held = False
            consult = self.calls.get(call.line) if self.held.get(call.line) is call else None
            if consult is not None:           # back to the caller: the consultation ends
                log.info("SIP phone on %s resumed its caller: the consultation ends", call.line)
                self._send_bye(consult)
                self._release(consult)
                self.held.pop(call.line, None)
                self.calls[call.line] = call
            self.sink(Flashed(call.line, action=PhoneAction.RESUME))

    def _consult_invite(self, req: Request, source: tuple[str, int], line: str, dialled: str) -> bool:
        """A phone whose caller is on hold calls a colleague: True when this INVITE became its consultation."""
        held = self.calls.get(line)
        if held is None or not held.held or line in self.held or held.state is not CallState.UP:
            return False
        if not re.fullmatch(r"[0-9*#]{1,16}", dialled):
            self._final(req, source, 404, "Not Found")
            return True
        self.held[line] = held
        del self.calls[line]
        call = self._accept_offer(req, source, line)
        if call is None:
            self.calls[line] = self.held.pop(line)
            return True
        call.station, call.dialled, call.consult = True, dialled, True
        log.info("SIP phone on %s consults %s while its caller holds", line, dialled)
        self._answer_locked(call)
        return True

    def _consult_confirmed(self, call: SipCall) -> None:
        """The consultation's ACK: the engine rings the colleague for the agent."""
        self.sink(Flashed(call.line, action=PhoneAction.CONSULT, target=call.dialled))

    def _attended_refer(self, call: SipCall, req: Request, source: tuple[str, int],
                        replaces: tuple[str, str, str]) -> None:
        """REFER with Replaces in the held call or the consultation: the engine joins caller and colleague."""
        held, consult = self.held.get(call.line), self.calls.get(call.line)
        pair = (held, consult) if held is not None and consult is not None and consult.consult else (None, None)
        other = consult if call is held else held if call is consult else None
        if other is None or other.call_id != replaces[0] or not {t for t in replaces[1:] if t} <= {
                other.local_tag, other.remote_tag}:
            log.info("SIP REFER with Replaces on %s refused: it does not name the phone's other call", call.line)
            self._reply(req, source, 403, "Forbidden", to_tag=call.local_tag)
            return
        if call.referral is not None or pair[1].state is not CallState.UP:
            self._reply(req, source, 491, "Request Pending", to_tag=call.local_tag)
            return
        self._reply(req, source, 202, "Accepted", to_tag=call.local_tag)
        call.referral = Referral(pair[1].dialled)
        log.info("SIP REFER on %s: attended transfer of the caller to %s", call.line, pair[1].dialled)
        self._notify(call, "100 Trying", final=False)
        self.sink(Flashed(call.line, action=PhoneAction.COMPLETE))

        def failed() -> None:
            if call.referral is not None and call.state is not CallState.ENDED:
                log.info("SIP attended transfer on %s was not completed", call.line)
                self._notify(call, "503 Service Unavailable", final=True)
                call.referral = None
        call.referral.timer = self.timers.call_later(COMPLETE_TIMEOUT, failed)

    def _end_held(self, line: str) -> None:
        """The engine hung up the station line: the phone's held call ends too (after its transfer NOTIFY)."""
        held = self.held.pop(line, None)
        if held is not None and held.state is CallState.UP:
            self._refer_done(held)
            self._send_bye(held)
        if held is not None:
            self._release(held)

    def _consult_bye(self, call: SipCall) -> bool:
        """The phone hung up one of its two calls; True when handled here (the station line goes on)."""
        held = self.held.get(call.line)
        if held is None:
            return False
        if call is held:            # it dropped the held caller: the consultation ends too, the line hangs up
            self.held.pop(call.line)
            self._release(call)
            consult = self.calls.get(call.line)
            if consult is not None:
                self._send_bye(consult)
                self._release(consult)
            self.sink(HungUp(call.line, HangupCause.NORMAL))
            return True
        if self.calls.get(call.line) is call:   # the consultation ended: the held call is the line's again
            self._release(call)
            self.calls[call.line] = self.held.pop(call.line)
            return True
        return False
