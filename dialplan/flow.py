"""Loading and validating flows: YAML with line marks, every problem reported at once."""
from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from .registry import APPS
from .schema import Ctx, ListOf, MapOf, Problem, Scalar, Section, Spec, TooManyProblems, _scalar, load_node

LOCALES = ("zh_CN", "en_US")


class FlowError(Exception):
    """A flow is invalid; ``problems`` lists every one with file:line:col."""

    def __init__(self, problems: list[Problem], warnings: list[Problem] | None = None):
        self.problems = problems
        self.warnings = warnings or []
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Step:
    """One step: an app with validated arguments, and where it stands in the file."""

    app: str
    args: dict[str, Any]
    line: int
    column: int = 0  # 1-based, where the step's list item starts (0: unknown)


@dataclass
class Flow:
    """A validated flow, ready to run."""

    name: str
    title: dict[str, str]
    languages: list[str]
    start: str
    error: str | None
    vars: dict[str, Any]
    blocks: dict[str, list[Step]]
    source: str
    warnings: list[Problem] = field(default_factory=list)
    filename: str = ""  # where the source was read from (problems found later name it)
    fax_detect: bool = True  # a caller's fax calling tone (CNG) turns the call into a fax receive

    @property
    def digest(self) -> str:
        """Content hash of the source (identifies a version)."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]


class _Later(Spec):
    """A part of the document checked separately (the blocks)."""

    def check(self, node: yaml.Node, ctx: Ctx, key: str) -> Any:
        return None


HEADER = Section({
    "flow": Scalar(str, pattern=r"[a-z][a-z0-9_]{0,47}", help="lower-case letters, digits and _"),
    "title": MapOf(Scalar(str), key_pattern=r"zh_CN|en_US"),
    "description": Scalar(str, default="", nullable=True),
    "languages": ListOf(Scalar(str, choices=LOCALES), default=["zh_CN", "en_US"]),
    "start": Scalar(str, default="main"),
    "error": Scalar(str, default=None, nullable=True),
    "vars": MapOf(Scalar(str, nullable=True), key_pattern=r"[a-z_][a-z0-9_]*"),
    "fax_detect": Scalar(bool, default=True, help="true (default): a caller's fax calling tone turns the call "
                         "into a fax receive; false: this flow never takes a fax"),
    "blocks": _Later(),  # checked step by step below
}, required=("flow", "blocks"))

PromptCheck = Callable[[str, str], bool]        # (prompt id, locale) -> exists
LookupCheck = Callable[[str, str], str | None]  # (table, field) -> error message or None
DocumentNames = Callable[[], set[str]]          # the fax library's document names
VAR_ONLY = re.compile(r"\$\{([a-z_][a-z0-9_.]*)\}")


def _parse_step(node: yaml.Node, ctx: Ctx, key: str) -> Step | None:
    if isinstance(node, yaml.ScalarNode):
        name, args_node = str(_scalar(node)), None
    elif isinstance(node, yaml.MappingNode) and len(node.value) == 1:
        knode, args_node = node.value[0]
        name = str(_scalar(knode))
    else:
        ctx.error(node, key, "a step is one app: '- answer' or '- menu: {...}'")
        return None
    spec = APPS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, list(APPS), 1)
        ctx.error(node, key, f"unknown app {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        return None
    key = f"{key}.{name}"
    if args_node is None or (isinstance(args_node, yaml.ScalarNode) and _scalar(args_node) is None):
        args_node = yaml.MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
    elif isinstance(args_node, yaml.MappingNode) and spec.shorthand is not None and not (
            {str(_scalar(k)) for k, _ in args_node.value} & set(spec.args.fields)):
        # a mapping that is not the app's arguments is the value of its main argument (set: {var: value})
        knode = yaml.ScalarNode("tag:yaml.org,2002:str", spec.shorthand, args_node.start_mark, args_node.end_mark)
        args_node = yaml.MappingNode("tag:yaml.org,2002:map", [(knode, args_node)], args_node.start_mark,
                                     args_node.end_mark)
    elif not isinstance(args_node, yaml.MappingNode):
        if spec.shorthand is None:
            ctx.error(args_node, key, f"{name} takes a mapping of arguments")
            return None
        knode = yaml.ScalarNode("tag:yaml.org,2002:str", spec.shorthand, args_node.start_mark, args_node.end_mark)
        args_node = yaml.MappingNode("tag:yaml.org,2002:map", [(knode, args_node)], args_node.start_mark,
                                     args_node.end_mark)
    before = len(ctx.problems)
    args = spec.args.check(args_node, ctx, key)
    if len(ctx.problems) > before or not isinstance(args, dict):
        return None
    if spec.validate is not None:
        spec.validate(args, args_node, ctx, key)
    return Step(name, args, node.start_mark.line + 1, node.start_mark.column + 1)


def parse_flow(text: str, filename: str, prompt_exists: PromptCheck | None = None,
               lookup_check: LookupCheck | None = None, document_names: DocumentNames | None = None) -> Flow:
    """Validate a flow document; raise FlowError listing every problem."""
    from . import apps  # noqa: F401 - registers the built-in apps
    ctx = Ctx(filename)
    ctx.lookup_check = lookup_check  # type: ignore[attr-defined]
    ctx.document_names = document_names  # type: ignore[attr-defined]
    root = load_node(text, ctx)
    if root is None:
        if not ctx.problems:
            ctx.error(None, "", "the file is empty")
        raise FlowError(ctx.problems)
    try:
        return _check_flow(root, ctx, text, prompt_exists)
    except TooManyProblems:
        raise FlowError(ctx.problems, ctx.warnings) from None


def _check_flow(root: yaml.Node, ctx: Ctx, text: str, prompt_exists: PromptCheck | None) -> Flow:
    header = HEADER.check(root, ctx, "")  # a document that is not a mapping is reported here
    pairs = root.value if isinstance(root, yaml.MappingNode) else []
    blocks_node = next((v for k, v in pairs if k.value == "blocks"), None)
    blocks: dict[str, list[Step]] = {}
    block_nodes: dict[str, yaml.Node] = {}
    if isinstance(blocks_node, yaml.MappingNode):
        for knode, vnode in blocks_node.value:
            bname = str(_scalar(knode))
            block_nodes[bname] = knode
            if not isinstance(vnode, yaml.SequenceNode) or not vnode.value:
                ctx.error(vnode, f"blocks.{bname}", "a block is a non-empty list of steps")
                continue
            steps = [_parse_step(s, ctx, f"blocks.{bname}[{i}]") for i, s in enumerate(vnode.value)]
            blocks[bname] = [s for s in steps if s is not None]
    elif blocks_node is not None:
        ctx.error(blocks_node, "blocks", "expected a mapping of block names to step lists")
    if not isinstance(header, dict):
        raise FlowError(ctx.problems)
    languages = header.get("languages") or ["zh_CN", "en_US"]
    _check_refs(ctx, header, blocks, block_nodes, root, languages, prompt_exists)
    ctx.problems.sort(key=lambda p: (p.line, p.column))  # top to bottom, as the technician reads the file
    ctx.warnings.sort(key=lambda p: (p.line, p.column))
    if ctx.problems:
        raise FlowError(ctx.problems, ctx.warnings)
    return Flow(header["flow"], header.get("title", {}), list(languages), header["start"], header.get("error"),
                dict(header.get("vars", {})), blocks, text, ctx.warnings, ctx.filename,
                fax_detect=header.get("fax_detect", True) is not False)


def _check_refs(ctx: Ctx, header: dict, blocks: dict, block_nodes: dict, root: yaml.Node,
                languages: list[str], prompt_exists: PromptCheck | None) -> None:
    names = list(block_nodes)
    for special in ("start", "error"):
        target = header.get(special)
        if target and target not in block_nodes:
            close = difflib.get_close_matches(target, names, 1)
            ctx.error(root, special, f"no block {target!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    edges: dict[str, set[str]] = {b: set() for b in names}
    for kind, value, node, key in ctx.refs:
        if kind == "block":
            if value not in block_nodes:
                close = difflib.get_close_matches(value, names, 1)
                ctx.error(node, key, f"no block {value!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            owner = key.split(".")[1].split("[")[0] if key.startswith("blocks.") else None
            if owner in edges:
                edges[owner].add(value)
        elif kind == "prompt" and prompt_exists is not None and "${" not in value:
            have = [lang for lang in languages if prompt_exists(value, lang)]
            if not have:
                ctx.error(node, key, f"prompt {value!r} does not exist in any language of this flow")
            else:
                for lang in languages:
                    if lang not in have:
                        ctx.warn(node, key, f"prompt {value!r} has no {lang} version; {have[0]} will be played")
    names_of = getattr(ctx, "document_names", None)
    if names_of is not None:
        _check_documents(ctx, header, blocks, names_of())
    reachable: set[str] = set()
    todo = [b for b in (header.get("start"), header.get("error")) if b]
    while todo:
        b = todo.pop()
        if b in reachable or b not in edges:
            continue
        reachable.add(b)
        todo.extend(edges[b])
    for b in names:
        if b not in reachable and b in blocks:
            ctx.warn(block_nodes[b], f"blocks.{b}", "unreachable block (nothing jumps here)")


def _check_documents(ctx: Ctx, header: dict, blocks: dict, names: set[str]) -> None:
    """Every fax step's document is in the fax library. A document given as ``${var}`` is checked against each
    value the flow gives that variable (its vars: default and set: steps); a value that is itself a template
    (``spec-${product.model}``) needs at least one document starting with its fixed part (``spec-``)."""
    values: dict[str, list[str]] = {}
    for name, value in (header.get("vars") or {}).items():
        if value:
            values.setdefault(name, []).append(str(value))
    for steps in blocks.values():
        for step in steps:
            if step.app == "set":
                for name, value in step.args.get("vars", {}).items():
                    if value:
                        values.setdefault(name, []).append(str(value))
    for kind, value, node, key in ctx.refs:
        if kind != "document":
            continue
        m = VAR_ONLY.fullmatch(value)
        candidates = values.get(m.group(1), []) if m else [value]
        if m and not candidates:
            ctx.error(node, key, f"document {value!r}: the flow never sets {m.group(1)!r}, so the fax library "
                                 "document cannot be checked")
        for doc in candidates:
            fixed = doc.split("${", 1)[0]
            if "${" in doc:
                if not any(n.startswith(fixed) for n in names):
                    ctx.error(node, key, f"document {doc!r}: no document in the fax library starts with "
                                         f"{fixed!r}" + (f" (via {value})" if m else ""))
            elif doc not in names:
                close = difflib.get_close_matches(doc, sorted(names), 1)
                ctx.error(node, key, f"document {doc!r} is not in the fax library" + (f" (via {value})" if m else "")
                          + (f" (did you mean {close[0]!r}?)" if close else ""))
