"""The app registry: apps declare typed arguments with a decorator; their docstrings are their help."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from .schema import Ctx, Section, Spec

if TYPE_CHECKING:
    import yaml

    from .interpreter import FlowRun


class Jump:
    """What an app returns to change the flow: goto, gosub, return or hangup."""

    __slots__ = ("kind", "block")

    def __init__(self, kind: str, block: str | None = None):
        self.kind = kind
        self.block = block

    def __repr__(self) -> str:
        return f"Jump({self.kind}, {self.block})"


def goto(block: str) -> Jump:
    """Continue at the start of another block."""
    return Jump("goto", block)


def gosub(block: str) -> Jump:
    """Run another block, then come back after this step."""
    return Jump("gosub", block)


RETURN = Jump("return")
HANGUP = Jump("hangup")

AppFn = Callable[["FlowRun", dict], Awaitable[Jump | None]]
Validator = Callable[[dict, "yaml.Node", Ctx, str], None]


@dataclass
class AppSpec:
    """A registered app: its function, argument schema and help text."""

    name: str
    fn: AppFn
    args: Section
    shorthand: str | None = None
    validate: Validator | None = None
    doc: str = ""
    summary: str = field(default="")
    full_duplex: bool = False  # bridges or queues the caller: a half-duplex line (a voice modem) cannot run it


APPS: dict[str, AppSpec] = {}


def app(name: str, args: dict[str, Spec] | None = None, required: tuple[str, ...] = (),
        shorthand: str | None = None, validate: Validator | None = None,
        full_duplex: bool = False) -> Callable[[AppFn], AppFn]:
    """Register an app; ``shorthand`` names the argument a bare value fills (``goto: main``); ``full_duplex``
    marks apps that bridge or queue the caller (never run on a half-duplex line)."""
    def deco(fn: AppFn) -> AppFn:
        doc = inspect.getdoc(fn) or ""
        APPS[name] = AppSpec(name, fn, Section(args or {}, required=required), shorthand, validate, doc,
                             doc.splitlines()[0] if doc else "", full_duplex)
        return fn
    return deco
