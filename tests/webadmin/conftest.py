"""Panel fixtures: a real daemon, users made with the CLI, and a cookie-keeping browser-like HTTP client."""
from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

PASSWORD = "correct-horse-9"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Let the test see 302s."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


BIG_BODY = 1 << 20  # bytes above which a request goes through send_big


class Response:
    """Status, headers, body text."""

    def __init__(self, status: int, headers: Any, body: bytes):
        self.status, self.headers, self.body = status, headers, body
        self.text = body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Panel:
    """What a browser does: keeps cookies, sends the XSRF token with forms and API calls."""

    def __init__(self, base: str, accept_language: str | None = "en-US,en;q=0.8"):
        self.base = base
        self.accept_language = accept_language
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def request(self, method: str, path: str, data: bytes | None = None, headers: dict | None = None) -> Response:
        headers = dict(headers or {})
        if self.accept_language:
            headers.setdefault("Accept-Language", self.accept_language)
        if data is not None and len(data) > BIG_BODY:
            # the box may refuse a big body before reading it (413, then it closes): read that answer instead of
            # failing on a broken pipe while still sending
            from hotline.daemon.box.abuse_probes import send_big
            cookies = "; ".join(f"{c.name}={c.value}" for c in self.jar)
            status, got, body = send_big(self.base, method, path, {**headers, "Cookie": cookies}, data, timeout=60)
            return Response(status, got, body)
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=15) as r:
                return Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read())

    def get(self, path: str, **headers: str) -> Response:
        return self.request("GET", path, headers=headers)

    def xsrf(self) -> str:
        """The XSRF token (fetch a page first when there is no cookie yet)."""
        if self.cookie("_xsrf") is None:
            page = self.get("/login")
            m = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
            assert m, "no XSRF field on the login page"
        return urllib.parse.unquote(self.cookie("_xsrf") or "")

    def post(self, path: str, fields: dict[str, str], xsrf: bool = True) -> Response:
        data = dict(fields)
        if xsrf:
            data["_xsrf"] = self.xsrf()
        return self.request("POST", path, urllib.parse.urlencode(data).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def api(self, method: str, path: str, body: Any = None, xsrf: bool = True) -> Response:
        headers = {"Accept": "application/json"}
        if xsrf and method != "GET":
            headers["X-XSRFToken"] = self.xsrf()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return self.request(method, "/api/v1" + path, data, headers)

    def login(self, name: str, password: str = PASSWORD) -> Response:
        r = self.post("/login", {"name": name, "password": password})
        assert r.status == 302, f"login as {name}: {r.status} {r.text[:300]}"
        return r


@pytest.fixture
def panel_box(prepared_box):
    """A running daemon with one user per role (admin, sup, agent1, qa1), all with PASSWORD."""
    return prepared_box()


@pytest.fixture
def panel(panel_box):
    """A logged-out browser-like client for panel_box."""
    return Panel(panel_box.url)


@pytest.fixture
def client():
    """Make a fresh browser-like client: client(url)."""
    return Panel


@pytest.fixture
def password() -> str:
    """Every test user's password."""
    return PASSWORD


@pytest.fixture
def queue_box(prepared_box):
    """queue_box(flows: {name: yaml}, routes: {dialed: flow}, queues_yaml) -> a started daemon with those flows,
    routes and queues, plus the users of panel_box (admin, sup, agent1, qa1) and a QA token in .qa_token."""
    def make(flows: dict[str, str], routes: dict[str, str], queues_yaml: str, **engine: object):
        return prepared_box(flows=flows, routes=routes, acd=queues_yaml, engine=engine)
    return make


class QA:
    """The QA API with a bearer token (places calls, answers phones)."""

    def __init__(self, daemon: Any):
        self.d = daemon

    def api(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.d.url + "/api/v1" + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.d.qa_token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                status, payload = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, payload = e.code, e.read()
        if expect is not None:
            assert status == expect, f"{method} {path}: {status} {payload[:300]!r}"
        return json.loads(payload) if payload else {}

    def wait(self, predicate, timeout: float = 20.0, what: str = "condition") -> Any:
        import time as _time
        deadline = _time.monotonic() + timeout
        while _time.monotonic() < deadline:
            got = predicate()
            if got:
                return got
            _time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def qa():
    """qa(daemon) -> a QA API client using the daemon's .qa_token."""
    return QA
