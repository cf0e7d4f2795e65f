"""Agents at run time: the state machine (logged out, ready, reserved, on call, wrap-up, not ready with a reason)."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable


class AgentState(enum.Enum):
    """Where an agent is; every change is a journal event."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    RESERVED = "reserved"      # a call is being offered: the phone rings
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    NOT_READY = "not_ready"
    OUTBOUND = "outbound"      # an internal or outbound call of the agent's own


ALLOWED: dict[AgentState, set[AgentState]] = {
    AgentState.LOGGED_OUT: {AgentState.READY, AgentState.NOT_READY},
    AgentState.READY: {AgentState.RESERVED, AgentState.NOT_READY, AgentState.LOGGED_OUT, AgentState.OUTBOUND},
    AgentState.RESERVED: {AgentState.ON_CALL, AgentState.READY, AgentState.NOT_READY, AgentState.LOGGED_OUT},
    AgentState.ON_CALL: {AgentState.WRAP_UP, AgentState.READY, AgentState.NOT_READY, AgentState.LOGGED_OUT},
    AgentState.WRAP_UP: {AgentState.READY, AgentState.NOT_READY, AgentState.LOGGED_OUT, AgentState.RESERVED},
    AgentState.NOT_READY: {AgentState.READY, AgentState.LOGGED_OUT, AgentState.OUTBOUND},
    AgentState.OUTBOUND: {AgentState.READY, AgentState.NOT_READY, AgentState.LOGGED_OUT},
}


class AgentError(Exception):
    """A request about an agent cannot be carried out (unknown agent, station, transition, reason)."""


@dataclass(eq=False)
class Agent:
    """One agent's live state."""

    id: int
    name: str
    display_name: str = ""
    extension: str | None = None         # the agent's usual station
    skills: dict[str, int] = field(default_factory=dict)
    station: str | None = None           # where the agent is logged in now
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    since: float = 0.0
    idle_since: float = 0.0
    calls_today: int = 0
    talk_today: float = 0.0
    missed_in_row: int = 0
    wrapup_until: float | None = None
    call_uuid: str | None = None
    last_offered_seq: int = 0
    follow_me: str | None = None
    follow_me_after: float | None = None
    grade: int = 1                       # 1 trainee ... 5 expert
    wrapup_seconds: float = 0.0          # of the queue whose call the agent is on

    def summary(self, now: float) -> dict:
        """State for the API, wallboard and metrics."""
        return {"id": self.id, "name": self.name, "display_name": self.display_name, "station": self.station,
                "state": self.state.value, "reason": self.reason, "in_state_s": round(now - self.since, 1),
                "calls_today": self.calls_today, "talk_today_s": round(self.talk_today, 1),
                "call": self.call_uuid, "skills": self.skills, "grade": self.grade}


class AgentBook:
    """Every agent; changes go through here so each one is checked and journaled."""

    def __init__(self, emit: Callable[..., Any], clock: Callable[[], float]):
        self.emit = emit
        self.clock = clock
        self.agents: dict[int, Agent] = {}
        self.reasons: list[str] = []
        self.listeners: list[Callable[[Agent], None]] = []  # the dispatcher wakes up on changes

    def load(self, rows: list[dict], reasons: list[str]) -> None:
        """(Re)load agent definitions, keeping the live state of agents that still exist."""
        live = self.agents
        self.agents = {}
        for r in rows:
            agent = live.get(r["id"]) or Agent(r["id"], r["name"], since=self.clock())
            agent.name, agent.display_name, agent.extension = r["name"], r["display_name"], r["extension"]
            agent.skills, agent.follow_me, agent.follow_me_after = r["skills"], r["follow_me"], r["follow_me_after"]
            agent.grade = r.get("grade", 1)
            self.agents[agent.id] = agent
        self.reasons = list(reasons)

    def get(self, key: int | str) -> Agent:
        """An agent by id or name."""
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            agent = self.agents.get(int(key))
        else:
            agent = next((a for a in self.agents.values() if a.name == key), None)
        if agent is None:
            raise AgentError(f"no agent {key!r}")
        return agent

    def at_station(self, station: str) -> Agent | None:
        """The agent logged in at a station extension."""
        return next((a for a in self.agents.values() if a.station == station), None)

    def set_state(self, agent: Agent, state: AgentState, reason: str | None = None, by: str = "agent",
                  call_uuid: str | None = None, force: bool = False) -> None:
        """Change state (checked against the allowed transitions unless forced); journaled."""
        if state is agent.state and reason == agent.reason:
            return
        if not force and state not in ALLOWED[agent.state] and state is not agent.state:
            raise AgentError(f"agent {agent.name}: cannot go from {agent.state.value} to {state.value}")
        if state is AgentState.NOT_READY and reason is not None and reason not in self.reasons:
            raise AgentError(f"unknown reason {reason!r} (known: {', '.join(self.reasons)})")
        now = self.clock()
        old = agent.state
        agent.state, agent.since = state, now
        agent.reason = reason if state is AgentState.NOT_READY else None
        if state is AgentState.READY:
            agent.idle_since = now
            agent.wrapup_until = None
        if state in (AgentState.READY, AgentState.NOT_READY, AgentState.LOGGED_OUT):
            agent.call_uuid = None
        elif call_uuid is not None:
            agent.call_uuid = call_uuid
        self.emit("agent.state_changed", agent=agent.id, name=agent.name, old=old.value, new=state.value,
                  reason=agent.reason, station=agent.station, by=by, call=agent.call_uuid)
        for listener in self.listeners:
            listener(agent)

    def login(self, agent: Agent, station: str, by: str = "agent") -> None:
        """Log in at a station (hot desk: a station holds one agent; an agent moves with a new login)."""
        other = self.at_station(station)
        if other is not None and other is not agent:
            raise AgentError(f"station {station} is in use by agent {other.name}")
        if agent.state not in (AgentState.LOGGED_OUT, AgentState.READY, AgentState.NOT_READY):
            raise AgentError(f"agent {agent.name} is {agent.state.value}: finish the call first")
        agent.station = station
        agent.missed_in_row = 0
        self.emit("agent.logged_in", agent=agent.id, name=agent.name, station=station, by=by)
        self.set_state(agent, AgentState.READY, by=by, force=True)

    def logout(self, agent: Agent, by: str = "agent") -> None:
        """Log out (a call in progress keeps going; the agent gets no new ones)."""
        station = agent.station
        self.set_state(agent, AgentState.LOGGED_OUT, by=by, force=True)
        agent.station = None
        self.emit("agent.logged_out", agent=agent.id, name=agent.name, station=station, by=by)

    def missed(self, agent: Agent, limit: int) -> None:
        """An offered call rang out: after `limit` in a row the agent goes not ready (missed calls)."""
        agent.missed_in_row += 1
        if agent.missed_in_row >= limit:
            self.set_state(agent, AgentState.NOT_READY, "missed_calls" if "missed_calls" in self.reasons else None,
                           by="system", force=True)
        else:
            self.set_state(agent, AgentState.READY, by="system", force=True)
