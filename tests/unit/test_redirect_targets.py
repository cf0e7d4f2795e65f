"""Redirect targets (``next``, ``back``) and client addresses behind proxies, decided without a server."""
from __future__ import annotations

import pytest

from hotline.webadmin.proxies import client_address, parse_networks
from hotline.webadmin.redirects import safe_target

HOSTILE = [
    "//evil.example/", "/\t/evil.example/phish", "/\x0b/evil.example", "/\n/evil.example", "/\r\n/evil.example",
    "/\\evil.example", "\\\\evil.example", "/\\/evil.example", " //evil.example", "//\tevil.example",
    "/%2F/evil.example", "/%2f%2fevil.example", "/%09/evil.example", "/%5Cevil.example", "/%252F%252Fevil.example",
    "https://evil.example/", "http:/evil.example", "javascript:alert(1)", "evil.example", "/\u2028/evil.example",
    "/\x00/evil.example", "/\x7f/evil.example", "%2F%09%2Fevil.example%2Fphish", "/" + "a" * 3000,
]


@pytest.mark.parametrize("target", HOSTILE)
def test_anything_but_a_local_path_goes_home(target: str) -> None:
    assert safe_target(target) == "/"
    assert safe_target(target, "/desk") == "/desk"


@pytest.mark.parametrize("target", ["/", "/audit", "/audit?action=login&user=admin", "/crm/customers?q=张",
                                    "/config/hours?done=saved#top", "/reports?from=2026-01-01"])
def test_local_paths_are_kept(target: str) -> None:
    assert safe_target(target) == target


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    proxies = parse_networks(("127.0.0.1", "10.1.0.0/16"))
    # not from a proxy: the header is the client's own claim, ignored
    assert client_address("192.0.2.7", "198.51.100.1", proxies) == "192.0.2.7"
    assert client_address("192.0.2.7", "198.51.100.1", ()) == "192.0.2.7"
    # from the proxy: the nearest untrusted hop is the client; what the client prepended is not believed
    assert client_address("127.0.0.1", "198.51.100.1", proxies) == "198.51.100.1"
    assert client_address("127.0.0.1", "203.0.113.9, 198.51.100.1", proxies) == "198.51.100.1"
    assert client_address("127.0.0.1", "198.51.100.1, 10.1.2.3", proxies) == "198.51.100.1"   # two proxies
    assert client_address("127.0.0.1", "garbage, 10.1.2.3", proxies) == "10.1.2.3"
    assert client_address("127.0.0.1", "", proxies) == "127.0.0.1"
    assert client_address("::ffff:127.0.0.1", "198.51.100.1", proxies) == "198.51.100.1"
