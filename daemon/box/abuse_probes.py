"""Hostile requests, as a hostile user would send them: YAML bombs, big bodies, surrogates, bad JSON types, deep
nesting, login floods, bad redirects and fault injections. Used by ``hotline abuse-bench`` and the tests."""
from __future__ import annotations

import http.cookiejar
import json
import re
import select
import socket
import struct
import time
import urllib.parse
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import numpy as np

YAML_CT = "application/yaml"


@dataclass(frozen=True)
class Probe:
    """One hostile request and the statuses a well-behaved box answers it with."""

    name: str
    area: str          # yaml, body, unicode, types, nesting, auth, redirect, fault
    method: str
    path: str          # {call} is replaced by a call in progress, {line} by a trunk line
    role: str          # admin, qa or anon
    body: bytes | None = None
    ctype: str = "application/json"
    ok: tuple[int, int] = (400, 499)  # acceptable statuses (inclusive)


@dataclass
class Answer:
    """What the box answered one probe."""

    probe: Probe
    status: int
    location: str = ""
    size: int = 0
    call_id: str = ""        # a call the box accepted (a 201 from POST /sim/calls)
    head: str = ""           # the start of the answer's body
    missed_ticks: int = 0    # media ticks missed while it ran (measured when probes run one at a time)
    rss_kb: int = 0          # the daemon's RSS change while it ran (likewise)

    @property
    def verdict(self) -> str:
        """ok, 5xx, unsafe-redirect or unexpected (a status outside the probe's range)."""
        if self.status >= 500 or self.status == 0:
            return "5xx"
        if self.location and not _safe_location(self.location):
            return "unsafe-redirect"
        low, high = self.probe.ok
        return "ok" if low <= self.status <= high else "unexpected"


def _safe_location(location: str) -> bool:
    """A redirect target that stays on this site: a path starting with one '/' and no control characters."""
    if re.search(r"[\x00-\x20\\\\]", location):
        return False
    return location.startswith("/") and not location.startswith("//")


def js(data: Any) -> bytes:
    """A JSON body (surrogates kept as \\ud800 escapes, as a hostile client sends them)."""
    return json.dumps(data).encode()


def alias_bomb(levels: int = 9, as_key: bool = True) -> str:
    """A few hundred bytes that expand to 9**levels values (used as a mapping key: str() of the whole tree)."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    last = f"*l{levels - 1}"
    lines.append(f"? {last}\n: boom" if as_key else f"boom: {last}")
    return "\n".join(lines) + "\n"


def big_flow(name: str, steps: int = 2600) -> str:
    """A valid flow of about 60 bytes per step."""
    body = "".join(f"    - play: {{prompt: welcome}}\n    - say: {{value: '{i}', as: digits}}\n" for i in range(steps))
    return f"flow: {name}\nblocks:\n  main:\n    - answer\n{body}    - hangup\n"


def wav(rate: int, seconds: float, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV of a tone (any rate, even absurd ones)."""
    n = max(1, int(rate * seconds))
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(n) / max(rate, 1))).astype("<i2")
    payload = np.repeat(tone, channels).tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def probes(flow: str = "hold") -> list[Probe]:
    """Every hostile request of the bench (areas named so a test can pick its own)."""
    v = f"/api/v1/flows/{flow}/validate"
    src = lambda text: js({"source": text})  # noqa: E731
    numbers = "".join(f"1390000{i:04d},abuse bench\n" for i in range(20000))
    out = [
        Probe("flow: alias bomb as a key", "yaml", "POST", v, "admin", src(f"flow: {flow}\n" + alias_bomb()), ok=(200, 499)),
        Probe("flow: alias bomb as a value", "yaml", "POST", v, "admin", src(alias_bomb(10, False)), ok=(200, 499)),
        Probe("flow: recursive alias", "yaml", "POST", v, "admin", src("a: &a [*a]\n"), ok=(200, 499)),
        Probe("flow: a bare scalar", "yaml", "POST", v, "admin", src("just a scalar"), ok=(200, 499)),
        Probe("flow: 10,000 levels deep", "yaml", "POST", v, "admin", src("[" * 10000 + "]" * 10000), ok=(200, 499)),
        Probe("flow: !!python tag", "yaml", "POST", v, "admin",
              src("flow: x\nblocks: !!python/object/apply:os.system [id]\n"), ok=(200, 499)),
        Probe("flow: 250 KB, valid", "yaml", "POST", v, "admin", src(big_flow(flow, 2000)), ok=(200, 499)),
        Probe("acd.yaml: alias bomb", "yaml", "POST", "/api/v1/config/acd.yaml", "admin",
              alias_bomb().encode(), YAML_CT),
        Probe("acd.yaml: !!python/object/apply", "yaml", "POST", "/api/v1/config/acd.yaml", "admin",
              b"agents: !!python/object/apply:os.system [id]\n", YAML_CT),
        Probe("acd.yaml: 3 MB", "body", "POST", "/api/v1/config/acd.yaml", "admin",
              b"agents: []\n#" + b"x" * (3 << 20), YAML_CT),
        Probe("acd.yaml: not UTF-8", "yaml", "POST", "/api/v1/config/acd.yaml", "admin", b"agents: \xff\xfe\n", YAML_CT),
        Probe("block list: 10 MB import", "body", "POST", "/api/v1/blacklist/import", "admin",
              js({"text": "13800138000,spam\n" * 600_000})),
        Probe("holidays: 10 MB import", "body", "POST", "/api/v1/holidays/import", "admin",
              js({"text": "2030-01-01,New year\n" * 500_000})),
        Probe("block list: 3 MB import (over the text limit)", "body", "POST", "/api/v1/blacklist/import",
              "admin", js({"text": "13800138000,spam\n" * 190_000})),
        Probe("block list: 20,000 numbers", "body", "POST", "/api/v1/blacklist/import", "admin",
              js({"text": numbers}), ok=(200, 299)),
        Probe("sim calls: 8 MB body", "body", "POST", "/api/v1/sim/calls", "qa", js({"from": "1" * (8 << 20)})),
        Probe("login: anonymous 5 MB", "body", "POST", "/login", "anon", b"x" * (5 << 20),
              "application/x-www-form-urlencoded"),
        Probe("sim calls: lone surrogate name", "unicode", "POST", "/api/v1/sim/calls", "qa",
              js({"from": "13700000021", "to": "7000", "name": "\ud800"})),
        Probe("flow: lone surrogate", "unicode", "POST", v, "admin", src("flow: x\n# \udfff\n"), ok=(200, 499)),
        Probe("block list: lone surrogate reason", "unicode", "POST", "/api/v1/blacklist", "admin",
              js({"number": "13912345678", "reason": "\udfff"})),
        Probe("faults: hangup_after {$gt}", "types", "POST", "/api/v1/sim/lines/{line}/faults", "qa",
              js({"hangup_after": {"$gt": ""}})),
        Probe("faults: busy 'yes'", "types", "POST", "/api/v1/sim/lines/{line}/faults", "qa", js({"busy": "yes"})),
        Probe("faults: noise 1e308", "types", "POST", "/api/v1/sim/lines/{line}/faults", "qa",
              js({"noise_dbm0": 1e308})),
        Probe("faults: down 'no' with busy", "types", "POST", "/api/v1/sim/lines/{line}/faults", "qa",
              js({"down": "no", "busy": True})),
        Probe("sim calls: lists for strings", "types", "POST", "/api/v1/sim/calls", "qa",
              js({"from": ["1"], "to": {"a": 1}})),
        Probe("dtmf: digits as a number", "types", "POST", "/api/v1/sim/calls/{call}/dtmf", "qa", js({"digits": 12})),
        Probe("holiday: workday as a list", "types", "POST", "/api/v1/holidays", "admin",
              js({"day": "2031-01-01", "name": "x", "workday": [1]})),
        Probe("kb: page=1e23", "types", "GET", "/api/v1/kb/articles?page=1e23", "admin"),
        Probe("block list: huge integer", "types", "POST", "/api/v1/blacklist", "admin",
              b'{"number": ' + b"9" * 5000 + b"}"),
        Probe("block list: 100,000 levels of JSON", "nesting", "POST", "/api/v1/blacklist", "admin",
              b"[" * 100_000 + b"]" * 100_000),
        Probe("flows: 100,000 levels of JSON", "nesting", "POST", v, "admin", b'{"source": ' + b"[" * 100_000 + b"}"),
        Probe("redirect: /\\t/evil", "redirect", "GET", "/login?next=%2F%09%2Fevil.example%2Fphish", "anon",
              ok=(200, 399)),
        Probe("redirect: \\x0b", "redirect", "GET", "/login?next=%2F%0B%2Fevil.example", "anon", ok=(200, 399)),
        Probe("redirect: //evil", "redirect", "GET", "/login?next=%2F%2Fevil.example", "anon", ok=(200, 399)),
        Probe("static: %00", "nesting", "GET", "/static/x%00.js", "anon"),
        Probe("audio: 1 Hz WAV", "fault", "POST", "/api/v1/sim/calls/{call}/audio", "qa", wav(1, 40_000), "audio/wav"),
        Probe("audio: 44.1 kHz stereo 60 s", "fault", "POST", "/api/v1/sim/calls/{call}/audio", "qa",
              wav(44100, 60, 2), "audio/wav", ok=(200, 299)),
        Probe("faults: noise on a line", "fault", "POST", "/api/v1/sim/lines/{line}/faults", "qa",
              js({"noise_dbm0": -40}), ok=(200, 299)),
    ]
    return out


BIG_BODY = 1 << 20  # bodies above this go through send_big: the box may refuse them before they are read


def send_big(url: str, method: str, path: str, headers: dict[str, str], body: bytes,
             timeout: float = 120) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 request whose body the server may refuse early (413, then the connection closed): the body is
    sent in pieces while watching for an answer, so an early refusal is read instead of failing as a broken pipe.
    (status, headers, body); status 0 when nothing answered."""
    u = urllib.parse.urlsplit(url)
    head = [f"{method} {path} HTTP/1.1", f"Host: {u.netloc}", f"Content-Length: {len(body)}", "Connection: close",
            *(f"{k}: {v}" for k, v in headers.items())]
    raw = b""
    deadline = time.monotonic() + timeout
    with socket.create_connection((u.hostname, u.port or 80), timeout=timeout) as s:
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        while sent < len(body) and time.monotonic() < deadline:
            readable, writable, _ = select.select([s], [s], [], 1.0)
            if readable:
                break                       # an answer before the whole body: the box refused it early
            if writable:
                try:
                    sent += s.send(body[sent:sent + 65536])
                except OSError:
                    break
        s.settimeout(max(1.0, deadline - time.monotonic()))
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                raw += chunk
        except OSError:
            pass
    if not raw.startswith(b"HTTP/"):
        return 0, {}, b""
    top, _, payload = raw.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    if hdrs.get("Transfer-Encoding", "").lower() == "chunked":
        out, rest = b"", payload
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0] or b"0", 16)
            if size == 0:
                break
            out, rest = out + rest[:size], rest[size + 2:]
        payload = out
    return status, hdrs, payload


class Client:
    """HTTP to one box with an admin and a QA token (no redirects followed)."""

    def __init__(self, url: str, admin_token: str, qa_token: str):
        self.url, self.tokens = url.rstrip("/"), {"admin": admin_token, "qa": qa_token}

    def request(self, method: str, path: str, role: str = "anon", body: bytes | None = None,
                ctype: str = "application/json", opener: Any = None, timeout: float = 120) -> tuple[int, dict, bytes]:
        """(status, headers, body); status 0 when the connection failed."""
        headers = {"Content-Type": ctype} if body is not None else {}
        if role in self.tokens:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        if body is not None and len(body) > BIG_BODY and opener is None:
            return send_big(self.url, method, path, headers, body, timeout)
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        opener = opener or urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()
        except OSError:
            return 0, {}, b""

    def json(self, method: str, path: str, role: str, data: Any = None) -> tuple[int, Any]:
        """A JSON request; (status, decoded body or None)."""
        status, _, body = self.request(method, path, role, js(data) if data is not None else None)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, None

    def send(self, probe: Probe, call: str, line: str) -> Answer:
        """Send one probe."""
        status, headers, body = self.request(probe.method, probe.path.format(call=call, line=line), probe.role,
                                             probe.body, probe.ctype)
        made = json.loads(body).get("id", "") if status == 201 and probe.path == "/api/v1/sim/calls" else ""
        return Answer(probe, status, headers.get("Location", ""), len(body), made,
                      body[:400].decode("utf-8", errors="replace"))

    def login_flood(self, tries: int, user: str = "bench_admin") -> list[Answer]:
        """Wrong passwords through the real login form (XSRF cookie and field), one after another."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
        self.request("GET", "/login", opener=opener)
        xsrf = next((c.value for c in jar if c.name == "_xsrf"), "")
        probe = Probe("login: wrong password flood", "auth", "POST", "/login", "anon", ok=(200, 499))
        out = []
        for i in range(tries):
            form = f"_xsrf={xsrf}&name={user}&password=wrong-{i}".encode()
            status, headers, body = self.request("POST", "/login", "anon", form, "application/x-www-form-urlencoded",
                                                 opener=opener)
            out.append(Answer(probe, status, headers.get("Location", ""), len(body)))
        return out

    def metric(self, name: str) -> float:
        """One unlabelled series from /metrics (loopback access)."""
        _, _, body = self.request("GET", "/metrics")
        m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", body.decode(errors="replace"), re.M)
        return float(m.group(1)) if m else float("nan")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
