"""Calls API: calls in progress and any call's journal events."""
from __future__ import annotations

import tornado.web

from hotline.daemon.calls.journal import events_for

from .desk import transfer_target
from .base import BaseHandler


class CallsHandler(BaseHandler):
    """GET /api/v1/calls: calls in progress."""

    roles = ("supervisor", "qa")

    def get(self) -> None:
        """Every call in progress."""
        self.write_json({"calls": [c.summary() for c in self.services["calls"].calls.values()]})


class CallEventsHandler(BaseHandler):
    """GET /api/v1/calls/{uuid}/events: the journal of any call."""

    roles = ("supervisor", "qa")

    async def get(self, uuid: str) -> None:
        """The call's events in order (404 when the journal has none)."""
        await self.services["journal"].flush()
        events = await self.services["store"].read(events_for, uuid)
        if not events:
            return self.write_json({"error": f"no events for call {uuid}", "status": 404}, 404)
        self.write_json({"uuid": uuid, "events": events})


async def own_call_only(handler: BaseHandler, uuid: str) -> None:
    """Agents may act only on calls connected to the station they are logged in at (supervisors on any); the
    agent is the one linked to the user (agents.user_name, else the agent of the same name)."""
    user = handler.current_user
    call = handler.services["calls"].calls.get(uuid)
    if user.role == "agent" and call is not None and call.peer is not None:
        from .desk import desk_of
        at_station = handler.services["acd"].agents.at_station(call.peer.line.extension)
        if at_station is None or at_station is not await desk_of(handler.services).agent_for(user.name):
            raise tornado.web.HTTPError(403, reason="agents may act only on their own calls")



class AgentTransferHandler(BaseHandler):
    """POST /api/v1/calls/{uuid}/blind_transfer: the agent sends the caller to a station, number or queue."""

    roles = ("agent", "supervisor")

    async def post(self, uuid: str) -> None:
        """Blind transfer; the agent is released at once."""
        from hotline.daemon.calls.supervise import SuperviseError
        await own_call_only(self, uuid)
        target = transfer_target(self.json_body())
        if target is None:
            return self.write_json({"error": "give extension, number or queue", "status": 400}, 400)
        try:
            self.write_json(self.services["supervisor"].force_transfer(uuid, target, self.current_user.name,
                                                                       forced=False))
        except SuperviseError as exc:
            self.write_json({"error": str(exc), "status": exc.status}, exc.status)


class HoldHandler(BaseHandler):
    """POST /api/v1/calls/{uuid}/hold|resume|consult|complete — hold with music, consult a colleague
    ({"extension": ...}) while the caller holds, complete the attended transfer."""

    roles = ("agent", "supervisor")

    async def post(self, uuid: str, action: str) -> None:
        """Hold or resume."""
        from hotline.daemon.calls.supervise import SuperviseError, hold_request
        await own_call_only(self, uuid)
        ext = self.json_body().get("extension") if action == "consult" else None
        if action == "consult" and (not isinstance(ext, str) or not ext):
            return self.write_json({"error": "extension: the colleague's station is required", "status": 400}, 400)
        try:
            self.write_json(hold_request(self.services["calls"], uuid, action, self.current_user.name, ext))
        except SuperviseError as exc:
            self.write_json({"error": str(exc), "status": exc.status}, exc.status)


class RecordingHandler(BaseHandler):
    """POST /api/v1/calls/{uuid}/recording {"action": "start"|"stop"|"pause"|"resume"} — audited."""

    roles = ("agent", "supervisor")

    async def post(self, uuid: str) -> None:
        """Change the call's recording."""
        await own_call_only(self, uuid)
        call = self.services["calls"].calls.get(uuid)
        if call is None:
            return self.write_json({"error": f"no call {uuid} in progress", "status": 404}, 404)
        try:
            result = await self.services["calls"].recording_action(call, str(self.json_body().get("action")),
                                                                   self.current_user.name)
        except ValueError as exc:
            return self.write_json({"error": str(exc), "status": 409}, 409)
        self.write_json(result)


class ConferenceHandler(BaseHandler):
    """POST /api/v1/calls/{uuid}/conference {"extension": "1003"}: a three-way call with another station."""

    roles = ("agent", "supervisor")

    async def post(self, uuid: str) -> None:
        """Ring the station; when it answers all three hear each other."""
        from hotline.daemon.calls.supervise import SuperviseError
        await own_call_only(self, uuid)
        ext = self.json_body().get("extension")
        if not isinstance(ext, str) or not ext:
            return self.write_json({"error": "extension: the station to bring in is required", "status": 400}, 400)
        try:
            result = await self.services["supervisor"].attach(uuid, "barge", ext, self.current_user.name,
                                                              kind="conference")
        except SuperviseError as exc:
            return self.write_json({"error": str(exc), "status": exc.status}, exc.status)
        self.write_json(result)


class CallActionHandler(BaseHandler):
    """POST /api/v1/calls/{uuid}/listen|whisper|barge|hangup|transfer — supervision, journaled with who did it."""

    roles = ("supervisor",)

    async def post(self, uuid: str, action: str) -> None:
        """Carry out the action; audited (before -> after) when it succeeds."""
        from hotline.daemon.calls.supervise import SuperviseError
        body = self.json_body()
        sup = self.services["supervisor"]
        who = self.current_user.name
        call = self.services["calls"].calls.get(uuid)
        before = self._state(call)
        field = "station"
        try:
            if action in ("listen", "whisper", "barge"):
                station = body.get("station")
                if not isinstance(station, str) or not station:
                    return self.write_json({"error": "station: the supervisor's extension is required",
                                            "status": 400}, 400)
                result = await sup.attach(uuid, action, station, who)
                after = {**before, "supervision": action, "supervisor_station": result.get("station")}
            elif action == "hangup":
                result = await sup.force_hangup(uuid, who)
                after = {**before, "state": "ended"}
            else:
                target = transfer_target(body)
                if target is None:
                    return self.write_json({"error": "target: give extension, number or queue", "status": 400},
                                           400)
                field = next(k for k in ("extension", "number", "queue") if isinstance(body.get(k), str)
                             and body.get(k))
                result = sup.force_transfer(uuid, target, who)
                after = {**before, "transferred_to": target}
        except SuperviseError as exc:
            message = str(exc)
            if exc.status == 400 and not message.startswith(f"{field}:") and "mode" not in message:
                message = f"{field}: {message}"
            return self.write_json({"error": message, "status": exc.status}, exc.status)
        await self.audit(f"call.{action}", uuid, before, after)
        self.write_json(result)

    def _state(self, call) -> dict:
        """What the audit log keeps about the call before the action."""
        if call is None:
            return {}
        session = self.services["supervisor"].sessions.get(call.uuid)
        return {"caller": call.caller_id, "state": call.state.value,
                "agent_station": call.peer.line.extension if call.peer is not None else None,
                "supervision": session.mode if session is not None else None}


ROUTES = [
    (r"/api/v1/calls/([0-9a-f-]{36})/(hold|resume|consult|complete)", HoldHandler),
    (r"/api/v1/calls/([0-9a-f-]{36})/conference", ConferenceHandler),
    (r"/api/v1/calls/([0-9a-f-]{36})/blind_transfer", AgentTransferHandler),
    (r"/api/v1/calls/([0-9a-f-]{36})/recording", RecordingHandler),
    (r"/api/v1/calls/([0-9a-f-]{36})/(listen|whisper|barge|hangup|transfer)", CallActionHandler),
    (r"/api/v1/calls", CallsHandler),
    (r"/api/v1/calls/([0-9a-f-]{36})/events", CallEventsHandler),
]
