"""The one implementation of the call-center figures: journal events in, hourly summary rows out.

Every definition in docs/metrics.md is implemented here, once. ``Aggregator.apply(event)`` folds one journal
event into pending deltas for the summary tables (``stat_*``, one row per hour and key) and into its
carried state (agents' open state intervals, calls in progress, busy trunks). Events are applied in journal
order (by id). The state is saved with the cursor after each batch, so the tables come out the same whether
the journal is folded in one pass (``hotline stats rebuild``) or a few events at a time while the box runs
(the stats component): a test checks that they agree exactly.

Hours are epoch hours (``int(ts // 3600)``); reports group them into local days, weeks and months. Every
column is an integer: counts, and durations in milliseconds (``*_ms``), so sums are exact.
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Iterable

# Waiting-time buckets (seconds) of the distribution: [0,10) [10,20) [20,30) [30,60) [60,120) [120,300) [300,inf)
WAIT_EDGES = (10, 20, 30, 60, 120, 300)
AGENT_STATES = ("ready", "reserved", "on_call", "wrap_up", "not_ready", "outbound")
STALE_CALL_SECONDS = 86400.0   # a call open this long without an end event is forgotten (the box crashed)

# table -> (key columns, sum columns, max columns)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "stat_queue": (("hour", "queue"),
                   ("offered", "answered", "answered_in_sl", "abandoned", "short_abandoned", "callbacks",
                    "timeouts", "left_queue", "wait_answered_ms", "wait_abandoned_ms", "survey_count",
                    "survey_sum", *(f"wait_bucket_{i}" for i in range(len(WAIT_EDGES) + 1))),
                   ("wait_answered_max_ms",)),
    "stat_agent": (("hour", "agent"),
                   ("calls", "talk_ms", "hold_ms", "missed", "logged_in_ms",
                    *(f"{s}_ms" for s in AGENT_STATES), "survey_count", "survey_sum"),
                   ("talk_max_ms",)),
    "stat_agent_reason": (("hour", "agent", "reason"), ("ms",), ()),
    "stat_calls": (("hour", "direction"),
                   ("calls", "answered", "refused", "queued", "contained", "duration_ms", "voicemails",
                    "faxes"), ()),
    "stat_ivr_node": (("hour", "flow", "node"), ("reached", "left_here"), ()),
    "stat_ivr_choice": (("hour", "flow", "menu", "choice"), ("count",), ()),
    "stat_lines": (("hour",), ("busy_ms", "all_busy_ms"), ("peak",)),
    "stat_fax": (("hour", "direction"), ("sent", "failed", "received", "pages"), ()),
}


def wait_bucket(waited: float) -> int:
    """Index of the waiting-time bucket."""
    for i, edge in enumerate(WAIT_EDGES):
        if waited < edge:
            return i
    return len(WAIT_EDGES)


def ms(seconds: float) -> int:
    """Durations are summed as whole milliseconds: integer sums are exact whatever the order of addition."""
    return int(round(seconds * 1000))


def hour_of(ts: float) -> int:
    """The epoch hour a moment falls in."""
    return int(ts // 3600)


def split_hours(start: float, end: float) -> Iterable[tuple[int, float]]:
    """(hour, seconds) pieces of the interval [start, end)."""
    t = start
    while t < end:
        h = hour_of(t)
        edge = min(end, (h + 1) * 3600.0)
        yield h, edge - t
        t = edge


class Aggregator:
    """Folds events into deltas; ``take()`` hands the deltas over (and clears them)."""

    def __init__(self, state: dict | None = None, trunks: int = 0):
        self.state = state or {"agents": {}, "calls": {}, "busy": {}, "busy_count": 0, "busy_since": None}
        self.trunks = trunks            # trunk lines on this box: "all lines busy" means busy_count >= trunks
        self.sums: dict[tuple, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.maxes: dict[tuple, dict[str, float]] = defaultdict(dict)
        self.abandoned: list[tuple] = []   # rows of the abandoned-call list (stat_abandoned)

    # ---- deltas ------------------------------------------------------------------------------
    def _add(self, table: str, key: tuple, **cols: float) -> None:
        row = self.sums[(table, *key)]
        for c, v in cols.items():
            row[c] += v

    def _max(self, table: str, key: tuple, col: str, value: float) -> None:
        row = self.maxes[(table, *key)]
        if value > row.get(col, float("-inf")):
            row[col] = value

    def take(self) -> list[tuple[str, tuple, dict[str, float], dict[str, float]]]:
        """Pending (table, key, sums, maxes) and clear them."""
        keys = set(self.sums) | set(self.maxes)
        out = [(k[0], k[1:], dict(self.sums.get(k, {})), dict(self.maxes.get(k, {}))) for k in sorted(keys, key=str)]
        self.sums.clear()
        self.maxes.clear()
        return out

    def dump_state(self) -> str:
        """The carried state as JSON (saved with the cursor)."""
        return json.dumps(self.state, separators=(",", ":"))

    # ---- events --------------------------------------------------------------------------------
    def apply(self, ev: dict[str, Any]) -> None:
        """Fold one event: {"ts", "kind", "call_uuid", "line", "data"} (data already a dict)."""
        kind = ev["kind"]
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, ev, ev.get("data") or {})

    # calls
    def _call_offered(self, ev: dict, d: dict) -> None:
        uuid, ts = ev["call_uuid"], ev["ts"]
        direction = d.get("direction", "inbound")
        if len(self.state["calls"]) > 5000:   # deterministic (driven by the events, not by batches)
            self.prune(ts)
        self.state["calls"][uuid] = {"t": ts, "dir": direction, "ans": False, "q": False, "br": False,
                                     "ivr": None, "flow": None, "agent": None, "hold": None}
        self._add("stat_calls", (hour_of(ts), direction), calls=1)
        if direction == "inbound" and ev.get("line"):
            self._trunk_busy(ev["line"], uuid, ts)

    def _call(self, ev: dict) -> dict | None:
        return self.state["calls"].get(ev["call_uuid"]) if ev.get("call_uuid") else None

    def _call_answered(self, ev: dict, d: dict) -> None:
        c = self._call(ev)
        if c is not None and not c["ans"]:
            c["ans"] = True
            self._add("stat_calls", (hour_of(c["t"]), c["dir"]), answered=1)

    def _call_refused(self, ev: dict, d: dict) -> None:
        self._trunk_free(ev["call_uuid"], ev["ts"])   # refused at once: it never held the trunk
        c = self._call(ev)
        if c is not None:
            self._add("stat_calls", (hour_of(c["t"]), c["dir"]), refused=1)

    def _call_bridged(self, ev: dict, d: dict) -> None:
        c = self._call(ev)
        if c is not None:
            c["br"] = True

    def _call_ended(self, ev: dict, d: dict) -> None:
        uuid, ts = ev["call_uuid"], ev["ts"]
        c = self.state["calls"].pop(uuid, None)
        self._trunk_free(uuid, ts)
        if c is None:
            return
        h = hour_of(c["t"])
        self._add("stat_calls", (h, c["dir"]), duration_ms=ms(max(0.0, ts - c["t"])))
        if c["q"]:
            self._add("stat_calls", (h, c["dir"]), queued=1)
        elif c["dir"] == "inbound" and c["ans"] and not c["br"]:
            self._add("stat_calls", (h, c["dir"]), contained=1)   # finished in the IVR, no person involved
        if c["ivr"] is not None:
            self._add("stat_ivr_node", (h, c["flow"], c["ivr"]), left_here=1)

    def _held(self, ev: dict, d: dict) -> None:
        c = self._call(ev)
        if c is not None and c["hold"] is None:
            c["hold"] = ev["ts"]

    def _resumed(self, ev: dict, d: dict) -> None:
        c = self._call(ev)
        if c is not None and c["hold"] is not None:
            if c["agent"] is not None:
                self._add("stat_agent", (hour_of(ev["ts"]), c["agent"]), hold_ms=ms(max(0.0, ev["ts"] - c["hold"])))
            c["hold"] = None

    # IVR
    def _ivr_step(self, ev: dict, d: dict) -> None:
        c = self._call(ev)
        if c is None or not d.get("flow"):
            return
        h = hour_of(c["t"])
        node = d.get("block") or "main"
        if c["ivr"] != node or c["flow"] != d["flow"]:
            seen = c.setdefault("seen", [])
            mark = f"{d['flow']}/{node}"
            if mark not in seen:
                seen.append(mark)
                self._add("stat_ivr_node", (h, d["flow"], node), reached=1)
            c["ivr"], c["flow"] = node, d["flow"]
        step = d.get("step")
        if step == "menu.key":
            self._add("stat_ivr_choice", (h, d["flow"], node, str(d.get("key"))), count=1)   # menu = its block
        elif step == "voicemail":
            self._add("stat_calls", (h, c["dir"]), voicemails=1)
        elif step == "fax":
            self._add("stat_calls", (h, c["dir"]), faxes=1)

    # queues
    def _q_joined(self, ev: dict, d: dict) -> None:
        self._add("stat_queue", (hour_of(ev["ts"]), d["queue"]), offered=1)
        c = self._call(ev)
        if c is not None:
            c["q"] = True

    def _q_answered(self, ev: dict, d: dict) -> None:
        waited = float(d.get("waited") or 0.0)
        key = (hour_of(ev["ts"]), d["queue"])
        self._add("stat_queue", key, answered=1, answered_in_sl=1 if d.get("within_sl") else 0,
                  wait_answered_ms=ms(waited), **{f"wait_bucket_{wait_bucket(waited)}": 1})
        self._max("stat_queue", key, "wait_answered_max_ms", ms(waited))
        c = self._call(ev)
        if c is not None and d.get("agent") is not None:
            c["agent"] = d["agent"]

    def _q_abandoned(self, ev: dict, d: dict) -> None:
        self.abandoned.append((ev["call_uuid"], ev["ts"], hour_of(ev["ts"]), d["queue"], str(d.get("caller") or ""),
                               ms(float(d.get("waited") or 0.0)), 1 if d.get("short") else 0))
        self._add("stat_queue", (hour_of(ev["ts"]), d["queue"]), abandoned=1,
                  short_abandoned=1 if d.get("short") else 0, wait_abandoned_ms=ms(float(d.get("waited") or 0.0)))

    def _q_callback(self, ev: dict, d: dict) -> None:
        self._add("stat_queue", (hour_of(ev["ts"]), d["queue"]), callbacks=1)

    def _q_timeout(self, ev: dict, d: dict) -> None:
        self._add("stat_queue", (hour_of(ev["ts"]), d["queue"]), timeouts=1)

    def _q_left(self, ev: dict, d: dict) -> None:
        self._add("stat_queue", (hour_of(ev["ts"]), d["queue"]), left_queue=1)

    def _survey(self, ev: dict, d: dict) -> None:
        h, score = hour_of(ev["ts"]), int(d.get("score") or 0)
        if d.get("queue"):
            self._add("stat_queue", (h, d["queue"]), survey_count=1, survey_sum=score)
        if d.get("agent") is not None:
            self._add("stat_agent", (h, d["agent"]), survey_count=1, survey_sum=score)

    # agents
    def _agent_state(self, ev: dict, d: dict) -> None:
        agent, ts = d.get("agent"), ev["ts"]
        if agent is None:
            return
        key = str(agent)
        open_ = self.state["agents"].get(key)
        if open_ is not None:
            start, state, reason = open_["t"], open_["s"], open_.get("r")
            for h, secs in split_hours(start, max(start, ts)):
                cols = {"logged_in_ms": ms(secs)}
                if f"{state}_ms" in TABLES["stat_agent"][1]:
                    cols[f"{state}_ms"] = ms(secs)
                self._add("stat_agent", (h, agent), **cols)
                if state == "not_ready":
                    self._add("stat_agent_reason", (h, agent, reason or "none"), ms=ms(secs))
            if state == "on_call":
                talk = ms(max(0.0, ts - start))
                self._add("stat_agent", (hour_of(start), agent), calls=1, talk_ms=talk)
                self._max("stat_agent", (hour_of(start), agent), "talk_max_ms", talk)
        new = d.get("new")
        if new and new != "logged_out":
            self.state["agents"][key] = {"t": ts, "s": new, "r": d.get("reason")}
        else:
            self.state["agents"].pop(key, None)

    def _agent_missed(self, ev: dict, d: dict) -> None:
        if d.get("agent") is not None:
            self._add("stat_agent", (hour_of(ev["ts"]), d["agent"]), missed=1)

    # trunks
    def _leg_offered(self, ev: dict, d: dict) -> None:
        if d.get("direction") == "outbound" and ev.get("line"):
            self._trunk_busy(ev["line"], ev["call_uuid"], ev["ts"])

    def _leg_ended(self, ev: dict, d: dict) -> None:
        self._trunk_free(ev["call_uuid"], ev["ts"])

    def _advance(self, ts: float) -> None:
        """Credit busy-trunk time from the last change up to ts."""
        st = self.state
        since = st["busy_since"]
        n = st["busy_count"]
        if since is not None and ts > since:
            for h, secs in split_hours(since, ts):
                if n:
                    self._add("stat_lines", (h,), busy_ms=n * ms(secs))
                    self._max("stat_lines", (h,), "peak", n)
                if self.trunks and n >= self.trunks:
                    self._add("stat_lines", (h,), all_busy_ms=ms(secs))
        st["busy_since"] = ts if since is None else max(since, ts)

    def _trunk_busy(self, line: str, uuid: str, ts: float) -> None:
        self._advance(ts)
        st = self.state
        if uuid not in st["busy"]:
            st["busy"][uuid] = line
            st["busy_count"] += 1

    def _trunk_free(self, uuid: str, ts: float) -> None:
        st = self.state
        if uuid in st["busy"]:
            self._advance(ts)
            del st["busy"][uuid]
            st["busy_count"] -= 1

    # faxes: a job reaching a final status, in the hour it did
    def _fax_final(self, ev: dict, d: dict) -> None:
        status = ev["kind"].split(".", 1)[1]
        direction = "in" if d.get("direction") == "in" else "out"
        pages = d.get("pages") if status != "failed" else 0
        self._add("stat_fax", (hour_of(ev["ts"]), direction), **{status: 1}, pages=int(pages or 0))

    def prune(self, now: float) -> int:
        """Forget calls open longer than a day (a crash left them; their end never comes)."""
        stale = [u for u, c in self.state["calls"].items() if now - c["t"] > STALE_CALL_SECONDS]
        for u in stale:
            del self.state["calls"][u]
            self.state["busy"].pop(u, None)
        self.state["busy_count"] = len(self.state["busy"])
        return len(stale)


_HANDLERS = {
    "call.offered": Aggregator._call_offered,
    "call.answered": Aggregator._call_answered,
    "call.refused": Aggregator._call_refused,
    "call.bridged": Aggregator._call_bridged,
    "call.ended": Aggregator._call_ended,
    "call.held": Aggregator._held,
    "call.resumed": Aggregator._resumed,
    "ivr.step": Aggregator._ivr_step,
    "queue.joined": Aggregator._q_joined,
    "queue.answered": Aggregator._q_answered,
    "queue.abandoned": Aggregator._q_abandoned,
    "queue.callback_requested": Aggregator._q_callback,
    "queue.timeout": Aggregator._q_timeout,
    "queue.left": Aggregator._q_left,
    "survey.answered": Aggregator._survey,
    "agent.state_changed": Aggregator._agent_state,
    "agent.missed": Aggregator._agent_missed,
    "leg.offered": Aggregator._leg_offered,
    "leg.ended": Aggregator._leg_ended,
    "fax.sent": Aggregator._fax_final,
    "fax.failed": Aggregator._fax_final,
    "fax.received": Aggregator._fax_final,
}
KINDS = tuple(_HANDLERS)
ABANDONED_COLUMNS = ("call_uuid", "ts", "hour", "queue", "caller", "waited_ms", "short")
