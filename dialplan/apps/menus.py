"""Apps that take keys: menu, collect, language."""
from __future__ import annotations

import re

from ..registry import HANGUP, app, goto
from ..say import Say, say, tokens_to_text
from ..schema import Scalar
from .common import block, count, key, key_map, play_all, prompt, seconds, var


def _menu_check(args, node, ctx, path):
    if not args["options"]:
        ctx.error(node, path, "a menu needs at least one option")
    for special in ("repeat_key", "back_key"):
        k = args.get(special)
        if k and k in args["options"]:
            ctx.error(node, path, f"key {k!r} is both an option and the {special.replace('_', ' ')}")


@app("menu", {
    "prompt": prompt(), "options": key_map(block()), "timeout": seconds(5.0),
    "retries": count(3, 0, 10), "invalid_prompt": prompt(None), "timeout_prompt": prompt(None),
    "repeat_key": key(None), "back_key": key(None), "fallback": block(None),
}, required=("prompt", "options"), validate=_menu_check)
async def menu(run, args):
    """Play a menu and go where the caller's key says.

    options maps keys to blocks; a wrong key plays invalid_prompt, silence plays timeout_prompt;
    after `retries` misses the call goes to `fallback` (or is hung up politely). repeat_key plays
    the menu again; back_key returns to the menu the caller came from.
    """
    misses = 0
    while True:
        pressed = run.ctx.take_pushed() or await play_all(run, args["prompt"])
        if not pressed:
            pressed = await run.ctx.collect(1, timeout=args["timeout"], terminator="")
        if pressed == args["repeat_key"] and pressed:
            run.trail("menu.repeat", menu=args["prompt"])
            continue
        if pressed and pressed == args["back_key"]:
            while run.menu_history and run.menu_history[-1] == run.block:
                run.menu_history.pop()  # re-entered this menu by a goto: back means the one before it
            previous = run.menu_history.pop() if run.menu_history else None
            run.trail("menu.back", menu=args["prompt"], target=previous)
            if previous:
                return goto(previous)
            continue
        target = args["options"].get(pressed) if pressed else None
        if target:
            run.trail("menu.key", menu=args["prompt"], key=pressed, target=target)
            run.menu_history.append(run.block)
            return goto(target)
        misses += 1
        run.trail("menu.timeout" if not pressed else "menu.invalid", menu=args["prompt"], key=pressed or None)
        if misses > args["retries"]:
            run.trail("menu.fallback", menu=args["prompt"], target=args["fallback"])
            if args["fallback"]:
                return goto(args["fallback"])
            await run.ctx.hangup()
            return HANGUP
        retry_prompt = args["timeout_prompt"] if not pressed else args["invalid_prompt"]
        if retry_prompt:
            await run.ctx.play_prompt(run.expand(retry_prompt))


def _collect_check(args, node, ctx, path):
    if args["min_digits"] > args["max_digits"]:
        ctx.error(node, path, f"min_digits {args['min_digits']} is more than max_digits {args['max_digits']}")
    if args["pattern"]:
        try:
            re.compile(args["pattern"])
        except re.error as exc:
            ctx.error(node, path, f"pattern is not a valid regular expression: {exc}")
    if args["confirm"] and not args["confirm_prompt"]:
        ctx.error(node, path, "confirm: true needs confirm_prompt (e.g. 'press 1 if correct, 2 to re-enter')")


@app("collect", {
    "var": var(), "prompt": prompt(None), "min_digits": count(1, 0, 32), "max_digits": count(1, 1, 32),
    "terminator": Scalar(str, default="#", pattern=r"[#*]?"), "timeout": seconds(6.0),
    "inter_digit_timeout": seconds(3.0), "total_timeout": seconds(60.0, 1, 600),
    "pattern": Scalar(str, default=None, nullable=True),
    "retries": count(2, 0, 10), "invalid_prompt": prompt(None), "confirm": Scalar(bool, default=False),
    "confirm_prompt": prompt(None), "secret": Scalar(bool, default=False), "on_fail": block(None),
}, required=("var",), validate=_collect_check)
async def collect(run, args):
    """Collect digits into a variable: length limits, terminator, timeouts (first key, between keys,
    whole entry), a validation pattern,
    optional read-back for confirmation; `secret` keeps the value out of the journal (PINs)."""
    for attempt in range(args["retries"] + 1):
        first = run.ctx.take_pushed() or await play_all(run, args["prompt"])
        digits = await run.ctx.collect(args["max_digits"], timeout=args["timeout"],
                                       inter_digit_timeout=args["inter_digit_timeout"],
                                       terminator=args["terminator"], first=first,
                                       total_timeout=args["total_timeout"])
        ok = len(digits) >= args["min_digits"] and (not args["pattern"] or re.fullmatch(args["pattern"], digits))
        if ok and args["confirm"]:
            tokens = say(digits, Say.DIGITS, run.language)
            await run.ctx.say_tokens(tokens, tokens_to_text(tokens, run.language))
            answer = await play_all(run, args["confirm_prompt"]) or await run.ctx.collect(1, timeout=args["timeout"],
                                                                                          terminator="")
            ok = answer == "1"
        shown = "***" if args["secret"] and digits else digits
        if ok:
            run.vars[args["var"]] = digits
            run.trail("collect", var=args["var"], value=shown, attempt=attempt + 1)
            return None
        run.trail("collect.invalid", var=args["var"], value=shown, attempt=attempt + 1)
        if args["invalid_prompt"] and attempt < args["retries"]:
            await run.ctx.play_prompt(run.expand(args["invalid_prompt"]))
    run.vars[args["var"]] = ""
    run.trail("collect.failed", var=args["var"])
    return goto(args["on_fail"]) if args["on_fail"] else None


@app("language", {"prompt": prompt(), "options": key_map(Scalar(str, choices=("zh_CN", "en_US"))),
                  "timeout": seconds(4.0)}, required=("prompt", "options"))
async def language(run, args):
    """Let the caller choose the language; every later prompt and `say` follows it. Silence keeps the default."""
    pressed = await play_all(run, args["prompt"]) or await run.ctx.collect(1, timeout=args["timeout"], terminator="")
    chosen = args["options"].get(pressed or "")
    if chosen and chosen in run.flow.languages:
        run.ctx.language = chosen
    run.trail("language", key=pressed or None, language=run.language)

