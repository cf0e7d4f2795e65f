"""A realistic call history for demos and report benchmarks, written in the box's own journal format.

``hotline demo-data --calls 1000000 --days 90`` simulates the hotline day by day: arrivals follow a
working-day profile (quiet nights, peaks at 10:00 and 15:00, lighter weekends); each caller takes a trunk
(or is refused when all are busy), goes through one of the sample flows (welcome, main menu key, the chosen
branch), and either finishes in the IVR or joins the flow's queue. Each queue is served by a team of agents
with shifts and a lunch break, first come first served: a caller waits for the first free agent and hangs up
when their patience runs out (some ask for a callback instead). Answered callers talk, some are put on hold,
some rate the call. Agents go ready -> reserved -> on call -> wrap-up -> ready, exactly as the ACD journals
it. The events go into the journal table (in time order) and each call's CDR is derived from them by the
same code the daemon uses; the summary tables are then folded from the journal like on a live box.
"""
from __future__ import annotations

import datetime as dt
import heapq
import json
import math
import random
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..calls import cdr
from hotline.dialplan import safe_yaml

from ..box import localtime

HOUR_PROFILE = [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 4.0, 7.5, 9.0, 8.5, 6.0, 6.5, 8.0, 8.8, 8.0, 6.5, 4.5,
                3.0, 2.0, 1.2, 0.8, 0.4]
WEEKDAY_FACTOR = [1.0, 1.0, 1.0, 1.0, 0.95, 0.55, 0.4]
FLOWS = [("printer_support", "8001", 0.5), ("water_utility", "8002", 0.3), ("sales_desk", "8003", 0.2)]


@dataclass
class Team:
    """A queue and the agents serving it in the simulation."""

    queue: str
    agents: list[int]
    sl_seconds: float = 20.0
    short_abandon: float = 5.0
    free_at: list = field(default_factory=list)   # heap of (time the agent is free, agent id)


def _menu_paths(flows_dir: Path, name: str) -> tuple[str, list[tuple[str, str]], str | None]:
    """(menu block, [(key, target block)], queue) of a sample flow; a generic shape when it cannot be read."""
    try:
        doc = safe_yaml.load((flows_dir / f"{name}.yaml").read_text(encoding="utf-8"))
        queue = (doc.get("vars") or {}).get("queue")
        if queue is None:   # the first queue step of the flow
            queue = next((step["queue"]["name"] for steps in doc["blocks"].values() for step in steps or []
                          if isinstance(step, dict) and isinstance(step.get("queue"), dict)), None)
        for block, steps in doc["blocks"].items():
            for step in steps or []:
                if isinstance(step, dict) and "menu" in step and isinstance(step["menu"], dict):
                    opts = step["menu"].get("options") or {}
                    if len(opts) >= 3:
                        return block, [(str(k), str(v)) for k, v in opts.items()], queue
    except (OSError, ValueError, KeyError, AttributeError, yaml.YAMLError):
        pass
    return "menu", [("1", "info"), ("2", "status"), ("0", "agent")], None


class Journal:
    """Collects events of one day and the per-call event lists (for CDRs)."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, int, str, str | None, str | None, dict]] = []
        self.seq = 0

    def emit(self, ts: float, kind: str, call: str | None = None, line: str | None = None, **data: Any) -> None:
        self.seq += 1
        self.rows.append((ts, self.seq, kind, call, line, data))


def generate(calls: int, days: int, teams: list[Team], write: Callable[[list, list], None], *, seed: int = 1,
             trunks: int = 0, flows_dir: Path, end: dt.date | None = None,
             progress: Callable[[str], None] | None = None, tz: str | None = None) -> dict[str, int]:
    """Simulate ``calls`` calls over ``days`` days ending yesterday; ``write(events, cdrs)`` stores each day.
    Days are the box's local days in zone ``tz`` (the process's zone when None). Returns counts."""
    rng = random.Random(seed)
    today = localtime.local_date(time.time(), tz) if tz else dt.date.today()
    end = end or (today - dt.timedelta(days=1))
    start = end - dt.timedelta(days=days - 1)
    weights = [WEEKDAY_FACTOR[(start + dt.timedelta(days=i)).weekday()] for i in range(days)]
    per_weight = calls / sum(weights)
    trunks = trunks if trunks > 0 else trunks_for(calls, days)
    menus = {}
    for i, (name, _, _) in enumerate(FLOWS):   # a flow that names no queue (or cannot be read) feeds a team
        block, options, queue = _menu_paths(flows_dir, name)
        menus[name] = (block, options, queue if queue in {t.queue for t in teams} else teams[i % len(teams)].queue)
    by_queue = {t.queue: t for t in teams}
    counts = {"calls": 0, "events": 0, "answered": 0, "abandoned": 0, "refused": 0, "contained": 0, "faxes": 0,
              "faxes_received": 0}
    made = 0
    for i in range(days):
        day = start + dt.timedelta(days=i)
        n = round(per_weight * sum(weights[: i + 1])) - made
        made += n
        j = Journal()
        _simulate_day(rng, j, day, n, trunks, menus, by_queue, teams, counts, tz)
        j.rows.sort(key=lambda r: (r[0], r[1]))
        per_call: dict[str, list[dict]] = {}
        for ts, _, kind, call, line, data in j.rows:
            if call is not None:
                per_call.setdefault(call, []).append({"ts": ts, "kind": kind, "call_uuid": call, "line": line,
                                                      "data": data})
        cdrs = [row for row in (cdr.derive(evs) for evs in per_call.values()) if row is not None]
        write([(ts, kind, call, line, json.dumps(data, ensure_ascii=False, separators=(",", ":")))
               for ts, _, kind, call, line, data in j.rows], cdrs)
        counts["events"] += len(j.rows)
        if progress and (i % 10 == 9 or i == days - 1):
            progress(f"{day}: {counts['calls']} calls, {counts['events']} events")
    counts["trunks"] = trunks
    return counts


def trunks_for(calls: int, days: int) -> int:
    """A trunk group sized for the peak hour (about 4 minutes per call, some headroom)."""
    peak = calls / max(1, days) * max(HOUR_PROFILE) / sum(HOUR_PROFILE)
    return max(8, math.ceil(peak * 240 / 3600 * 1.4))


def _simulate_day(rng: random.Random, j: Journal, day: dt.date, n: int, trunks: int, menus: dict,
                  by_queue: dict[str, Team], teams: list[Team], counts: dict[str, int], tz: str | None = None) -> None:
    midnight = localtime.day_start(day, tz) if tz else time.mktime(day.timetuple())
    # shifts: every agent 08:00-20:00 (staggered a little), half take lunch 12:00-12:45, the others 12:45-13:30
    breaks: dict[int, tuple[float, float]] = {}
    for team in teams:
        team.free_at = []
        for k, agent in enumerate(team.agents):
            login = midnight + 8 * 3600 + rng.uniform(0, 900)
            j.emit(login, "agent.state_changed", agent=agent, old="logged_out", new="ready", reason=None)
            lunch = midnight + (12 * 3600 if k % 2 == 0 else 12.75 * 3600)
            breaks[agent] = (lunch, lunch + 2700)
            heapq.heappush(team.free_at, (login, agent))
    hours = rng.choices(range(24), weights=HOUR_PROFILE, k=n)
    arrivals = sorted(midnight + h * 3600 + rng.random() * 3600 for h in hours)
    trunk_free: list[float] = [0.0] * trunks
    lunch_done: set[int] = set()
    for t0 in arrivals:
        counts["calls"] += 1
        call = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
        flow, dialed, _ = rng.choices(FLOWS, weights=[w for _, _, w in FLOWS])[0]
        caller = "1" + rng.choice("3578") + "".join(rng.choice("0123456789") for _ in range(9))
        line_idx = next((k for k, free in enumerate(trunk_free) if free <= t0), None)
        line = f"sim0-t{(line_idx if line_idx is not None else 0) + 1}"
        j.emit(t0, "call.offered", call, line, direction="inbound", caller_id=caller, caller_name="", dialed=dialed)
        if line_idx is None:
            counts["refused"] += 1
            j.emit(t0, "call.refused", call, line, reason="channel_limit")
            j.emit(t0, "call.ended", call, line, cause="rejected")
            continue
        t = t0 + rng.uniform(0.5, 2.0)
        j.emit(t, "call.answered", call, line)
        menu_block, options, queue = menus[flow]
        j.emit(t, "ivr.step", call, step="answer", flow=flow, block="main", index=0)
        t += rng.uniform(8, 20)
        key, target = rng.choices(options, weights=[len(options) if v == "agent" else 2 for _, v in options])[0]
        j.emit(t, "ivr.step", call, step="menu.key", flow=flow, block=menu_block, index=0, menu=menu_block,
               key=key, target=target)
        t += rng.uniform(5, 60)
        j.emit(t, "ivr.step", call, step="play", flow=flow, block=target, index=0)
        wants_agent = target == "agent" or rng.random() < 0.5
        team = by_queue.get(queue or "") if wants_agent else None
        if team is None or not team.agents:
            if target in ("fax_back", "fax"):
                j.emit(t, "ivr.step", call, step="fax", flow=flow, block=target, index=1, document="catalog")
                # the fax itself (no random draw: the rest of the history stays as it was); every 8th fails;
                # every 3rd caller faxes a filled-in order form back a few minutes later (a fax received)
                counts["faxes"] += 1
                final = "failed" if counts["faxes"] % 8 == 0 else "sent"
                j.emit(t + 90, f"fax.{final}", call, direction="out", document="catalog",
                       pages=0 if final == "failed" else 2, reason="busy" if final == "failed" else None)
                if counts["faxes"] % 3 == 0:
                    counts["faxes_received"] += 1
                    j.emit(t + 600, "fax.received", None, direction="in", pages=1)
            elif rng.random() < 0.05:
                j.emit(t, "ivr.step", call, step="voicemail", flow=flow, block=target, index=1, seconds=20)
            t += rng.uniform(10, 90)
            counts["contained"] += 1
            j.emit(t, "call.ended", call, line, cause="normal")
            trunk_free[line_idx] = t
            continue
        j.emit(t, "ivr.step", call, step="queue", flow=flow, block="agent", index=0, queue=team.queue, vip=False)
        joined = t
        j.emit(joined, "queue.joined", call, queue=team.queue, position=1, priority=0)
        # the first agent free (skipping agents at lunch: their break is taken when it comes due)
        while True:
            free_at, agent = heapq.heappop(team.free_at)
            b0, b1 = breaks[agent]
            if agent not in lunch_done and max(free_at, joined) >= b0:
                lunch_done.add(agent)
                start_break = max(free_at, b0)
                j.emit(start_break, "agent.state_changed", agent=agent, old="ready", new="not_ready",
                       reason="lunch")
                back = max(start_break, b1)
                j.emit(back, "agent.state_changed", agent=agent, old="not_ready", new="ready", reason=None)
                heapq.heappush(team.free_at, (back, agent))
                continue
            break
        ring = rng.uniform(2, 8)
        waited = max(0.0, free_at - joined) + ring
        patience = rng.expovariate(1 / 110.0) + 3
        if waited > patience:
            heapq.heappush(team.free_at, (free_at, agent))
            left = joined + patience
            if rng.random() < 0.12 and patience > 30:
                j.emit(left, "queue.callback_requested", call, queue=team.queue, number=caller, joined_at=joined,
                       position=1)
                j.emit(left + 12, "call.ended", call, line, cause="normal")
                trunk_free[line_idx] = left + 12
                continue
            counts["abandoned"] += 1
            j.emit(left, "queue.abandoned", call, queue=team.queue, waited=round(patience, 2),
                   short=patience < team.short_abandon, caller=caller)
            j.emit(left, "call.ended", call, line, cause="normal")
            trunk_free[line_idx] = left
            continue
        offer = joined + waited - ring
        answered = joined + waited
        counts["answered"] += 1
        j.emit(offer, "agent.offered", call, queue=team.queue, agents=[agent], waited=round(waited - ring, 2))
        j.emit(offer, "agent.state_changed", agent=agent, old="ready", new="reserved", reason=None, call=call)
        j.emit(answered, "agent.state_changed", agent=agent, old="reserved", new="on_call", reason=None, call=call)
        j.emit(answered, "queue.answered", call, queue=team.queue, agent=agent, waited=round(waited, 2),
               within_sl=waited <= team.sl_seconds)
        j.emit(answered, "call.bridged", call, peer=f"agent{agent}", leg=call + "-a")
        talk = rng.lognormvariate(math.log(170), 0.6)
        hung = answered + talk
        if rng.random() < 0.15:
            h0 = answered + talk * rng.uniform(0.2, 0.6)
            j.emit(h0, "call.held", call, by=f"agent{agent}")
            j.emit(min(hung - 1, h0 + rng.uniform(10, 60)), "call.resumed", call, by=f"agent{agent}")
        j.emit(hung, "call.unbridged", call, peer=f"agent{agent}", by="peer")
        end = hung
        if rng.random() < 0.25:
            end = hung + rng.uniform(6, 12)
            j.emit(end, "survey.answered", call, score=rng.choices([1, 2, 3, 4, 5], [2, 3, 10, 35, 50])[0],
                   agent=agent, queue=team.queue)
        j.emit(end, "call.ended", call, line, cause="normal")
        trunk_free[line_idx] = end
        wrap = rng.uniform(5, 25)
        j.emit(hung, "agent.state_changed", agent=agent, old="on_call", new="wrap_up", reason=None)
        j.emit(hung + wrap, "agent.state_changed", agent=agent, old="wrap_up", new="ready", reason=None)
        heapq.heappush(team.free_at, (hung + wrap, agent))
    # end of the day: everyone logs out after their last call (and after 20:00)
    for team in teams:
        while team.free_at:
            free_at, agent = heapq.heappop(team.free_at)
            out = max(free_at, midnight + 20 * 3600 + rng.uniform(0, 600))
            if agent not in lunch_done:
                b0, b1 = breaks[agent]
                if b0 >= free_at:
                    j.emit(b0, "agent.state_changed", agent=agent, old="ready", new="not_ready", reason="lunch")
                    j.emit(b1, "agent.state_changed", agent=agent, old="not_ready", new="ready", reason=None)
                    out = max(out, b1)
            j.emit(out, "agent.state_changed", agent=agent, old="ready", new="logged_out", reason=None)


AGENT_CALLS_PER_DAY = 80    # answered calls one simulated agent takes in a day
ANSWERED_SHARE = 0.7        # of the calls offered, about this many reach an agent


class HistoryError(ValueError):
    """The asked-for history does not fit the box (the message says what to change)."""


def agents_needed(calls: int, days: int, queues: int) -> int:
    """Agents a history of ``calls`` over ``days`` needs: at least one per queue, ~80 answered calls a day each."""
    return max(queues, math.ceil(calls / max(1, days) * ANSWERED_SHARE / AGENT_CALLS_PER_DAY))


def max_calls(agents: int, days: int) -> int:
    """The most calls over ``days`` that ``agents`` configured agents can serve in a simulated history."""
    return int(agents * AGENT_CALLS_PER_DAY / ANSWERED_SHARE) * max(1, days)


def teams_for(calls: int, days: int, queues: list[dict], agent_ids: list[int],
              make_agent: Callable[[str], int] | None = None) -> list[Team]:
    """Teams per queue from the box's configured agents, sized for the volume (about 80 answered calls per
    agent per day). Too few agents is a HistoryError, unless make_agent(name) may add simulated ones (for a
    throwaway box such as report-bench's: they become agents of that box)."""
    needed = agents_needed(calls, days, len(queues))
    ids = list(agent_ids)
    if len(ids) < needed and make_agent is None:
        raise HistoryError(
            f"{calls} calls over {days} days need about {needed} agents ({AGENT_CALLS_PER_DAY} answered calls "
            f"per agent per day); the box has {len(ids)} configured. Ask for at most "
            f"{max_calls(len(ids), days)} calls over {days} days, configure more agents (etc/queues.yaml, "
            "hotline acd import), or add --extra-agents on a throwaway box")
    k = 1
    while len(ids) < needed:
        assert make_agent is not None
        ids.append(make_agent(f"history_{k:03d}"))
        k += 1
    teams = []
    weights = {"printers": 0.5, "water": 0.3, "sales": 0.2}
    total = sum(weights.get(q["name"], 0.2) for q in queues) or 1
    start = 0
    for i, q in enumerate(queues):
        share = len(ids) - start if i == len(queues) - 1 else max(
            1, round(len(ids) * weights.get(q["name"], 0.2) / total))
        teams.append(Team(q["name"], ids[start:start + share], q.get("service_level_seconds", 20.0),
                          q.get("short_abandon_seconds", 5.0)))
        start += share
    return teams
