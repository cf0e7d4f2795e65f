"""ACD API: queues with waiting callers and agents; agent login, logout and state."""
from __future__ import annotations

import tornado.web

from hotline.daemon.acd.agents import AgentError

from .base import BaseHandler

VIEW = ("supervisor", "agent", "qa")


class AcdHandler(BaseHandler):
    """Base: the ACD service and its errors as JSON 4xx."""

    roles = VIEW

    @property
    def acd(self):
        """The ACD component."""
        return self.services["acd"]


class QueuesHandler(AcdHandler):
    """GET /api/v1/queues: every queue with waiting count, longest wait and agents by state."""

    def get(self) -> None:
        """The list."""
        out = []
        for q in self.acd.queues.values():
            s = self.acd.queue_summary(q)
            states: dict[str, int] = {}
            for a in s["agents"]:
                states[a["state"]] = states.get(a["state"], 0) + 1
            out.append({"name": q.name, "title": s["title"], "strategy": s["strategy"],
                        "waiting": len(s["waiting"]),
                        "longest_wait_s": max((w["waited_s"] for w in s["waiting"]), default=0.0),
                        "agents": states, "answered": s["answered"], "abandoned": s["abandoned"]})
        self.write_json({"queues": out})


class QueueHandler(AcdHandler):
    """GET /api/v1/queues/{name}: callers waiting (positions, waits) and agents with states."""

    def get(self, name: str) -> None:
        """One queue."""
        q = self.acd.queues.get(name)
        if q is None:
            raise tornado.web.HTTPError(404, reason=f"no queue {name!r}")
        self.write_json(self.acd.queue_summary(q))


class AgentsHandler(AcdHandler):
    """GET /api/v1/agents."""

    def get(self) -> None:
        """Every agent with state, reason, time in state."""
        now = self.services["engine"].now()
        self.write_json({"agents": [a.summary(now) for a in self.acd.agents.agents.values()],
                         "reason_codes": self.acd.agents.reasons})


class AgentActionHandler(AcdHandler):
    """POST /api/v1/agents/{id}/login|logout|state."""

    roles = ("supervisor", "agent", "qa")

    async def post(self, key: str, action: str) -> None:
        """Carry out the action (audited); an agent may act only on the agent linked to their user
        (agents.user_name, else the agent of the same name)."""
        from .desk import desk_of
        body = self.json_body()
        user = self.current_user
        try:
            agent = self.acd.agents.get(key)
            if user.role == "agent" and await desk_of(self.services).agent_for(user.name) is not agent:
                raise tornado.web.HTTPError(403, reason="agents may change only their own state")
            before = {"state": agent.state.value, "reason": agent.reason, "station": agent.station}
            result = self.acd.agent_action(key, action, station=body.get("station"), state=body.get("state"),
                                           reason=body.get("reason"), by=user.name)
        except AgentError as exc:
            return self.write_json({"error": str(exc), "status": 409 if "cannot" in str(exc) else 400},
                                   409 if "cannot" in str(exc) else 400)
        await self.audit(f"agent.{action}", agent.name, before,
                         {"state": agent.state.value, "reason": agent.reason, "station": agent.station})
        self.write_json(result)


class AbandonedHandler(AcdHandler):
    """GET /api/v1/abandoned?hours=24: the abandoned-call worklist."""

    roles = ("supervisor", "agent", "qa")

    async def get(self) -> None:
        """Abandoned calls (not the short ones), newest first, with their callback status."""
        try:
            hours = float(self.get_argument("hours", "24"))
        except ValueError:
            raise tornado.web.HTTPError(400, reason="hours must be a number") from None
        if not 0 < hours <= 24 * 31:
            raise tornado.web.HTTPError(400, reason="hours must be from 0 to 744")
        since = self.services["engine"].now() - hours * 3600
        self.write_json({"abandoned": await self.acd.abandoned(since)})


class AbandonedCallbackHandler(AcdHandler):
    """POST /api/v1/abandoned/{uuid}/callback: one-step callback keeping the caller's place."""

    roles = ("supervisor", "agent", "qa")

    async def post(self, uuid: str) -> None:
        """Queue the callback."""
        try:
            result = await self.acd.callback_abandoned(uuid, self.current_user.name)
        except AgentError as exc:
            return self.write_json({"error": str(exc), "status": 404}, 404)
        await self.audit("abandoned.callback", uuid, None, result)
        self.write_json(result, 201)


ROUTES = [
    (r"/api/v1/abandoned", AbandonedHandler),
    (r"/api/v1/abandoned/([0-9a-f-]{36})/callback", AbandonedCallbackHandler),
    (r"/api/v1/queues", QueuesHandler),
    (r"/api/v1/queues/([a-z][a-z0-9_]{0,47})", QueueHandler),
    (r"/api/v1/agents", AgentsHandler),
    (r"/api/v1/agents/([A-Za-z0-9_]{1,64})/(login|logout|state)", AgentActionHandler),
]
