"""The audit log: every change through the panel, the API or the CLI, with who, when, where, before -> after."""
from __future__ import annotations

import json
import time
from typing import Any

from ..store.models import AuditEntry

FILTERS = ("user", "action", "target", "since", "until")


def _dump(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def record(user: str, address: str, action: str, target: str = "", before: Any = None, after: Any = None) -> int:
    """Write one entry (runs in the writer's transaction, together with the change itself)."""
    row = AuditEntry.create(ts=time.time(), user_name=user, address=address[:64], action=action[:64],
                            target=str(target)[:255], before=_dump(before), after=_dump(after))
    return row.id


def changes(before: dict | None, after: dict | None) -> dict:
    """Only the fields that differ, as {field: [before, after]} (for display)."""
    before, after = before or {}, after or {}
    return {k: [before.get(k), after.get(k)] for k in sorted(set(before) | set(after))
            if before.get(k) != after.get(k)}


def query(user: str | None = None, action: str | None = None, target: str | None = None,
          since: float | None = None, until: float | None = None, limit: int = 200, offset: int = 0) -> dict:
    """Entries newest first, filtered; action matches a prefix (e.g. "queue." for every queue change)."""
    q = AuditEntry.select()
    if user:
        q = q.where(AuditEntry.user_name == user)
    if action:
        q = q.where(AuditEntry.action.startswith(action))
    if target:
        q = q.where(AuditEntry.target.contains(target))
    if since is not None:
        q = q.where(AuditEntry.ts >= since)
    if until is not None:
        q = q.where(AuditEntry.ts < until)
    total = q.count()
    rows = q.order_by(AuditEntry.ts.desc(), AuditEntry.id.desc()).limit(max(1, min(limit, 1000))).offset(offset)
    out = []
    for r in rows:
        before = json.loads(r.before) if r.before else None
        after = json.loads(r.after) if r.after else None
        diff = changes(before, after) if isinstance(before, dict) or isinstance(after, dict) else {}
        out.append({"id": r.id, "ts": r.ts, "user": r.user_name, "address": r.address, "action": r.action,
                    "target": r.target, "before": before, "after": after, "changes": diff})
    return {"total": total, "entries": out}
