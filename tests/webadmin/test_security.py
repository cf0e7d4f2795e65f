"""Default deny, checked over every route the application has; XSRF; cross-origin WebSockets; i18n coverage."""
from __future__ import annotations

import asyncio
import re

import pytest
import tornado.httpclient
import tornado.websocket

from hotline.webadmin import i18n
from hotline.webadmin.app import make_app

# Deliberately public: probes, assets, the front door. Everything else must refuse an anonymous visitor.
PUBLIC = {r"/healthz", r"/metrics", r"/static/(.*)", r"/favicon\.ico", r"/login", r"/setup", r"/language"}


def fill(pattern: str) -> str:
    """A concrete path for a route pattern (each group becomes a harmless sample value)."""
    out, depth = [], 0
    for ch in pattern.rstrip("$"):
        if ch == "(":
            if depth == 0:
                out.append("sample1")
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out).replace("\\", "")


def all_routes() -> list[tuple[str, type]]:
    app = make_app({"cookie_secret": "test-only", "config": None})
    rules = []
    for rule in app.wildcard_router.rules:
        rules.append((rule.matcher.regex.pattern, rule.target))
    return rules


def test_every_route_refuses_an_anonymous_request(panel_box, client) -> None:
    routes = all_routes()
    assert len(routes) > 20
    anonymous = client(panel_box.url)
    checked = 0
    for pattern, handler in routes:
        if pattern.rstrip("$") in PUBLIC:
            assert getattr(handler, "public", False), f"{pattern} is listed public but its handler is not"
            continue
        assert not getattr(handler, "public", False) or pattern.rstrip("$") in PUBLIC, \
            f"{pattern}: handler is public but not in the deliberate list"
        path = fill(pattern)
        for method in ("GET", "POST", "PUT", "DELETE"):
            if method != "GET" and not hasattr(handler, method.lower()):
                continue
            r = anonymous.request(method, path, b"{}" if method != "GET" else None,
                                  {"Content-Type": "application/json"})
            refused = r.status in (401, 403) or (r.status == 302 and r.headers["Location"].startswith("/login"))
            assert refused, f"anonymous {method} {path} ({pattern}) -> {r.status}"
            checked += 1
    assert checked > 30


def test_xsrf_is_required_for_browser_sessions_but_not_tokens(panel_box, client) -> None:
    p = client(panel_box.url)
    p.login("sup")
    r = p.api("POST", "/agents/li_wei/state", {"state": "ready"}, xsrf=False)
    assert r.status == 403 and "_xsrf" in r.json()["error"]
    with_header = p.api("POST", "/agents/li_wei/logout", {})   # with the header the request reaches the ACD
    assert with_header.status == 400 and "no agent" in with_header.json()["error"], with_header.text
    r = p.request("POST", "/logout", b"", {"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 403                       # another site cannot log you out either
    assert p.get("/").status == 200


def test_websocket_refuses_other_origins_and_anonymous(panel_box, client) -> None:
    p = client(panel_box.url)
    p.login("sup")
    cookie = "; ".join(f"{c.name}={c.value}" for c in p.jar)
    ws_url = panel_box.url.replace("http://", "ws://") + "/ws"

    async def connect(headers: dict) -> object:
        req = tornado.httpclient.HTTPRequest(ws_url, headers=headers, request_timeout=10)
        return await tornado.websocket.websocket_connect(req)

    async def scenario() -> None:
        host = panel_box.url.split("//", 1)[1]
        with pytest.raises(tornado.httpclient.HTTPClientError) as info:
            await connect({"Cookie": cookie, "Origin": "http://evil.example"})
        assert info.value.code == 403
        with pytest.raises(tornado.httpclient.HTTPClientError) as info:
            await connect({"Origin": f"http://{host}"})
        assert info.value.code == 401
        conn = await connect({"Cookie": cookie, "Origin": f"http://{host}"})
        conn.write_message('{"subscribe": ["no-such-topic"]}')
        msg = await asyncio.wait_for(conn.read_message(), 10)
        assert "not allowed" in msg
        conn.close()
    # a loop of its own in a thread: Playwright (browser tests in the same session) keeps one in this thread
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario()).result(timeout=60)


def test_every_visible_string_has_a_chinese_translation() -> None:
    gaps = i18n.missing("zh_CN")
    assert not gaps, "untranslated (run scripts/i18n-missing): " + "; ".join(
        f"{s!r} at {where[0]}" for s, where in sorted(gaps.items())[:20])


def test_translation_file_has_no_stale_or_broken_entries() -> None:
    used = set(i18n.extract_strings())
    table = i18n._read_csv(i18n.LOCALE_DIR / "zh_CN.csv")
    for source, target in table.items():
        assert re.findall(r"%\(\w+\)\w", source) == re.findall(r"%\(\w+\)\w", target), \
            f"placeholders differ in {source!r} -> {target!r}"
    stale = sorted(set(table) - used)
    assert not stale, f"translations no longer used anywhere: {stale[:10]}"


def test_validator_messages_are_shown_in_chinese() -> None:
    import tornado.locale
    zh, en = tornado.locale.get("zh_CN"), tornado.locale.get("en_US")
    for message in ("expected a number from 3 to 120, got 500.0", "is required", "appears twice",
                    "expected one of ring_all, linear, got 'lineer' (did you mean 'linear'?)",
                    "unknown key (did you mean 'strategy'?)", "no agent named 'bob'",
                    "expected an integer >= 1, got a mapping", "'12x' does not match the expected form [0-9]{3,20}"):
        local = i18n.translate_problem(message, zh)
        assert local != message and not re.search(r"\b(expected|got|required|unknown|named|match)\b", local), local
        assert i18n.translate_problem(message, en) == message
