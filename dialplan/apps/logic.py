"""Apps that decide: branch, time, blacklist."""
from __future__ import annotations

import re

from ..registry import HANGUP, app, goto
from ..schema import ListOf, Scalar, Section
from .common import block, prompt, var

CONDITION = Section({
    "var": var(None), "equals": Scalar(str, default=None, nullable=True),
    "not_equals": Scalar(str, default=None, nullable=True), "matches": Scalar(str, default=None, nullable=True),
    "in": ListOf(Scalar(str), default=[]), "empty": Scalar(bool, default=None, nullable=True),
    "caller_matches": Scalar(str, default=None, nullable=True),
})
CASE = Section({"when": CONDITION, "goto": block()}, required=("when", "goto"))


def _branch_check(args, node, ctx, path):
    for i, case in enumerate(args["cases"]):
        cond = case["when"]
        tests = [k for k in ("equals", "not_equals", "matches", "empty") if cond.get(k) is not None]
        tests += ["in"] if cond.get("in") else []
        if cond.get("caller_matches") is None and (not cond.get("var") or not tests):
            ctx.error(node, f"{path}.cases[{i}]", "a condition needs var: with equals, not_equals, matches, "
                                                  "in or empty — or caller_matches:")
        for pat in (cond.get("matches"), cond.get("caller_matches")):
            if pat is not None:
                try:
                    re.compile(pat)
                except re.error as exc:
                    ctx.error(node, f"{path}.cases[{i}]", f"bad regular expression {pat!r}: {exc}")


def holds(run, cond: dict) -> bool:
    """True when every test of a condition holds."""
    if cond.get("caller_matches") is not None and not re.search(cond["caller_matches"], run.ctx.caller_id or ""):
        return False
    if not cond.get("var"):
        return True
    value = run.get(cond["var"])
    value = "" if value is None else str(value)
    checks = [
        cond.get("equals") is None or value == run.expand(cond["equals"]),
        cond.get("not_equals") is None or value != run.expand(cond["not_equals"]),
        cond.get("matches") is None or re.search(cond["matches"], value) is not None,
        not cond.get("in") or value in [run.expand(v) for v in cond["in"]],
        cond.get("empty") is None or (value == "") == cond["empty"],
    ]
    return all(checks)


@app("branch", {"cases": ListOf(CASE), "else": block(None)}, required=("cases",), validate=_branch_check)
async def branch(run, args):
    """Go to the first case whose condition holds (variables, caller number patterns), else to `else`."""
    for i, case in enumerate(args["cases"]):
        if holds(run, case["when"]):
            run.trail("branch", case=i, target=case["goto"])
            return goto(case["goto"])
    run.trail("branch", case=None, target=args["else"])
    return goto(args["else"]) if args["else"] else None


@app("time", {"schedule": Scalar(str, default="office"), "open": block(None), "closed": block(None),
              "holiday": block(None)})
async def time_rule(run, args):
    """Business hours: go to `open`, `closed` or `holiday` by the named schedule, the holiday calendar
    and the day/night override switch (a missing holiday block falls back to `closed`)."""
    state = await run.services.time_state(args["schedule"])
    target = args.get(state) or (args["closed"] if state == "holiday" else None)
    run.trail("time", schedule=args["schedule"], state=state, target=target)
    return goto(target) if target else None


@app("blacklist", {"action": Scalar(str, default="message", choices=("message", "silent")), "prompt": prompt(None)})
async def blacklist(run, args):
    """Callers on the block list hear a message and are hung up (or are hung up silently)."""
    reason = await run.services.blacklisted(run.ctx.caller_id)
    if reason is None:
        return None
    run.trail("blacklist", action=args["action"], reason=reason)
    if args["action"] == "message" and args["prompt"]:
        await run.ctx.play_prompt(args["prompt"])
    await run.ctx.hangup()
    return HANGUP
