"""Typed, bounded schema that validates YAML nodes and keeps their line marks (config files and flows)."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from .safe_yaml import DEFAULT_LIMITS, YamlLimits, YamlRefused, compose, scalar_value


@dataclass(frozen=True)
class Problem:
    """One problem at a place in a file."""

    file: str
    line: int
    column: int
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"

_MISSING = object()


MAX_PROBLEMS = 100  # a file with more is not worth checking further (and a hostile one could have millions)


class TooManyProblems(Exception):
    """Raised by Ctx.error past MAX_PROBLEMS; the parse functions stop and report what they have."""


class Ctx:
    """Collects problems while one file is validated."""

    def __init__(self, filename: str):
        self.filename = filename
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.refs: list[tuple[str, str, yaml.Node, str]] = []  # (kind, value, node, key) seen by Ref specs

    def error(self, node: yaml.Node | None, key: str, message: str) -> None:
        """Record one problem at the node's position (1-based line and column); stop the check (raise
        TooManyProblems) once there are more than MAX_PROBLEMS."""
        if len(self.problems) >= MAX_PROBLEMS:
            self.problems.append(self._at(node, key, f"checking stopped after {MAX_PROBLEMS} problems"))
            raise TooManyProblems
        self.problems.append(self._at(node, key, message))

    def warn(self, node: yaml.Node | None, key: str, message: str) -> None:
        """Record a warning (the file is still usable); at most MAX_PROBLEMS are kept."""
        if len(self.warnings) < MAX_PROBLEMS:
            self.warnings.append(self._at(node, key, message))

    def _at(self, node: yaml.Node | None, key: str, message: str) -> Problem:
        line = node.start_mark.line + 1 if node is not None else 0
        col = node.start_mark.column + 1 if node is not None else 0
        return Problem(self.filename, line, col, key, message)


def _scalar(node: yaml.Node) -> Any:
    return scalar_value(node)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    value = _scalar(node)
    return "null" if value is None else f"{type(value).__name__} {value!r}"


class Spec:
    """A schema element: validates a node and returns the plain Python value."""

    help: str = ""
    default: Any = _MISSING

    def check(self, node: yaml.Node, ctx: Ctx, key: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def default_value(self) -> Any:
        """The value used when the key is absent (sections fill in their defaults)."""
        return self.default

    def describe(self) -> str:
        """A short phrase naming what is expected, for messages."""
        return "a value"


@dataclass
class Scalar(Spec):
    """A scalar of one Python type, with optional bounds, choices or pattern."""

    type: type
    default: Any = _MISSING
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    pattern: str | None = None
    nullable: bool = False
    help: str = ""
    convert: Callable[[Any], Any] | None = None

    def describe(self) -> str:
        names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
        text = names.get(self.type, self.type.__name__)
        if self.choices:
            text = "one of " + ", ".join(str(c) for c in self.choices)
        if self.min is not None and self.max is not None:
            text += f" from {self.min} to {self.max}"
        elif self.min is not None:
            text += f" >= {self.min}"
        elif self.max is not None:
            text += f" <= {self.max}"
        return text

    def check(self, node: yaml.Node, ctx: Ctx, key: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            ctx.error(node, key, f"expected {self.describe()}, got {_kind(node)}")
            return _MISSING
        value = _scalar(node)
        if value is None and self.nullable:
            return None
        ok_type = isinstance(value, self.type) and not (self.type is int and isinstance(value, bool))
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok_type = float(value), True
        if self.type is str and isinstance(value, (int, float)) and not isinstance(value, bool):
            value, ok_type = str(node.value), True  # extensions like 8001 are strings
        if not ok_type:
            ctx.error(node, key, f"expected {self.describe()}, got {_kind(node)}")
            return _MISSING
        if self.choices is not None and value not in self.choices:
            close = difflib.get_close_matches(str(value), [str(c) for c in self.choices], 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            ctx.error(node, key, f"expected {self.describe()}, got {value!r}{hint}")
            return _MISSING
        if self.min is not None and value < self.min or self.max is not None and value > self.max:
            ctx.error(node, key, f"expected {self.describe()}, got {value!r}")
            return _MISSING
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            ctx.error(node, key, f"{value!r} does not match the expected form {self.help or self.pattern}")
            return _MISSING
        if self.convert is not None:
            try:
                value = self.convert(value)
            except ValueError as exc:
                ctx.error(node, key, str(exc))
                return _MISSING
        return value


@dataclass
class Section(Spec):
    """A mapping with known keys; unknown keys are errors with a 'did you mean' hint."""

    fields: dict[str, Spec]
    help: str = ""
    required: tuple[str, ...] = ()
    extra: Callable[[dict, yaml.MappingNode, Ctx, str], None] | None = None

    def describe(self) -> str:
        return "a mapping"

    def default_value(self) -> Any:
        return {k: s.default_value() for k, s in self.fields.items() if s.default_value() is not _MISSING}

    def check(self, node: yaml.Node, ctx: Ctx, key: str) -> Any:
        if isinstance(node, yaml.ScalarNode) and _scalar(node) is None:
            node = yaml.MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
        if not isinstance(node, yaml.MappingNode):
            ctx.error(node, key, f"expected a mapping, got {_kind(node)}")
            return _MISSING
        out: dict[str, Any] = {}
        seen: set[str] = set()
        for knode, vnode in node.value:
            name = str(_scalar(knode)) if isinstance(knode, yaml.ScalarNode) else "?"
            path = f"{key}.{name}" if key else name
            if name in seen:
                ctx.error(knode, path, "appears twice")
                continue
            seen.add(name)
            spec = self.fields.get(name)
            if spec is None:
                close = difflib.get_close_matches(name, list(self.fields), 1, 0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                ctx.error(knode, path, f"unknown key{hint}")
                continue
            value = spec.check(vnode, ctx, path)
            if value is not _MISSING:
                out[name] = value
        for name, spec in self.fields.items():
            if name in seen:
                continue
            if name in self.required:
                ctx.error(node, f"{key}.{name}" if key else name, "is required")
                continue
            default = spec.default_value()
            if default is not _MISSING:
                out[name] = default
        if self.extra is not None:
            self.extra(out, node, ctx, key)
        return out


@dataclass
class ListOf(Spec):
    """A list whose items all follow one spec."""

    item: Spec
    default: Any = field(default_factory=list)
    help: str = ""

    def describe(self) -> str:
        return "a list"

    def default_value(self) -> Any:
        return list(self.default)

    def check(self, node: yaml.Node, ctx: Ctx, key: str) -> Any:
        if isinstance(node, yaml.ScalarNode) and _scalar(node) is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            ctx.error(node, key, f"expected a list, got {_kind(node)}")
            return _MISSING
        out = []
        for i, item in enumerate(node.value):
            value = self.item.check(item, ctx, f"{key}[{i}]")
            if value is not _MISSING:
                out.append(value)
        return out


@dataclass
class MapOf(Spec):
    """A mapping from free-form keys (matching a pattern) to values of one spec."""

    value: Spec
    key_pattern: str = r".+"
    default: Any = field(default_factory=dict)
    help: str = ""

    def describe(self) -> str:
        return "a mapping"

    def default_value(self) -> Any:
        return dict(self.default)

    def check(self, node: yaml.Node, ctx: Ctx, key: str) -> Any:
        if isinstance(node, yaml.ScalarNode) and _scalar(node) is None:
            return {}
        if not isinstance(node, yaml.MappingNode):
            ctx.error(node, key, f"expected a mapping, got {_kind(node)}")
            return _MISSING
        out = {}
        for knode, vnode in node.value:
            name = str(_scalar(knode))
            path = f"{key}.{name}"
            if not re.fullmatch(self.key_pattern, name):
                ctx.error(knode, path, f"key does not match {self.key_pattern}")
                continue
            value = self.value.check(vnode, ctx, path)
            if value is not _MISSING:
                out[name] = value
        return out


@dataclass
class Ref(Scalar):
    """A string naming something defined elsewhere (a block, a prompt); checked after the whole file."""

    type: type = str
    kind: str = "block"

    def check(self, node: yaml.Node, ctx: Ctx, key: str) -> Any:
        value = super().check(node, ctx, key)
        if isinstance(value, str):
            ctx.refs.append((self.kind, value, node, key))
        return value


class Dispatch(Spec):
    """A mapping whose schema is chosen by one of its keys (a device's ``driver:``)."""

    def __init__(self, selector: str, common: dict[str, Spec], lookup: Callable[[str], Section | None],
                 known: Callable[[], list[str]]):
        self.selector = selector
        self.common = common
        self.lookup = lookup
        self.known = known

    def describe(self) -> str:
        return "a mapping"

    def check(self, node: yaml.Node, ctx: Ctx, key: str) -> Any:
        if not isinstance(node, yaml.MappingNode):
            ctx.error(node, key, f"expected a mapping, got {_kind(node)}")
            return _MISSING
        chosen = None
        for knode, vnode in node.value:
            if isinstance(knode, yaml.ScalarNode) and knode.value == self.selector:
                chosen = (vnode, str(_scalar(vnode)))
        if chosen is None:
            ctx.error(node, f"{key}.{self.selector}", "is required")
            return _MISSING
        vnode, name = chosen
        specific = self.lookup(name)
        if specific is None:
            names = self.known()
            close = difflib.get_close_matches(name, names, 1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(names) or 'none'})"
            ctx.error(vnode, f"{key}.{self.selector}", f"unknown driver {name!r}{hint}")
            return _MISSING
        merged = Section({**self.common, **specific.fields}, required=specific.required, extra=specific.extra)
        return merged.check(node, ctx, key)


def load_node(text: str, ctx: Ctx, limits: YamlLimits = DEFAULT_LIMITS) -> yaml.Node | None:
    """Compose YAML text into a node tree (bounded, see safe_yaml), turning syntax errors and refusals into
    problems."""
    try:
        return compose(text, limits)
    except YamlRefused as exc:
        mark = exc.problem_mark
        ctx.problems.append(Problem(ctx.filename, mark.line + 1, mark.column + 1, "", f"YAML refused: {exc.problem}"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        col = mark.column + 1 if mark else 0
        message = f"YAML syntax error: {exc.problem}"
        start = exc.context_mark
        if exc.context and start is not None and exc.problem_mark is not None and start.line != mark.line:
            # where the unfinished construct began is often the line to fix (an unclosed quote or bracket)
            message += f" ({exc.context} at line {start.line + 1}, column {start.column + 1})"
        ctx.problems.append(Problem(ctx.filename, line, col, "", message))
    except yaml.YAMLError as exc:
        ctx.problems.append(Problem(ctx.filename, 0, 0, "", f"YAML error: {exc}"))
    return None
