"""ACD routing: which free agent is offered a waiting call, and which waiting call a free agent takes."""
from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from typing import Callable


class Strategy(enum.Enum):
    """How a queue picks among its free agents."""

    RING_ALL = "ring_all"
    LONGEST_IDLE = "longest_idle"
    ROUND_ROBIN = "round_robin"
    FEWEST_CALLS = "fewest_calls"
    LEAST_TALK_TIME = "least_talk_time"
    LINEAR = "linear"
    RANDOM = "random"
    SKILLS = "skills"


@dataclass(frozen=True)
class Candidate:
    """A free agent as one queue sees it (member settings plus today's counters)."""

    agent_id: int
    extension: str
    idle_since: float          # when the agent last became ready (epoch seconds)
    calls_today: int
    talk_seconds_today: float
    order: int                 # position in the queue's member list (linear); lower first
    penalty: int               # lower is better; a higher tier is used only when no lower-penalty member is free
    skills: dict[str, int]     # skill name -> level 1..10
    last_offered_seq: int      # the queue's round-robin counter when this agent was last offered a call (0 = never)


@dataclass(frozen=True)
class Widening:
    """Skills-based routing: after waiting ``after`` seconds the minimum level drops to ``min_level``."""

    after: float
    min_level: int


@dataclass(frozen=True)
class Need:
    """What a waiting call needs from an agent: a skill at a minimum level, widened as the wait grows."""

    skill: str | None = None
    min_level: int = 1
    widening: tuple[Widening, ...] = ()


@dataclass(frozen=True)
class Waiting:
    """A waiting call as the fairness rule sees it."""

    key: object            # opaque id of a waiting call
    queue: str
    joined_at: float       # kept across a callback (the caller keeps their place)
    priority: int          # 0 normal; higher = served sooner (VIP)
    need: Need


def required_level(need: Need, waited: float) -> int:
    """The minimum skill level in force after ``waited`` seconds.

    Every widening step whose time has come applies and the lowest level wins, so the
    steps may be listed in any order and a later step can never raise the bar again.
    A level of 0 or below admits agents who lack the skill altogether ("anyone, after 10 minutes").
    """
    level = need.min_level
    for step in need.widening:
        if waited >= step.after:
            level = min(level, step.min_level)
    return level


def skill_level(c: Candidate, need: Need) -> int:
    """The candidate's level in the skill the call needs (0 when it lacks it or none is needed)."""
    if need.skill is None:
        return 0
    return c.skills.get(need.skill, 0)


def eligible(c: Candidate, need: Need, waited: float) -> bool:
    """Whether the candidate may take a call with this need after ``waited`` seconds.

    A call that needs no skill takes anyone; otherwise the agent's level in the skill
    must reach the level in force (see :func:`required_level`).
    """
    if need.skill is None:
        return True
    return c.skills.get(need.skill, 0) >= required_level(need, waited)


def _tie(c: Candidate) -> tuple[float, int]:
    """The common deterministic tie-break: longest idle first, then the lowest agent id."""
    return (c.idle_since, c.agent_id)


# Sort keys within one penalty tier (lower sorts first); RING_ALL and RANDOM are handled apart.
_KEYS: dict[Strategy, Callable[[Candidate, Need], tuple]] = {
    Strategy.LONGEST_IDLE: lambda c, need: _tie(c),
    # Round robin with memory: the member offered a call least recently goes next (never offered = 0 first).
    Strategy.ROUND_ROBIN: lambda c, need: (c.last_offered_seq, *_tie(c)),
    Strategy.FEWEST_CALLS: lambda c, need: (c.calls_today, *_tie(c)),
    Strategy.LEAST_TALK_TIME: lambda c, need: (c.talk_seconds_today, *_tie(c)),
    Strategy.LINEAR: lambda c, need: (c.order, *_tie(c)),
    Strategy.SKILLS: lambda c, need: (-skill_level(c, need), *_tie(c)),
}


def order_candidates(strategy: Strategy, free: list[Candidate], need: Need, waited: float, rng: random.Random,
                     sticky_agent: int | None = None) -> list[Candidate]:
    """Free, eligible candidates in the order they should be offered the call.

    RING_ALL: every eligible candidate of the lowest penalty tier present (the runtime rings
    them together, so a higher tier must not be in the list at all). Others: all eligible
    candidates, best first, lowest penalty tier first. ``sticky_agent`` (the agent who served
    this caller last), when free and eligible, comes first regardless of strategy and penalty.
    SKILLS: highest level in the needed skill first, then longest idle. Ties are broken by
    idle_since, then agent_id; RANDOM shuffles each tier with ``rng`` (same seed, same order).
    """
    pool = [c for c in free if eligible(c, need, waited)]
    if not pool:
        return []
    sticky = next((c for c in pool if sticky_agent is not None and c.agent_id == sticky_agent), None)
    rest = [c for c in pool if c is not sticky]
    if strategy is Strategy.RING_ALL:
        if rest:
            lowest = min(c.penalty for c in rest)
            rest = sorted((c for c in rest if c.penalty == lowest), key=_tie)
    elif strategy is Strategy.RANDOM:
        # Sort first so the outcome depends only on the seed, not on the order the caller built the list in.
        ordered: list[Candidate] = []
        for penalty in sorted({c.penalty for c in rest}):
            tier = sorted((c for c in rest if c.penalty == penalty), key=lambda c: c.agent_id)
            rng.shuffle(tier)
            ordered.extend(tier)
        rest = ordered
    else:
        key = _KEYS[strategy]
        rest = sorted(rest, key=lambda c: (c.penalty, *key(c, need)))
    return [sticky, *rest] if sticky is not None else rest


def queue_score(call: Waiting, now: float, queue_weights: dict[str, float], priority_step: float = 60.0) -> float:
    """How urgently a waiting call should be served: waited seconds times its queue's weight plus priority credit.

    A queue without an entry in ``queue_weights`` weighs 1.0.
    """
    return (now - call.joined_at) * queue_weights.get(call.queue, 1.0) + call.priority * priority_step


def _key_before(a: object, b: object, pos_a: int, pos_b: int) -> bool:
    """Whether key ``a`` sorts before ``b``; keys that cannot be compared fall back to list order."""
    try:
        if a < b:  # type: ignore[operator]
            return True
        if b < a:  # type: ignore[operator]
            return False
    except TypeError:
        pass
    return pos_a < pos_b


def next_for_agent(agent: Candidate, waiting: list[Waiting], now: float, queue_weights: dict[str, float],
                   priority_step: float = 60.0) -> Waiting | None:
    """The waiting call this agent should take.

    Among calls it is eligible for (need + waited time), the one with the largest score =
    waited * weight(queue) + priority * priority_step (see :func:`queue_score`). A VIP is worth
    ``priority_step`` seconds of waiting per priority point, so normal callers who have waited
    long enough still go first: priority never starves others. Ties: earliest joined_at, then
    key order (list order for keys that cannot be compared). Pass only calls of queues the agent
    serves; a queue missing from ``queue_weights`` weighs 1.0.
    """
    best: Waiting | None = None
    best_score = 0.0
    best_pos = -1
    for pos, call in enumerate(waiting):
        if not eligible(agent, call.need, now - call.joined_at):
            continue
        score = queue_score(call, now, queue_weights, priority_step)
        if best is None or score > best_score:
            better = True
        elif score < best_score:
            better = False
        elif call.joined_at != best.joined_at:
            better = call.joined_at < best.joined_at
        else:
            better = _key_before(call.key, best.key, pos, best_pos)
        if better:
            best, best_score, best_pos = call, score, pos
    return best
