"""Basic apps: answer, hangup, play, say, tts, set, goto, gosub, return."""
from __future__ import annotations

from ..registry import HANGUP, RETURN, app, gosub, goto
from ..say import Say, say, tokens_to_text
from ..schema import MapOf, Scalar
from .common import LocalizedText, block, localized, play_all, prompt, prompts


@app("answer")
async def answer(run, args):
    """Answer the call (go off hook). Most flows start with it."""
    await run.ctx.answer()
    run.trail("answer")


@app("hangup", {"prompt": prompt(None)}, shorthand="prompt")
async def hangup(run, args):
    """Play an optional goodbye prompt, then end the call."""
    if args["prompt"]:
        await run.ctx.play_prompt(run.expand(args["prompt"]))
    run.trail("hangup")
    await run.ctx.hangup()
    return HANGUP


def _prompt_or_list(args, node, ctx, key):
    given = [k for k in ("prompt", "prompts", "file") if args.get(k)]
    if len(given) != 1:
        ctx.error(node, key, "give one of prompt: ID, prompts: [ID, ...] or file: NAME.wav")


@app("play", {"prompt": prompt(None), "prompts": prompts, "barge_in": Scalar(bool, default=False),
              "file": Scalar(str, default=None, nullable=True, pattern=r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,200}\.wav",
                             help="a WAV file under the prompts directory, e.g. music/hold.wav")},
     shorthand="prompt", validate=_prompt_or_list)
async def play(run, args):
    """Play one prompt, several in a row, or a WAV file from the prompts directory; with barge_in a key
    stops playback and is kept for the next step."""
    if args["file"]:
        key = await run.ctx.play_file(run.expand(args["file"]), barge_in=args["barge_in"])
        run.trail("play", file=args["file"], key=key)
        if key:
            run.ctx.push_back(key)
        return None
    ids = [args["prompt"]] if args["prompt"] else args["prompts"]
    key = await play_all(run, ids, args["barge_in"])
    run.trail("play", prompts=ids, key=key)
    if key:
        run.ctx.push_back(key)


@app("say", {"value": Scalar(str), "as": Scalar(str, choices=tuple(s.value for s in Say)),
             "currency": Scalar(str, default="CNY", choices=("CNY", "USD")), "barge_in": Scalar(bool, default=False)},
     required=("value", "as"))
async def say_app(run, args):
    """Speak a value as digits, a number, money, a date, a time or a phone number, in the caller's language."""
    value = run.expand(args["value"])
    kind = Say(args["as"])
    kw = {"currency": args["currency"]} if kind is Say.MONEY else {}
    try:
        tokens = say(value, kind, run.language, **kw)
    except ValueError as exc:
        run.trail("say.invalid", value=value, error=str(exc))
        return None
    run.trail("say", value=value, kind=kind.value)
    key = await run.ctx.say_tokens(tokens, tokens_to_text(tokens, run.language), barge_in=args["barge_in"])
    if key:
        run.ctx.push_back(key)


@app("tts", {"text": LocalizedText(), "barge_in": Scalar(bool, default=False)}, shorthand="text",
     required=("text",))
async def tts(run, args):
    """Speak dynamic text (with ${variables}) with the speech synthesizer; text may be given per language."""
    text = localized(run, args["text"])
    run.trail("tts", text=text)
    key = await run.ctx.speak(text, barge_in=args["barge_in"])
    if key:
        run.ctx.push_back(key)


@app("set", {"vars": MapOf(Scalar(str, nullable=True), key_pattern=r"[a-z_][a-z0-9_.]*")}, shorthand="vars")
async def set_vars(run, args):
    """Set variables: set: {queue: printers, tries: "0"} (values may use ${other})."""
    for name, value in args["vars"].items():
        run.vars[name] = run.expand(value) if value is not None else None
    run.trail("set", names=sorted(args["vars"]))


@app("goto", {"block": block()}, shorthand="block", required=("block",))
async def goto_app(run, args):
    """Continue at the start of another block."""
    return goto(args["block"])


@app("gosub", {"block": block()}, shorthand="block", required=("block",))
async def gosub_app(run, args):
    """Run another block as a subroutine; its return (or its end) comes back here."""
    return gosub(args["block"])


@app("return")
async def return_app(run, args):
    """Return from a gosub."""
    return RETURN

