"""The client's address and scheme behind reverse proxies: X-Forwarded-For and X-Forwarded-Proto are believed
only from the addresses listed in ``web.trusted_proxies``; from anyone else they are ignored."""
from __future__ import annotations

import functools
import ipaddress
from typing import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def parse_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """``web.trusted_proxies`` entries (addresses or CIDR networks) as networks (validated by the config)."""
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:          # [v6]:port
        text = text[1:text.index("]")]
    elif text.count(":") == 1:                          # v4:port
        text = text.split(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    return ip.ipv4_mapped or ip if isinstance(ip, ipaddress.IPv6Address) else ip


def is_trusted(address: str, networks: Iterable[Network]) -> bool:
    """Whether a peer address belongs to a trusted proxy."""
    ip = _ip(address)
    return ip is not None and any(ip in net for net in networks)


def client_address(peer: str, forwarded_for: str | None, networks: tuple[Network, ...]) -> str:
    """The client behind the proxies: walk X-Forwarded-For from the right (the hop nearest to us), skipping
    trusted proxies; the first address not trusted is the client. From an untrusted peer the header is ignored."""
    if not networks or not forwarded_for or not is_trusted(peer, networks):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",")[-32:] if h.strip()]
    client = peer
    for hop in reversed(hops):
        ip = _ip(hop)
        if ip is None:
            break                       # garbage to the left of a trusted hop: stop at that hop
        client = str(ip)
        if not any(ip in net for net in networks):
            break
    return client
