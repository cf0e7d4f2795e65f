"""The ``sip`` driver: a SIP endpoint whose calls are trunk lines of the box, RTP drained inside the media tick."""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from hotline.drivers.base import (AnswerSupervision, DigitReceived, Driver, DriverNotReady, DtmfMode, Duplex,
                                  HangupCause, Line, LineKind, LineTraits, Option)

from .auth import DigestAuth, load_secrets
from .endpoint import Endpoint
from .limits import MAX_CALLS, RATE_PATTERN, LimitAction, RateLimiter, parse_call_limits, parse_rate
from .tcp import server_context
from . import rtpfast
from .rtp import Poller, PortPool, decode_frames, encode_frames, event_packets
from .trunkreg import TRUNK_FIELDS, TrunkAccount, parse_account, resolve_registrars

log = logging.getLogger("hotline.drivers.sip")

TRAITS = LineTraits(duplex=Duplex.FULL, dtmf_in=DtmfMode.BOTH, dtmf_out=DtmfMode.INBAND,
                    answer_supervision=AnswerSupervision.CONFIRMED)


def parse_hostport(text: str, what: str, default_port: int = 5060) -> tuple[str, int]:
    """``host[:port]`` (IPv6 in brackets) -> (host, port); ValueError naming ``what``."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if not host:
        raise ValueError(f"{what}: expected HOST[:PORT], got {text!r}")
    if port_text and (not port_text.isdigit() or not 0 <= int(port_text) < 65536):
        raise ValueError(f"{what}: bad port {port_text!r}")
    return host, int(port_text) if port_text else default_port


def parse_trunks(items: list) -> tuple[dict[str, tuple[str, int]], list[TrunkAccount]]:
    """Trunks as ``NAME=HOST[:PORT]`` peers (IP-authenticated; port 0 or none = any source port) or mappings
    (``{name, peer}`` or ``{name, registrar, register: true, username, password[_file], expires}``)
    -> (peers by name, accounts of the registering ones); ValueError naming the item and key."""
    peers: dict[str, tuple[str, int]] = {}
    accounts: list[TrunkAccount] = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            name, address, account = parse_account(item, i, parse_hostport)
            if name in peers:
                raise ValueError(f"trunks[{i}].name: {name!r} is used twice")
            peers[name] = address
            if account is not None:
                accounts.append(account)
            continue
        name, eq, addr = str(item).partition("=")
        if not eq or not name.strip():
            raise ValueError(f"trunks[{i}]: expected NAME=HOST[:PORT], got {item!r}")
        peers[name.strip()] = parse_hostport(addr, f"trunks[{i}]", default_port=0)
    return peers, accounts


class SipLine(Line):
    """One channel of the SIP device: commands go to the endpoint, which answers in SIP."""

    def __init__(self, name: str, device: "SipDriver", extension: str = "", traits: LineTraits = TRAITS) -> None:
        kind = LineKind.STATION if extension else LineKind.TRUNK
        super().__init__(name=name, kind=kind, traits=traits, extension=extension,
                         up=not extension, down_reason="not registered" if extension else "")
        self._device = device

    def answer(self) -> None:
        """Send 200 OK; AnswerConfirmed follows the caller's ACK."""
        self._device.endpoint.answer(self.name)

    def hangup(self) -> None:
        """BYE (or CANCEL / a refusal before answer)."""
        self._device.endpoint.hangup(self.name)

    def reject(self, cause: HangupCause = HangupCause.REJECTED) -> None:
        """Refuse an offered call: 486 busy, 503 congestion, 603 decline."""
        self._device.endpoint.reject(self.name, cause)

    def dial(self, number: str) -> None:
        """INVITE through a trunk peer (only with allow_outbound)."""
        self._device.endpoint.dial(self.name, number)

    def ring(self, caller_id: str = "", caller_name: str = "") -> None:
        """INVITE the phone registered for this extension."""
        self._device.endpoint.ring(self.name, caller_id, caller_name)

    def stop_ring(self) -> None:
        """CANCEL the ringing phone."""
        self._device.endpoint.stop_ring(self.name)

    def message_waiting(self, on: bool) -> None:
        """The registered phone's lamp: an unsolicited message-summary NOTIFY (stations only)."""
        if self.extension:
            self._device.endpoint.message_waiting(self.name, on)

    def send_dtmf(self, digits: str) -> None:
        """RFC 4733 events when the call negotiated them."""
        call = self._device.endpoint.calls.get(self.name)
        if call is None:
            return
        for key in digits:
            for packet in event_packets(call.stream, key):
                call.stream.send(packet)


class SipDriver(Driver):
    """Registered as ``driver: sip``: ``channels`` trunk lines named ``<device>-1`` ... fed by one UDP/TCP endpoint."""

    name = "sip"
    schema = (
        Option("listen", str, "127.0.0.1:5060", help="HOST:PORT where SIP arrives (UDP and TCP)"),
        Option("media_address", str, None, help="the address written into SDP and Contact (default: listen host)"),
        Option("rtp_ports", str, "10000-20000", help="FIRST-LAST local UDP ports for RTP"),
        Option("tls_cert", str, None, help="PEM certificate (chain) for SIP over TLS; TLS is off without it"),
        Option("tls_key", str, None, help="PEM private key of tls_cert"),
        Option("tls_listen", str, None, help="HOST:PORT where SIP over TLS arrives (default: the listen host, 5061)"),
        Option("channels", int, 30, min=1, max=2000, help="how many calls at once (lines <device>-1 ...)"),
        Option("trunks", list, [], help="IP-authenticated peers as NAME=HOST[:PORT], or {name, registrar, register: "
               "true, username, password or password_file, expires} to register at a provider; INVITEs from others "
               "get 403", item_fields=TRUNK_FIELDS),
        Option("allow_outbound", bool, False, help="let the box place calls through the trunks (off: no toll fraud)"),
        Option("extensions", list, [], help="extension numbers IP phones register as (station lines <device>-<ext>)"),
        Option("secrets_file", str, None, help="USER:HA1 lines, one per extension (hotline sip password EXT)"),
        Option("realm", str, "hotline", help="the digest realm phones authenticate in"),
        Option("ban_after", int, 10, min=1, max=1000, help="authentication failures in a minute before a ban"),
        Option("ban_seconds", float, 600.0, min=1, max=86400, help="how long a banned address is refused"),
        Option("max_calls", int, 1, min=0, max=MAX_CALLS,
               help="calls an extension may be in at once (0: its phone can be rung but places no calls; more "
                    "than 1: lines <device>-<ext>-2 ... carry its further calls)"),
        Option("call_limits", list, [], pattern=r"[A-Za-z0-9._-]{1,32}=[0-9]{1,3}",
               help="per-extension max_calls as EXT=N, like 1001=0"),
        Option("invite_rate", str, "10/s", pattern=RATE_PATTERN,
               help="new INVITEs per source address, like 10/s or 600/min (or off)"),
        Option("register_rate", str, "120/min", pattern=RATE_PATTERN,
               help="REGISTERs per source address, like 120/min (or off)"),
        Option("rate_limit_action", str, "503", choices=("503", "drop"),
               help="over the rate: 503 with Retry-After, or drop silently"),
        Option("rate_limit_trunks", bool, False, help="apply the rates to trunk peers too (off: peers are exempt)"),
    )

    def __init__(self, device_name: str, settings: dict[str, Any], sink) -> None:
        super().__init__(device_name, settings, sink)
        self.endpoint: Endpoint | None = None  # type: ignore[assignment]
        self._lines: list[SipLine] = []
        self._poller: Poller | None = None
        self._table: rtpfast.RtpTable | None = None   # the C path's rows while open (None: rtp.py's path)
        self._read: tuple[list[str] | None, list] = (None, [])   # this tick's lines and their streams

    @classmethod
    def configured_traits(cls, settings: dict[str, Any]) -> LineTraits | None:
        """Every SIP line is full duplex with confirmed answers; trunks dial out only with allow_outbound and a
        peer (so the box picks another trunk for callbacks and faxes instead of one that refuses)."""
        if settings.get("allow_outbound") and settings.get("trunks"):
            return TRAITS
        return dataclasses.replace(TRAITS, dial_out=False)

    def _limits(self) -> tuple[RateLimiter, dict[str, int]]:
        """The rate limiter and each extension's call limit (ValueError naming the setting)."""
        rates = {"INVITE": parse_rate(self.settings.get("invite_rate", "10/s"), "invite_rate"),
                 "REGISTER": parse_rate(self.settings.get("register_rate", "120/min"), "register_rate")}
        extensions = [str(ext) for ext in self.settings.get("extensions") or []]
        max_calls = self.settings.get("max_calls")
        limits = parse_call_limits(list(self.settings.get("call_limits") or []), extensions,
                                   1 if max_calls is None else int(max_calls))
        return RateLimiter(rates), limits

    def _config(self) -> tuple[tuple[str, int], tuple[int, int], tuple[dict[str, tuple[str, int]], list], str]:
        host, port = parse_hostport(str(self.settings.get("listen") or "127.0.0.1:5060"), "listen")
        first, _, last = str(self.settings.get("rtp_ports") or "10000-20000").partition("-")
        if not (first.isdigit() and last.isdigit() and 1024 <= int(first) < int(last) < 65536):
            raise ValueError(f"rtp_ports: expected FIRST-LAST between 1024 and 65535, got {self.settings.get('rtp_ports')!r}")
        peers = parse_trunks(list(self.settings.get("trunks") or []))
        media = str(self.settings.get("media_address") or ("127.0.0.1" if host in ("0.0.0.0", "::") else host))
        return (host, port), (int(first), int(last)), peers, media

    def _tls(self, host: str):
        """(host, port, SSL context) when a TLS certificate is configured, else None; ValueError naming the setting."""
        cert, key = self.settings.get("tls_cert"), self.settings.get("tls_key")
        if not cert:
            if key or self.settings.get("tls_listen"):
                raise ValueError("tls_cert: needed for SIP over TLS (tls_key/tls_listen are set)")
            return None
        if not key:
            raise ValueError("tls_key: needed with tls_cert (the certificate's private key, PEM)")
        tls_host, tls_port = parse_hostport(str(self.settings.get("tls_listen") or f"{host}:5061"), "tls_listen",
                                            default_port=5061)
        try:
            context = server_context(str(cert), str(key))
        except (OSError, ValueError) as exc:   # ssl.SSLError is an OSError
            raise ValueError(f"tls_cert/tls_key: cannot load {cert} and {key}: {exc}") from None
        return tls_host, tls_port, context

    def validate_environment(self) -> list[str]:
        """Settings that cannot work (bad trunk or port range, unreadable certificate) as problems."""
        problems = []
        listen = str(self.settings.get("listen") or "127.0.0.1:5060")
        for check in (self._config, self._limits, lambda: self._tls(listen.rpartition(":")[0].strip("[]") or listen)):
            try:
                check()
            except ValueError as exc:
                problems.append(str(exc))
        return problems

    def open(self) -> list[Line]:
        """Bind the SIP socket and start signalling; DriverNotReady when the port is taken."""
        try:
            (host, port), (first, last), (peers, accounts), media = self._config()
            limiter, call_limits = self._limits()
            tls = self._tls(host)
            peers, accounts = resolve_registrars(peers, accounts)
        except ValueError as exc:
            raise DriverNotReady(str(exc)) from None
        channels = int(self.settings.get("channels") or 30)
        traits = self.configured_traits(self.settings) or TRAITS
        self._lines = [SipLine(f"{self.device_name}-{i}", self, traits=traits) for i in range(1, channels + 1)]
        extensions = {str(ext): f"{self.device_name}-{ext}" for ext in self.settings.get("extensions") or []}
        auth = None
        if extensions:
            path = self.settings.get("secrets_file")
            try:
                stored = load_secrets(path) if path else {}
            except (OSError, ValueError) as exc:
                raise DriverNotReady(f"secrets_file: {exc}") from None
            auth = DigestAuth(str(self.settings.get("realm") or "hotline"), stored,
                              ban_after=int(self.settings.get("ban_after") or 10),
                              ban_seconds=float(self.settings.get("ban_seconds") or 600))
            self._lines += [SipLine(name, self, extension=ext) for ext, name in extensions.items()]
        extra_lines = {ext: [f"{name}-{n}" for n in range(2, call_limits.get(ext, 1) + 1)]
                       for ext, name in extensions.items()}
        self._lines += [SipLine(name, self, extension=ext) for ext, names in extra_lines.items() for name in names]
        self.endpoint = Endpoint(host=host, port=port, rtp=PortPool(media if host in ("0.0.0.0", "::") else host,
                                                                    first, last),
                                 media_host=media, lines=[ln.name for ln in self._lines if not ln.extension],
                                 peers=peers,
                                 sink=self.sink, allow_outbound=bool(self.settings.get("allow_outbound")),
                                 auth=auth, extensions=extensions, limiter=limiter,
                                 limit_action=LimitAction(str(self.settings.get("rate_limit_action") or "503")),
                                 limit_peers=bool(self.settings.get("rate_limit_trunks")), call_limits=call_limits,
                                 accounts=accounts, tls=tls, extra_lines=extra_lines)
        if rtpfast.AVAILABLE and self._table is None:
            self._table = rtpfast.RtpTable()
        try:
            self.endpoint.start()
        except OSError as exc:
            raise DriverNotReady(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        log.info("SIP device %s listening on %s:%s (%d channels, peers: %s)%s; RTP path: %s", self.device_name, host,
                 self.endpoint.port, channels, ", ".join(peers) or "none",
                 f", TLS on {tls[0]}:{self.endpoint.tls.port}" if tls and self.endpoint.tls else "",
                 rtpfast.describe())
        return list(self._lines)

    def close(self) -> None:
        """End calls and stop the endpoint."""
        if self.endpoint is not None:
            self.endpoint.stop()
        if self._poller is not None:
            self._poller.close()
            self._poller = None
        if self._table is not None:
            self._table.close()
            self._table = None

    def status(self) -> dict:
        """Endpoint counters for the panel."""
        base = super().status()
        base["rtp_path"] = "c" if rtpfast.AVAILABLE else "python"
        if self.endpoint is not None:
            base.update(self.endpoint.status())
        return base

    def overview(self) -> dict:
        """Trunks, extensions (registered phones), bans and limits, for the panel; empty lists while closed."""
        if self.endpoint is None:
            return {"trunks": [], "extensions": [], "bans": [], "limits": {}, "media": {"calls": [], "recent": []}}
        return self.endpoint.overview()

    def lift_ban(self, source: str) -> bool:
        """End a source's authentication-failure ban now; False when it is not banned."""
        return self.endpoint is not None and self.endpoint.lift_ban(source)

    def _streams(self, lines: list[str]) -> list:
        # One get per line: the signalling thread may end a call between a membership test and a lookup.
        get = (self.endpoint.calls if self.endpoint else {}).get
        return [call.stream if (call := get(name)) is not None else None for name in lines]

    def read_frames(self, lines: list[str], out: np.ndarray) -> None:
        """Drain the RTP sockets that hold packets (one epoll poll finds them), post RFC 4733 keys, and decode this
        tick's frames for all calls (in C when the helper is built, else rtp.py)."""
        streams = self._streams(lines)
        self._read = (lines, streams)
        if self._table is not None:
            for name, key in self._table.drain(lines, streams):
                self.sink(DigitReceived(name, digit=key))
            self._table.decode(streams, out)
            return
        if self._poller is None:
            self._poller = Poller()
        for name, key in self._poller.drain(lines, streams):
            self.sink(DigitReceived(name, digit=key))
        decode_frames(streams, out)

    def write_frames(self, lines: list[str], frames: np.ndarray) -> None:
        """Encode and send one RTP packet per call (to the streams read_frames found this tick)."""
        read_lines, streams = self._read
        streams = streams if read_lines is lines else self._streams(lines)
        if self._table is not None:
            self._table.send(streams, frames)
        else:
            encode_frames(streams, frames)
