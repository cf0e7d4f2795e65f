"""Calls API: calls in progress and any call's journal events."""
from __future__ import annotations

from hotline.daemon.journal import events_for

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


ROUTES = [
    (r"/api/v1/calls", CallsHandler),
    (r"/api/v1/calls/([0-9a-f-]{36})/events", CallEventsHandler),
]
