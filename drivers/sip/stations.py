"""IP phones as agent stations: the registrar (REGISTER with digest authentication, bans) and ringing a phone.

A mixin of ``Endpoint`` (endpoint.py). Each configured extension is a station line ``<device>-<ext>``,
down ("not registered") until a phone registers for it with the right password.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from hotline.drivers.base import DigitReceived, HangupCause, HungUp, LineDown, LineUp, OffHook

from .auth import DigestAuth
from .calls import new_branch, new_tag
from .message import Headers, Request
from .uri import parse_name_addr, parse_uri

log = logging.getLogger("hotline.drivers.sip")

MIN_EXPIRES, MAX_EXPIRES, DEFAULT_EXPIRES = 60, 3600, 3600


@dataclass
class Binding:
    """Where a registered extension's phone is reached."""

    contact: str                 # the phone's Contact URI
    source: tuple[str, int]      # the address its REGISTER came from (NAT: we send there)
    expires_at: float            # monotonic
    user_agent: str = ""
    expires_wall: float = 0.0    # the same moment as epoch seconds, for the panel
    transport: str = "UDP"       # how the REGISTER came: TCP/TLS phones are reached on their connection only


class Stations:
    """Registrar and station calls; the endpoint provides the socket, timers, lock and call table."""

    auth: DigestAuth | None
    extensions: dict[str, str]          # extension -> station line name
    bindings: dict[str, Binding]
    mwi: dict[str, bool]                # extension -> messages waiting (told to its phone, again when it registers)

    def _on_register(self, req: Request, source: tuple[str, int]) -> None:
        if self.auth is None or not self.extensions:
            self._reply(req, source, 403, "Forbidden")
            return
        if self.auth.banned(source[0]):
            self.stats.forbidden += 1
            self._reply(req, source, 403, "Forbidden")
            return
        user, stale = self.auth.check("REGISTER", req.headers.get("authorization"), source[0])
        if user is None:
            if self.auth.banned(source[0]):
                log.warning("SIP: %s banned after repeated authentication failures", source[0])
            self._reply(req, source, 401, "Unauthorized", to_tag=new_tag(),
                        extra=[("www-authenticate", self.auth.challenge(stale=stale))])
            return
        ext = req.to.uri.user_plain
        if user != ext or ext not in self.extensions:
            self._reply(req, source, 403, "Forbidden", to_tag=new_tag())
            return
        contacts = req.headers.get_all("contact")
        if not contacts:   # a query: say what is bound
            self._reply_bindings(req, source, ext)
            return
        contact = parse_name_addr(contacts[0]) if contacts[0] != "*" else None
        header_expires = req.headers.get("expires")
        expires_text = (contact.params.get("expires") if contact else None) or header_expires or str(DEFAULT_EXPIRES)
        expires = int(expires_text) if expires_text.isdigit() and len(expires_text) < 9 else DEFAULT_EXPIRES
        if expires == 0 or contact is None:
            if self.bindings.pop(ext, None) is not None:
                for name in self.extension_lines[ext]:
                    self.sink(LineDown(name, reason="not registered"))
            self._reply_bindings(req, source, ext)
            return
        expires = max(MIN_EXPIRES, min(MAX_EXPIRES, expires))
        was = self.bindings.get(ext)
        self.bindings[ext] = Binding(str(contact.uri), source, time.monotonic() + expires,
                                     user_agent=req.headers.get("user-agent")[:128],
                                     expires_wall=time.time() + expires, transport=self._transport(source)[0])
        self.timers.call_later(expires + 5, lambda: self._expire(ext))
        self._reply_bindings(req, source, ext)
        if was is None:
            log.info("SIP extension %s registered from %s:%s", ext, *source[:2])
            for name in self.extension_lines[ext]:
                self.sink(LineUp(name))
            self._notify_mwi(ext)   # a phone that (re)registers learns whether messages wait

    def _reply_bindings(self, req: Request, source: tuple[str, int], ext: str) -> None:
        binding = self.bindings.get(ext)
        extra = []
        if binding is not None:
            left = max(0, int(binding.expires_at - time.monotonic()))
            extra.append(("contact", f"<{binding.contact}>;expires={left}"))
        self._reply(req, source, 200, "OK", to_tag=new_tag(), extra=extra)

    def _expire(self, ext: str) -> None:
        binding = self.bindings.get(ext)
        if binding is not None and binding.expires_at <= time.monotonic():
            del self.bindings[ext]
            for name in self.extension_lines[ext]:
                self.sink(LineDown(name, reason="registration expired"))

    def _phone_invite(self, req: Request, source: tuple[str, int]) -> bool:
        """An INVITE from an IP phone (an extension placing a call); True when handled here.

        The phone proves who it is (407 challenge, digest), gets 200 OK at once, and after its ACK the
        station goes off hook and the number it dialled arrives as keys, as from an analog phone."""
        if self.auth is None or not self.extensions:
            return False
        if self.auth.banned(source[0]):
            self.stats.forbidden += 1
            self._final(req, source, 403, "Forbidden")
            return True
        header = req.headers.get("proxy-authorization") or req.headers.get("authorization")
        user, stale = self.auth.check("INVITE", header, source[0])
        if user is None:
            self._final(req, source, 407, "Proxy Authentication Required",
                        extra=[("proxy-authenticate", self.auth.challenge(stale=stale))])
            return True
        line = self.extensions.get(user)
        if line is None or req.from_.uri.user_plain != user:
            self._final(req, source, 403, "Forbidden")
            return True
        limit = self.call_limits.get(user, 1)
        if limit and self._consult_invite(req, source, line, req.uri.user_plain):   # attended.py
            return True
        if self.extension_calls(user) >= limit:
            self.stats.over_limit += 1
            log.info("SIP INVITE from extension %s refused (486): it has %d of max_calls %d", user,
                     self.extension_calls(user), limit)
            self._final(req, source, 486, "Busy Here")
            return True
        line = next((name for name in self.extension_lines[user] if name not in self.calls), line)
        dialled = req.uri.user_plain
        if not dialled or any(ch not in "0123456789*#+" for ch in dialled) or len(dialled) > 32:
            self._final(req, source, 404, "Not Found")
            return True
        call = self._accept_offer(req, source, line)
        if call is None:
            return True
        call.station, call.dialled = True, dialled
        self._answer_locked(call)
        return True

    def extension_calls(self, ext: str) -> int:
        """Calls the extension is in now (one per station line of it)."""
        return sum(name in self.calls for name in self.extension_lines.get(ext, ()))

    def _phone_dialled(self, call) -> None:
        """The phone's call is confirmed: off hook now, the dialled number as keys a moment later."""
        self.sink(OffHook(call.line))

        def keys() -> None:
            if self.calls.get(call.line) is call:
                for key in call.dialled.lstrip("+") + "#":
                    self.sink(DigitReceived(call.line, digit=key))
        self.timers.call_later(0.5, keys)

    def ring(self, line: str, caller_id: str, caller_name: str) -> None:
        """INVITE the phone registered for this station; OffHook when it answers."""
        with self._lock:
            ext = self.line_extension.get(line)
            binding = self.bindings.get(ext or "")
            if binding is None or line in self.calls:
                self.sink(HungUp(line, HangupCause.LINE_DOWN if binding is None else HangupCause.BUSY))
                return
            if binding.transport != "UDP" and self._transport(binding.source)[0] != binding.transport:
                log.info("SIP extension %s not rung: its %s connection is closed (it re-registers)", ext,
                         binding.transport)
                self.sink(HungUp(line, HangupCause.LINE_DOWN))
                return
            self._invite_out(line, binding.contact, binding.source, from_user=caller_id or "anonymous",
                             from_display=caller_name, station=True)
        self._wake()

    def message_waiting(self, line: str, on: bool) -> None:
        """Light or clear the lamp of the phone registered for this station line's extension: an unsolicited
        NOTIFY (RFC 3842, Event: message-summary), resent until the phone answers; kept for when it registers."""
        with self._lock:
            ext = self.line_extension.get(line)
            if ext is None or self.mwi.get(ext) == on:
                return
            self.mwi[ext] = on
            self._notify_mwi(ext)
        self._wake()

    def _notify_mwi(self, ext: str) -> None:
        binding, on = self.bindings.get(ext), self.mwi.get(ext)
        if binding is None or on is None:
            return
        account = f"sip:{ext}@{self.media_host}"
        headers = Headers()
        for name, value in (("via", self._via(new_branch(), binding.source)), ("max-forwards", "70"),
                            ("from", f"<{account}>;tag={new_tag()}"), ("to", f"<{account}>"),
                            ("call-id", f"mwi-{new_tag()}@{self.media_host}"), ("cseq", "1 NOTIFY"),
                            ("contact", self._contact(binding.source)), ("event", "message-summary"),
                            ("subscription-state", "active"),
                            ("content-type", "application/simple-message-summary")):
            headers.add(name, value)
        body = f"Messages-Waiting: {'yes' if on else 'no'}\r\nMessage-Account: {account}\r\n".encode()
        self._send_notify(Request(headers, body, method="NOTIFY", uri=parse_uri(binding.contact)), binding.source)

    def stop_ring(self, line: str) -> None:
        """Stop ringing a phone (CANCEL)."""
        self.hangup(line)
