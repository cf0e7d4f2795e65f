"""The agent desktop: log in at a station, ready / not ready / wrap-up, the screen pop over the WebSocket,
click-to-call, callbacks and the abandoned-call worklist, messages between agents and supervisors.

A panel user is linked to an ACD agent by ``agents.user_name`` (``user:`` in the queues YAML); an agent without
one belongs to the user of the same name (unless another agent names that user explicitly)."""
from __future__ import annotations

import asyncio
import logging
import re
import time
from types import SimpleNamespace
from typing import Any

import tornado.web

from hotline.daemon.acd.agents import AgentError, AgentState
from hotline.daemon.store.models import AgentRow, Cdr, User
from hotline.daemon.store.service_models import (AgentMessage, CustomerPhone, FaxJob, Ticket, TicketPriority,
                                                 TicketStatus, TicketType)

from ..i18n import N_
from .inputs import id_param
from .base import BaseHandler, PageHandler

log = logging.getLogger("hotline.web.desk")
DESK_ROLES = ("agent", "supervisor")
MESSAGE_ROLES = ("agent", "supervisor")
STAFF_ROLES = ("admin", "supervisor", "agent")
LINK_TTL = 2.0          # seconds the agent <-> user links are cached
MAX_TEXT = 1000
NUMBER = re.compile(r"[0-9]{3,20}")
CLOSED = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)

# The IVR trail steps an agent cares about, and the fields of each shown on the pop.
TRAIL_STEPS = {"menu.key", "menu.invalid", "menu.timeout", "menu.back", "collect", "collect.invalid",
               "collect.failed", "lookup", "lookup.error", "identify", "verify_pin", "language", "queue",
               "ticket", "fax", "callback", "transfer", "voicemail", "blacklist"}
TRAIL_FIELDS = ("key", "target", "var", "value", "table", "by", "found", "language", "queue", "type", "ticket_no",
                "document", "number", "ok", "result", "mailbox")
# Words in menu targets, variables and lookup tables that say what a call is about (first match from the end
# of the trail wins); an exact ticket type name wins at once.
TYPE_HINTS = (("repair", "repair"), ("warrant", "repair"), ("serial", "repair"), ("fault", "repair"),
              ("bill", "billing"), ("pay", "billing"), ("meter", "meter"), ("leak", "leak"),
              ("pressure", "low_pressure"), ("quality", "water_quality"), ("no_water", "no_water"),
              ("complain", "complaint"), ("order", "enquiry"), ("product", "enquiry"), ("dealer", "enquiry"),
              ("faq", "enquiry"), ("printer", "repair"), ("sales", "enquiry"))


class DeskError(Exception):
    """A desk request cannot be carried out; ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


# ---- database work (runs in the store's threads) -----------------------------------------------------------

def agent_links() -> list[dict]:
    """Every agent with the panel user it belongs to (explicit user_name first, else the same name)."""
    rows = list(AgentRow.select(AgentRow.id, AgentRow.name, AgentRow.user_name).order_by(AgentRow.id))
    explicit = {r.user_name for r in rows if r.user_name}
    return [{"id": r.id, "name": r.name,
             "user": r.user_name or (r.name if r.name not in explicit else None)} for r in rows]


def staff_users() -> list[dict]:
    """Users who can read messages: admins, supervisors and agents that are not disabled."""
    return [{"name": u.name, "role": u.role}
            for u in User.select().where(User.role.in_(STAFF_ROLES), User.disabled == False)  # noqa: E712
            .order_by(User.role.desc(), User.name)]


def ticket_brief(t: Ticket) -> dict:
    """A ticket as the pop and the message list show it."""
    return {"id": t.id, "ticket_no": t.ticket_no, "type": t.type, "status": t.status, "priority": t.priority,
            "summary": t.summary, "created_at": t.created_at, "due_at": t.due_at, "owner": t.owner}


def ivr_trail(events: list[dict]) -> list[dict]:
    """What the caller did in the menus: keys, digits entered, lookups (secret entries stay ***)."""
    out = []
    for e in events:
        if e["kind"] != "ivr.step" or e["data"].get("step") not in TRAIL_STEPS:
            continue
        d = e["data"]
        out.append({"step": d["step"], "ts": e["ts"], "flow": d.get("flow"), "block": d.get("block"),
                    **{k: d[k] for k in TRAIL_FIELDS if k in d and d[k] is not None}})
    return out


def guess_type(trail: list[dict], queue: str | None) -> str:
    """The ticket type the caller's menu choices point to (else the queue's, else an enquiry)."""
    types = {t.value for t in TicketType}
    for item in reversed(trail):
        if item["step"] == "ticket" and item.get("type") in types:
            return item["type"]
        words = [item.get("target"), item.get("var"), item.get("table"), item.get("block")] \
            if item["step"] in ("menu.key", "collect", "lookup") else []
        for word in (w for w in words if isinstance(w, str)):
            if word in types:
                return word
            for hint, kind in TYPE_HINTS:
                if hint in word:
                    return kind
    for hint, kind in TYPE_HINTS:
        if queue and hint in queue:
            return kind
    return TicketType.ENQUIRY.value


def pop_data(trail_uuid: str | None, caller: str, exclude: str | None) -> dict:
    """The customer behind a caller number with recent calls, tickets and faxes, and the call's IVR trail."""
    from hotline.daemon.calls.journal import events_for
    from hotline.daemon.service.lookups import customer_by_caller_id, normalize_number
    trail = ivr_trail(events_for(trail_uuid)) if trail_uuid else []
    customer = customer_by_caller_id(caller) if caller else None
    numbers = {n for n in (caller, normalize_number(caller) if caller else None) if n}
    if customer is not None:
        numbers |= {p.number for p in CustomerPhone.select(CustomerPhone.number)
                    .where(CustomerPhone.customer == customer["customer_id"])}
    calls, tickets, faxes, open_tickets = [], [], [], []
    if numbers:
        q = Cdr.select().where(Cdr.caller_id.in_(sorted(numbers)), Cdr.parent_uuid.is_null())
        if exclude:
            q = q.where(Cdr.call_uuid != exclude)
        calls = [{"call": c.call_uuid, "at": c.offered_at, "direction": c.direction, "dialed": c.dialed,
                  "disposition": c.disposition, "talk_s": round(c.talk_seconds or 0, 1), "peer": c.peer}
                 for c in q.order_by(Cdr.offered_at.desc()).limit(5)]
        who = Ticket.caller_number.in_(sorted(numbers))
        if customer is not None:
            who = who | (Ticket.customer == customer["customer_id"])
        tickets = [ticket_brief(t) for t in Ticket.select().where(who)
                   .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(5)]
        open_tickets = [ticket_brief(t) for t in Ticket.select().where(who, Ticket.status.not_in(CLOSED))
                        .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(10)]
        fq = FaxJob.number.in_(sorted(numbers)) | FaxJob.caller_id.in_(sorted(numbers))
        if customer is not None:    # faxes received from any of the customer's numbers (daemon/fax/delivery.py)
            fq = fq | (FaxJob.customer_id == customer["customer_id"])
        if calls:
            fq = fq | FaxJob.call_uuid.in_([c["call"] for c in calls])
        faxes = [{"id": f.id, "direction": f.direction, "document": f.document, "number": f.number,
                  "status": f.status, "at": f.created_at}
                 for f in FaxJob.select().where(fq).order_by(FaxJob.created_at.desc()).limit(5)]
    digits = [{"var": t["var"], "value": t["value"]} for t in trail
              if t["step"] == "collect" and t.get("value") and t.get("value") != "***"]
    return {"customer": customer, "history": {"calls": calls, "tickets": tickets, "faxes": faxes},
            "open_tickets": open_tickets, "trail": trail, "digits": digits}


def message_dict(m: AgentMessage) -> dict:
    """A message or memo as the API and the browser see it."""
    ticket = Ticket.get_or_none(Ticket.id == m.ticket_id) if m.ticket_id else None
    return {"id": m.id, "ts": m.ts, "from": m.sender, "to": m.recipient, "kind": m.kind, "text": m.text,
            "ticket": ticket_brief(ticket) if ticket else None, "acked_at": m.acked_at, "acked_by": m.acked_by}


def inbox(user: str) -> dict:
    """Unacknowledged messages and memos to a user (oldest first), and the last 50 sent or received."""
    unread = AgentMessage.select().where(AgentMessage.recipient == user, AgentMessage.acked_at.is_null()) \
        .order_by(AgentMessage.ts, AgentMessage.id)
    recent = AgentMessage.select().where((AgentMessage.recipient == user) | (AgentMessage.sender == user)) \
        .order_by(AgentMessage.ts.desc(), AgentMessage.id.desc()).limit(50)
    return {"unread": [message_dict(m) for m in unread], "messages": [message_dict(m) for m in recent]}


def send_message(sender: str, to: str, text: str, address: str) -> dict:
    """Store a message to a staff user, audited in the same transaction; DeskError(400) for a bad recipient."""
    from hotline.daemon.box import audit
    target = User.get_or_none(User.name == to)
    if target is None or target.disabled or target.role not in STAFF_ROLES:
        raise DeskError(f"to: no agent, supervisor or admin named {to!r}", 400)
    m = AgentMessage.create(ts=time.time(), sender=sender, recipient=to, kind="message", text=text)
    audit.record(sender, address, "message.sent", to, None, {"id": m.id, "to": to, "text": text})
    return message_dict(m)


def ack_message(user: str, message_id: int, address: str) -> dict:
    """Acknowledge a message; an escalation memo is acknowledged for every supervisor it went to."""
    from hotline.daemon.box import audit
    m = AgentMessage.get_or_none(AgentMessage.id == message_id)
    if m is None or m.recipient != user:
        raise DeskError(f"no message {message_id} to you", 404)
    if m.acked_at is None:
        now = time.time()
        q = AgentMessage.update(acked_at=now, acked_by=user).where(AgentMessage.acked_at.is_null())
        if m.kind == "escalation" and m.ticket_id:
            q = q.where(AgentMessage.kind == "escalation", AgentMessage.ticket == m.ticket_id,
                        AgentMessage.ts == m.ts, AgentMessage.sender == m.sender)
        else:
            q = q.where(AgentMessage.id == m.id)
        q.execute()
        audit.record(user, address, "message.acknowledged", str(m.id), {"acked": False},
                     {"acked": True, "kind": m.kind, "from": m.sender})
        m = AgentMessage.get_by_id(m.id)
    return message_dict(m)


# ---- the desk service (one per daemon) -----------------------------------------------------------------

class Desk:
    """Links users to agents, pushes each agent's state and screen pops to their panels."""

    def __init__(self, services: dict[str, Any]):
        self.services = services
        self.pops: dict[str, dict] = {}          # user -> their latest screen pop
        self._links: list[dict] = []
        self._links_at = -1e9
        self._dirty: set[int] = set()
        self._flushing = False

    # links ------------------------------------------------------------------------------------------
    async def links(self, fresh: bool = False) -> list[dict]:
        """Agent ids with their users (cached for a moment)."""
        if fresh or time.monotonic() - self._links_at > LINK_TTL:
            self._links = await self.services["store"].read(agent_links)
            self._links_at = time.monotonic()
        return self._links

    async def agent_for(self, user: str) -> Any:
        """The live ACD agent of a panel user, or None."""
        acd = self.services.get("acd")
        for row in await self.links():
            if row["user"] == user and acd is not None:
                return acd.agents.agents.get(row["id"])
        return None

    def user_of(self, agent_id: int) -> str | None:
        """The user of an agent by the cached links (None when unknown)."""
        return next((r["user"] for r in self._links if r["id"] == agent_id), None)

    # state ------------------------------------------------------------------------------------------
    def state(self, agent: Any) -> dict:
        """What the desk shows: the agent's state, time in state, wrap-up left, queues, current call."""
        acd, calls = self.services["acd"], self.services["calls"]
        now = self.services["engine"].now()
        s = agent.summary(now)
        s["extension"] = agent.extension
        s["wrapup_left_s"] = round(max(0.0, agent.wrapup_until - now), 1) \
            if agent.state is AgentState.WRAP_UP and agent.wrapup_until else None
        s["queues"] = [{"name": q.name, "title": q.settings.get("title", {}), "waiting": len(q.waiting)}
                       for q in acd.queues.values() if agent.id in q.member_ids()]
        call = calls.calls.get(agent.call_uuid) if agent.call_uuid else None
        s["current_call"] = None if call is None else {
            "uuid": call.uuid, "caller_id": call.caller_id, "direction": call.direction, "state": call.state.value,
            "held": bool(call.vars.get("held")), "answered_at": call.answered_at, "bridged_at": call.bridged_at,
            "talk_s": round(now - call.bridged_at, 1) if call.bridged_at else None}
        return s

    def callbacks(self, agent: Any) -> list[dict]:
        """Callbacks waiting (keeping the caller's place) in the agent's queues; the ACD rings the agent first."""
        acd = self.services["acd"]
        now = self.services["engine"].now()
        out = []
        for q in acd.queues.values():
            if agent.id not in q.member_ids():
                continue
            for e in q.waiting:
                if e.kind == "callback":
                    out.append({"queue": q.name, "number": e.number, "position": q.position(e),
                                "waited_s": round(now - e.joined_at, 1), "attempts": e.attempts,
                                "next_try_s": round(max(0.0, e.not_before - now), 1), "dialing": e.busy,
                                "closed": q.closed, "call": e.call_uuid})
        return sorted(out, key=lambda c: (c["queue"], c["position"]))

    def mark(self, agent_id: int) -> None:
        """The agent's state or call changed: push it to their panels soon (coalesced)."""
        self._dirty.add(agent_id)
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(self._push_states()))

    async def _push_states(self) -> None:
        try:
            await self.links()
        finally:
            self._flushing = False
        dirty, self._dirty = self._dirty, set()
        acd, hub = self.services["acd"], self.services["hub"]
        for agent_id in dirty:
            agent, user = acd.agents.agents.get(agent_id), self.user_of(agent_id)
            if agent is not None and user:
                hub.send_to_user(user, {"type": "agent", "agent": self.state(agent)})

    # journal ----------------------------------------------------------------------------------------
    def on_journal(self, event: dict) -> None:
        """Hub listener (only while panels are connected): screen pops and state pushes."""
        kind, data = event["kind"], event["data"]
        acd = self.services.get("acd")
        if acd is None:
            return
        if kind == "agent.offered":
            asyncio.ensure_future(self._offer(event, list(data.get("agents") or [])))
        elif kind == "call.offered" and data.get("direction") == "callback" and data.get("agent"):
            asyncio.ensure_future(self._offer(event, [data["agent"]]))
        if kind.startswith("agent.") and isinstance(data.get("agent"), int):
            self.mark(data["agent"])
        elif kind.startswith(("call.", "conference.", "leg.", "queue.answered")) and event.get("call_uuid"):
            uuid = event["call_uuid"] if not kind.startswith("leg.") else data.get("parent")
            for agent in acd.agents.agents.values():
                if agent.call_uuid and agent.call_uuid in (uuid, event["call_uuid"]):
                    self.mark(agent.id)

    async def _offer(self, event: dict, agent_ids: list[int]) -> None:
        try:
            await self.links()
            users = [u for u in (self.user_of(i) for i in agent_ids) if u]
            if not users:
                return
            data = event["data"]
            callback = event["kind"] == "call.offered"
            pop = await self.build_pop(event["call_uuid"], data.get("queue"), data.get("waited"),
                                       kind="callback" if callback else "call",
                                       number=data.get("caller_id") if callback else None,
                                       trail_uuid=data.get("parent") if callback else None)
            for user in users:
                self.pops[user] = pop
                self.services["hub"].send_to_user(user, {"type": "pop", "pop": pop})
        except Exception:
            log.exception("event=screen_pop_failed call=%s", event.get("call_uuid"))

    async def build_pop(self, uuid: str, queue: str | None, waited: float | None, kind: str = "call",
                        number: str | None = None, trail_uuid: str | None = None) -> dict:
        """The screen pop of one call (the journal is flushed first so the IVR trail is complete)."""
        await self.services["journal"].flush()
        call = self.services["calls"].calls.get(uuid)
        caller = number or (call.caller_id if call else "") or ""
        info = await self.services["store"].read(pop_data, trail_uuid or uuid, caller, uuid)
        acd = self.services["acd"]
        q = acd.queues.get(queue) if queue else None
        pop = {"kind": kind, "call": uuid, "parent": trail_uuid, "caller": caller, "caller_name": call.caller_name if call else "",
               "dialed": call.dialed if call else "", "queue": queue,
               "queue_title": q.settings.get("title", {}) if q else {}, "waited_s": waited,
               "offered_at": time.time(), **info}
        vip = bool(info["customer"] and info["customer"].get("vip"))
        pop["guess"] = {"type": guess_type(info["trail"], queue),
                        "priority": TicketPriority.HIGH.value if vip else TicketPriority.NORMAL.value}
        return pop

    # click-to-call ----------------------------------------------------------------------------------
    async def dial(self, agent: Any, number: str, by: str) -> dict:
        """Ring the agent's station; when they answer, dial the number through a trunk and bridge
        (the callback path of the call manager, journaled as an outbound call)."""
        acd, calls, devices = self.services["acd"], self.services["calls"], self.services["devices"]
        if not agent.station:
            raise DeskError("log in at a station first")
        if agent.state not in (AgentState.READY, AgentState.NOT_READY, AgentState.WRAP_UP):
            raise DeskError(f"you are {agent.state.value}: finish the call first")
        line = devices.free_station(agent.station, calls.owner)   # the line originate() rings
        if line is None:
            raise DeskError(f"station {agent.station} is busy or down")
        before, reason = agent.state, agent.reason
        acd.agents.set_state(agent, AgentState.OUTBOUND, by=by, force=True)
        entry = SimpleNamespace(number=number, call_uuid=None, queue=None)
        task = asyncio.ensure_future(self._dial(agent, entry, before, reason, by))
        await asyncio.sleep(0)  # the call manager registers the call before it first waits
        leg = calls.owner.get(line.name)
        if task.done() and leg is None:
            task.result()
        return {"call": leg.call.uuid if leg is not None else None, "number": number, "station": agent.station}

    async def _dial(self, agent: Any, entry: Any, before: AgentState, reason: str | None, by: str) -> None:
        acd, journal = self.services["acd"], self.services["journal"]
        outcome = "failed"
        try:
            from hotline.daemon.calls.originate import originate
            result, _ = await originate(self.services["calls"], agent, entry, acd, direction="outbound")
            outcome = result.value
        except Exception:
            log.exception("event=click_to_call_failed agent=%s", agent.name)
        finally:
            if agent.state is AgentState.OUTBOUND or (before is AgentState.NOT_READY
                                                      and agent.state in (AgentState.READY, AgentState.WRAP_UP)):
                acd.agents.set_state(agent, before if before is not AgentState.WRAP_UP else AgentState.READY,
                                     reason if before is AgentState.NOT_READY else None, by="desk", force=True)
            journal.emit("desk.dialed", None, ts=self.services["engine"].now(), agent=agent.id,
                         number=entry.number, outcome=outcome, by=by)


def transfer_target(body: dict) -> str | None:
    """{"extension": "1002"} | {"number": "138..."} | {"queue": "printers"} as one target string."""
    for key, prefix in (("extension", ""), ("number", "number:"), ("queue", "queue:")):
        value = body.get(key)
        if isinstance(value, str) and value:
            return prefix + value
    return None


def desk_of(services: dict[str, Any]) -> Desk:
    """The daemon's one Desk."""
    if "_desk" not in services:
        services["_desk"] = Desk(services)
    return services["_desk"]


def setup_hub(hub: Any, services: dict[str, Any]) -> None:
    """Screen pops and agent states reach the agent's panels (per-user messages, no topic to subscribe)."""
    hub.journal_listeners.append(desk_of(services).on_journal)


# ---- handlers ------------------------------------------------------------------------------------------

class DeskHandler(BaseHandler):
    """Base: the desk service and the caller's own agent."""

    roles = DESK_ROLES

    @property
    def desk(self) -> Desk:
        """The desk service."""
        return desk_of(self.services)

    async def my_agent(self) -> Any:
        """The agent linked to the logged-in user (409 when there is none)."""
        agent = await self.desk.agent_for(self.current_user.name)
        if agent is None:
            raise tornado.web.HTTPError(409, reason=f"user {self.current_user.name} is not linked to an agent "
                                                    "(set user: in the queues file)")
        return agent

    def fail(self, exc: Exception, status: int) -> None:
        """Answer with an error message."""
        self.write_json({"error": str(exc), "status": status}, status)


def reason_labels() -> dict[str, str]:
    """Reason codes the desk knows how to name (others are shown as they are)."""
    return {"lunch": N_("Lunch"), "break": N_("Break"), "training": N_("Training"), "meeting": N_("Meeting"),
            "missed_calls": N_("Missed calls")}


class DeskPage(PageHandler):
    """/desk: the agent's working screen."""

    roles = DESK_ROLES
    title = N_("Agent desk")

    async def get(self) -> None:
        """The desk; the script fills it from /api/v1/desk and keeps it live."""
        desk = desk_of(self.services)
        agent = await desk.agent_for(self.current_user.name)
        users = await self.services["store"].read(staff_users)
        acd = self.services.get("acd")
        devices = self.services.get("devices")
        stations = sorted(l.extension for l in devices.lines.values() if l.extension) if devices else []
        reasons = [r for r in (acd.agents.reasons if acd else []) if r != "missed_calls"]
        labels = {k: self.locale.translate(v) for k, v in reason_labels().items()}
        from .ticket_terms import PRIORITIES, STATUSES, TYPES
        library = self.services.get("fax_library")
        documents = sorted(await asyncio.get_running_loop().run_in_executor(None, library.names)) if library else []
        self.render("desk.html", agent=agent, stations=stations, reasons=reasons, reason_labels=labels,
                    recipients=[u for u in users if u["name"] != self.current_user.name],
                    TYPE_LABELS=TYPES, STATUS_LABELS=STATUSES, PRIORITY_LABELS=PRIORITIES, fax_documents=documents)


class DeskApi(DeskHandler):
    """GET /api/v1/desk: my agent's state, reason codes, my queues' callbacks, and my latest screen pop."""

    async def get(self) -> None:
        """The desk's state."""
        agent = await self.desk.agent_for(self.current_user.name)
        acd = self.services["acd"]
        if agent is None:
            return self.write_json({"agent": None, "reasons": acd.agents.reasons, "callbacks": [], "pop": None})
        pop = self.desk.pops.get(self.current_user.name)
        if agent.call_uuid and (pop is None or pop["call"] != agent.call_uuid) \
                and agent.state in (AgentState.RESERVED, AgentState.ON_CALL):
            entry = next((e for q in acd.queues.values() for e in q.waiting if e.call_uuid == agent.call_uuid), None)
            call = self.services["calls"].calls.get(agent.call_uuid)
            if call is not None and call.direction != "outbound":
                queue = entry.queue if entry else None
                pop = await self.desk.build_pop(agent.call_uuid, queue, None)
                self.desk.pops[self.current_user.name] = pop
        self.write_json({"agent": self.desk.state(agent), "reasons": acd.agents.reasons,
                         "callbacks": self.desk.callbacks(agent), "pop": pop})


class DeskActionApi(DeskHandler):
    """POST /api/v1/desk/login|logout|state|wrapup: the agent changes their own state (audited)."""

    async def post(self, action: str) -> None:
        """Log in at a station, log out, ready / not ready with a reason, end or extend wrap-up."""
        body = self.json_body()
        agent = await self.my_agent()
        acd = self.services["acd"]
        by = self.current_user.name
        before = {"state": agent.state.value, "reason": agent.reason, "station": agent.station}
        try:
            if action == "login":
                station = body.get("station")
                if not isinstance(station, str) or not re.fullmatch(r"[0-9A-Za-z*#]{1,16}", station):
                    return self.fail(ValueError("station: enter your station's extension"), 400)
                if self.services["devices"].station(station) is None:
                    return self.fail(ValueError(f"station: no station {station!r}"), 400)
                acd.agent_action(str(agent.id), "login", station=station, by=by)
            elif action == "logout":
                acd.agent_action(str(agent.id), "logout", by=by)
            elif action == "state":
                state, reason = body.get("state"), body.get("reason")
                if state not in ("ready", "not_ready"):
                    return self.fail(ValueError("state: must be ready or not_ready"), 400)
                if state == "not_ready" and reason is not None and reason not in acd.agents.reasons:
                    return self.fail(ValueError(f"reason: unknown reason {reason!r} "
                                                f"(known: {', '.join(acd.agents.reasons)})"), 400)
                if state == "not_ready" and reason is None:
                    return self.fail(ValueError("reason: choose a reason for not ready"), 400)
                if agent.state is AgentState.LOGGED_OUT:
                    return self.fail(ValueError("log in at a station first"), 409)
                acd.agent_action(str(agent.id), "state", state=state, reason=reason, by=by)
            else:
                self.wrapup(agent, body, by)
        except AgentError as exc:
            status = 409 if "cannot" in str(exc) or "finish" in str(exc) or "in use" in str(exc) else 400
            return self.fail(exc, status)
        except DeskError as exc:
            return self.fail(exc, exc.status)
        after = {"state": agent.state.value, "reason": agent.reason, "station": agent.station}
        if action == "wrapup":
            after["wrapup_left_s"] = self.desk.state(agent)["wrapup_left_s"]
        await self.audit(f"desk.{action}", agent.name, before, after)
        self.desk.mark(agent.id)
        self.write_json(self.desk.state(agent))

    def wrapup(self, agent: Any, body: dict, by: str) -> None:
        """End wrap-up now (ready) or give it more time."""
        what = body.get("action")
        if what not in ("end", "extend"):
            raise DeskError("action: must be end or extend", 400)
        if agent.state is not AgentState.WRAP_UP:
            raise DeskError(f"you are {agent.state.value}, not in wrap-up")
        if what == "end":
            self.services["acd"].agents.set_state(agent, AgentState.READY, by=by)
            return
        seconds = body.get("seconds", 30)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 5 <= seconds <= 600:
            raise DeskError("seconds: a number from 5 to 600", 400)
        now = self.services["engine"].now()
        agent.wrapup_until = max(now, agent.wrapup_until or now) + float(seconds)
        self.services["journal"].emit("agent.wrapup_extended", None, ts=now, agent=agent.id, name=agent.name,
                                      seconds=float(seconds), by=by)


class DeskDialApi(DeskHandler):
    """POST /api/v1/desk/dial {"number"}: click-to-call — my station rings, then the box dials out."""

    async def post(self) -> None:
        """Start the call (201); the desk shows it live."""
        body = self.json_body()
        raw = body.get("number")
        number = re.sub(r"[\s\-()]", "", raw) if isinstance(raw, str) else ""
        if number.startswith("+86"):
            number = "0" + number[3:] if not number[3:].startswith("1") else number[3:]
        if not NUMBER.fullmatch(number):
            return self.fail(ValueError("number: 3 to 20 digits"), 400)
        agent = await self.my_agent()
        try:
            result = await self.desk.dial(agent, number, self.current_user.name)
        except DeskError as exc:
            return self.fail(exc, exc.status)
        await self.audit("desk.dial", agent.name, None, {"number": number, "station": agent.station,
                                                          "call": result["call"]})
        self.write_json(result, 201)


class DeskCallApi(DeskHandler):
    """POST /api/v1/desk/call/hold|resume|consult|complete|transfer|conference: the agent handles their current
    call (the same requests as /api/v1/calls/{uuid}/..., on the call of the agent linked to this user)."""

    async def post(self, action: str) -> None:
        """Hold, resume, consult a colleague, complete the attended transfer, blind transfer, conference."""
        from hotline.daemon.calls.supervise import SuperviseError, hold_request

        body = self.json_body()
        agent = await self.my_agent()
        call = self.services["calls"].calls.get(agent.call_uuid) if agent.call_uuid else None
        if call is None or agent.state is not AgentState.ON_CALL:
            return self.fail(DeskError("you have no call in progress"), 409)
        by = self.current_user.name
        extension = body.get("extension")
        try:
            if action in ("consult", "conference"):
                if not isinstance(extension, str) or not re.fullmatch(r"[0-9A-Za-z*#]{1,16}", extension):
                    return self.fail(DeskError("extension: the colleague's station is required", 400), 400)
            if action in ("hold", "resume", "consult", "complete"):
                result = hold_request(self.services["calls"], call.uuid, action, by,
                                      extension if action == "consult" else None)
            elif action == "transfer":
                target = transfer_target(body)
                if target is None:
                    return self.fail(DeskError("give extension, number or queue", 400), 400)
                result = self.services["supervisor"].force_transfer(call.uuid, target, by, forced=False)
            else:
                result = await self.services["supervisor"].attach(call.uuid, "barge", extension, by,
                                                                  kind="conference")
        except SuperviseError as exc:
            return self.fail(exc, exc.status)
        await self.audit(f"desk.call.{action}", agent.name, None,
                         {"call": call.uuid, **{k: v for k, v in body.items() if k in ("extension", "number", "queue")}})
        self.desk.mark(agent.id)
        self.write_json(result)


class MessagesApi(BaseHandler):
    """GET /api/v1/messages (my unacknowledged and recent messages), POST {"to", "text"} (send, live)."""

    roles = MESSAGE_ROLES

    async def get(self) -> None:
        """My inbox (no query parameters)."""
        if self.request.query_arguments:
            raise tornado.web.HTTPError(400, reason=f"unknown parameter {sorted(self.request.query_arguments)[0]!r}")
        self.write_json(await self.services["store"].read(inbox, self.current_user.name))

    async def post(self) -> None:
        """Send a message; it is stored and pushed to every open panel of the recipient."""
        body = self.json_body()
        unknown = set(body) - {"to", "text"}
        if unknown:
            return self.write_json({"error": f"unknown field {sorted(unknown)[0]!r}", "status": 400}, 400)
        to, text = body.get("to"), body.get("text")
        if not isinstance(to, str) or not to.strip():
            return self.write_json({"error": "to: choose who gets the message", "status": 400}, 400)
        if not isinstance(text, str) or not text.strip():
            return self.write_json({"error": "text: write a message", "status": 400}, 400)
        if len(text) > MAX_TEXT:
            return self.write_json({"error": f"text: at most {MAX_TEXT} characters", "status": 400}, 400)
        if to.strip() == self.current_user.name:
            return self.write_json({"error": "to: choose someone else", "status": 400}, 400)
        try:
            msg = await self.services["store"].write(send_message, self.current_user.name, to.strip(), text.strip(),
                                                     self.address)
        except DeskError as exc:
            return self.write_json({"error": str(exc), "status": exc.status}, exc.status)
        delivered = self.services["hub"].send_to_user(msg["to"], {"type": "message", "message": msg})
        self.write_json({**msg, "delivered": delivered}, 201)


class MessageAckApi(BaseHandler):
    """POST /api/v1/messages/{id}/ack: I have read it (an escalation memo: for every supervisor)."""

    roles = MESSAGE_ROLES

    async def post(self, message_id: str) -> None:
        """Acknowledge."""
        try:
            msg = await self.services["store"].write(ack_message, self.current_user.name, id_param(message_id),
                                                     self.address)
        except DeskError as exc:
            return self.write_json({"error": str(exc), "status": exc.status}, exc.status)
        self.write_json(msg)


PAGE_ROUTES = [
    (r"/desk", DeskPage),
]
ROUTES = [
    (r"/api/v1/desk", DeskApi),
    (r"/api/v1/desk/(login|logout|state|wrapup)", DeskActionApi),
    (r"/api/v1/desk/dial", DeskDialApi),
    (r"/api/v1/desk/call/(hold|resume|consult|complete|transfer|conference)", DeskCallApi),
    (r"/api/v1/messages", MessagesApi),
    (r"/api/v1/messages/([0-9]{1,12})/ack", MessageAckApi),
]
