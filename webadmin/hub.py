"""One WebSocket hub for live updates: the wallboard, the agent's screen pop, line states.

Browsers connect to /ws with their session cookie (same origin only) and subscribe to topics their role may
see. Producers call ``hub.publish(topic, message)`` or ``hub.send_to_user(name, message)``; a topic may have a
snapshot function so a new subscriber gets the current picture at once. Journal events reach producers
through ``hub.on_journal`` listeners; nothing is done while nobody is connected.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Callable
from urllib.parse import urlparse

import tornado.websocket

from .handlers.base import ALL_ROLES, AuthMixin

log = logging.getLogger("hotline.web.hub")


class Hub:
    """Topics with role lists, subscribers, and throttled snapshot pushes."""

    def __init__(self, services: dict[str, Any]):
        self.services = services
        self.clients: set["HubSocket"] = set()
        self.topics: dict[str, tuple[tuple[str, ...], Callable[[], Any] | None]] = {}
        self.journal_listeners: list[Callable[[dict], None]] = []
        self._dirty: set[str] = set()
        self._flush_scheduled = False
        journal = services.get("journal")
        if journal is not None:
            journal.listeners.append(self._journal_event)

    def topic(self, name: str, roles: tuple[str, ...], snapshot: Callable[[], Any] | None = None) -> None:
        """Declare a topic: who may subscribe, and how to build its current state (optional)."""
        self.topics[name] = (roles, snapshot)

    def allowed(self, topic: str, role: str) -> bool:
        """Whether a role may subscribe to a topic (per-user topics "user:<name>" are implicit)."""
        base = topic.split(":", 1)[0]
        roles = self.topics.get(topic, self.topics.get(base, ((), None)))[0]
        return role == "admin" or role in roles

    def publish(self, topic: str, message: dict) -> None:
        """Send a message to every subscriber of a topic."""
        if not self.clients:
            return
        text = json.dumps({"topic": topic, **message}, ensure_ascii=False, default=str)
        for c in list(self.clients):
            if topic in c.subscriptions:
                c.send(text)

    def send_to_user(self, name: str, message: dict) -> int:
        """Send a message to every open panel of one user (screen pop, supervisor memo); how many got it."""
        text = json.dumps({"topic": f"user:{name}", **message}, ensure_ascii=False, default=str)
        sent = 0
        for c in list(self.clients):
            if c.current_user is not None and c.current_user.name == name:
                c.send(text)
                sent += 1
        return sent

    def mark_dirty(self, topic: str) -> None:
        """The topic's snapshot changed: push a fresh one soon (at most every 250 ms)."""
        if not any(topic in c.subscriptions for c in self.clients):
            return
        self._dirty.add(topic)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(0.25, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, set()
        for topic in dirty:
            self.push_snapshot(topic)

    def push_snapshot(self, topic: str, only: "HubSocket | None" = None) -> None:
        """Build the topic's snapshot and send it (to one new subscriber, or to all)."""
        snapshot = self.topics.get(topic, ((), None))[1]
        if snapshot is None:
            return
        try:
            data = snapshot()
        except Exception:
            log.exception("event=snapshot_failed topic=%s", topic)
            return
        text = json.dumps({"topic": topic, "type": "snapshot", "data": data}, ensure_ascii=False, default=str)
        for c in ([only] if only is not None else list(self.clients)):
            if topic in c.subscriptions:
                c.send(text)

    def _journal_event(self, event: dict) -> None:
        if not self.clients:
            return
        for listener in self.journal_listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event=hub_listener_failed kind=%s", event.get("kind"))

    def status(self) -> dict:
        """Connected panels."""
        return {"clients": len(self.clients), "topics": sorted(self.topics)}


class HubSocket(AuthMixin, tornado.websocket.WebSocketHandler):
    """/ws: the browser's live channel. Messages in: {"subscribe": [topics]}; out: {"topic": ..., ...}."""

    roles = ALL_ROLES

    def initialize(self, services: dict[str, Any]) -> None:  # noqa: D401 - tornado hook
        """Receive the daemon's services."""
        self.services = services
        self.hub: Hub = services["hub"]
        self.subscriptions: set[str] = set()

    def check_origin(self, origin: str) -> bool:
        """Same origin only: a page from another site must never ride the user's session."""
        parsed = urlparse(origin)
        return bool(parsed.netloc) and parsed.netloc.lower() == (self.request.host or "").lower()

    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Authenticate with the session cookie (or a token) before the upgrade."""
        await self.resolve_user()
        self.authorize()
        await super().get(*args, **kwargs)

    def open(self) -> None:  # type: ignore[override]
        """Join the hub; every user hears their own per-user topic."""
        self.hub.clients.add(self)
        self.subscriptions.add(f"user:{self.current_user.name}")

    def on_message(self, message: str | bytes) -> None:
        """Subscribe to topics the role allows; refused topics are answered with an error message."""
        try:
            data = json.loads(message)
            topics = data.get("subscribe", []) if isinstance(data, dict) else []
        except ValueError:
            self.send(json.dumps({"error": "messages must be JSON objects"}))
            return
        for topic in topics if isinstance(topics, list) else []:
            if not isinstance(topic, str) or not self.hub.allowed(topic, self.current_user.role) \
                    or topic.startswith("user:"):
                self.send(json.dumps({"error": f"not allowed to subscribe to {str(topic)[:40]!r}"}))
                continue
            self.subscriptions.add(topic)
            self.send(json.dumps({"subscribed": topic}))
            self.hub.push_snapshot(topic, only=self)

    def send(self, text: str) -> None:
        """Send without raising when the browser went away."""
        try:
            self.write_message(text)
        except tornado.websocket.WebSocketClosedError:
            self.hub.clients.discard(self)

    def on_close(self) -> None:
        """Leave the hub."""
        self.hub.clients.discard(self)


ROUTES = [(r"/ws", HubSocket)]
