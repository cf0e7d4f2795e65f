"""The one way Hotline reads YAML: safe tags only, bounded size, depth, anchors and aliases, one loader per parse.

Every YAML document the box reads (hotline.yaml, flows, acd.yaml imports, the prompt manifest, the OpenAPI
file) goes through :func:`compose` or :func:`load`. A hostile document cannot make the parse or anything that
walks its node tree run long or take much memory: the text is at most ``max_bytes``, nesting at most
``max_depth``, anchors and aliases are counted, and the tree *as expanded through its aliases* has at most
``max_nodes`` nodes (an alias bomb is refused while it is read, not when something walks it). Mapping keys
are scalars only, recursive aliases and non-standard tags (``!!python/...``) are refused, and scalar values
are constructed once while reading, so a node never needs a shared constructor (which would keep every node
it ever saw alive).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

__all__ = ["YamlLimits", "DEFAULT_LIMITS", "YamlRefused", "compose", "load", "scalar_value"]

STR = "tag:yaml.org,2002:str"
_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "str", "timestamp", "binary",
                                                    "merge", "value")}
_SEQ_TAGS = {"tag:yaml.org,2002:seq"}
_MAP_TAGS = {"tag:yaml.org,2002:map"}
_VALUE = "_hotline_value"  # where a scalar node keeps its constructed value
_RETRY_BYTES = 64 * 1024  # syntax errors of documents up to this size are worded by the Python parser


@dataclass(frozen=True)
class YamlLimits:
    """How big a YAML document may be, before and after its aliases are expanded."""

    max_bytes: int = 2 * 1024 * 1024
    max_depth: int = 64
    max_nodes: int = 200_000   # nodes of the tree as expanded through its aliases
    max_anchors: int = 1_000
    max_aliases: int = 1_000
    max_scalar: int = 256 * 1024  # characters of one scalar


DEFAULT_LIMITS = YamlLimits()


class YamlRefused(yaml.MarkedYAMLError):
    """A document is over a limit or uses something that is not allowed; marked where it happens."""


class _Counting:
    """Counts while it composes (mixed into a loader); one instance per document, dropped after it."""

    def __init__(self, text: str | bytes, limits: YamlLimits):
        super().__init__(text)  # type: ignore[call-arg]
        self.setup(limits)

    def setup(self, limits: YamlLimits) -> None:
        """Start counting against ``limits``."""
        self.limits = limits
        self.depth = 0
        self.expanded = 0  # nodes so far, counting an alias as the whole tree it stands for
        self.aliases = 0
        self.sizes: dict[int, int] = {}  # id(anchored node) -> its expanded size, once complete

    def refuse_tag(self, node: yaml.Node, kind: str) -> None:
        """Stop at a tag that is not plain YAML (``!!python/object``, ``!custom``)."""
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        self.refuse(node.start_mark, f"the tag {tag} is not allowed (plain YAML {kind} only)")

    def refuse(self, mark: Any, problem: str) -> None:
        """Stop reading with a problem at ``mark``."""
        raise YamlRefused(problem=problem, problem_mark=mark)

    def compose_node(self, parent: Any, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self.aliases += 1
            if self.aliases > self.limits.max_aliases:
                self.refuse(event.start_mark, f"more than {self.limits.max_aliases} aliases (*name)")
            node = super().compose_node(parent, index)
            size = self.sizes.get(id(node))
            if size is None:
                self.refuse(event.start_mark, f"alias *{event.anchor} refers to a node that contains it")
            self._count(size, event.start_mark)
            return node
        event = self.peek_event()
        self.depth += 1
        if self.depth > self.limits.max_depth:
            self.refuse(event.start_mark, f"nested more than {self.limits.max_depth} levels deep")
        if event.anchor is not None and len(self.anchors) >= self.limits.max_anchors:
            self.refuse(event.start_mark, f"more than {self.limits.max_anchors} anchors (&name)")
        before = self.expanded
        node = super().compose_node(parent, index)
        self.depth -= 1
        self._count(1, event.start_mark)
        self._check(node)
        if event.anchor is not None:
            self.sizes[id(node)] = self.expanded - before
        return node

    def _count(self, n: int, mark: Any) -> None:
        self.expanded += n
        if self.expanded > self.limits.max_nodes:
            self.refuse(mark, f"more than {self.limits.max_nodes:,} values once aliases are expanded")

    def _check(self, node: yaml.Node) -> None:
        """Allowed tags only, scalar keys only, scalar values constructed now (errors marked where they are)."""
        if isinstance(node, yaml.ScalarNode):
            if node.tag not in _SCALAR_TAGS:
                self.refuse_tag(node, "values")
            if len(node.value) > self.limits.max_scalar:
                self.refuse(node.start_mark, f"a value longer than {self.limits.max_scalar:,} characters")
            try:
                setattr(node, _VALUE, _construct(self, node))
            except (ValueError, OverflowError, yaml.YAMLError) as exc:
                problem = getattr(exc, "problem", None) or str(exc)
                self.refuse(node.start_mark, f"cannot read {node.value[:40]!r} as {node.tag.rsplit(':', 1)[-1]}: "
                                             f"{problem}")
        elif isinstance(node, yaml.SequenceNode):
            if node.tag not in _SEQ_TAGS:
                self.refuse_tag(node, "lists")
        elif isinstance(node, yaml.MappingNode):
            if node.tag not in _MAP_TAGS:
                self.refuse_tag(node, "mappings")
            for key, _ in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    self.refuse(key.start_mark, "a mapping key must be a plain value, not a list or a mapping")


class _PythonLoader(_Counting, yaml.SafeLoader):
    """Pure-Python parsing: slower, but its syntax error messages are the ones technicians are shown."""


if yaml.__with_libyaml__:  # libyaml's parser makes the events (about 5 times faster); we compose and count them
    from yaml.cyaml import CParser

    class _FastLoader(_Counting, yaml.composer.Composer, yaml.constructor.SafeConstructor, yaml.resolver.Resolver,
                      CParser):
        """Events from libyaml, nodes and values from Python (where they can be counted)."""

        def __init__(self, text: str | bytes, limits: YamlLimits):
            CParser.__init__(self, text)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            yaml.composer.Composer.__init__(self)
            self.setup(limits)
else:  # pragma: no cover - PyYAML built without libyaml
    _FastLoader = _PythonLoader  # type: ignore[misc,assignment]


def _construct(constructor: yaml.constructor.SafeConstructor, node: yaml.ScalarNode) -> Any:
    """The Python value of one scalar node, without remembering the node anywhere."""
    if node.tag in (f"tag:yaml.org,2002:{t}" for t in ("merge", "value")):
        return node.value
    return yaml.constructor.SafeConstructor.yaml_constructors[node.tag](constructor, node)


_PLAIN = yaml.constructor.SafeConstructor()  # stateless use only: _construct never calls construct_object


def scalar_value(node: yaml.Node) -> Any:
    """A node's plain value: a scalar's (constructed when it was read), or a short description of a list or
    mapping (used in messages; collections are walked by the schema, never constructed here)."""
    if isinstance(node, yaml.ScalarNode):
        value = getattr(node, _VALUE, _VALUE)
        return _construct(_PLAIN, node) if value is _VALUE else value
    return "<a list>" if isinstance(node, yaml.SequenceNode) else "<a mapping>"


def _check_size(text: str | bytes, limits: YamlLimits) -> None:
    """Refuse a document over the size limit, or text that is not valid Unicode (a lone surrogate)."""
    if isinstance(text, str):
        try:
            text = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            before = text[:exc.start]
            line = before.count("\n")
            mark = yaml.Mark("<document>", exc.start, line, exc.start - (before.rfind("\n") + 1), None, None)
            raise YamlRefused(problem="the text is not valid Unicode (a lone surrogate)", problem_mark=mark) from None
    if len(text) > limits.max_bytes:
        mark = yaml.Mark("<document>", 0, 0, 0, None, None)
        raise YamlRefused(problem=f"the document is {len(text):,} bytes, at most {limits.max_bytes:,} are read",
                          problem_mark=mark)


def _read(text: str | bytes, limits: YamlLimits, what: str) -> Any:
    _check_size(text, limits)
    for kind in (_FastLoader, _PythonLoader):
        loader = kind(text, limits)
        try:
            return getattr(loader, what)()
        except YamlRefused:
            raise
        except yaml.MarkedYAMLError as exc:
            # libyaml found a syntax error: a small file is read again in Python for its clearer message (not a
            # deeply nested one: the Python scanner is quadratic in the nesting of [ and {)
            if kind is _PythonLoader or len(text) > _RETRY_BYTES or "nesting depth" in str(exc):
                raise
        finally:
            loader.dispose()
    raise yaml.YAMLError("libyaml refused a document that PyYAML reads")  # pragma: no cover


def compose(text: str | bytes, limits: YamlLimits = DEFAULT_LIMITS) -> yaml.Node | None:
    """The node tree of one YAML document (None when empty), with line marks; raises yaml.YAMLError (a
    YamlRefused for a limit) naming the line and column."""
    return _read(text, limits, "get_single_node")


def load(text: str | bytes, limits: YamlLimits = DEFAULT_LIMITS) -> Any:
    """The plain Python data of one YAML document (like yaml.safe_load, bounded the same way as compose)."""
    return _read(text, limits, "get_single_data")
