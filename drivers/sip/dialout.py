"""Calls the box places through a SIP trunk: the INVITE, its answers (progress, answer, failure), ACK and CANCEL.

A mixin of ``Endpoint`` (endpoint.py): it uses the endpoint's socket, timers, lock and call table.
"""
from __future__ import annotations

import logging
import re

from hotline.drivers.base import Answered, HangupCause, HungUp, OffHook, Progress, ProgressKind

from . import sdp
from .calls import ALLOW, FAIL_CAUSE, CallState, SipCall, new_branch, new_tag
from .errors import SipParseError
from .message import Headers, Request, Response
from .rtp import RtpStream
from .timers import T1, Retransmit
from .uri import parse_name_addr, parse_uri

log = logging.getLogger("hotline.drivers.sip")


class DialOut:
    """Outbound calls and the handling of responses to the endpoint's own requests."""

    def _response(self, resp: Response, source: tuple[str, int]) -> None:
        if resp.cseq[1] == "REGISTER":
            self._register_answered(resp)
            return
        if resp.cseq[1] == "NOTIFY":
            self._notify_answered(resp)
            return
        call = self._find_dialog(resp)
        if call is None:
            return
        _, method = resp.cseq
        if method == "BYE" or method == "CANCEL":
            if call.retransmit and resp.status >= 200 and call.state is CallState.ENDED:
                call.retransmit.stop()
            return
        if method != "INVITE" or not call.outbound:
            return
        if call.retransmit and resp.status >= 100:
            call.retransmit.stop()
        if resp.status < 200:
            if resp.status in (180, 183) and call.state is CallState.DIALLING and not call.station:
                kind = ProgressKind.EARLY_MEDIA if resp.status == 183 else ProgressKind.RINGBACK
                self.sink(Progress(call.line, kind))
            return
        if 200 <= resp.status < 300:
            call.remote_tag = resp.to.tag
            contact = resp.headers.get("contact")
            if contact:
                call.remote_target = str(parse_name_addr(contact).uri)
            self._send_ack(call, resp)
            if call.state is CallState.DIALLING:
                try:
                    neg = sdp.negotiate(sdp.parse(resp.body))
                    call.stream.remote = (neg.remote_address, neg.remote_port)
                    call.stream.codec, call.stream.payload_type = neg.codec, neg.payload_type
                    call.stream.dtmf_payload_type = neg.dtmf_payload_type
                    call.stream.comfort_noise = neg.comfort_noise
                except SipParseError:
                    pass
                call.state = CallState.UP
                self.sink(OffHook(call.line) if call.station else Answered(call.line))
            return
        # A final failure: ACK it (same branch) and end the leg, unless it is a registering trunk's challenge.
        call.remote_tag = resp.to.tag
        self._send_ack(call, resp, same_branch=True)
        if resp.status in (401, 407) and call.state is CallState.DIALLING and self._invite_with_auth(call, resp):
            return
        if call.state is CallState.DIALLING:
            self._release(call)
            self.sink(HungUp(call.line, FAIL_CAUSE.get(resp.status, HangupCause.REJECTED)))

    def _send_ack(self, call: SipCall, resp: Response, *, same_branch: bool = False) -> None:
        headers = Headers()
        headers.add("via", self._via(call.branch if same_branch else new_branch(), call.peer))
        headers.add("max-forwards", "70")
        headers.add("from", call.local_uri)
        headers.add("to", resp.headers.get("to"))
        headers.add("call-id", call.call_id)
        headers.add("cseq", f"{call.invite.cseq[0] if call.invite else 1} ACK")
        target = call.remote_target if not same_branch else str(call.invite.uri if call.invite else call.remote_target)
        ack = Request(headers, b"", method="ACK", uri=parse_uri(target))
        self._send(ack.to_bytes(), call.peer)

    def _send_cancel(self, call: SipCall) -> None:
        if call.invite is None:
            return
        headers = Headers()
        headers.add("via", call.invite.headers.get("via"))
        headers.add("max-forwards", "70")
        headers.add("from", call.invite.headers.get("from"))
        headers.add("to", call.invite.headers.get("to"))
        headers.add("call-id", call.call_id)
        headers.add("cseq", f"{call.invite.cseq[0]} CANCEL")
        self._send(Request(headers, b"", method="CANCEL", uri=call.invite.uri).to_bytes(), call.peer)
        call.state = CallState.ENDED

    def dial(self, line: str, number: str, trunk: str | None = None) -> None:
        """Place a call through a trunk peer; HungUp(REJECTED) when outbound calls are not enabled."""
        with self._lock:
            if not self.allow_outbound or not self.peers or line in self.calls:
                log.warning("SIP dial %s on %s refused: %s", number, line,
                            "outbound calls are not enabled (allow_outbound)" if not self.allow_outbound
                            else "no trunk peer" if not self.peers else "line busy")
                self.sink(HungUp(line, HangupCause.REJECTED))
                return
            if not re.fullmatch(r"\+?[0-9*#]{1,32}", number):
                self.sink(HungUp(line, HangupCause.REJECTED))
                return
            name = trunk if trunk in self.peers else next(iter(self.peers))
            host, port = self.peers[name]
            peer = (host, port or 5060)
            acct = self.account_for(peer)
            target = f"sip:{number}@{acct.domain}" if acct else f"sip:{number}@{host}:{peer[1]}"
            if self._invite_out(line, target, peer, from_user=acct.username if acct else "hotline", from_display="",
                                from_host=acct.domain if acct else ""):
                self.stats.calls_out += 1
        self._wake()


    def _invite_out(self, line: str, target: str, peer: tuple[str, int], *, from_user: str, from_display: str,
                    station: bool = False, from_host: str = "") -> bool:
        """Send an INVITE with our offer to ``target`` via ``peer`` for ``line`` (lock held); False when no RTP port."""
        try:
            sock = self.rtp.open()
        except OSError:
            self.sink(HungUp(line, HangupCause.CONGESTION))
            return False
        stream = RtpStream(sock, codec="PCMU", payload_type=0, dtmf_payload_type=101, remote=None)
        branch, tag, call_id = new_branch(), new_tag(), f"{new_tag()}@{self.media_host}"
        user = from_user if re.fullmatch(r"[A-Za-z0-9+*#._-]{1,32}", from_user or "") else "anonymous"
        display = f'"{from_display}" ' if from_display and '"' not in from_display and "\\" not in from_display else ""
        local_uri = f"{display}<sip:{user}@{from_host or f'{self.media_host}:{self.port}'}>"
        remote_uri = f"<{target}>"
        headers = Headers()
        headers.add("via", self._via(branch, peer))
        headers.add("max-forwards", "70")
        headers.add("from", f"{local_uri};tag={tag}")
        headers.add("to", remote_uri)
        headers.add("call-id", call_id)
        headers.add("cseq", "1 INVITE")
        headers.add("contact", self._contact(peer))
        headers.add("allow", ALLOW)
        headers.add("content-type", "application/sdp")
        body = sdp.build(self.media_host, stream.port, codecs=[(0, "PCMU"), (8, "PCMA")], comfort_noise=True)
        invite = Request(headers, body, method="INVITE", uri=parse_uri(target))
        call = SipCall(line=line, call_id=call_id, local_tag=tag, peer=peer, stream=stream,
                       state=CallState.DIALLING, invite=invite, remote_target=target,
                       local_uri=f"{local_uri};tag={tag}", remote_uri=remote_uri, outbound=True,
                       branch=branch, station=station)
        self.calls[line] = call
        self._send_invite(call, invite.to_bytes(), peer, line)
        return True

    def _send_invite(self, call: SipCall, data: bytes, peer: tuple[str, int], line: str) -> None:
        """Send an INVITE, resent until answered; no answer at all ends the dial as NO_ANSWER."""
        self._send(data, peer)

        def no_answer() -> None:
            if call.state is CallState.DIALLING:
                self._release(call)
                self.sink(HungUp(line, HangupCause.NO_ANSWER))
        call.retransmit = Retransmit(self.timers, lambda: self._send(data, peer), no_answer, cap=T1 * 64)
