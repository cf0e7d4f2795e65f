"""Honest wait estimates for queued callers: position, agents at work and recent handle times, by Monte Carlo.

The caller at position ``p`` is answered when the ``p``-th "agent becomes free" event
happens. A ready agent is free at 0; a busy agent is free after the remaining part of its
current call, drawn from the recent handle times *longer than what the call has already
lasted* (so an agent 10 minutes into a call is not assumed to have a fresh 4 minutes left,
nor one 30 seconds in to be nearly done). After each event the agent takes the next caller
and is free again one handle time later. 200 seeded, vectorized draws of this process give
the median (the point estimate) and the 10th/90th percentiles (the range). Each draw works
from its own resampling of the handle-time history (a bootstrap), because 50 calls pin the
distribution down only roughly and that doubt belongs in the range.

Callers ahead who give up shorten the wait: with an abandon rate ``r``, a caller just ahead
of us has about our own chance ``r`` of giving up before being served and one at the head
almost none, so on average a share ``r / 2`` of those ahead is dropped.

The model assumes the agents now at work stay at work; breaks and log-ins during the wait
are what it cannot see. docs/acd-estimate.md has the validation against a simulated day.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np

DRAWS = 200                 # Monte Carlo draws per estimate
MIN_SAMPLES = 10            # fewer recent handle times than this: not reliable
BEYOND_SAMPLES = 0.5        # a call longer than every sample: its rest is this share of a fresh handle time
LOW_Q, HIGH_Q = 10.0, 90.0  # the range covers the 10th to 90th percentile of outcomes
FLUID_ROUNDS = 1.5          # callers this many calls per agent deep may use the renewal approximation...
EXACT_EVENTS = 400          # ...when simulating every call would take more events than this per draw
MAX_SPAN = 300.0            # a range wider than this (seconds) is not worth announcing...
MAX_RATIO = 2.5             # ...unless its high end is within this factor of its low end
SHORT_STEP, LONG_STEP, STEP_LIMIT = 60, 300, 300  # announce in 1-minute steps under 5 minutes, 5-minute above
PRIOR_CV = 0.6              # spread of the assumed handle times a young queue starts from (see with_prior)
NOBODY_AT_WORK, FEW_HANDLE_TIMES, RANGE_TOO_WIDE = "nobody_at_work", "few_handle_times", "range_too_wide"


@dataclass(frozen=True)
class AgentLoad:
    """One logged-in agent as the estimate sees it.

    Handle time is talk plus wrap-up, so an agent in wrap-up is passed as busy with
    ``busy_for`` counted from the start of its call. Agents on a break (neither ready nor
    serving) are left out or passed with ``ready=False, busy_for=None``: they are not counted.
    """

    ready: bool               # free now
    busy_for: float | None    # seconds the current call has lasted (None if free or not serving)


@dataclass(frozen=True)
class Estimate:
    """A wait estimate in seconds: the median, a range covering ~80 % of outcomes, and whether to announce it.

    Without any agent at work, or without a single recent handle time while every agent is
    busy, all three figures are ``math.inf``.
    """

    seconds: float            # point estimate (median)
    low: float                # 10th percentile
    high: float               # 90th percentile
    reliable: bool
    held_back: str = ""       # why it is not reliable: NOBODY_AT_WORK, FEW_HANDLE_TIMES or RANGE_TOO_WIDE


UNKNOWN = Estimate(math.inf, math.inf, math.inf, False, FEW_HANDLE_TIMES)
NOBODY = Estimate(math.inf, math.inf, math.inf, False, NOBODY_AT_WORK)


def with_prior(recent: Sequence[float], expected: float, cv: float = PRIOR_CV) -> list[float]:
    """The queue's recent handle times, topped up to MIN_SAMPLES with assumed ones (oldest first).

    A young queue (a fresh box, a new queue) has too few calls of its own for a reliable estimate. The
    assumed calls are evenly spread quantiles of a lognormal whose mean is the queue's expected handle time
    (``expected_handle_seconds``) with a coefficient of variation ``cv``; each real call replaces one, so
    from the 10th call on only the queue's own calls count.
    """
    own = [h for h in recent if h > 0 and math.isfinite(h)]
    missing = MIN_SAMPLES - len(own)
    if missing <= 0 or expected <= 0:
        return list(recent)
    sigma = math.sqrt(math.log(1.0 + cv * cv))
    mu = math.log(expected) - sigma * sigma / 2.0
    unit = NormalDist()
    assumed = [math.exp(mu + sigma * unit.inv_cdf((i + 0.5) / missing)) for i in range(missing)]
    return assumed + own


def effective_position(position: int, recent_abandon_rate: float) -> int:
    """The position once the callers ahead who will probably give up are dropped (at least 1)."""
    rate = min(max(recent_abandon_rate, 0.0), 1.0)
    return 1 + int(round((max(position, 1) - 1) * (1.0 - rate / 2.0)))


def _bootstrap(samples: np.ndarray, rng: np.random.Generator, draws: int) -> np.ndarray:
    """(draws, m) indices into the sorted ``samples``: each row one resampled history, sorted."""
    return np.sort(rng.integers(0, samples.size, (draws, samples.size)), axis=1)


def _residuals(samples: np.ndarray, boot: np.ndarray, busy_for: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(draws, busy agents) remaining call times: H - t, H drawn from each draw's history among calls longer than t."""
    draws, m = boot.shape
    first_longer = np.searchsorted(samples, busy_for, side="right")  # in the sorted original history
    # shorter[d, j]: how many of draw d's resampled calls come from the j shortest originals
    counts = np.bincount((boot + m * np.arange(draws)[:, None]).ravel(), minlength=draws * m).reshape(draws, m)
    shorter = np.zeros((draws, m + 1), dtype=np.intp)
    np.cumsum(counts, axis=1, out=shorter[:, 1:])
    begin = shorter[:, first_longer]
    longer = m - begin
    pick = begin + (rng.random(begin.shape) * np.maximum(longer, 1)).astype(np.intp)
    rest = samples[np.take_along_axis(boot, np.minimum(pick, m - 1), axis=1)] - busy_for
    draw, agent = np.nonzero(longer == 0)
    if draw.size:
        # The draw's history has no call this long: use the full history, and beyond it assume
        # the call is likely nearly done but not certainly (a share of a fresh handle time).
        since, plain = busy_for[agent], m - first_longer[agent]
        take = np.minimum(first_longer[agent] + (rng.random(draw.size) * np.maximum(plain, 1)).astype(np.intp), m - 1)
        rest[draw, agent] = np.where(plain > 0, samples[take] - since,
                                     samples[rng.integers(0, m, draw.size)] * BEYOND_SAMPLES)
    return rest


def _columns(rounds: float) -> int:
    """Events per agent to simulate so that a caller ``rounds`` calls-per-agent deep is almost surely reached."""
    return int(math.ceil(rounds + 2.5 * math.sqrt(rounds) + 1.5))


def _exact(first: np.ndarray, history: np.ndarray, want: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Waits (draws, len(want)) by simulating every agent's next calls; ``want`` are effective positions."""
    draws, n = first.shape
    deepest = int(want.max())
    columns = _columns(deepest / n)
    while True:
        # events[d, k, a]: when agent a frees up for the k-th time in draw d (k = 0: the end of its current call)
        pick = rng.integers(0, history.shape[1], (draws, columns * n))
        events = np.take_along_axis(history, pick, axis=1).reshape(draws, columns, n)
        events[:, 0, :] = first
        np.cumsum(events, axis=1, out=events)
        flat = events.reshape(draws, -1)
        if want.size == 1:
            taken = np.partition(flat, deepest - 1, axis=1)[:, deepest - 1:deepest]
        else:
            taken = np.sort(flat, axis=1)[:, want - 1]
        # Exact only if no agent ran out of simulated calls before the deepest caller was reached.
        if (events[:, -1, :].min(axis=1) >= taken.max(axis=1)).all():
            return taken
        columns *= 2


def _fluid(first: np.ndarray, history: np.ndarray, want: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Waits (draws, len(want)) for callers several calls per agent deep, by renewal theory.

    An agent free at F and busy from then on has finished, by time t, about
    (t - F) / mean + (1 + cv^2) / 2 calls (the renewal function's asymptote, counting the one
    taken at F), with a variance of (t - F) * cv^2 / mean. Summed over agents and solved for the
    position this gives the point; the variance, turned into time, gives the spread.
    """
    draws, n = first.shape
    mean = history.mean(axis=1)[:, None]
    cv2 = history.var(axis=1)[:, None] / mean ** 2
    start = first.mean(axis=1)[:, None]
    t = mean / n * (want[None, :] - n * (1.0 + cv2) / 2.0) + start
    spread = np.maximum(t - start, 0.0) * cv2 * mean / n
    return np.maximum(t + rng.standard_normal(t.shape) * np.sqrt(spread), 0.0)


def sample_waits(positions: Sequence[int], agents: Sequence[AgentLoad], recent_handle_times: Sequence[float],
                 recent_abandon_rate: float = 0.0, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """Simulated waits, shape (draws, len(positions)), for callers at these positions (1 = next in line).

    Each draw first resamples the handle-time history (a bootstrap): 50 calls describe the
    handle-time distribution only roughly, and that doubt belongs in the range. One simulation
    serves every position, so a queue's whole line costs about as much as its last caller.
    Callers fewer than FLUID_ROUNDS calls per agent deep are simulated call by call; deeper ones
    in a big team (where that would cost more than EXACT_EVENTS per draw) by the renewal
    approximation of :func:`_fluid`, which agrees with the full simulation within a few percent
    there. Needs at least one agent at work and one handle time; deterministic for a given seed.
    """
    samples = np.asarray([h for h in recent_handle_times if h > 0 and math.isfinite(h)], dtype=np.float64)
    busy = np.asarray([a.busy_for for a in agents if not a.ready and a.busy_for is not None], dtype=np.float64)
    n_ready = sum(1 for a in agents if a.ready)
    n = n_ready + busy.size
    if n == 0 or samples.size == 0:
        raise ValueError("need at least one agent at work and one recent handle time")
    want = np.asarray([effective_position(p, recent_abandon_rate) for p in positions], dtype=np.intp)
    out = np.zeros((draws, want.size))
    queued = want > n_ready
    if not queued.any():
        return out
    samples.sort()
    rng = np.random.default_rng(seed)
    boot = _bootstrap(samples, rng, draws)
    history = samples[boot]
    first = np.zeros((draws, n))
    if busy.size:
        first[:, n_ready:] = _residuals(samples, boot, np.maximum(busy, 0.0), rng)
    deep = queued & (want >= FLUID_ROUNDS * n) & (n * np.array([_columns(w / n) for w in want]) > EXACT_EVENTS)
    exact = queued & ~deep
    if exact.any():
        out[:, exact] = _exact(first, history, want[exact], rng)
    if deep.any():
        out[:, deep] = _fluid(first, history, want[deep], rng)
    return out


def _summaries(waits: np.ndarray, reliable_data: bool) -> list[Estimate]:
    """Median and 10-90 % range of each column of simulated waits, and whether each range is worth announcing."""
    low, mid, high = np.percentile(waits, [LOW_Q, 50.0, HIGH_Q], axis=0)
    useful = (high - low <= MAX_SPAN) | (high <= MAX_RATIO * np.maximum(low, 1.0))
    return [Estimate(float(m), float(lo), float(hi), bool(reliable_data and u),
                     "" if reliable_data and u else FEW_HANDLE_TIMES if not reliable_data else RANGE_TOO_WIDE)
            for m, lo, hi, u in zip(mid, low, high, useful)]


def estimate_waits(positions: Sequence[int], agents: Sequence[AgentLoad], recent_handle_times: Sequence[float],
                   recent_abandon_rate: float = 0.0, draws: int = DRAWS, seed: int = 0) -> list[Estimate]:
    """Estimates for several positions from one simulation (announcing to a whole queue at once)."""
    n_ready = sum(1 for a in agents if a.ready)
    at_work = n_ready + sum(1 for a in agents if not a.ready and a.busy_for is not None)
    if at_work == 0:
        return [NOBODY for _ in positions]
    usable = sum(1 for h in recent_handle_times if h > 0 and math.isfinite(h))
    result: list[Estimate] = [Estimate(0.0, 0.0, 0.0, True) if effective_position(p, recent_abandon_rate) <= n_ready
                              else UNKNOWN for p in positions]
    open_ = [i for i, p in enumerate(positions) if effective_position(p, recent_abandon_rate) > n_ready]
    if open_ and usable:
        waits = sample_waits([positions[i] for i in open_], agents, recent_handle_times, recent_abandon_rate,
                             draws, seed)
        for i, est in zip(open_, _summaries(waits, usable >= MIN_SAMPLES)):
            result[i] = est
    return result


def estimate_wait(position: int, agents: Sequence[AgentLoad], recent_handle_times: Sequence[float],
                  recent_abandon_rate: float = 0.0) -> Estimate:
    """The wait of the caller at ``position`` (1 = next in line).

    ``agents``: every logged-in agent; ``recent_handle_times``: the last ~50 handle times
    (seconds, talk plus wrap-up) of the queue; ``recent_abandon_rate``: the share of recent
    queued callers who hung up before being answered. Enough ready agents for everyone up to
    this caller: 0 and reliable. Not reliable: nobody at work (the figures are inf), fewer
    than MIN_SAMPLES handle times, or a range too wide to be useful (over MAX_SPAN seconds
    and a high end more than MAX_RATIO times the low end). Costs about 1 ms or less.
    """
    return estimate_waits([position], agents, recent_handle_times, recent_abandon_rate)[0]


def _step(seconds: float) -> int:
    """The announcement step in force at this length: 1 minute under 5 minutes, 5 minutes from there on."""
    return SHORT_STEP if seconds < STEP_LIMIT else LONG_STEP


def announce_range(est: Estimate) -> tuple[int, int] | None:
    """Minutes to announce ("between 2 and 4 minutes"), or None when the estimate is not reliable.

    Steps of 1 minute under 5 minutes and of 5 minutes above. The low end is rounded down and
    the high end to the nearest step: rounding both outwards would turn the 80 % range into a
    95 % one too wide to be worth hearing (see docs/acd-estimate.md). A low end of 0 means
    "less than ``high`` minutes"; the two ends always differ.
    """
    if not est.reliable or not math.isfinite(est.high):
        return None
    low_s, high_s = max(est.low, 0.0), max(est.high, 0.0)
    low = int(low_s // _step(low_s)) * _step(low_s) // 60
    high = int(math.floor(high_s / _step(high_s) + 0.5)) * _step(high_s) // 60
    if high <= low:
        high = low + _step(low * 60.0) // 60
    return low, high
