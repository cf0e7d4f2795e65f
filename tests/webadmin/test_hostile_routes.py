"""Every documented API route (webadmin/openapi.yaml and openapi.d) driven with hostile bodies and parameters
by hypothesis, against a real daemon, as an admin and anonymously: never a 5xx, every refusal a JSON error, the
daemon alive, and the rows that were there before still intact and readable (issue 11, finding 10).

Repeatable: derandomized, no example database, a fixed number of examples per route. Routes whose side
effects would make the rest meaningless are kept away from the test's own user and the seeded rows."""
from __future__ import annotations

import http.client
import json
import os
import re
import struct
import time
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.webadmin.handlers.openapi import document

FUZZER = "fuzzer"                      # the admin whose token drives the test: never a target
# per operation (~1,100 requests in all); HOTLINE_HOSTILE_EXAMPLES=50 explores further by hand
EXAMPLES_ADMIN = int(os.environ.get("HOTLINE_HOSTILE_EXAMPLES", "4"))
EXAMPLES_ANONYMOUS = 2
HTTP_METHODS = ("get", "put", "post", "delete")
SKIPPED: set[tuple[str, str]] = set()   # (method, documented path) pairs left out, each with its reason

# ---- hostile values -------------------------------------------------------------------------------------

DEEP = 5000
hostile_text = st.sampled_from([
    "\ud800", "a\udfffb", "\x00", "nul\x00here", "", " ", "x" * 70_000, "=cmd|' /C calc'!A0", "../../etc/passwd",
    "<script>alert(1)</script>", "'; DROP TABLE users; --", "１２３", "客服", "\u202e", "\r\nX-Injected: 1",
    "1e23", "-1", "0", "99999999999999999999999", "NaN", "true", "null", "%00", "\\u0000",
])
hostile_number = st.sampled_from([10 ** 30, -(10 ** 30), 2 ** 63, -(2 ** 63) - 1, 1e23, -1, 0, 1e308, 0.5,
                                  3.14159, 2 ** 31])
hostile_scalar = st.one_of(hostile_text, hostile_number, st.booleans(), st.none(),
                           st.text(max_size=40), st.integers(min_value=-(10 ** 20), max_value=10 ** 20))
hostile_value = st.recursive(hostile_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["$gt", "", "a", "\ud800"]), inner, max_size=2)),
    max_leaves=6)
raw_bodies = st.sampled_from([
    b"[" * DEEP + b"]" * DEEP, b'{"a":' * DEEP + b"1" + b"}" * DEEP, b'{"x": ' + b"[" * 40 + b"]" * 40 + b"}",
    b"\xff\xfe\x00", b'{"name": "\xed\xa0\x80"}', b'{"a": 1', b"[]", b"null", b"1" * 5000, b'{"n": 1e999}',
    b'{"n": NaN}', b'"just a string"', b"", b"{}", b'{"name": "\\ud800"}', b"x" * 1000,
])


def wav(rate: int, frames: int, channels: int = 1, bits: int = 16, truncate: int = 0) -> bytes:
    """A small WAV (possibly lying about its size)."""
    data = b"\x01\x00" * frames * channels
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    out = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" \
        + struct.pack("<I", len(data)) + data
    return out[:len(out) - truncate] if truncate else out


audio_bodies = st.sampled_from([b"", b"RIFF", wav(8000, 800), wav(8000, 800, truncate=500), wav(0, 10),
                                wav(8000, 10, bits=7), wav(8000, 10, channels=0), b"\x00" * 2048,
                                wav(44100, 100, channels=2)])
csv_bodies = st.sampled_from([
    "name,phone\n" + "x" * (130 * 1024) + ",123\n", "name,phone\n\"unterminated,123\n", "\ufeffname,phone\na,b\n",
    "name,phone\n=cmd|' /C calc'!A0,123\n", "a\x00b,c\n", "", "name\n" + "a\n" * 30,
]).map(lambda s: s.encode("utf-8", "surrogatepass")) | st.just(b"name,phone\n\xff\xfe,1\n")
yaml_bodies = st.sampled_from([b"", b"queues: [", b"- 1\n- 2\n", b"\xff\xfe", b"queues: {}\nagents: 5\n",
                               b"queues:\n  " + b"[" * 60 + b"]" * 60 + b"\n"])
query_values = st.one_of(hostile_text.filter(lambda s: len(s) < 2000), st.sampled_from(
    ["1e23", "1E23", "-5", "0", "18446744073709551616", "2024-13-45", "2024-02-30", "9999-12-31", "0000-01-01",
     "%ED%A0%80", "%00", "%FF", "[]", "{}", "a" * 3000, "yes", "  1 ", "0x10", "1_000", "١٢"]))


# ---- the document ---------------------------------------------------------------------------------------

def deref(spec: dict, node: Any) -> Any:
    """Follow a local $ref ("#/components/...")."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def operations() -> list[tuple[str, str, dict, list[dict], dict | None]]:
    """(method, path, operation, parameters, request body) of every documented operation."""
    spec = document()
    out = []
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method not in item:
                continue
            op = item[method]
            params = [deref(spec, p) for p in [*item.get("parameters", []), *op.get("parameters", [])]]
            body = deref(spec, op.get("requestBody")) if op.get("requestBody") else None
            out.append((method.upper(), path, op, params, body))
    return out


def body_schemas(spec: dict, body: dict | None) -> dict[str, dict]:
    """{member name: its schema} of a JSON request body (through $ref, allOf, oneOf)."""
    if not body:
        return {}
    schema = deref(spec, body.get("content", {}).get("application/json", {}).get("schema", {}))
    found: dict[str, dict] = {}
    stack = [schema]
    while stack:
        s = deref(spec, stack.pop())
        if not isinstance(s, dict):
            continue
        for name, sub in s.get("properties", {}).items():
            found.setdefault(name, deref(spec, sub) if isinstance(sub, dict) else {})
        for key in ("allOf", "oneOf", "anyOf"):
            stack.extend(s.get(key, []))
    return found


def body_properties(spec: dict, body: dict | None) -> list[str]:
    """The member names a JSON request body documents."""
    return sorted(body_schemas(spec, body)) or ["name"]


def plausible(schema: dict) -> Any:
    """A value of the documented kind (its example, default or first choice when it has one)."""
    for key in ("examples", "enum"):
        if schema.get(key):
            return schema[key][0]
    if "example" in schema or "default" in schema:
        return schema.get("example", schema.get("default"))
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) else kind
    return {"integer": 424242, "number": 1, "boolean": False, "array": [], "object": {}}.get(kind, "x")


# ---- the client -----------------------------------------------------------------------------------------

class Client:
    """One keep-alive HTTP connection; every answer is checked for 5xx and for a JSON error document."""

    def __init__(self, port: int, token: str | None):
        self.port, self.token = port, token
        self.conn: http.client.HTTPConnection | None = None
        self.xsrf = ""
        if token is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/login")
            r = conn.getresponse()
            r.read()
            cookie = r.getheader("Set-Cookie", "")
            self.xsrf = cookie.split("_xsrf=", 1)[1].split(";", 1)[0] if "_xsrf=" in cookie else ""
            conn.close()
            assert self.xsrf, cookie
        self.count = 0
        self.statuses: dict[int, int] = {}

    def send(self, method: str, target: str, body: bytes | None, ctype: str | None) -> tuple[int, bytes]:
        """One request; (status, body). A dropped connection is retried once on a new one."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.xsrf:   # a browser without a session: past the XSRF check, so authentication is what refuses
            headers.update({"Cookie": f"_xsrf={self.xsrf}", "X-XSRFToken": self.xsrf})
        if ctype:
            headers["Content-Type"] = ctype
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, target, body=body, headers=headers)
                r = self.conn.getresponse()
                payload = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                self.count += 1
                self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                return r.status, payload
            except (http.client.HTTPException, ConnectionError, TimeoutError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def check(self, method: str, target: str, body: bytes | None, ctype: str | None) -> int:
        """Send and assert: not a 5xx, and a refusal is a JSON error with a message."""
        status, payload = self.send(method, target, body, ctype)
        where = f"{method} {target[:200]} body={body[:200] if body else body!r}"
        assert status < 500, f"{where}: {status} {payload[:300]!r}"
        if status >= 400 and status != 413:
            try:
                doc = json.loads(payload)
            except ValueError:
                raise AssertionError(f"{where}: {status} is not JSON: {payload[:200]!r}") from None
            assert isinstance(doc, dict) and isinstance(doc.get("error"), str) and doc["error"], (where, doc)
            assert doc.get("status") == status, (where, doc)
        return status


# ---- the box --------------------------------------------------------------------------------------------

def api(client: Client, method: str, path: str, body: Any = None) -> Any:
    """A setup call that must succeed."""
    data = json.dumps(body).encode() if body is not None else None
    status, payload = client.send(method, "/api/v1" + path, data, "application/json" if data else None)
    assert status < 300, f"{method} {path}: {status} {payload[:300]!r}"
    return json.loads(payload) if payload else None


@pytest.fixture
def fuzz_box(prepared_box):
    """A daemon with users of every role, an admin token for the test, and some rows to keep an eye on."""
    from hotline.daemon.box import users
    from hotline.daemon.store.db import Store
    d = prepared_box(start=False, people={"admin": "admin", FUZZER: "admin", "sup": "supervisor",
                                          "agent1": "agent", "qa1": "qa"})
    store = Store(f"sqlite:///{d.state / 'hotline.db'}")
    store.open()
    try:
        d.fuzz_token = store.write_sync(users.new_token, FUZZER)
    finally:
        store.close()
    d.start()
    admin = Client(d.port, d.fuzz_token)
    customer = api(admin, "POST", "/customers", {"name": "王小明", "phones": ["13800000001"]})
    category = api(admin, "POST", "/kb/categories", {"name": "Printers"})
    article = api(admin, "POST", "/kb/articles", {"title": "Paper jam", "body": "Open the tray.",
                                                   "category_id": category["id"]})
    ticket = api(admin, "POST", "/tickets", {"type": "repair", "summary": "Printer jams", "customer_id": customer["id"]})
    d.kept = {f"/customers/{customer['id']}": None, f"/kb/articles/{article['id']}": None,
              f"/tickets/{ticket['id']}": None}
    d.kept_ids = {str(customer["id"]), str(article["id"]), str(ticket["id"]), str(category["id"])}
    for path in d.kept:
        d.kept[path] = api(admin, "GET", path)
    return d


def path_strategy(path: str, params: list[dict], kept_ids: set[str]) -> st.SearchStrategy[str]:
    """Concrete paths: each parameter drawn from its documented pattern (so the route is reached), the test's
    own user and the seeded rows left alone."""
    names = re.findall(r"\{([^}]+)\}", path)
    by_name = {p["name"]: p for p in params if p.get("in") == "path"}
    parts = []
    for name in names:
        schema = by_name[name].get("schema", {})
        if "enum" in schema:
            parts.append(st.sampled_from(schema["enum"]))
            continue
        pattern = schema.get("pattern", "^[^/]+$")
        if pattern == "^[^/]+$":
            strat = st.one_of(st.sampled_from(["zh_CN", "en_US", "printer_welcome", "..", "%00", "x" * 300]),
                              st.text(min_size=1, max_size=20).filter(lambda s: "/" not in s))
        else:
            strat = st.from_regex(pattern, fullmatch=True)
        if re.search(r"\[0-9\]", pattern):
            strat = st.one_of(strat, st.sampled_from(["999999999999", "1" * 30, "0"]).filter(
                lambda s: re.fullmatch(pattern.strip("^$"), s) is not None))
        parts.append(strat.filter(lambda s: s != FUZZER and s.lstrip("0") not in kept_ids))

    def build(values: list[str]) -> str:
        out = path
        for name, value in zip(names, values):
            out = out.replace("{" + name + "}", quote(value.encode("utf-8", "surrogatepass"), safe=""), 1)
        return out
    return st.tuples(*parts).map(lambda vs: build(list(vs))) if parts else st.just(path)


def query_strategy(params: list[dict]) -> st.SearchStrategy[str]:
    """A query string with some documented parameters set to hostile values."""
    names = [p["name"] for p in params if p.get("in") == "query"] or ["page"]
    return st.dictionaries(st.sampled_from(names), query_values, max_size=3).map(
        lambda q: ("?" + "&".join(f"{quote(k)}={v if '%' in v else quote(v.encode('utf-8', 'surrogatepass'))}"
                                  for k, v in q.items())) if q else "")


def body_strategy(spec: dict, body: dict | None) -> st.SearchStrategy[tuple[bytes | None, str | None]]:
    """A hostile request body of the documented kind."""
    content = (body or {}).get("content", {})
    if "audio/wav" in content:
        return audio_bodies.map(lambda b: (b, "audio/wav"))
    if "text/csv" in content:
        return csv_bodies.map(lambda b: (b, "text/csv"))
    if "application/yaml" in content:
        return yaml_bodies.map(lambda b: (b, "application/yaml"))
    names = body_properties(spec, body)
    objects = st.dictionaries(st.sampled_from(names), hostile_value, max_size=len(names)).map(
        lambda d: json.dumps(d).encode())
    return st.one_of(objects, objects, raw_bodies).map(lambda b: (b, "application/json"))


def drive(client: Client, kept_ids: set[str], examples: int) -> dict[str, float]:
    """Every operation, ``examples`` hostile requests each; the seconds each operation took."""
    spec = document()
    took: dict[str, float] = {}
    for method, path, op, params, body in operations():
        t0 = time.monotonic()
        if (method, path) in SKIPPED:
            continue

        @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(target=path_strategy(path, params, kept_ids), query=query_strategy(params),
               payload=body_strategy(spec, body) if method in ("POST", "PUT") else st.just((None, None)))
        def one(target: str, query: str, payload: tuple[bytes | None, str | None]) -> None:
            client.check(method, "/api/v1" + target + query, *payload)
        try:
            one()
        except Exception as exc:
            exc.add_note(f"operation: {method} {path}")
            raise
        took[f"{method} {path}"] = time.monotonic() - t0
    return took


PLAIN = ("424242", "00000000-0000-0000-0000-000000000000", "nosuch", "2031-01-01", "1001", "x")


def plain_path(path: str, params: list[dict]) -> str:
    """The path with each parameter set to a fixed value its pattern accepts (its example when it has one)."""
    by_name = {p["name"]: p.get("schema", {}) for p in params if p.get("in") == "path"}
    for name in re.findall(r"\{([^}]+)\}", path):
        schema = by_name[name]
        pattern = schema.get("pattern", "^.+$")
        candidates = [*schema.get("examples", []), *schema.get("enum", []), *PLAIN]
        value = next(v for v in candidates if re.fullmatch(pattern.strip("^$"), str(v)))
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    return path


WRONG_TYPES = ([], {"$gt": ""}, 12345, "\ud800", [[[[["deep"]]]]])


def sweep(client: Client, kept_ids: set[str]) -> int:
    """Deterministically, every documented member of every JSON body with a value of the wrong kind (a list,
    an object, a number, a lone surrogate, nesting) while the other members hold plausible values."""
    spec, sent, failures = document(), 0, []
    for method, path, op, params, body in operations():
        members = body_schemas(spec, body)
        if method not in ("POST", "PUT") or not members:
            continue
        target = plain_path(path, params)
        base = {name: plausible(schema) for name, schema in members.items()}
        for name in members:
            for wrong in WRONG_TYPES:
                try:
                    client.check(method, "/api/v1" + target, json.dumps({**base, name: wrong}).encode(),
                                 "application/json")
                except AssertionError as exc:
                    failures.append(str(exc).splitlines()[0])
                sent += 1
    assert not failures, f"{len(failures)} of {sent} requests:\n" + "\n".join(failures)
    return sent


def assert_alive_and_intact(d: Any, admin: Client) -> None:
    """The daemon is alive, every list route still reads, the seeded rows are unchanged."""
    assert d.proc.poll() is None, d.output()[-3000:]
    status, _ = admin.send("GET", "/healthz", None, None)
    assert status == 200
    for method, path, _, params, _ in operations():
        if method == "GET" and "{" not in path and not path.endswith((".yaml", "/export", "/probe")):
            status, payload = admin.send("GET", "/api/v1" + path, None, None)
            assert status == 200, f"GET {path} after the run: {status} {payload[:300]!r}"
    for path, before in d.kept.items():
        assert api(admin, "GET", path) == before, f"{path} changed"
    assert "Traceback" not in d.output(), d.output()[-5000:]


def test_every_route_as_admin_survives_hostile_input(fuzz_box) -> None:
    """As an admin (who may call every route): hostile JSON, query strings, paths, WAV, CSV and YAML bodies."""
    admin = Client(fuzz_box.port, fuzz_box.fuzz_token)
    t0 = time.monotonic()
    slowest = sorted(drive(admin, fuzz_box.kept_ids, EXAMPLES_ADMIN).items(), key=lambda kv: -kv[1])[:5]
    print(f"hostile routes (admin): {admin.count} requests in {time.monotonic() - t0:.1f} s; statuses "
          f"{sorted(admin.statuses.items())}; slowest {[(k, round(v, 1)) for k, v in slowest]}")
    assert admin.count >= len(operations()) * 2
    assert_alive_and_intact(fuzz_box, admin)


def test_every_documented_field_refuses_the_wrong_kind_of_value(fuzz_box) -> None:
    """Lists or objects for enum fields, numbers for text, lone surrogates, nesting: each a 4xx naming the
    field (or accepted when harmless), never a 5xx; the data stays intact."""
    admin = Client(fuzz_box.port, fuzz_box.fuzz_token)
    t0 = time.monotonic()
    sent = sweep(admin, fuzz_box.kept_ids)
    print(f"wrong-kind sweep: {sent} requests in {time.monotonic() - t0:.1f} s; statuses "
          f"{sorted(admin.statuses.items())}")
    assert sent > 1000
    assert_alive_and_intact(fuzz_box, admin)


def test_every_route_anonymously_refuses_hostile_input(fuzz_box) -> None:
    """Without credentials (but with a valid XSRF pair, as a browser has): only 401 or 413, whatever is sent."""
    anon = Client(fuzz_box.port, None)
    drive(anon, fuzz_box.kept_ids, EXAMPLES_ANONYMOUS)
    assert set(anon.statuses) <= {401, 413}, anon.statuses
    assert_alive_and_intact(fuzz_box, Client(fuzz_box.port, fuzz_box.fuzz_token))
