"""The built-in flows used until YAML flows are configured: reception and station dialling."""
from __future__ import annotations

from .context import CallContext, ConnectResult


async def reception(ctx: CallContext) -> None:
    """Answer, greet, take an extension (or none for the operator), connect, say sorry if nobody answers."""
    await ctx.answer()
    ctx.step("welcome")
    first = await ctx.play_prompt("welcome", barge_in=True)
    digits = await ctx.collect(max_digits=4, timeout=4.0, terminator="#", first=first)
    target = digits or ctx.vars.get("operator", "")
    ctx.step("route", digits=digits, target=target)
    result = await ctx.connect(target) if target else ConnectResult.UNAVAILABLE
    ctx.step("connect_result", result=result.value)
    if result in (ConnectResult.NO_ANSWER, ConnectResult.BUSY, ConnectResult.UNAVAILABLE):
        await ctx.play_prompt("invalid" if result is ConnectResult.UNAVAILABLE and digits else "sorry")
    await ctx.hangup()


async def station_dial(ctx: CallContext) -> None:
    """A station lifted the handset: dial tone, digits, then an extension or an outside number."""
    first = await ctx.play_tone("dial", seconds=10.0, until_digit=True)
    if first is None:
        await ctx.play_tone("congestion", seconds=3.0)
        return
    digits = await ctx.collect(max_digits=16, timeout=5.0, inter_digit_timeout=3.0, terminator="#", first=first)
    ctx.step("dialled", digits=digits)
    if digits.startswith("*"):  # agent feature codes: log in/out, ready/not ready; *8[ext] call pickup
        ok = ctx.feature_code(digits)
        ctx.step("feature_code", code=digits, ok=ok)
        if ok and digits.startswith("*8"):
            return  # picked up: the line now belongs to the call it answered, no tone from this call
        await ctx.play_tone("beep" if ok else "congestion", seconds=1.0 if ok else 2.0)
        return
    if len(digits) <= 4:
        result = await ctx.connect(digits)
    else:
        result = await ctx.dial_out(digits)
    if result is ConnectResult.BUSY:
        await ctx.play_tone("busy", seconds=3.0)
    elif result in (ConnectResult.UNAVAILABLE, ConnectResult.NO_ANSWER):
        await ctx.play_tone("congestion", seconds=3.0)
