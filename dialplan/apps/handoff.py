"""Apps that hand the caller on or leave something behind: transfer, queue, voicemail, callback, fax, survey."""
from __future__ import annotations

from ..context import ConnectResult
from ..registry import app, goto
from ..schema import Scalar
from .common import block, count, play_all, prompt, seconds, var


def _one_target(args, node, ctx, path):
    if bool(args.get("extension")) == bool(args.get("number")):
        ctx.error(node, path, "give exactly one of extension: or number:")


@app("transfer", {"extension": Scalar(str, default=None, nullable=True),
                  "number": Scalar(str, default=None, nullable=True), "ring_timeout": seconds(30.0, 5, 300),
                  "failed": block(None)}, validate=_one_target, full_duplex=True)
async def transfer(run, args):
    """Connect the caller to a station (extension) or an outside number through a trunk.
    When nobody answers or the line is busy the flow goes on (or to `failed`)."""
    if args["extension"]:
        target = run.expand(args["extension"])
        result = await run.ctx.connect(target, args["ring_timeout"])
    else:
        target = run.expand(args["number"])
        result = await run.ctx.dial_out(target, args["ring_timeout"])
    run.vars["transfer_result"] = result.value
    run.trail("transfer", target=target, result=result.value)
    if result in (ConnectResult.COMPLETED, ConnectResult.TRANSFERRED):
        await run.ctx.hangup()
    return goto(args["failed"]) if args["failed"] else None


@app("queue", {"name": Scalar(str), "ring_timeout": seconds(30.0, 5, 600), "no_agent": block(None),
               "voicemail": block(None), "sticky": Scalar(bool, default=False),
               "sticky_timeout": seconds(15.0, 5, 60)},
     shorthand="name", required=("name",), full_duplex=True)
async def queue(run, args):
    """Hand the caller to a queue (the ACD): music, position and wait announcements, the right agent by the
    queue's strategy, a key to leave for a callback that keeps the caller's place or for voicemail.
    When nobody can take the call the flow goes on at `no_agent` (or `voicemail` when the caller chose it).
    A name the ACD does not know rings every station together (sticky: the caller's last agent first)."""
    name = run.expand(args["name"])
    vip = str(run.get("customer.vip", "")).lower() in ("true", "1", "yes")
    run.trail("queue", queue=name, vip=vip)
    outcome = await run.services.enter_queue(name, run.ctx, vip=vip)
    if outcome is None:  # not an ACD queue: ring a group of stations
        outcome = await _ring_group(run, name, args)
    run.vars["queue_result"] = outcome
    run.trail("queue.result", queue=name, result=outcome)
    if outcome in ("completed", "callback"):
        if outcome == "callback":
            await play_all(run, "goodbye", barge_in=False)
        await run.ctx.hangup()
    if outcome == "voicemail" and args["voicemail"]:
        return goto(args["voicemail"])
    return goto(args["no_agent"]) if args["no_agent"] else None


async def _ring_group(run, name: str, args: dict) -> str:
    members = await run.services.queue_members(name)
    result = ConnectResult.UNAVAILABLE
    if args["sticky"]:
        last = await run.services.last_agent(run.ctx.caller_id)
        run.trail("queue.sticky", queue=name, agent=last)
        if last and last in members:
            result = await run.ctx.connect(last, args["sticky_timeout"])
    if result not in (ConnectResult.COMPLETED, ConnectResult.TRANSFERRED):
        result = await run.ctx.connect_any(members, args["ring_timeout"]) if members else ConnectResult.UNAVAILABLE
    return "completed" if result in (ConnectResult.COMPLETED, ConnectResult.TRANSFERRED) else result.value


@app("voicemail", {"mailbox": Scalar(str, default="general"), "greeting": prompt(None),
                   "max_seconds": seconds(120.0, 5, 600), "silence_seconds": seconds(5.0, 1, 30),
                   "review": Scalar(bool, default=False), "review_prompt": prompt(None),
                   "saved_prompt": prompt(None)})
async def voicemail(run, args):
    """Record a message after the greeting and a beep; it ends at max_seconds, after silence, or on #.
    With review the caller hears it back and presses 1 to keep it or 2 to record again."""
    await play_all(run, args["greeting"], barge_in=False)
    while True:
        audio = await run.ctx.record(args["max_seconds"], args["silence_seconds"], beep=True)
        if args["review"] and args["review_prompt"]:
            await run.ctx.play_audio(audio)
            choice = await play_all(run, args["review_prompt"]) or await run.ctx.collect(1, timeout=6, terminator="")
            if choice == "2":
                run.trail("voicemail.rerecord", mailbox=args["mailbox"])
                continue
        break
    row = await run.services.create("voicemail", mailbox=run.expand(args["mailbox"]), audio=audio,
                                    caller_number=run.ctx.caller_id, call_uuid=run.ctx.uuid)
    run.trail("voicemail", mailbox=args["mailbox"], seconds=round(len(audio) / 8000.0, 1), id=row.get("id"))
    await play_all(run, args["saved_prompt"], barge_in=False)


@app("callback_request", {"prompt": prompt(), "number_prompt": prompt(), "done_prompt": prompt(None),
                          "queue": Scalar(str, default="default"), "timeout": seconds(6.0)},
     required=("prompt", "number_prompt"))
async def callback_request(run, args):
    """Offer a callback: 1 confirms the caller's own number, 2 lets them key another. The callback joins the
    queue's callbacks (as with the queue's leave key): dialled when an agent is free, and after hours when the
    queue's hours open; an agent's phone rings first, then the caller is called back."""
    number = run.ctx.caller_id
    choice = await play_all(run, args["prompt"]) or await run.ctx.collect(1, timeout=args["timeout"], terminator="")
    if choice == "2" or not number:
        first = await play_all(run, args["number_prompt"])
        number = await run.ctx.collect(16, timeout=args["timeout"], inter_digit_timeout=4, terminator="#", first=first)
    if not number or len(number) < 3:
        run.trail("callback.cancelled")
        return None
    row = await run.services.create("callback", number=number, queue=run.expand(args["queue"]),
                                    call_uuid=run.ctx.uuid)
    run.vars["callback_number"] = number
    run.trail("callback", number=number, queue=args["queue"], id=row.get("id"))
    await play_all(run, args["done_prompt"], barge_in=False)


def _document_ref(args, node, ctx, path):
    """The document must be in the fax library (a ${var} is checked by flow.py against every value given to it)."""
    ctx.refs.append(("document", args["document"], node, f"{path}.document"))


@app("fax", {"document": Scalar(str), "number": Scalar(str, default="same_call"), "done_prompt": prompt(None),
             "unavailable_prompt": prompt("fax_unavailable"), "failed_prompt": prompt("fax_same_call_failed")},
     required=("document",), validate=_document_ref)
async def fax(run, args):
    """Ask for a fax of a library document to a number, or `same_call`: sent back on this call. The caller hears
    what really happens: `unavailable_prompt` when it cannot be sent (no fax engine on this box, a line that cannot
    carry fax, or the document is not in the library); to a number, `done_prompt` and the number once queued; on
    this call, `done_prompt` (it must tell the caller to press their fax machine's Start), then the box sends as
    the calling fax machine, waiting at least 30 s for theirs to answer; if it did not go, `failed_prompt`."""
    document, number = run.expand(args["document"]), run.expand(args["number"])
    row = await run.services.create("fax", document=document, number=number, call_uuid=run.ctx.uuid,
                                    caller_id=run.ctx.caller_id)
    run.trail("fax", document=document, number=number, id=row.get("id"), status=row.get("status"),
              reason=row.get("reason"))
    if row.get("status") != "queued":
        await play_all(run, args["unavailable_prompt"], barge_in=False)
        return
    await play_all(run, args["done_prompt"], barge_in=False)
    if row.get("number"):
        if args["done_prompt"]:
            await run.ctx.say_value(row["number"], "digits")
        return
    done = await run.services.fax_on_call(row["id"], run.ctx.uuid) or {}
    run.trail("fax.done", id=row.get("id"), status=done.get("status"), pages=done.get("pages"),
              reason=done.get("reason"))
    if done.get("status") != "sent":
        await play_all(run, args["failed_prompt"], barge_in=False)


@app("survey", {"prompt": prompt(), "thanks_prompt": prompt(None), "var": var("survey_score"),
                "timeout": seconds(8.0)}, required=("prompt",))
async def survey(run, args):
    """Ask for a rating 1-5; the score is stored with the call."""
    pressed = await play_all(run, args["prompt"]) or await run.ctx.collect(1, timeout=args["timeout"], terminator="")
    if pressed not in ("1", "2", "3", "4", "5"):
        run.trail("survey", score=None)
        return None
    run.vars[args["var"]] = pressed
    await run.services.create("survey", score=int(pressed), call_uuid=run.ctx.uuid)
    run.trail("survey", score=int(pressed))
    await play_all(run, args["thanks_prompt"], barge_in=False)


@app("record_prompt", {"prompt_id": Scalar(str, pattern=r"[a-z][a-z0-9_]{0,63}"),
                       "language": Scalar(str, default="zh_CN", choices=("zh_CN", "en_US")),
                       "max_seconds": seconds(30.0, 2, 120), "tries": count(3, 1, 5)},
     required=("prompt_id",))
async def record_prompt(run, args):
    """A technician records a prompt by phone: beep, speak, # to stop; hear it back; 1 keeps it, 2 again."""
    for _ in range(args["tries"]):
        audio = await run.ctx.record(args["max_seconds"], 4.0, beep=True)
        await run.ctx.play_audio(audio)
        choice = await run.ctx.collect(1, timeout=8, terminator="")
        if choice == "1":
            await run.services.save_prompt(args["prompt_id"], args["language"], audio)
            run.trail("record_prompt", prompt_id=args["prompt_id"], language=args["language"], saved=True)
            return None
    run.trail("record_prompt", prompt_id=args["prompt_id"], language=args["language"], saved=False)


TICKET_TYPES = ("repair", "no_water", "low_pressure", "leak", "water_quality", "meter", "billing", "complaint",
                "enquiry", "other")


@app("ticket", {"type": Scalar(str, choices=TICKET_TYPES), "summary": Scalar(str, default=""),
                "priority": Scalar(str, default="normal", choices=("low", "normal", "high", "urgent")),
                "district": Scalar(str, default=None, nullable=True), "into": var("ticket"),
                "done_prompt": prompt(None)}, required=("type",))
async def ticket(run, args):
    """Open a service ticket for the caller (a fault report); the box routes it to the repair station of
    the caller's district. Its fields go into `<into>.*` (ticket_no can then be read back with say)."""
    customer = run.get("customer.customer_id") or None
    row = await run.services.create("ticket", type=args["type"], summary=run.expand(args["summary"]),
                                    priority=args["priority"], caller_number=run.ctx.caller_id,
                                    customer_id=int(customer) if customer else None,
                                    district=run.expand(args["district"]) if args["district"] else None,
                                    call_uuid=run.ctx.uuid)
    for name, value in row.items():
        run.vars[f"{args['into']}.{name}"] = "" if value is None else str(value)
    run.trail("ticket", type=args["type"], ticket_no=row.get("ticket_no"), district=row.get("district"))
    await play_all(run, args["done_prompt"], barge_in=False)
