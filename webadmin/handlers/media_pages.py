"""Recordings: pages and JSON API to search, play (byte ranges plus waveform peaks), download and delete
(role-checked, audited; deleted the way retention deletes them); the file helpers and the base handler that
voicemail and faxes (media_messages.py) share."""
from __future__ import annotations

import asyncio
import json
import os
import re
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np
import peewee
import tornado.iostream
import tornado.web

from hotline.daemon.box import audit
from hotline.daemon.store.models import AgentRow, Cdr, Event, QueueRow, Recording
from hotline.daemon.store.service_models import Ticket

from ..i18n import N_
from .inputs import id_param
from .base import BaseHandler, PageHandler
from .pages import _parse_day

VIEWERS = ("supervisor", "agent")          # recordings and voicemail: agents see only their own
MANAGERS = ("supervisor",)                 # delete (admin may do everything anyway)
PER_PAGE = (10, 25, 50, 100)
NAME = r"[a-z][a-z0-9_]{0,47}"
PEAK_BINS = 800


# ---- files: only what lives under its directory -----------------------------------------------------------

def inside(base: Path, stored: str | os.PathLike | None) -> Path | None:
    """The stored file's real path when it is a regular file under ``base`` once every symlink and ``..`` is
    resolved; None for anything else (outside, missing, NUL bytes, not a file)."""
    if not stored or "\x00" in str(stored):
        return None
    try:
        root = Path(base).resolve(strict=True)
        real = Path(stored).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        return None
    if real == root or not real.is_relative_to(root) or not real.is_file():
        return None
    return real


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a single ``Range: bytes=...`` request; None for the whole file. Raises
    ValueError when the range cannot be satisfied."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        return None                         # several ranges or garbage: send everything (allowed by RFC 9110)
    if not m.group(1):                      # the last N bytes
        n = int(m.group(2))
        if n == 0:
            raise ValueError("empty suffix range")
        return max(0, size - n), size
    start = int(m.group(1))
    end = min(size, int(m.group(2)) + 1) if m.group(2) else size
    if start >= size or end <= start:
        raise ValueError("range outside the file")
    return start, end


async def send_file(handler: tornado.web.RequestHandler, path: Path, content_type: str, filename: str) -> None:
    """Send a file with byte-range support (the audio element seeks with ranges), read off the event loop."""
    size = path.stat().st_size
    handler.set_header("Accept-Ranges", "bytes")
    handler.set_header("Content-Type", content_type)
    handler.set_header("Content-Disposition", f'attachment; filename="{filename}"')
    try:
        rng = byte_range(handler.request.headers.get("Range"), size)
    except ValueError:
        handler.set_status(416)
        handler.set_header("Content-Range", f"bytes */{size}")
        handler.finish()
        return
    start, end = rng if rng is not None else (0, size)
    if rng is not None:
        handler.set_status(206)
        handler.set_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
    handler.set_header("Content-Length", str(end - start))
    if handler.request.method == "HEAD":
        handler.finish()
        return
    loop = asyncio.get_running_loop()
    with open(path, "rb") as f:
        f.seek(start)
        remaining = end - start
        try:
            while remaining > 0:
                chunk = await loop.run_in_executor(None, f.read, min(256 * 1024, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                handler.write(chunk)
                await handler.flush()
        except tornado.iostream.StreamClosedError:
            return                          # the browser moved on (seeking cancels its running request)
    handler.finish()


def wav_peaks(path: Path, bins: int = PEAK_BINS) -> dict:
    """Waveform peaks (0..1000 of full scale, all channels) of a 16-bit PCM WAV without loading it whole."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos, channels, rate, width, offset, length = 12, 1, 8000, 2, None, 0
    while pos + 8 <= len(head):
        cid, size = head[pos:pos + 4], struct.unpack("<I", head[pos + 4:pos + 8])[0]
        if cid == b"fmt ":
            fmt, channels, rate = struct.unpack("<HHI", head[pos + 8:pos + 16])
            width = struct.unpack("<H", head[pos + 22:pos + 24])[0] // 8
            if fmt not in (1, 0xFFFE) or width != 2:
                raise ValueError("only 16-bit PCM is drawn")
        elif cid == b"data":
            offset, length = pos + 8, size
            break
        pos += 8 + size + (size & 1)
    if offset is None:
        raise ValueError("no data chunk")
    available = path.stat().st_size - offset
    if length in (0, 0xFFFFFFFF) or length > available:
        length = available
    frames = length // (2 * channels)
    out = [0] * bins
    if frames:
        data = np.memmap(path, dtype="<i2", mode="r", offset=offset, shape=(frames * channels,))
        edges = np.linspace(0, frames, bins + 1).astype(np.int64)
        for i in range(bins):
            a, b = edges[i] * channels, edges[i + 1] * channels
            if b > a:
                out[i] = int(np.abs(data[a:b].astype(np.int32)).max() * 1000 // 32768)
        del data
    return {"duration": round(frames / rate, 3) if rate else 0, "channels": channels, "rate": rate, "peaks": out}


# ---- query parameters: allow-listed ------------------------------------------------------------------------

class Params:
    """The query string of a list: only known parameters, each checked; errors name the parameter."""

    def __init__(self, handler: tornado.web.RequestHandler, allowed: set[str]):
        unknown = sorted(set(handler.request.query_arguments) - allowed)
        if unknown:
            raise tornado.web.HTTPError(400, reason=f"unknown parameter {unknown[0]!r}")
        self.handler = handler

    def text(self, name: str, pattern: str, hint: str, limit: int = 64) -> str | None:
        """A value matching a pattern (empty: None)."""
        value = (self.handler.get_query_argument(name, "") or "").strip()
        if not value:
            return None
        if len(value) > limit or not re.fullmatch(pattern, value):
            raise tornado.web.HTTPError(400, reason=f"{name}: {hint}")
        return value

    def choice(self, name: str, choices: Any, default: str | None = None) -> str | None:
        """One of a fixed list."""
        value = self.handler.get_query_argument(name, "") or default
        if value is not None and value not in choices:
            raise tornado.web.HTTPError(400, reason=f"{name}: use one of {', '.join(sorted(choices))}")
        return value

    def day(self, name: str) -> float | None:
        """A YYYY-MM-DD date as the timestamp of its start (in the box's zone)."""
        return _parse_day(self.handler.get_query_argument(name, None), name, getattr(self.handler, "tz", "UTC"))

    def paging(self) -> tuple[int, int]:
        """(page, per_page)."""
        try:
            page = int(self.handler.get_query_argument("page", "1"))
        except ValueError:
            raise tornado.web.HTTPError(400, reason="page: use a number") from None
        if not 1 <= page <= 100000:
            raise tornado.web.HTTPError(400, reason="page: use a number from 1")
        per = self.handler.get_query_argument("per_page", "25")
        if per not in {str(n) for n in PER_PAGE}:
            raise tornado.web.HTTPError(400, reason=f"per_page: use one of {', '.join(map(str, PER_PAGE))}")
        return page, int(per)


def event_has(kind: str, key: str, value: Any) -> peewee.Expression:
    """Calls whose journal has an event of ``kind`` whose data has key = value (matched on the stored JSON,
    written by the journal with json.dumps' default separators)."""
    token = json.dumps({key: value}, ensure_ascii=False)[1:-1]
    return Event.select(Event.call_uuid).where(
        (Event.kind == kind) & (Event.data.contains(token + ",") | Event.data.contains(token + "}")))


def agents_of_user(user_name: str) -> list[AgentRow]:
    """The ACD agents a panel user is (linked by user name; an agent named like the user counts too)."""
    return list(AgentRow.select().where((AgentRow.user_name == user_name) | (AgentRow.name == user_name)))


def took_calls(agents: list[AgentRow]) -> peewee.Expression | None:
    """Calls these agents took: the CDR's peer is their station, or the journal says the ACD gave them the call."""
    cond = None
    for a in agents:
        c = Recording.call_uuid.in_(event_has("queue.answered", "agent", a.id))
        if a.extension:
            c = c | (Cdr.peer == a.extension)
        cond = c if cond is None else cond | c
    return cond


def fmt_duration(seconds: float | None) -> str:
    """m:ss (or h:mm:ss)."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


# ---- recordings ----------------------------------------------------------------------------------------------

REC_SORTS = {
    "-started_at": (Recording.started_at.desc(), Recording.id.desc()),
    "started_at": (Recording.started_at.asc(), Recording.id.asc()),
    "-duration": (Recording.duration.desc(nulls="LAST"), Recording.id.desc()),
    "duration": (Recording.duration.asc(nulls="LAST"), Recording.id.asc()),
    "-caller": (Cdr.caller_id.desc(nulls="LAST"), Recording.id.desc()),
    "caller": (Cdr.caller_id.asc(nulls="LAST"), Recording.id.asc()),
}
REC_STATES = ("open", "closed", "repaired", "failed", "deleted")
REC_PARAMS = {"since", "until", "caller", "agent", "queue", "ticket", "state", "sort", "page", "per_page"}


def recording_filters(handler: tornado.web.RequestHandler) -> dict:
    """Checked search parameters of the recordings list (page and API)."""
    p = Params(handler, REC_PARAMS)
    page, per = p.paging()
    return {"since": p.day("since"), "until": p.day("until"),
            "caller": p.text("caller", r"\+?[0-9*#]{1,32}", "digits only (part of the caller's number)"),
            "agent": p.text("agent", NAME, "an agent's login name"),
            "queue": p.text("queue", NAME, "a queue name"),
            "ticket": p.text("ticket", r"[A-Za-z0-9-]{1,32}", "a ticket number such as T20260101-0001"),
            "state": p.choice("state", REC_STATES), "sort": p.choice("sort", REC_SORTS, "-started_at"),
            "page": page, "per_page": per}


def search_recordings(f: dict, viewer: tuple[str, str]) -> dict:
    """The recordings a viewer may see that match the filters, newest first by default (DB thread)."""
    user_name, role = viewer
    q = (Recording.select(Recording.id, Recording.call_uuid, Recording.path, Recording.started_at,
                          Recording.ended_at, Recording.duration, Recording.bytes, Recording.channels,
                          Recording.state, Cdr.caller_id, Cdr.caller_name, Cdr.dialed, Cdr.peer)
         .join(Cdr, peewee.JOIN.LEFT_OUTER, on=(Cdr.call_uuid == Recording.call_uuid)))
    if role == "agent":
        mine = took_calls(agents_of_user(user_name))
        if mine is None:
            return {"total": 0, "recordings": []}
        q = q.where(mine)
    if f["agent"]:
        agent = AgentRow.get_or_none(AgentRow.name == f["agent"])
        if agent is None:
            raise LookupError(f"agent: no agent {f['agent']!r}")
        q = q.where(took_calls([agent]))
    if f["queue"]:
        q = q.where(Recording.call_uuid.in_(event_has("queue.joined", "queue", f["queue"])))
    if f["ticket"]:
        q = q.where(Recording.call_uuid.in_(Ticket.select(Ticket.call_uuid).where(Ticket.ticket_no == f["ticket"])))
    if f["caller"]:
        q = q.where(Cdr.caller_id.contains(f["caller"]))
    if f["since"] is not None:
        q = q.where(Recording.started_at >= f["since"])
    if f["until"] is not None:
        q = q.where(Recording.started_at < f["until"] + 86400)
    q = q.where(Recording.state == f["state"]) if f["state"] else q.where(Recording.state != "deleted")
    total = q.count()
    rows = list(q.order_by(*REC_SORTS[f["sort"]]).limit(f["per_page"])
                .offset((f["page"] - 1) * f["per_page"]).dicts())
    return {"total": total, "recordings": describe_calls(rows)}


def describe_calls(rows: list[dict]) -> list[dict]:
    """Add queue, agent and tickets of each row's call (from the journal and the tickets)."""
    uuids = list({r["call_uuid"] for r in rows})
    queues: dict[str, str] = {}
    agent_ids: dict[str, int] = {}
    tickets: dict[str, list[str]] = {}
    if uuids:
        for e in Event.select(Event.call_uuid, Event.kind, Event.data).where(
                Event.call_uuid.in_(uuids) & Event.kind.in_(("queue.joined", "queue.answered"))).order_by(Event.id):
            data = json.loads(e.data)
            if data.get("queue"):
                queues[e.call_uuid] = data["queue"]
            if e.kind == "queue.answered" and data.get("agent") is not None:
                agent_ids[e.call_uuid] = data["agent"]
        for t in Ticket.select(Ticket.call_uuid, Ticket.ticket_no).where(Ticket.call_uuid.in_(uuids)):
            tickets.setdefault(t.call_uuid, []).append(t.ticket_no)
    by_id, by_ext = {}, {}
    for a in AgentRow.select(AgentRow.id, AgentRow.name, AgentRow.display_name, AgentRow.extension):
        by_id[a.id] = a
        if a.extension:
            by_ext.setdefault(a.extension, a)
    out = []
    for r in rows:
        agent = by_id.get(agent_ids.get(r["call_uuid"])) or by_ext.get(r.get("peer") or "")
        out.append({"id": r["id"], "call_uuid": r["call_uuid"], "started_at": r["started_at"],
                    "ended_at": r["ended_at"], "duration": r["duration"], "bytes": r["bytes"],
                    "channels": r["channels"], "state": r["state"], "caller_id": r.get("caller_id"),
                    "caller_name": r.get("caller_name"), "dialed": r.get("dialed"), "peer": r.get("peer"),
                    "agent": agent.name if agent else None,
                    "agent_display": (agent.display_name or agent.name) if agent else None,
                    "queue": queues.get(r["call_uuid"]), "tickets": tickets.get(r["call_uuid"], []),
                    "audio_url": f"/api/v1/recordings/{r['id']}/audio",
                    "peaks_url": f"/api/v1/recordings/{r['id']}/peaks"})
    return out


def visible_recording(rec_id: int, viewer: tuple[str, str]) -> dict | None:
    """One recording if the viewer may see it (agents: calls they took), else None (DB thread)."""
    q = (Recording.select(Recording.id, Recording.call_uuid, Recording.path, Recording.state,
                          Recording.started_at, Recording.duration)
         .join(Cdr, peewee.JOIN.LEFT_OUTER, on=(Cdr.call_uuid == Recording.call_uuid))
         .where(Recording.id == rec_id))
    if viewer[1] == "agent":
        mine = took_calls(agents_of_user(viewer[0]))
        if mine is None:
            return None
        q = q.where(mine)
    return q.dicts().first()


def filter_choices() -> dict:
    """Agents and queues for the filter menus (DB thread)."""
    return {"agents": [(a.name, a.display_name or a.name) for a in AgentRow.select().order_by(AgentRow.name)],
            "queues": [q.name for q in QueueRow.select(QueueRow.name).order_by(QueueRow.name)]}


def retention_rules(services: dict) -> dict:
    """What the box does with recordings: policy, retention period, disk guard (from the configuration)."""
    cfg = services["config"]
    eng = cfg["engine"]
    routes = [{"dialed": r["dialed"], "flow": r.get("flow"), "recording": r.get("recording")}
              for r in cfg["routes"] if r.get("recording")]
    return {"record_calls": bool(eng.get("record_calls")), "stereo": bool(eng.get("record_stereo")),
            "retention_days": int(eng.get("recording_retention_days") or 0),
            "min_free_mb": eng.get("recording_min_free_mb") or 0, "routes": routes}


def queue_policies() -> list[tuple[str, str]]:
    """Each queue's recording policy (DB thread)."""
    out = []
    for q in QueueRow.select(QueueRow.name, QueueRow.settings).order_by(QueueRow.name):
        try:
            out.append((q.name, json.loads(q.settings).get("recording", "always")))
        except ValueError:
            continue
    return out


class MediaHandler(BaseHandler):
    """Shared by the media API handlers: who is asking, and where the files are."""

    @property
    def viewer(self) -> tuple[str, str]:
        """(user name, role) for scoping."""
        return self.current_user.name, self.current_user.role

    def recordings_dir(self) -> Path:
        """Where the box writes recordings."""
        return self.services["config"].path_for("recordings")

    def spool_dir(self, sub: str) -> Path:
        """A folder of the spool (voicemail, fax)."""
        return self.services["config"].path_for("spool") / sub

    async def read(self, fn: Callable, *args: Any) -> Any:
        """A query in a reader thread; LookupError becomes 400 naming the field."""
        try:
            return await self.services["store"].read(fn, *args)
        except LookupError as exc:
            raise tornado.web.HTTPError(400, reason=str(exc.args[0])) from None


class RecordingsApi(MediaHandler):
    """GET /api/v1/recordings: search recordings (agents: only calls they took)."""

    roles = VIEWERS

    async def get(self) -> None:
        """Filtered, sorted, paginated."""
        f = recording_filters(self)
        result = await self.read(search_recordings, f, self.viewer)
        self.write_json({**result, "page": f["page"], "per_page": f["per_page"]})


class RecordingAudioApi(MediaHandler):
    """GET /api/v1/recordings/{id}/audio: the WAV (byte ranges), only from the recordings directory."""

    roles = VIEWERS

    async def get(self, rec_id: str) -> None:
        """404 for anything the viewer may not see, deleted, open or outside the directory."""
        row = await self.read(visible_recording, id_param(rec_id), self.viewer)
        path = inside(self.recordings_dir(), row["path"]) if row and row["state"] != "deleted" else None
        if path is None or row["state"] == "open":
            raise tornado.web.HTTPError(404, reason="no such recording")
        await send_file(self, path, "audio/wav", f"{row['call_uuid']}.wav")


class RecordingPeaksApi(MediaHandler):
    """GET /api/v1/recordings/{id}/peaks: waveform peaks for the player."""

    roles = VIEWERS

    async def get(self, rec_id: str) -> None:
        """Peaks computed from the file in a worker thread."""
        row = await self.read(visible_recording, id_param(rec_id), self.viewer)
        path = inside(self.recordings_dir(), row["path"]) if row and row["state"] not in ("deleted", "open") \
            else None
        if path is None:
            raise tornado.web.HTTPError(404, reason="no such recording")
        await write_peaks(self, path)


async def write_peaks(handler: BaseHandler, path: Path) -> None:
    """Answer with a file's waveform peaks (422 when it is not a WAV the player can draw)."""
    try:
        peaks = await asyncio.get_running_loop().run_in_executor(None, wav_peaks, path, PEAK_BINS)
    except (ValueError, OSError) as exc:
        raise tornado.web.HTTPError(422, reason=f"cannot draw this file: {exc}") from None
    handler.write_json(peaks)


class RecordingApi(MediaHandler):
    """DELETE /api/v1/recordings/{id}: remove the file and mark the row deleted (as retention does), audited."""

    roles = MANAGERS

    async def delete(self, rec_id: str) -> None:
        """Delete one recording."""
        row = await self.read(visible_recording, id_param(rec_id), self.viewer)
        if row is None or row["state"] == "deleted":
            raise tornado.web.HTTPError(404, reason="no such recording")
        if row["state"] == "open":
            raise tornado.web.HTTPError(409, reason="the call is still being recorded")
        path = inside(self.recordings_dir(), row["path"])
        if path is None and Path(row["path"]).exists():
            raise tornado.web.HTTPError(409, reason="the file is outside the recordings directory; not touched")
        before = {"state": row["state"], "path": row["path"], "file": path is not None}
        after = {"state": "deleted", "path": row["path"], "file": False}
        ok = await self.services["calls"].delete_recording(
            row["call_uuid"], row["path"], "deleted", self.actor, file=path if path is not None else None,
            then=lambda: audit.record(self.actor, self.address, "recording.delete", row["call_uuid"], before, after))
        if not ok:
            raise tornado.web.HTTPError(500, reason="the recording file could not be removed")
        self.write_json({"id": row["id"], "call_uuid": row["call_uuid"], "state": "deleted"})


class RecordingsPage(PageHandler):
    """Search and play recordings; supervisors and admins may delete."""

    roles = VIEWERS
    title = N_("Recordings")

    async def get(self) -> None:
        """The list with filters, the player and the retention rules."""
        user = self.current_user
        q = {k: self.get_query_argument(k, "") for k in REC_PARAMS if k not in ("page",)}
        error, result, f = None, {"total": 0, "recordings": []}, None
        try:
            f = recording_filters(self)
            result = await self.services["store"].read(search_recordings, f, (user.name, user.role))
        except tornado.web.HTTPError as exc:
            error = exc.reason
        except LookupError as exc:
            error = str(exc.args[0])
        if error:
            self.set_status(400)
        choices = await self.services["store"].read(filter_choices)
        policies = await self.services["store"].read(queue_policies)
        page = f["page"] if f else 1
        per = f["per_page"] if f else 25
        self.render("recordings.html", result=result, q=q, page=page, per_page=per, error=error,
                    choices=choices, rules=retention_rules(self.services), policies=policies,
                    can_delete=user.role in ("admin", "supervisor"), fmt_duration=fmt_duration,
                    fmt_time=lambda ts: self.local_time(ts, "second"),
                    sort=(f or {}).get("sort") or "-started_at", query=query_string)


def query_string(q: dict, **changes: Any) -> str:
    """The page's query with some parameters changed (empty ones left out)."""
    from urllib.parse import urlencode
    merged = {**q, **{k: v for k, v in changes.items()}}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


# Values shown through _(value): recording and fax states.
STATES = [N_("open"), N_("closed"), N_("repaired"), N_("deleted"), N_("queued"), N_("sending"), N_("sent"),
          N_("failed"), N_("cancelled"), N_("always"), N_("on_demand"), N_("never")]

PAGE_ROUTES = [
    (r"/recordings", RecordingsPage),
]
ROUTES = [
    (r"/api/v1/recordings", RecordingsApi),
    (r"/api/v1/recordings/([0-9]{1,12})", RecordingApi),
    (r"/api/v1/recordings/([0-9]{1,12})/audio", RecordingAudioApi),
    (r"/api/v1/recordings/([0-9]{1,12})/peaks", RecordingPeaksApi),
]
