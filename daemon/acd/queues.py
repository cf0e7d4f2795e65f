"""Queues at run time: waiting callers (and callbacks keeping their place), the dispatcher, offers to agents."""
from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import random
from dataclasses import dataclass, field
from typing import Any

from .agents import Agent, AgentBook, AgentState
from .strategies import Candidate, Need, Strategy, Waiting, Widening, order_candidates

log = logging.getLogger("hotline.acd")
PRIORITY_STEP = 60.0  # a priority point is worth a minute of waiting: VIPs go sooner, nobody starves
_seq = itertools.count(1)


@dataclass(eq=False)
class Entry:
    """A caller waiting in a queue, or a callback request holding the caller's place."""

    key: int
    queue: str
    joined_at: float
    priority: int = 0
    call_uuid: str | None = None
    caller_id: str = ""
    kind: str = "call"                     # call | callback
    number: str | None = None              # callback: the number to call
    callback_id: int | None = None
    attempts: int = 0
    not_before: float = 0.0                # callback retries wait until then
    offer: asyncio.Future | None = None    # set with the agents chosen for this entry
    busy: bool = False                     # being offered right now
    sticky_agent: int | None = None
    sticky_until: float = 0.0


@dataclass
class QueueRuntime:
    """One queue's settings, members and waiting entries, plus the figures its estimate needs."""

    name: str
    settings: dict[str, Any]
    members: list[dict] = field(default_factory=list)   # {agent_id, penalty, position}
    waiting: list[Entry] = field(default_factory=list)
    rr_seq: int = 0
    rr_last: dict[int, int] = field(default_factory=dict)  # agent id -> rr_seq when last offered this queue's call
    handle_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=200))
    answered: int = 0
    abandoned: int = 0
    offered: int = 0
    closed: bool = False   # outside the queue's hours (settings "hours"): callbacks wait until it opens

    @property
    def strategy(self) -> Strategy:
        """The routing strategy."""
        return Strategy(self.settings["strategy"])

    def need(self) -> Need:
        """What calls of this queue need from an agent."""
        return Need(self.settings.get("skill"), self.settings.get("min_level", 1),
                    tuple(Widening(w["after"], w["min_level"]) for w in self.settings.get("widening", [])))

    def member_ids(self) -> set[int]:
        """Agent ids that serve the queue."""
        return {m["agent_id"] for m in self.members}

    def position(self, entry: Entry) -> int:
        """1-based place in line by join time (callbacks hold their place too)."""
        return 1 + sum(1 for e in self.waiting
                       if e is not entry and (e.joined_at, e.key) < (entry.joined_at, entry.key))


class Dispatcher:
    """Matches waiting entries with free agents; runs whenever something changes (and every second)."""

    def __init__(self, agents: AgentBook, queues: dict[str, QueueRuntime], devices: Any, clock: Any,
                 seed: int = 0):
        self.agents = agents
        self.queues = queues
        self.devices = devices
        self.clock = clock
        self.rng = random.Random(seed)
        self._scheduled = False
        self.on_callback: Any = None  # starts a callback call for (entry, agent)

    def poke(self) -> None:
        """Ask for a dispatch pass soon (coalesced)."""
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        try:
            self.dispatch()
        except Exception:
            log.exception("event=dispatch_failed")

    def _free(self) -> dict[int, Agent]:
        busy_lines = self.devices.busy
        return {a.id: a for a in self.agents.agents.values()
                if a.state is AgentState.READY and a.station is not None
                and self.devices.free_station(a.station, busy_lines) is not None}

    def dispatch(self) -> int:
        """One pass: offers made."""
        free = self._free()
        if not free:
            return 0
        now = self.clock()
        entries = [(e, q) for q in self.queues.values() for e in q.waiting
                   if not e.busy and e.not_before <= now
                   and (e.kind == "callback" and not q.closed or e.kind == "call" and e.offer is not None)]
        entries.sort(key=lambda eq: (-((now - eq[0].joined_at) * eq[1].settings["weight"]
                                       + eq[0].priority * PRIORITY_STEP), eq[0].joined_at, eq[0].key))
        made = 0
        for entry, q in entries:
            if not free:
                break
            cands = [self._candidate(free[m["agent_id"]], m, q) for m in q.members if m["agent_id"] in free]
            if not cands:
                continue
            sticky = entry.sticky_agent if entry.sticky_until > now else None
            ordered = order_candidates(q.strategy, cands, q.need(), now - entry.joined_at, self.rng, sticky)
            if not ordered:
                continue
            chosen = ordered if q.strategy is Strategy.RING_ALL else ordered[:1]
            if entry.kind == "callback" and len(chosen) > 1:
                chosen = chosen[:1]  # a callback takes exactly one free agent
            q.rr_seq += 1
            agents = []
            for c in chosen:
                agent = free.pop(c.agent_id)
                q.rr_last[agent.id] = q.rr_seq  # per queue: counters of different queues do not compare
                self.agents.set_state(agent, AgentState.RESERVED, by="acd", call_uuid=entry.call_uuid)
                agents.append(agent)
            entry.busy = True
            q.offered += 1
            made += 1
            if entry.kind == "callback":
                if self.on_callback is not None:
                    self.on_callback(entry, agents[0])
            elif not entry.offer.done():
                entry.offer.set_result(agents)
        return made

    @staticmethod
    def _candidate(agent: Agent, member: dict, q: QueueRuntime) -> Candidate:
        return Candidate(agent.id, agent.station or "", agent.idle_since, agent.calls_today, agent.talk_today,
                         member["position"], member["penalty"], dict(agent.skills), q.rr_last.get(agent.id, 0))


def new_entry(queue: str, joined_at: float, **kw: Any) -> Entry:
    """A fresh entry with a unique key."""
    return Entry(next(_seq), queue, joined_at, **kw)


def as_waiting(entry: Entry, q: QueueRuntime) -> Waiting:
    """The strategies module's view of an entry."""
    return Waiting(entry.key, q.name, entry.joined_at, entry.priority, q.need())
