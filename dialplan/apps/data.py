"""Apps that look things up: lookup, identify, verify_pin."""
from __future__ import annotations

from ..registry import app, goto
from ..schema import Scalar
from .common import block, count, var


def _lookup_check(args, node, ctx, path):
    check = getattr(ctx, "lookup_check", None)
    if check is not None:
        message = check(args["table"], args["by"])
        if message:
            ctx.error(node, path, message)


def _store(run, prefix: str, row: dict) -> None:
    for name, value in row.items():
        run.vars[f"{prefix}.{name}"] = "" if value is None else str(value)


@app("lookup", {"table": Scalar(str), "by": Scalar(str), "value": Scalar(str), "into": var(None),
                "found": block(None), "not_found": block(None)},
     required=("table", "by", "value"), validate=_lookup_check)
async def lookup(run, args):
    """Find a row of a data table (products by model, dealers by area code, repair centers by region,
    warranties by serial number, orders by order number, ...) and put its fields into variables
    `<into>.<field>` (into defaults to the table name). Goes to `found`/`not_found` when given."""
    value = run.expand(args["value"])
    into = args["into"] or args["table"]
    try:
        row = await run.services.lookup(args["table"], args["by"], value) if value else None
    except Exception as exc:  # a database error: the caller hears the not-found path, the error is journaled
        run.trail("lookup.error", table=args["table"], by=args["by"], value=value, error=str(exc))
        row = None
    run.trail("lookup", table=args["table"], by=args["by"], value=value, found=row is not None)
    if row is None:
        return goto(args["not_found"]) if args["not_found"] else None
    _store(run, into, row)
    return goto(args["found"]) if args["found"] else None


@app("identify", {"into": var("customer"), "found": block(None), "not_found": block(None)})
async def identify(run, args):
    """Recognise the caller by caller id: the matching customer's fields go into `customer.*`."""
    row = await run.services.customer_by_caller(run.ctx.caller_id) if run.ctx.caller_id else None
    run.trail("identify", found=row is not None, customer=(row or {}).get("id"))
    if row is None:
        return goto(args["not_found"]) if args["not_found"] else None
    _store(run, args["into"], row)
    return goto(args["found"]) if args["found"] else None


@app("verify_pin", {"member_var": var("member_no"), "pin_var": var("pin"), "max_failures": count(3, 1, 10),
                    "ok": block(None), "retry": block(None), "locked": block()},
     required=("locked",))
async def verify_pin(run, args):
    """Check a member number and PIN (collected before) against the customer records. A wrong PIN
    goes to `retry`; after `max_failures` wrong PINs in this call the caller goes to `locked`."""
    member, pin = run.get(args["member_var"], ""), run.get(args["pin_var"], "")
    row = await run.services.verify_pin(member, pin) if member and pin else None
    run.vars[args["pin_var"]] = ""  # never keep the PIN around
    if row is not None:
        _store(run, "customer", row)
        run.trail("verify_pin", member=member, ok=True)
        return goto(args["ok"]) if args["ok"] else None
    failures = int(run.vars.get("_pin_failures", 0)) + 1
    run.vars["_pin_failures"] = failures
    run.trail("verify_pin", member=member, ok=False, failures=failures)
    if failures >= args["max_failures"]:
        return goto(args["locked"])
    return goto(args["retry"]) if args["retry"] else None
