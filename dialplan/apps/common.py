"""Argument types shared by the apps."""
from __future__ import annotations

import yaml

from ..schema import Ctx, ListOf, MapOf, Ref, Scalar, Spec

KEY = r"[0-9*#A-D]"


def block(default: object = ..., **kw: object) -> Ref:
    """A block name (checked to exist)."""
    return Ref(kind="block", **({} if default is ... else {"default": default, "nullable": default is None}), **kw)


def prompt(default: object = ..., **kw: object) -> Ref:
    """A prompt id (checked against the prompt manifest)."""
    return Ref(kind="prompt", **({} if default is ... else {"default": default, "nullable": default is None}), **kw)


def seconds(default: float, lo: float = 0.5, hi: float = 600.0) -> Scalar:
    """A duration in seconds."""
    return Scalar(float, default=default, min=lo, max=hi)


def count(default: int, lo: int = 0, hi: int = 20) -> Scalar:
    """A small whole number."""
    return Scalar(int, default=default, min=lo, max=hi)


def var(default: object = ...) -> Scalar:
    """A variable name."""
    kw = {} if default is ... else {"default": default, "nullable": default is None}
    return Scalar(str, pattern=r"[a-z_][a-z0-9_.]*", help="a variable name (lower-case, digits, _ and .)", **kw)


def key(default: object = None) -> Scalar:
    """One keypad key."""
    return Scalar(str, default=default, nullable=default is None, pattern=KEY, help="one key 0-9 * # A-D")


def key_map(value: object) -> MapOf:
    """A mapping from keys to something."""
    return MapOf(value, key_pattern=KEY)


prompts = ListOf(prompt())


async def play_all(run: object, ids: list[str] | str | None, barge_in: bool = True) -> str | None:
    """Play prompts in order; a key stops them and is returned."""
    if not ids:
        return None
    for pid in [ids] if isinstance(ids, str) else ids:
        key_pressed = await run.ctx.play_prompt(run.expand(pid), barge_in=barge_in)  # type: ignore[attr-defined]
        if key_pressed:
            return key_pressed
    return None


class LocalizedText(Spec):
    """A text, or a mapping of locale to text ({zh_CN: ..., en_US: ...})."""

    def __init__(self) -> None:
        self.default = ...
        self._one = Scalar(str)
        self._map = MapOf(Scalar(str), key_pattern=r"zh_CN|en_US")

    def describe(self) -> str:
        return "a text or {zh_CN: text, en_US: text}"

    def default_value(self) -> object:
        return self.default

    def check(self, node: yaml.Node, ctx: Ctx, key: str) -> object:
        spec = self._map if isinstance(node, yaml.MappingNode) else self._one
        return spec.check(node, ctx, key)


def localized(run: object, value: str | dict) -> str:
    """The text for the caller's language (falling back to the other one)."""
    if isinstance(value, str):
        return run.expand(value)  # type: ignore[attr-defined]
    lang = run.language  # type: ignore[attr-defined]
    text = value.get(lang) or next(iter(value.values()), "")
    return run.expand(text)  # type: ignore[attr-defined]
