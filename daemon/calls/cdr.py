"""Call detail records derived from the journal, and closing calls a crash left open."""
from __future__ import annotations

import json
import time

import peewee

from ..store import rawsql
from ..store.models import Cdr, Event

START_KINDS = ("call.offered", "leg.offered")
END_KINDS = ("call.ended", "leg.ended")


def derive(events: list[dict]) -> dict | None:
    """One CDR row from one call's (or agent leg's) events; None when it has not ended."""
    start = next((e for e in events if e["kind"] in START_KINDS), None)
    end = next((e for e in reversed(events) if e["kind"] in END_KINDS), None)
    if start is None or end is None:
        return None
    sd, ed = start["data"], end["data"]
    answered = next((e["ts"] for e in events if e["kind"] in ("call.answered", "leg.answered")), None)
    bridged_at, talk, peer, open_since = None, 0.0, None, None
    for e in events:
        if e["kind"] == "call.bridged":
            bridged_at = bridged_at or e["ts"]
            open_since = e["ts"] if open_since is None else open_since
            peer = e["data"].get("peer", peer)
        elif e["kind"] == "call.unbridged" and open_since is not None:
            talk += e["ts"] - open_since
            open_since = None
    if open_since is not None:
        talk += end["ts"] - open_since
    direction = sd.get("direction", "inbound")
    if start["kind"] == "leg.offered":
        talk = end["ts"] - answered if answered else 0.0
        peer = sd.get("extension")
        # a leg is part of its parent's call: a station leg, or the trunk an outbound call was dialled on
        direction = "agent_leg" if sd.get("direction", "agent_leg") == "agent_leg" else "outbound_leg"
    cause = ed.get("cause", "normal")
    if cause == "interrupted":
        disposition = "interrupted"
    elif cause == "rejected":
        disposition = "refused"
    elif bridged_at or (start["kind"] == "leg.offered" and answered):
        disposition = "connected"
    elif answered:
        disposition = "answered"
    else:
        disposition = "unanswered"
    recording = next((e["data"].get("path") for e in reversed(events) if e["kind"] == "recording.closed"
                      or (e["kind"] == "recording.failed" and e["data"].get("kept"))), None)
    return _fit({
        "call_uuid": start["call_uuid"], "parent_uuid": sd.get("parent"),
        "direction": direction,
        "line": start["line"], "caller_id": sd.get("caller_id"), "caller_name": sd.get("caller_name"),
        "dialed": sd.get("dialed"), "offered_at": start["ts"], "answered_at": answered,
        "bridged_at": bridged_at, "ended_at": end["ts"], "duration": round(end["ts"] - start["ts"], 3),
        "talk_seconds": round(talk, 3), "disposition": disposition, "cause": cause, "peer": peer,
        "recording": recording,
    })


# the text columns' widths (migrations.py): PostgreSQL refuses longer text, SQLite would take it
WIDTHS = {"call_uuid": 36, "parent_uuid": 36, "direction": 16, "line": 64, "caller_id": 64, "caller_name": 128,
          "dialed": 64, "disposition": 16, "cause": 32, "peer": 64, "recording": 512}


def _fit(row: dict) -> dict:
    """Text columns cut to their width, NUL replaced, so no caller-supplied text can refuse a CDR."""
    return {k: v[:WIDTHS[k]].replace("\x00", "\ufffd") if isinstance(v, str) and k in WIDTHS else v
            for k, v in row.items()}


def _events(call_uuid: str) -> list[dict]:
    return [{"ts": ts, "kind": kind, "call_uuid": uuid, "line": line, "data": json.loads(data)}
            for ts, kind, uuid, line, data in rawsql.select_rows(
                Event, ("ts", "kind", "call_uuid", "line", "data"), "call_uuid", call_uuid, "id")]


def write_cdr(call_uuid: str) -> dict | None:
    """Derive and upsert the CDR of one call (inside the writer's transaction)."""
    row = derive(_events(call_uuid))
    if row is not None:
        fields = Cdr._meta.fields
        values = tuple(fields[k].db_value(v) for k, v in row.items())
        if _sqlite():
            rawsql.insert_rows(Cdr, tuple(row), [values], replace=True)
        else:
            Cdr.delete().where(Cdr.call_uuid == row["call_uuid"]).execute()
            rawsql.insert_rows(Cdr, tuple(row), [values])
    return row


def _sqlite() -> bool:
    import peewee
    return isinstance(Cdr._meta.database.obj, peewee.SqliteDatabase)


def close_interrupted(now: float | None = None) -> list[str]:
    """Calls with a start but no end (the box died mid-call) get ``call.ended`` as interrupted.

    Only events since the previous start are looked at (a watermark in the settings table): every call that
    started before it was closed by that start, so a big journal does not slow the start down."""
    from ..store.models import Setting
    now = time.time() if now is None else now
    mark = Setting.get_or_none(Setting.name == "journal.checked_upto")
    since = int(mark.value) if mark is not None else 0
    ended = Event.select(Event.call_uuid).where(Event.kind.in_(END_KINDS) & (Event.id > since))
    open_calls = (Event.select(Event.call_uuid, Event.kind, Event.line)
                  .where(Event.kind.in_(START_KINDS) & (Event.id > since) & Event.call_uuid.not_in(ended)))
    closed = []
    for ev in open_calls:
        last = (Event.select(Event.ts).where(Event.call_uuid == ev.call_uuid)
                .order_by(Event.id.desc()).first())
        kind = "leg.ended" if ev.kind == "leg.offered" else "call.ended"
        Event.create(ts=max(last.ts, 0.0) if last else now, kind=kind, call_uuid=ev.call_uuid,
                     line=ev.line, data=json.dumps({"cause": "interrupted", "detected_at": now}))
        write_cdr(ev.call_uuid)
        closed.append(ev.call_uuid)
    missing = write_missing(since)
    if missing:
        import logging
        logging.getLogger("hotline.cdr").warning("event=cdrs_written_at_start calls=%d", missing)
    mark_checked()
    return closed


def write_missing(since: int = 0) -> int:
    """Calls and legs that ended (events after id ``since``) without a CDR get one: a CDR write that failed or a
    crash between the end event and its CDR never leaves a call without its record. The number written."""
    ended = (Event.select(Event.call_uuid).distinct()
             .where(Event.kind.in_(END_KINDS) & (Event.id > since) & Event.call_uuid.is_null(False)
                    & Event.call_uuid.not_in(Cdr.select(Cdr.call_uuid))))
    return sum(1 for ev in list(ended) if write_cdr(ev.call_uuid) is not None)


def mark_checked() -> None:
    """Every call in the journal so far is known to be closed: the next start looks only at newer events."""
    from ..store.models import Setting
    top = Event.select(peewee.fn.MAX(Event.id)).scalar() or 0
    Setting.delete().where(Setting.name == "journal.checked_upto").execute()
    Setting.create(name="journal.checked_upto", value=str(top))
