"""Recent handle times per queue, read back from the journal when the ACD starts.

The wait estimate works from the queue's last calls (talk plus wrap-up). They are kept in memory while the
box runs; without this read-back a restart (or a box whose day so far is history) would start every queue
with none, and hold every estimate back until ten new calls were answered.
"""
from __future__ import annotations

import json
import time

KEEP = 200                # per queue, as many as the runtime keeps
LOOK_BACK_DAYS = 14.0     # older calls say little about today's
LONGEST = 4 * 3600.0      # a "call" longer than this is a journal gap, not a handle time
CHUNK = 500               # call ids per IN query


def recent(wrapups: dict[str, float], keep: int = KEEP, days: float = LOOK_BACK_DAYS,
           now: float | None = None) -> dict[str, list[float]]:
    """For each queue (name -> its wrap-up seconds): the handle times of its latest answered calls, oldest
    first. A call's handle time runs from ``queue.answered`` to the first ``call.unbridged`` or ``call.ended``
    after it, plus the queue's wrap-up. Runs in a database thread."""
    from ..store.models import Event
    since = (time.time() if now is None else now) - days * 86400.0
    answered: dict[str, list[tuple[str, float]]] = {name: [] for name in wrapups}
    query = (Event.select(Event.call_uuid, Event.ts, Event.data)
             .where((Event.kind == "queue.answered") & (Event.ts >= since)).order_by(Event.ts.desc()))
    for ev in query.iterator():
        try:
            queue = json.loads(ev.data or "{}").get("queue")
        except ValueError:
            continue
        rows = answered.get(queue)
        if rows is not None and len(rows) < keep and ev.call_uuid:
            rows.append((ev.call_uuid, ev.ts))
        if all(len(r) >= keep for r in answered.values()):
            break
    ends: dict[str, list[float]] = {}
    uuids = sorted({uuid for rows in answered.values() for uuid, _ in rows})
    for i in range(0, len(uuids), CHUNK):
        for ev in (Event.select(Event.call_uuid, Event.ts)
                   .where(Event.call_uuid.in_(uuids[i:i + CHUNK])
                          & Event.kind.in_(("call.unbridged", "call.ended")))).iterator():
            ends.setdefault(ev.call_uuid, []).append(ev.ts)
    out: dict[str, list[float]] = {}
    for name, rows in answered.items():
        times = []
        for uuid, at in reversed(rows):
            after = [t for t in ends.get(uuid, []) if t >= at]
            if after and 0 < min(after) - at <= LONGEST:
                times.append(min(after) - at + wrapups[name])
        out[name] = times
    return out
