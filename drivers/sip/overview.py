"""What the panel shows of a SIP device: its counters, its trunks, its extensions (registered phones) and its bans.

A mixin of ``Endpoint`` (endpoint.py); every method takes the endpoint's lock, briefly.
"""
from __future__ import annotations

import logging
import time

from .calls import CallState

log = logging.getLogger("hotline.drivers.sip")


class Overview:
    """Read-only views of the endpoint's tables, and lifting a ban."""

    def status(self) -> dict:
        """Counters and calls for the panel."""
        with self._lock:
            s = self.stats
            return {"listen": f"{self.host}:{self.port}", "calls": len(self.calls),
                    "tls": f"{self.tls_config[0]}:{self.tls.port}" if self.tls and self.tls_config else None,
                    "tls_handshake_failures": self.tls.handshake_failures if self.tls else 0, "datagrams": s.datagrams,
                    "malformed": s.malformed, "forbidden": s.forbidden, "busy": s.busy, "calls_in": s.calls_in,
                    "calls_out": s.calls_out, "keepalives": s.keepalives, "internal_errors": s.internal_errors,
                    "rejections": dict(s.rejections), "rate_limited": dict(self.limiter.limited),
                    "over_limit": s.over_limit,
                    "registered": sorted(self.bindings), "banned": sorted(
                        src for src in (self.auth.failures if self.auth else {}) if self.auth and self.auth.banned(src))}

    def overview(self) -> dict:
        """``{"trunks": [...], "extensions": [...], "bans": [...], "limits": {...}, "tls": "HOST:PORT" or None}``
        as plain data."""
        with self._lock:
            now_mono, now = time.monotonic(), time.time()
            trunk_calls: dict[str, int] = {}
            for call in self.calls.values():
                if not call.station and call.state is not CallState.ENDED:
                    name = self._peer_name(call.peer)
                    if name is not None:
                        trunk_calls[name] = trunk_calls.get(name, 0) + 1
            trunks = [{"name": name, "kind": "peer", "address": f"{host}:{port}" if port else host,
                       "state": "outbound" if self.allow_outbound else "inbound only",
                       "calls": trunk_calls.get(name, 0), "last_seen": self.peer_seen.get(name)}
                      for name, (host, port) in self.peers.items()]
            registrations = self.registration_rows()
            for row in trunks:
                if row["name"] in registrations:
                    reg = registrations[row["name"]]
                    row.update(reg, kind="register", state=reg["registration"])
            extensions = []
            for ext, line in self.extensions.items():
                b = self.bindings.get(ext)
                row = {"extension": ext, "line": line, "registered": b is not None, "contact": "",
                       "user_agent": "", "source": "", "expires_in": None, "expires_at": None,
                       "in_call": line in self.calls, "max_calls": self.call_limits.get(ext, 1),
                       "calls": self.extension_calls(ext)}
                if b is not None:
                    row.update(contact=b.contact, user_agent=b.user_agent, source=f"{b.source[0]}:{b.source[1]}",
                               expires_in=max(0, int(b.expires_at - now_mono)),
                               expires_at=b.expires_wall or now + max(0.0, b.expires_at - now_mono))
                extensions.append(row)
            bans = [{**ban, "reason": f"{ban['failures']} authentication failures"}
                    for ban in (self.auth.bans() if self.auth else [])]
            limiter = self.limiter
            limits = {"rates": {method: str(rate) for method, rate in limiter.rates.items()},
                      "action": self.limit_action.value, "trunks_limited": self.limit_peers,
                      "rate_limited": dict(limiter.limited), "over_limit": self.stats.over_limit}
            tls = f"{self.tls_config[0]}:{self.tls.port}" if self.tls is not None and self.tls_config else None
            return {"trunks": trunks, "extensions": extensions, "bans": bans, "limits": limits,
                    "media": self.rtcp_rows(), "tls": tls, "signalling": self.signalling_state()}

    def signalling_state(self) -> dict:
        """What signalling counted and holds now (the tables malformed or hostile input could grow)."""
        with self._lock:
            s = self.stats
            return {"datagrams": s.datagrams, "malformed": s.malformed, "internal_errors": s.internal_errors,
                    "rejections": dict(s.rejections), "calls": len(self.calls),
                    "call_states": {state.value: n for state in CallState
                                    if (n := sum(c.state is state for c in self.calls.values()))},
                    "transactions": len(self._answered),
                    "retransmitting": len(self._acks) + len(self.notifies), "timers": len(self.timers),
                    "tcp_connections": len(self.tcp.conns) if self.tcp is not None else 0}

    def lift_ban(self, source: str) -> bool:
        """End the ban of ``source`` now; False when it is not banned."""
        with self._lock:
            lifted = self.auth is not None and self.auth.lift(source)
        if lifted:
            log.info("SIP ban of %s lifted", source)
        return lifted
