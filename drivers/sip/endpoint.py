"""The SIP user agent of one device: a UDP socket served by one signalling thread, calls and their dialogs.

Every datagram is size-bounded and parsed inside one ``try``: anything malformed becomes a counted
rejection (answered 4xx when the message says where to answer), never an exception in the thread.
An INVITE from an address that is not a configured trunk peer is refused (403) and counted.
"""
from __future__ import annotations

import logging
import re
import selectors
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from hotline.drivers.base import AnswerConfirmed, DigitReceived, HangupCause, HungUp, LineEvent, Ringing, Seized

from . import message as sipmsg
from . import sdp
from .calls import ALLOW, REJECT_STATUS, CallState, SipCall, new_branch, new_tag
from .attended import Consults
from .auth import DigestAuth
from .dialout import DialOut
from .errors import SipParseError
from .limits import LimitAction, RateLimiter
from .message import Headers, Request
from .overview import Overview
from .prack import SUPPORTED, Reliable
from .refusals import Refusals
from .refer import Transfers
from .rtcp import RtcpService
from .rtp import PortPool, RtpStream
from .stations import Binding, Stations
from .tcp import TcpTransport
from .timers import T4, Retransmit, Timers
from .trunkreg import InviteAuth, Registration, Registrations, TrunkAccount
from .uri import parse_name_addr, parse_uri

log = logging.getLogger("hotline.drivers.sip")
LINE_REST = 2.0   # seconds a line rests after a call before a call that arrives takes it (if another is free)
OFFER_TIMEOUT = 180.0   # seconds an arriving call may stay unanswered and unrefused (as a proxy's Timer C)

@dataclass
class EndpointStats:
    """What the endpoint counted; read by status() and tests."""

    datagrams: int = 0
    malformed: int = 0
    forbidden: int = 0         # INVITEs from addresses that are not trunk peers
    busy: int = 0              # INVITEs refused because every line was in use
    calls_in: int = 0
    calls_out: int = 0
    keepalives: int = 0
    internal_errors: int = 0   # a message our code failed on (a bug): logged with its traceback
    over_limit: int = 0        # phones' INVITEs refused (486) because their extension had max_calls calls
    rejections: dict[str, int] = field(default_factory=dict)


class Endpoint(DialOut, Stations, Overview, Transfers, Consults, Reliable, Refusals, Registrations, InviteAuth,
               RtcpService):
    """The device's SIP signalling: owns the socket, the thread, the timers and the calls by line."""

    def __init__(self, *, host: str, port: int, rtp: PortPool, media_host: str, lines: list[str],
                 peers: dict[str, tuple[str, int]], sink: Callable[[LineEvent], None],
                 allow_outbound: bool = False, auth: DigestAuth | None = None,
                 extensions: dict[str, str] | None = None, limiter: RateLimiter | None = None,
                 limit_action: LimitAction = LimitAction.REPLY, limit_peers: bool = False,
                 call_limits: dict[str, int] | None = None, accounts: list[TrunkAccount] | None = None,
                 tls: tuple[str, int, ssl.SSLContext] | None = None,
                 extra_lines: dict[str, list[str]] | None = None) -> None:
        self.host, self.port = host, port
        self.rtp = rtp
        self.media_host = media_host
        self.lines = lines
        self.peers = peers
        self.sink = sink
        self.allow_outbound = allow_outbound
        self.auth = auth
        self.extensions = extensions or {}
        # every station line of an extension: its own, then <line>-2 ... for its further calls (max_calls > 1)
        self.extension_lines = {ext: [line, *(extra_lines or {}).get(ext, [])] for ext, line in self.extensions.items()}
        self.line_extension = {line: ext for ext, lines in self.extension_lines.items() for line in lines}
        self.bindings: dict[str, Binding] = {}
        self.limiter = limiter if limiter is not None else RateLimiter({})
        self.limit_action, self.limit_peers = limit_action, limit_peers
        self.call_limits = call_limits if call_limits is not None else {ext: 1 for ext in self.extensions}
        self.peer_seen: dict[str, float] = {}        # trunk name -> when it last sent a request (epoch)
        self.notifies: dict[str, Retransmit] = {}    # our NOTIFYs (REFER progress, MWI) resent until answered
        self.mwi: dict[str, bool] = {}               # extension -> messages waiting (stations.py)
        self.stats = EndpointStats()
        self.timers = Timers()
        self.registrations = {acct.name: Registration(acct) for acct in accounts or []}
        self._rtcp_start()
        self.calls: dict[str, SipCall] = {}          # line -> call
        self.held: dict[str, SipCall] = {}           # station line -> a phone's held call while it consults
        self._freed: dict[str, float] = {}           # line -> when its last call was released (monotonic)
        self._lock = threading.RLock()
        self._sock: socket.socket | None = None
        self.tcp: TcpTransport | None = None
        self.tls_config = tls                         # (host, port, context): SIP over TLS
        self.tls: TcpTransport | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = threading.Event()
        self._wakes_at = float("inf")   # when the signalling thread's select returns by itself (set under _lock)
        self._thread: threading.Thread | None = None
        self._answered: dict[str, bytes] = {}        # INVITE branch -> final response (retransmissions)
        self._acks: dict[str, Retransmit] = {}       # INVITE branch -> final non-2xx resent until its ACK

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Bind UDP and TCP on one port (OSError when it is taken) and start the signalling thread. With port 0
        the system picks a UDP port; when TCP has that number taken another pick is tried."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for attempt in range(20 if self.port == 0 else 1):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)   # bursts wait, not dropped (up to rmem_max)
            sock.bind((self.host, self.port))
            sock.setblocking(False)
            port = sock.getsockname()[1]
            try:
                self.tcp = TcpTransport(self.host, port, self._datagram)
            except OSError:
                sock.close()
                if attempt == (19 if self.port == 0 else 0):
                    raise
                continue
            break
        if self.tls_config is not None:
            tls_host, tls_port, context = self.tls_config
            try:
                self.tls = TcpTransport(tls_host, tls_port, self._datagram, context)
            except OSError:
                sock.close()
                self.tcp.close()
                raise
        self._sock = sock
        self.port = port
        with self._lock:
            self._start_registrations()
        self._thread = threading.Thread(target=self._signalling_thread, name=f"sip-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End every call (BYE sent once), stop the thread, close the sockets."""
        with self._lock:
            self._stop_registrations()
            for call in list(self.calls.values()):
                if call.state in (CallState.UP, CallState.ANSWERING):
                    self._send_bye(call, retransmit=False)
                self._release(call)
        self._stop.set()
        self._wake()
        if self._thread:
            self._thread.join(timeout=2)
        for transport in (self.tcp, self.tls):
            if transport is not None:
                transport.close()
        for s in (self._sock, self._wake_r, self._wake_w):
            if s is not None:
                s.close()

    def _timers_changed(self) -> None:
        """After a command set timers: wake the signalling thread only if one is due before its select returns."""
        if self.timers.soonest_added < self._wakes_at:
            self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _signalling_thread(self) -> None:
        sel = selectors.DefaultSelector()
        assert self._sock is not None
        sel.register(self._sock, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        for transport in (self.tcp, self.tls):
            if transport is not None:
                transport.register(sel)
        while not self._stop.is_set():
            with self._lock:
                timeout = self.timers.next_delay(0.5)
                self._wakes_at = self.timers.clock() + timeout
                self.timers.soonest_added = float("inf")
            for key, _ in sel.select(timeout):
                if key.fileobj is self._wake_r:
                    self._wake_r.recv(4096)
                    continue
                if key.data is not None:
                    try:
                        key.data[0].handle(key)     # a TCP or TLS listener or connection
                    except Exception:   # a framing bug must not stop signalling
                        self.stats.internal_errors += 1
                        log.exception("SIP over TCP or TLS failed")
                    continue
                for _ in range(64):
                    try:
                        data, source = self._sock.recvfrom(sipmsg.MAX_MESSAGE + 1)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError:
                        break
                    self._datagram(data, source)
            if self.tls is not None and self.tls.handshaking:
                self.tls.expire()
            with self._lock:
                try:
                    self.timers.run_due()
                except Exception:   # a timer callback's bug must not stop signalling
                    self.stats.internal_errors += 1
                    log.exception("SIP timer failed")
        sel.close()

    # ---- sending ------------------------------------------------------------------------

    def _send(self, data: bytes, dest: tuple[str, int]) -> None:
        if self._sock is None:
            return
        if self.tcp is not None and self.tcp.send(dest, data):
            return
        if self.tls is not None and self.tls.send(dest, data):
            return
        try:
            self._sock.sendto(data, dest)
        except OSError as exc:
            log.debug("SIP send to %s failed: %s", dest, exc)

    def _transport(self, dest: tuple[str, int] | None) -> tuple[str, int]:
        """How a message to ``dest`` travels (on the connection it opened, else UDP) and our port for it."""
        if dest is not None and self.tls is not None and dest in self.tls.conns:
            return "TLS", self.tls.port
        if dest is not None and self.tcp is not None and dest in self.tcp.conns:
            return "TCP", self.port
        return "UDP", self.port

    def _contact(self, dest: tuple[str, int] | None = None) -> str:
        transport, port = self._transport(dest)
        suffix = f";transport={transport.lower()}" if transport != "UDP" else ""
        return f"<sip:hotline@{self.media_host}:{port}{suffix}>"

    def _via(self, branch: str, dest: tuple[str, int] | None = None) -> str:
        transport, port = self._transport(dest)
        return f"SIP/2.0/{transport} {self.media_host}:{port};branch={branch};rport"

    # ---- receiving ----------------------------------------------------------------------

    def _datagram(self, data: bytes, source: tuple[str, int]) -> None:
        self.stats.datagrams += 1
        if sipmsg.is_keepalive(data):
            self.stats.keepalives += 1
            if data.startswith(b"\r\n\r\n"):
                self._send(b"\r\n", source)   # RFC 5626 pong
            return
        try:
            msg = sipmsg.parse(data)
        except SipParseError as err:
            self._refuse_malformed(data, source, err)
            return
        except Exception:   # a parser bug: counted and logged, signalling goes on
            self.stats.internal_errors += 1
            log.exception("SIP message from %s:%s could not be parsed", *source[:2])
            return
        with self._lock:
            try:
                if isinstance(msg, Request):
                    self._request(msg, source)
                else:
                    self._response(msg, source)
            except SipParseError as err:
                self._refuse_malformed(data, source, err)
            except Exception:
                self.stats.internal_errors += 1
                log.exception("SIP message from %s:%s could not be handled", *source[:2])

    def _peer_name(self, source: tuple[str, int]) -> str | None:
        for name, (host, port) in self.peers.items():
            if host == source[0] and (port == 0 or port == source[1]):
                return name
        return None

    def _reply(self, req: Request, source: tuple[str, int], status: int, reason: str, **kw) -> bytes:
        resp = sipmsg.response_to(req, status, reason, **kw)
        top = req.vias[0]
        if "rport" in top.params or top.host != source[0]:   # RFC 3581 / RFC 3261 §18.2.1
            top.params["received"] = source[0]
            if "rport" in top.params:
                top.params["rport"] = str(source[1])
            resp.headers.fields[0] = ("via", str(top))
        data = resp.to_bytes()
        self._send(data, source)
        return data

    @staticmethod
    def _txn(req: Request) -> str:
        """The server transaction a request belongs to (RFC 3261 §17.2.3): its branch and sent-by, or for an RFC 2543
        client (no magic cookie) its Call-ID, CSeq number, From tag and top Via; an INVITE's ACK and CANCEL share it."""
        top = req.vias[0]
        if top.branch.startswith("z9hG4bK"):
            return f"{top.branch} {top.host}:{top.port or ''}"   # branch and sent-by (§17.2.3)
        return f"2543 {req.call_id} {req.cseq[0]} {req.from_.tag} {top.host}:{top.port or ''} {top.branch}"

    def _find_dialog(self, msg: sipmsg.Message) -> SipCall | None:
        call_id = msg.call_id
        for call in self.calls.values():
            if call.call_id == call_id:
                return call
        for call in self.held.values():
            if call.call_id == call_id:
                return call
        return None

    def _request(self, req: Request, source: tuple[str, int]) -> None:
        handler = getattr(self, f"_on_{req.method.lower()}", None)
        if handler is None or req.method not in ALLOW.replace(",", "").split():
            self._reply(req, source, 405, "Method Not Allowed", extra=[("allow", ALLOW)])
            return
        peer = self._peer_name(source)
        if peer is not None:
            self.peer_seen[peer] = time.time()
        if req.method in self.limiter.rates and not req.to.tag and (peer is None or self.limit_peers) \
                and self._txn(req) not in self._answered and self._find_dialog(req) is None:
            wait = self.limiter.check(req.method, source[0])
            if wait:   # stateless: no transaction, nothing kept per refused request
                if self.limit_action is LimitAction.REPLY:
                    self._reply(req, source, 503, "Service Unavailable", to_tag=new_tag(),
                                extra=[("retry-after", RateLimiter.retry_after(wait))])
                return
        if self._refuse_unsupported(req, source):    # Require: an extension the box does not have (420)
            return
        handler(req, source)

    def _on_options(self, req: Request, source: tuple[str, int]) -> None:
        self._reply(req, source, 200, "OK", to_tag=new_tag(),
                    extra=[("allow", ALLOW), ("accept", "application/sdp"), ("supported", ", ".join(SUPPORTED))])

    def _on_invite(self, req: Request, source: tuple[str, int]) -> None:
        branch = self._txn(req)
        if branch in self._answered:     # a retransmission: repeat what we said
            self._send(self._answered[branch], source)
            return
        call = self._find_dialog(req)
        if call is not None:
            if req.to.tag:
                self._reinvite(call, req, source)
            else:
                self._reply(req, source, 100, "Trying")   # retransmitted initial INVITE, still offered
            return
        if req.to.tag:
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        if self._peer_name(source) is None:
            if self._phone_invite(req, source):
                return
            self.stats.forbidden += 1
            log.warning("SIP INVITE from %s:%s refused: not a configured trunk peer", *source[:2])
            self._final(req, source, 403, "Forbidden")
            return
        line = self._free_line()
        if line is None:
            self.stats.busy += 1
            self._final(req, source, 486, "Busy Here")
            return
        call = self._accept_offer(req, source, line)
        if call is None:
            return
        self.stats.calls_in += 1
        self._reply(req, source, 100, "Trying")
        self._ring_reliably(req, source, call)      # 100rel callers: a reliable 180 (prack.py)
        frm = req.from_
        self.sink(Seized(line))
        dialed = req.uri.user_plain
        reg = self.registrations.get(self._peer_name(source) or "")
        if reg is not None and dialed == reg.account.username:   # a provider calling our contact: the DID is in To
            dialed = req.to.uri.user_plain or dialed
        self.sink(Ringing(line, caller_id=frm.uri.user_plain, caller_name=frm.display, dialed=dialed))
        self.timers.call_later(OFFER_TIMEOUT, lambda: self._offer_expired(call))

    def _offer_expired(self, call: SipCall) -> None:
        """An INVITE the engine neither answered nor refused (it may have dropped the offer while still ending the
        line's last call): refused 480 so the line is not held for ever by a caller whose CANCEL never matches."""
        if self.calls.get(call.line) is call and call.state is CallState.OFFERED and call.invite is not None:
            log.warning("SIP call on %s: not answered within %.0f s, refused", call.line, OFFER_TIMEOUT)
            self._final(call.invite, call.peer, 480, "Temporarily Unavailable", to_tag=call.local_tag)
            self._release(call)
            self.sink(HungUp(call.line, HangupCause.NO_ANSWER))

    def _accept_offer(self, req: Request, source: tuple[str, int], line: str) -> SipCall | None:
        """Negotiate the INVITE's offer and open RTP for ``line`` (an OFFERED call); None after refusing it."""
        try:
            offer = sdp.parse(req.body) if req.body else None
            neg = sdp.negotiate(offer) if offer else None
        except SipParseError as err:
            self._final(req, source, err.status if err.status != 400 else 488, "Not Acceptable Here")
            return None
        if neg is None:
            self._final(req, source, 488, "Not Acceptable Here")   # no offer in the INVITE: not supported yet
            return None
        contact = req.headers.get("contact")
        target = str(parse_name_addr(contact).uri) if contact else str(req.from_.uri)   # before a port is taken
        try:
            sock = self.rtp.open()
        except OSError:
            self._final(req, source, 503, "Service Unavailable")
            return None
        stream = RtpStream(sock, codec=neg.codec, payload_type=neg.payload_type,
                           dtmf_payload_type=neg.dtmf_payload_type,
                           remote=(neg.remote_address, neg.remote_port))
        stream.comfort_noise = neg.comfort_noise
        call = SipCall(line=line, call_id=req.call_id, local_tag=new_tag(), peer=source, stream=stream,
                       state=CallState.OFFERED, remote_tag=req.from_.tag, invite=req, remote_target=target,
                       local_uri=req.headers.get("to"), remote_uri=req.headers.get("from"),
                       branch=self._txn(req))
        self.calls[line] = call
        return call

    def _final(self, req: Request, source: tuple[str, int], status: int, reason: str, **kw) -> None:
        """A final non-2xx answer to an INVITE, remembered for retransmissions and resent until ACK."""
        data = self._reply(req, source, status, reason, to_tag=kw.pop("to_tag", new_tag()), **kw)
        branch = self._txn(req)
        self._answered[branch] = data
        if len(self._answered) > 4096:          # bounded: the oldest is forgotten first
            self._answered.pop(next(iter(self._answered)))

        def forget() -> None:
            self._answered.pop(branch, None)
            self._acks.pop(branch, None)
        self._acks[branch] = Retransmit(self.timers, lambda: self._send(data, source), forget)

    def _on_ack(self, req: Request, source: tuple[str, int]) -> None:
        branch = self._txn(req)
        waiting = self._acks.pop(branch, None)
        if waiting is not None:        # ACK of a non-2xx final answer: the transaction ends after Timer I (T4)
            waiting.stop()
            self.timers.call_later(T4, lambda: self._answered.pop(branch, None))
            return
        call = self._find_dialog(req)
        if call is None or call.state is not CallState.ANSWERING:
            return
        if call.retransmit:
            call.retransmit.stop()
        call.state = CallState.UP
        if call.consult:
            self._consult_confirmed(call)
        elif call.station and not call.outbound:
            self._phone_dialled(call)   # a phone's own call: its handset is off hook, then its digits
        else:
            self.sink(AnswerConfirmed(call.line))

    def _on_bye(self, req: Request, source: tuple[str, int]) -> None:
        call = self._find_dialog(req)
        if call is None:
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        self._reply(req, source, 200, "OK", to_tag=call.local_tag)
        if self._consult_bye(call):
            return
        self._release(call)
        self.sink(HungUp(call.line, HangupCause.NORMAL))

    def _on_cancel(self, req: Request, source: tuple[str, int]) -> None:
        branch = self._txn(req)
        call = next((c for c in self.calls.values() if c.branch == branch and c.invite is not None), None)
        if call is None:
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        if call.state is not CallState.OFFERED:   # too late: the call was answered, BYE will end it
            self._reply(req, source, 200, "OK", to_tag=call.local_tag)
            return
        self._reply(req, source, 200, "OK", to_tag=call.local_tag)
        assert call.invite is not None
        self._final(call.invite, call.peer, 487, "Request Terminated", to_tag=call.local_tag)
        self._release(call)
        self.sink(HungUp(call.line, HangupCause.NORMAL))

    def _on_info(self, req: Request, source: tuple[str, int]) -> None:
        call = self._find_dialog(req)
        if call is None:
            self._reply(req, source, 481, "Call/Transaction Does Not Exist")
            return
        self._reply(req, source, 200, "OK", to_tag=call.local_tag)
        if req.headers.get("content-type").lower().startswith("application/dtmf-relay"):
            m = re.search(rb"(?im)^signal\s*=\s*([0-9*#A-D])", req.body)
            if m:
                self.sink(DigitReceived(call.line, digit=m.group(1).decode().upper()))

    # ---- commands from the daemon (any thread) ------------------------------------------

    def answer(self, line: str) -> None:
        """Send 200 OK with our SDP; retransmitted until the ACK confirms the answer."""
        with self._lock:
            call = self.calls.get(line)
            if call is None or call.state is not CallState.OFFERED or call.invite is None:
                return
            self._answer_locked(call)
        self._timers_changed()

    def _answer_locked(self, call: SipCall) -> None:
        line = call.line
        if self._hold_answer(call):     # after the PRACK of our reliable 180
            return
        if call.invite is not None:
            body = sdp.build(self.media_host, call.stream.port,
                             codecs=[(call.stream.payload_type, call.stream.codec)],
                             dtmf_payload_type=call.stream.dtmf_payload_type, comfort_noise=call.stream.comfort_noise)
            data = self._reply(call.invite, call.peer, 200, "OK", to_tag=call.local_tag, body=body,
                               content_type="application/sdp", extra=[("contact", self._contact(call.peer)),
                                                                      ("allow", ALLOW)])
            call.state = CallState.ANSWERING
            call.last_response = data

            def no_ack() -> None:
                log.warning("SIP call on %s: no ACK for our 200 OK within 32 s, ending it", line)
                self._send_bye(call, retransmit=False)
                self._release(call)
                self.sink(HungUp(line, HangupCause.TIMEOUT))
            call.retransmit = Retransmit(self.timers, lambda: self._send(data, call.peer), no_ack)

    def reject(self, line: str, cause: HangupCause) -> None:
        """Refuse an offered call with the status that says why."""
        with self._lock:
            call = self.calls.get(line)
            if call is None:
                return
            if call.state is CallState.OFFERED and call.invite is not None:
                status, reason = REJECT_STATUS.get(cause, (480, "Temporarily Unavailable"))
                self._final(call.invite, call.peer, status, reason, to_tag=call.local_tag)
                self._release(call)
            else:
                self._hangup_locked(call)
        self._timers_changed()

    def hangup(self, line: str) -> None:
        """End the call on ``line`` the way its state needs (BYE, CANCEL, or a refusal)."""
        with self._lock:
            call = self.calls.get(line)
            if call is not None:
                self._hangup_locked(call)
        self._timers_changed()

    def _hangup_locked(self, call: SipCall) -> None:
        if call.state is CallState.OFFERED and call.invite is not None:
            self._final(call.invite, call.peer, 480, "Temporarily Unavailable", to_tag=call.local_tag)
        elif call.state is CallState.DIALLING:
            self._send_cancel(call)
        elif call.state in (CallState.UP, CallState.ANSWERING):
            if call.retransmit:
                call.retransmit.stop()
            self._refer_done(call)
            self._send_bye(call)
        self._release(call)
        self._end_held(call.line)

    def _in_dialog(self, call: SipCall, method: str) -> Request:
        call.cseq += 1
        headers = Headers()
        headers.add("via", self._via(new_branch(), call.peer))
        headers.add("max-forwards", "70")
        if call.outbound:
            headers.add("from", call.local_uri)
            headers.add("to", f"{call.remote_uri};tag={call.remote_tag}" if call.remote_tag else call.remote_uri)
        else:
            headers.add("from", f"{call.local_uri};tag={call.local_tag}")
            headers.add("to", call.remote_uri)
        headers.add("call-id", call.call_id)
        headers.add("cseq", f"{call.cseq} {method}")
        return Request(headers, b"", method=method, uri=parse_uri(call.remote_target))

    def _send_bye(self, call: SipCall, *, retransmit: bool = True) -> None:
        data = self._in_dialog(call, "BYE").to_bytes()
        self._send(data, call.peer)
        call.state = CallState.ENDED
        if retransmit:
            call.retransmit = Retransmit(self.timers, lambda: self._send(data, call.peer), lambda: None)

    def _free_line(self) -> str | None:
        """The line for a call that arrives: the highest free one (the box dials out on the lowest, as the call
        engine picks free trunks in order, and may not have seen this INVITE yet), preferring one that has rested
        LINE_REST since its last call (the engine may still be ending that call and would drop a new one)."""
        now, busy_ended = time.monotonic(), None
        for name in reversed(self.lines):
            if name in self.calls:
                continue
            freed = self._freed.get(name)
            if freed is None or now - freed >= LINE_REST:
                return name
            busy_ended = busy_ended or name
        return busy_ended

    def _release(self, call: SipCall) -> None:
        if call.prack_wait is not None:
            call.prack_wait.stop()
        if call.state is not CallState.ENDED:
            call.state = CallState.ENDED
        if self.calls.get(call.line) is call:
            del self.calls[call.line]
            if call.line not in self.held:
                self._freed[call.line] = time.monotonic()
        session = self.rtcp_sessions.get(call.line)
        if session is not None and session.stream is call.stream:
            self._rtcp_end(call.line)
        call.stream.close()
