"""webadmin/openapi.yaml: valid OpenAPI 3.1, in step with the routes (paths, methods, parameters, roles), and
served as JSON at /api/v1/openapi.json to signed-in users only."""
from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import tornado.web
import copy

import yaml
from openapi_spec_validator import OpenAPIV31SpecValidator

from hotline.webadmin.handlers import base
from hotline.webadmin.handlers.openapi import SPEC_PATH, OpenApiHandler
from hotline.webadmin.routes import api_routes

REPO = Path(__file__).resolve().parents[2]
SPEC_FILE = REPO / "webadmin" / "openapi.yaml"
PREFIX = "/api/v1"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
ALL_ROLES = ("admin", "supervisor", "agent", "qa")
SYSTEMD_VARS = ("NOTIFY_SOCKET", "INVOCATION_ID", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")


@pytest.fixture(scope="module")
def spec() -> dict:
    """The document as served: openapi.yaml with every openapi.d/*.yaml part merged in."""
    from hotline.webadmin.handlers.openapi import document
    document.cache_clear()
    return copy.deepcopy(document())


def resolve(spec: dict, node: Any) -> Any:
    """Follow a local $ref ("#/components/...")."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), f"only local references are used: {ref}"
        node = spec
        for part in ref[2:].split("/"):
            node = node[part]
    return node


def route_paths(pattern: str) -> dict[str, list[str]]:
    """The concrete OpenAPI-style paths a Tornado route pattern serves: a group of plain alternatives
    (``(hold|resume)``) expands to one path per alternative, any other group is a path parameter shown as
    ``{}``. Returns {path: [the regex of each parameter, in order]}."""
    tokens: list[tuple[str, Any]] = []
    literal, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            literal += pattern[i + 1]
            i += 2
        elif c == "(":
            depth, j = 1, i + 1
            while depth:
                if pattern[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(pattern[j], 0)
                j += 1
            group = pattern[i + 1:j - 1]
            tokens.append(("lit", literal))
            literal = ""
            if re.fullmatch(r"[\w.-]+(\|[\w.-]+)*", group):
                tokens.append(("alts", group.split("|")))
            else:
                tokens.append(("param", group))
            i = j
        elif c in ".^$*+?{}[]|":
            raise AssertionError(f"route {pattern}: cannot map {c!r} outside a group to an OpenAPI path; "
                                 "extend route_paths() in this test")
        else:
            literal += c
            i += 1
    tokens.append(("lit", literal))
    choices = [t[1] if t[0] == "alts" else [None] for t in tokens]
    out: dict[str, list[str]] = {}
    for combo in itertools.product(*choices):
        path, params = "", []
        for (kind, value), pick in zip(tokens, combo):
            if kind == "lit":
                path += value
            elif kind == "alts":
                path += pick
            else:
                path += "{}"
                params.append(value)
        out[path] = params
    return out


def doc_shape(path: str) -> tuple[str, list[str]]:
    """A documented path as the full URL path with parameters shown as ``{}``, and the parameter names."""
    names = re.findall(r"\{([^}]+)\}", path)
    return PREFIX + re.sub(r"\{[^}]+\}", "{}", path), names


def implemented(handler: type) -> list[str]:
    """The HTTP methods a handler class implements (Tornado's defaults answer 405)."""
    return [m for m in HTTP_METHODS if getattr(handler, m) is not getattr(tornado.web.RequestHandler, m)]


def served() -> dict[str, tuple[str, type, list[str]]]:
    """{concrete path with {} parameters: (route pattern, handler, parameter regexes)} for every API route."""
    out: dict[str, tuple[str, type, list[str]]] = {}
    for pattern, handler in api_routes():
        for path, params in route_paths(pattern).items():
            out.setdefault(path, (pattern, handler, params))  # Tornado: the first matching route wins
    return out


def documented(spec: dict) -> dict[str, tuple[str, list[str]]]:
    """{concrete path with {} parameters: (the document's path, parameter names)}."""
    out = {}
    for path in spec["paths"]:
        shape, names = doc_shape(path)
        assert shape not in out, f"{path} and {out[shape][0]} are the same route"
        out[shape] = (path, names)
    return out


def operations(spec: dict):
    """(path, method, operation) for every documented operation."""
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


# ---- (a) a valid OpenAPI 3.1 document ------------------------------------------------------------

def test_document_is_valid_openapi_3_1(spec: dict) -> None:
    """openapi-spec-validator accepts it as OpenAPI 3.1."""
    assert str(spec["openapi"]).startswith("3.1"), spec["openapi"]
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in OpenAPIV31SpecValidator(spec).iter_errors()]
    assert not errors, "webadmin/openapi.yaml is not valid OpenAPI 3.1:\n" + "\n".join(errors[:20])


def test_document_basics(spec: dict) -> None:
    """Title, server, both security schemes (the cookie one named like the session cookie), string keys."""
    assert spec["info"]["title"] == "Hotline API"
    assert [s["url"] for s in spec["servers"]] == [PREFIX]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"] == "bearer"
    assert schemes["session"]["in"] == "cookie"
    assert "X-XSRFToken" in schemes["session"]["description"]
    cookie = getattr(base, "SESSION_COOKIE", None)
    if cookie is not None:
        assert schemes["session"]["name"] == cookie, "the session scheme must name the panel's session cookie"
    assert {"bearer", "session"} == {k for req in spec["security"] for k in req}

    def keys(node: Any, where: str) -> None:  # YAML would turn an unquoted 200 or "on" into int / bool
        if isinstance(node, dict):
            for k, v in node.items():
                assert isinstance(k, str), f"{where}: key {k!r} is not a string (quote it in the YAML)"
                keys(v, f"{where}/{k}")
        elif isinstance(node, list):
            for v in node:
                keys(v, where)
    keys(spec, "")


def test_handler_serves_the_repository_file() -> None:
    """The handler reads the file packaged next to webadmin/ (shipped through package_data in setup.py)."""
    assert SPEC_PATH.resolve() == SPEC_FILE.resolve()
    assert '"openapi.yaml"' in (REPO / "setup.py").read_text(), "setup.py must ship webadmin/openapi.yaml"
    assert '"openapi.d/*.yaml"' in (REPO / "setup.py").read_text(), "setup.py must ship webadmin/openapi.d/"


# ---- (b) every route and method documented, nothing else ----------------------------------------

def test_every_route_and_method_is_documented(spec: dict) -> None:
    """Each route of api_routes() and each method its handler implements has an operation in the document."""
    docs = documented(spec)
    missing = []
    for path, (pattern, handler, _) in served().items():
        if path not in docs:
            missing.append(f"route {pattern} ({handler.__name__}): path {path} is not in webadmin/openapi.yaml "
                           f"(document it as {path.removeprefix(PREFIX)} with {{name}} for each parameter)")
            continue
        item = spec["paths"][docs[path][0]]
        for method in implemented(handler):
            if method not in item:
                missing.append(f"route {pattern} ({handler.__name__}): {method.upper()} {docs[path][0]} "
                               "is not documented in webadmin/openapi.yaml")
    assert not missing, "\n".join(missing)


def test_every_documented_operation_exists(spec: dict) -> None:
    """Nothing is documented that the server does not serve."""
    routes = served()
    extra = []
    for path, (doc_path, _) in documented(spec).items():
        if path not in routes:
            extra.append(f"{doc_path}: no route in webadmin/routes.py api_routes() serves {path}")
            continue
        pattern, handler, _ = routes[path]
        for method in HTTP_METHODS:
            if method in spec["paths"][doc_path] and method not in implemented(handler):
                extra.append(f"{method.upper()} {doc_path}: {handler.__name__} ({pattern}) does not implement it")
    assert not extra, "\n".join(extra)


def test_path_parameters_match_the_route_patterns(spec: dict) -> None:
    """Each {parameter} is declared as a required path parameter whose pattern is the route's group."""
    routes = served()
    wrong = []
    for path, (doc_path, names) in documented(spec).items():
        if path not in routes:
            continue
        regexes = routes[path][2]
        item = spec["paths"][doc_path]
        for method in (m for m in HTTP_METHODS if m in item):
            declared = {}
            for p in [*item.get("parameters", []), *item[method].get("parameters", [])]:
                p = resolve(spec, p)
                if p["in"] == "path":
                    declared[p["name"]] = p
            if sorted(declared) != sorted(names):
                wrong.append(f"{method.upper()} {doc_path}: path parameters {sorted(declared)}, template {names}")
                continue
            for name, regex in zip(names, regexes):
                p = declared[name]
                pattern = resolve(spec, p["schema"]).get("pattern")
                if not p.get("required") or pattern != f"^{regex}$":
                    wrong.append(f"{method.upper()} {doc_path}: parameter {name} must be required with pattern "
                                 f"^{regex}$ (route {routes[path][0]}), has {pattern!r}")
    assert not wrong, "\n".join(wrong)


# ---- (c) roles --------------------------------------------------------------------------------------

def test_x_roles_are_the_handlers_roles(spec: dict) -> None:
    """x-roles of every operation equals its handler's ``roles``, in order."""
    routes = served()
    docs = documented(spec)
    wrong = []
    for path, (pattern, handler, _) in routes.items():
        if path not in docs:
            continue
        doc_path = docs[path][0]
        for method in implemented(handler):
            op = spec["paths"][doc_path].get(method)
            if op is not None and op.get("x-roles") != list(handler.roles):
                wrong.append(f"{method.upper()} {doc_path}: x-roles {op.get('x-roles')} but "
                             f"{handler.__name__}.roles is {list(handler.roles)}")
    assert not wrong, "\n".join(wrong)


def test_operations_are_complete(spec: dict) -> None:
    """Every operation has a tag, a summary, the error schema for 401 and 403 (all routes need a login),
    and a success response."""
    tags = {t["name"] for t in spec["tags"]}
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "status"]
    assert error["properties"]["error"]["type"] == "string" and error["properties"]["status"]["type"] == "integer"
    problems = []
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        if not op.get("tags") or not set(op["tags"]) <= tags:
            problems.append(f"{where}: tags {op.get('tags')} (declared: {sorted(tags)})")
        if not op.get("summary"):
            problems.append(f"{where}: no summary")
        for code in ("401", "403"):
            resp = resolve(spec, op["responses"].get(code))
            schema = (resp or {}).get("content", {}).get("application/json", {}).get("schema")
            if schema != {"$ref": "#/components/schemas/Error"}:
                problems.append(f"{where}: response {code} must use the Error schema")
        if not any(code.startswith(("1", "2")) for code in op["responses"]):
            problems.append(f"{where}: no success response")
    assert not problems, "\n".join(problems)


def test_enums_where_handlers_check_choices(spec: dict) -> None:
    """The choices the handlers check appear as enums."""
    def body(path: str) -> dict:
        op = spec["paths"][path]["post"]
        return resolve(spec, resolve(spec, op["requestBody"])["content"]["application/json"]["schema"])
    rec = body("/calls/{uuid}/recording")
    assert rec["required"] == ["action"] and rec["properties"]["action"]["enum"] == ["start", "stop", "pause",
                                                                                   "resume"]
    state = body("/agents/{agent}/state")
    assert state["required"] == ["state"] and state["properties"]["state"]["enum"] == ["ready", "not_ready"]
    assert body("/agents/{agent}/login")["required"] == ["station"]
    assert body("/calls/{uuid}/consult")["required"] == ["extension"]
    assert body("/sim/calls")["required"] == ["from"]
    assert resolve(spec, body("/sim/calls/{id}/dtmf")["properties"]["mode"])["enum"] == ["inband", "signal"]


# ---- (d) served to signed-in users --------------------------------------------------------------

def add_user(hotline: str, config: Path, state: Path, name: str, role: str) -> str:
    """``hotline user add NAME --role ROLE --token``; the token (last line)."""
    env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_VARS}
    env["HOTLINE_STATE_DIR"] = str(state)
    proc = subprocess.run([hotline, "-c", str(config), "user", "add", name, "--role", role, "--token"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def get(url: str, token: str | None = None) -> tuple[int, str, bytes]:
    """(status, content type, body)."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def test_served_as_json_to_every_role_and_refused_anonymously(daemon_factory, make_config, tmp_path: Path,
                                                               hotline_bin: str, spec: dict) -> None:
    """GET /api/v1/openapi.json: 401 without a token, the document as JSON for each role."""
    assert list(OpenApiHandler.roles) == list(ALL_ROLES)
    config, state = make_config(), tmp_path / "state"
    state.mkdir()
    tokens = {role: add_user(hotline_bin, config, state, f"doc_{role}", role) for role in ALL_ROLES}
    d = daemon_factory(config=config, state=state, start=False)
    for var in SYSTEMD_VARS:
        d.env.pop(var, None)
    d.start()
    url = d.url + "/api/v1/openapi.json"

    status, ctype, payload = get(url)
    assert status == 401, (status, payload[:200])
    assert ctype.startswith("application/json")
    assert json.loads(payload) == {"error": "authentication required", "status": 401}

    status, _, _ = get(url, "not-a-token")
    assert status == 401

    for role, token in tokens.items():
        status, ctype, payload = get(url, token)
        assert status == 200, (role, status, payload[:200])
        assert ctype.startswith("application/json"), (role, ctype)
        assert json.loads(payload) == spec, f"{role}: the served JSON differs from webadmin/openapi.yaml"
