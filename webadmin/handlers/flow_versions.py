"""Flows as the panel edits them: the source's problems as JSON, the menu tree, and stored versions (save a draft,
publish, roll back; audited in the same transaction). No Tornado here: the storage functions run in store threads."""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from hotline.daemon.box import audit
from hotline.daemon.calls.flows import FlowChecker, make_active
from hotline.daemon.store.models import FlowVersion
from hotline.dialplan.flow import Flow, FlowError
from hotline.dialplan.registry import APPS
from hotline.dialplan.schema import ListOf, MapOf, Problem, Ref, Section

from .base import RawJson

def _digest(source: str) -> str:
    """The version identity used by FlowStore (Flow.digest)."""
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _problem(p: Problem) -> dict:
    return {"line": p.line, "column": p.column, "key": p.key, "message": p.message}


def _name_problem(source: str, name: str) -> dict | None:
    """The flow id in the file must be the flow this page edits (another id would create another flow)."""
    for i, line in enumerate(source.splitlines(), 1):
        m = re.match(r"flow:\s*['\"]?([^'\"#\s]*)", line)
        if m:
            if m.group(1) != name:
                return {"line": i, "column": 1, "key": "flow",
                        "message": f"the flow id is {m.group(1)!r} but this page edits {name!r}; "
                                   "create a new flow for another id"}
            return None
    return None


# ---- checking a source (on the request-work thread, or in a worker process for big ones) --------------------

@dataclass(frozen=True)
class FlowSummary:
    """What the panel shows of a flow that validates: plain data, so that it can come from a worker process."""

    name: str
    digest: str
    languages: list[str]
    title: dict[str, str]
    tree: RawJson   # the menu tree, JSON-encoded where it was built


@dataclass(frozen=True)
class FlowCheck:
    """The outcome of checking a source: the summary when it validates as the flow ``name``, else problems."""

    flow: FlowSummary | None
    problems: list[dict]
    warnings: list[dict]


def check_flow(source: str, name: str, checker: FlowChecker) -> FlowCheck:
    """Parse and check a source as the flow ``name`` (problems and warnings with line and column, the menu
    tree); a module-level function of plain data in and out, so it can run in a worker process."""
    bad_name = _name_problem(source, name)
    try:
        flow = checker.validate(source, f"{name}.yaml")
    except FlowError as exc:
        problems = [_problem(p) for p in exc.problems]
        if bad_name is not None:
            problems = sorted([*problems, bad_name], key=lambda p: (p["line"], p["column"]))
        return FlowCheck(None, problems, [_problem(w) for w in exc.warnings])
    warnings = [_problem(w) for w in flow.warnings]
    if bad_name is not None or flow.name != name:
        bad_name = bad_name or {"line": 1, "column": 1, "key": "flow", "message": f"the flow id must be {name!r}"}
        return FlowCheck(None, [bad_name], warnings)
    tree = RawJson(json.dumps(flow_tree(flow), ensure_ascii=False, default=str))
    return FlowCheck(FlowSummary(flow.name, flow.digest, list(flow.languages), dict(flow.title), tree), [], warnings)


# ---- the menu tree --------------------------------------------------------------------------------------------

def _block_refs(spec: Any, value: Any, label: str, key: str | None = None) -> list[dict]:
    """Every block an app's arguments jump to, with the argument (or menu key) that leads there."""
    out: list[dict] = []
    if isinstance(spec, Ref):
        if spec.kind == "block" and isinstance(value, str) and value:
            out.append({"via": label, "key": key, "block": value})
    elif isinstance(spec, Section) and isinstance(value, dict):
        for fname, fspec in spec.fields.items():
            if fname in value:
                out += _block_refs(fspec, value[fname], fname, key)
    elif isinstance(spec, MapOf) and isinstance(value, dict):
        for k, v in value.items():
            out += _block_refs(spec.value, v, label, str(k))
    elif isinstance(spec, ListOf) and isinstance(value, list):
        for item in value:
            out += _block_refs(spec.item, item, label, key)
    return out


def _detail(app: str, args: dict) -> str:
    """A short description of a step's main argument (prompt, variable, queue, target)."""
    spec = APPS[app]
    for name in (spec.shorthand, "prompt", "var", "name", "table", "extension", "number", "schedule", "text",
                 "mailbox", "prompt_id"):
        value = args.get(name) if name else None
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return ", ".join(value)
        if isinstance(value, dict) and value:
            return ", ".join(f"{k}={v}" for k, v in list(value.items())[:3])
    return ""


def flow_tree(flow: Flow) -> dict:
    """Blocks with their steps, the file line of each step, and where each step can jump (menu keys,
    branches, gotos, fallbacks); built once per flow (the first time in a thread, see config_flows.validate)."""
    cached = getattr(flow, "_tree", None)
    if cached is not None:
        return cached
    blocks = []
    for bname, steps in flow.blocks.items():
        items = []
        for i, step in enumerate(steps):
            spec = APPS[step.app]
            targets = _block_refs(spec.args, step.args, step.app)
            for t in targets:
                if t["via"] == spec.shorthand:   # goto: menu -- the app says it all
                    t["via"] = ""
            items.append({"index": i, "app": step.app, "line": step.line, "detail": _detail(step.app, step.args),
                          "targets": targets})
        blocks.append({"name": bname, "line": steps[0].line if steps else 0, "steps": items})
    tree = {"start": flow.start, "error": flow.error, "blocks": blocks}
    flow._tree = tree  # type: ignore[attr-defined]
    return tree


# ---- database side (runs in the store's threads) -----------------------------------------------------------

def _version_row(r: FlowVersion) -> dict:
    return {"version": r.version, "digest": r.digest, "author": r.author, "created_at": r.created_at,
            "active": bool(r.active)}


def list_versions(name: str | None = None) -> dict[str, list[dict]]:
    """Stored versions by flow name, oldest first (without their sources)."""
    q = FlowVersion.select(FlowVersion.name, FlowVersion.version, FlowVersion.digest, FlowVersion.author,
                           FlowVersion.created_at, FlowVersion.active)
    if name is not None:
        q = q.where(FlowVersion.name == name)
    out: dict[str, list[dict]] = {}
    for r in q.order_by(FlowVersion.name, FlowVersion.version):
        out.setdefault(r.name, []).append(_version_row(r))
    return out


def version_source(name: str, version: int | None) -> tuple[int, str] | None:
    """(version, source) of one stored version, or of the active one when version is None."""
    q = FlowVersion.select().where(FlowVersion.name == name)
    if version is not None:
        q = q.where(FlowVersion.version == version)
    else:
        q = q.where(FlowVersion.active == True)  # noqa: E712
    row = q.first()
    if row is None and version is None:  # nothing marked active: the daemon uses the first version
        row = FlowVersion.select().where(FlowVersion.name == name).order_by(FlowVersion.version).first()
    return (row.version, row.source) if row is not None else None


def _active(name: str) -> FlowVersion | None:
    return FlowVersion.select().where((FlowVersion.name == name) & (FlowVersion.active == True)).first()  # noqa: E712


def save_version(name: str, source: str, digest: str, author: str, publish: bool, address: str) -> dict:
    """Store the source as a new version (unless one with the same content exists) and, when asked, make it the
    active one; audited in the same transaction. A flow's first version is always active."""
    rows = list(FlowVersion.select().where(FlowVersion.name == name).order_by(FlowVersion.version))
    active = next((r for r in rows if r.active), None)
    row = next((r for r in rows if r.digest == digest and r.source == source), None)
    created = row is None
    if created:
        number = (rows[-1].version if rows else 0) + 1
        row = FlowVersion.create(name=name, version=number, source=source, digest=digest, author=author,
                                 created_at=time.time(), active=False)
        audit.record(author, address, "flow.saved", name,
                     {"versions": len(rows)} if rows else None, {"versions": len(rows) + 1, "version": number,
                                                                  "digest": digest})
    published = False
    if (publish or not rows) and (active is None or active.id != row.id):
        make_active(name, row.version)
        published = True
        audit.record(author, address, "flow.published", name,
                     {"active_version": active.version if active else None}, {"active_version": row.version})
    return {"name": name, "version": row.version, "created": created, "published": published,
            "active_version": row.version if published else (active.version if active else None)}


def activate_version(name: str, version: int, author: str, address: str) -> dict:
    """Make a stored version the active one (publish a draft, or roll back); audited."""
    row = FlowVersion.get_or_none((FlowVersion.name == name) & (FlowVersion.version == version))
    if row is None:
        raise KeyError(version)
    active = _active(name)
    if active is not None and active.id == row.id:
        return {"name": name, "active_version": version, "changed": False}
    make_active(name, row.version)
    action = "flow.rolled_back" if active is not None and version < active.version else "flow.published"
    audit.record(author, address, action, name, {"active_version": active.version if active else None},
                 {"active_version": version})
    return {"name": name, "active_version": version, "changed": True, "action": action}
