"""The supervisor wallboard: queues, agents, lines and calls in progress, pushed live over the hub.

One snapshot (``snapshot(services)``) feeds the page, the hub topic "wallboard" and GET /api/v1/wallboard. It is
built from memory only (ACD runtime, call manager, devices, today's figures from ``daemon/stats/wall.py``), so it
runs on the event loop without touching the database. A journal listener marks the topic dirty on queue, agent,
call, leg, line and supervision events; the hub pushes a fresh snapshot at most every 250 ms. Actions on the
page go through the existing API routes (calls.py: listen, whisper, barge, hang up, transfer; acd.py: agent
state and log-out)."""
from __future__ import annotations

import asyncio
from typing import Any

import tornado.escape
import tornado.web

from hotline.daemon.stats import wall as wallstats

from ..i18n import N_
from .base import BaseHandler, PageHandler

ROLES = ("supervisor",)
TOPIC = "wallboard"
EVENT_PREFIXES = ("queue.", "agent.", "call.", "line.", "leg.", "supervise.", "conference.", "callback.")
VIEWS = ("normal", "large")


def _title(settings: dict) -> dict:
    """The queue's display names by language ({} when it has none)."""
    title = settings.get("title") or {}
    return {k: v for k, v in title.items() if isinstance(v, str) and v}


def snapshot(services: dict[str, Any]) -> dict:
    """Queues, agents, lines and calls in progress right now, with today's figures (memory only)."""
    engine = services.get("engine")
    now = engine.now() if engine is not None else 0.0
    acd, calls, devices = services.get("acd"), services.get("calls"), services.get("devices")
    sup, stats = services.get("supervisor"), services.get("wallstats")
    live_calls = calls.calls if calls is not None else {}

    entries: dict[str, tuple[Any, Any]] = {}   # call uuid -> (queue, entry) for callers waiting in a queue
    queues = []
    for q in (acd.queues.values() if acd is not None else []):
        waiting = [e for e in q.waiting if e.kind == "call"]
        for e in waiting:
            if e.call_uuid:
                entries[e.call_uuid] = (q, e)
        logged = acd.logged_in(q)
        today = (stats.queue(q.name) if stats is not None else wallstats.QueueDay()).summary()
        queues.append({
            "name": q.name, "title": _title(q.settings),
            "waiting": len(waiting),
            "longest_wait_s": round(max((now - e.joined_at for e in waiting), default=0.0), 1),
            "callbacks_waiting": sum(1 for e in q.waiting if e.kind == "callback"),
            "agents_logged_in": len(logged),
            "agents_ready": sum(1 for a in logged if a.state.value == "ready"),
            "members": len(q.members),
            "service_level_seconds": q.settings.get("service_level_seconds"),
            "short_abandon_seconds": q.settings.get("short_abandon_seconds"),
            "today": today,
        })
    queues.sort(key=lambda q: q["name"])

    agents, by_station = [], {}
    member_of: dict[int, list[str]] = {}
    for q in (acd.queues.values() if acd is not None else []):
        for m in q.members:
            member_of.setdefault(m["agent_id"], []).append(q.name)
    for a in (acd.agents.agents.values() if acd is not None else []):
        row = {"id": a.id, "name": a.name, "display_name": a.display_name, "station": a.station,
               "state": a.state.value, "reason": a.reason, "in_state_s": round(now - a.since, 1),
               "calls_today": stats.agent(a.id) if stats is not None and stats.seeded else a.calls_today,
               "queues": sorted(member_of.get(a.id, [])), "call": None}
        call = live_calls.get(a.call_uuid) if a.call_uuid else None
        if call is not None:
            start = call.bridged_at if a.state.value == "on_call" and call.bridged_at else call.offered_at
            row["call"] = {"uuid": call.uuid, "caller": call.caller_id, "caller_name": call.caller_name,
                           "duration_s": round(now - start, 1)}
        if a.station:
            by_station[a.station] = a
        agents.append(row)
    agents.sort(key=lambda a: (a["state"] == "logged_out", a["name"]))

    active = []
    for c in list(live_calls.values()):
        queue, entry = entries.get(c.uuid, (None, None))
        state = c.state.value
        if state == "ended":
            state = "ending"
        elif entry is not None:
            state = "offered" if entry.busy else "waiting"
        elif state == "bridged":
            state = "held" if c.vars.get("held") else "talking"
        elif state == "answered":
            state = "ivr"
        peer = c.peer.line.extension if c.peer is not None and c.peer.line.extension else None
        agent = by_station.get(peer) if peer else None
        qname = queue.name if queue is not None else (stats.call_queue.get(c.uuid) if stats is not None else None)
        session = sup.sessions.get(c.uuid) if sup is not None else None
        active.append({
            "uuid": c.uuid, "direction": c.direction, "caller": c.caller_id, "caller_name": c.caller_name,
            "dialed": c.dialed, "state": state, "queue": qname or None,
            "agent": agent.name if agent is not None else None,
            "agent_display": agent.display_name if agent is not None else None, "station": peer,
            "duration_s": round(now - c.offered_at, 1),
            "waited_s": round(now - entry.joined_at, 1) if entry is not None else None,
            "supervised": {"mode": session.mode, "by": session.by, "station": session.leg.line.extension,
                           "kind": session.kind} if session is not None else None,
        })
    active.sort(key=lambda c: -c["duration_s"])

    lines = []
    if devices is not None:
        for ln in devices.line_states():
            lines.append({**ln, "state": "down" if not ln["up"] else "busy" if ln["busy"] else "idle"})
        lines.sort(key=lambda ln: (ln["kind"] != "trunk", ln["line"]))

    return {"now": now, "day": str(stats.day) if stats is not None else None, "queues": queues, "agents": agents,
            "calls": active, "lines": lines,
            "reason_codes": list(acd.agents.reasons) if acd is not None else []}


async def seeded(services: dict[str, Any]) -> None:
    """Wait for today's figures to be read from the journal (only right after the daemon started)."""
    task = services.get("_wallstats_seed")
    if task is not None and not task.done():
        await asyncio.shield(task)


def refuse_unknown_parameters(handler: tornado.web.RequestHandler, allowed: tuple[str, ...]) -> None:
    """Allow-listed query parameters: anything else is a 400 naming it."""
    unknown = sorted(set(handler.request.query_arguments) - set(allowed))
    if unknown:
        raise tornado.web.HTTPError(400, reason=f"unknown parameter {unknown[0]!r}")


class WallboardPage(PageHandler):
    """GET /wallboard[?view=large]: the live wallboard (large: for a wall screen, no navigation)."""

    roles = ROLES
    title = N_("Wallboard")

    async def get(self) -> None:
        """The page with the current snapshot; the script keeps it live."""
        refuse_unknown_parameters(self, ("view",))
        view = self.get_query_argument("view", "normal")
        if view not in VIEWS:
            raise tornado.web.HTTPError(400, reason="view: use normal or large")
        await seeded(self.services)
        self.render("wallboard.html", view=view, initial=tornado.escape.json_encode(snapshot(self.services)))


class WallboardApi(BaseHandler):
    """GET /api/v1/wallboard: the wallboard's snapshot as JSON."""

    roles = ROLES

    async def get(self) -> None:
        """Queues, agents, lines and calls right now."""
        refuse_unknown_parameters(self, ())
        await seeded(self.services)
        self.write_json(snapshot(self.services))


def setup_hub(hub: Any, services: dict[str, Any]) -> None:
    """Topic "wallboard" (supervisors); today's figures counted from the journal; pushes on relevant events."""
    hub.topic(TOPIC, ROLES, lambda: snapshot(services))

    def on_event(event: dict) -> None:
        if str(event.get("kind", "")).startswith(EVENT_PREFIXES):
            hub.mark_dirty(TOPIC)
    hub.journal_listeners.append(on_event)

    journal, store = services.get("journal"), services.get("store")
    if journal is None or store is None or "wallstats" in services:
        return  # route listings and tests build the application without a daemon
    config = services.get("config")
    tz = config["locale"]["timezone"] if config is not None else "UTC"
    engine = services.get("engine")
    stats = wallstats.WallStats(tz, clock=engine.now if engine is not None else None)
    services["wallstats"] = stats
    journal.listeners.append(stats.listener)   # counts from now on, even while no browser is connected
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        stats.seed([])   # no event loop (an application built outside the daemon): count from now on
        return
    task = loop.create_task(wallstats.start(stats, journal, store, tz))
    task.add_done_callback(lambda _: hub.mark_dirty(TOPIC))   # open wallboards get the day's figures
    services["_wallstats_seed"] = task


PAGE_ROUTES = [
    (r"/wallboard", WallboardPage),
]
ROUTES = [
    (r"/api/v1/wallboard", WallboardApi),
]
