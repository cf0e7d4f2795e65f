"""Hostile YAML: alias bombs, recursive aliases, complex keys, python tags, depth, size; one reader everywhere."""
from __future__ import annotations

import ast
import gc
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from hotline.daemon.acd import config as acd_config
from hotline.daemon.box.config import parse_config
from hotline.daemon.errors import ConfigError
from hotline.dialplan import safe_yaml
from hotline.dialplan.flow import FlowError, parse_flow

REPO = Path(__file__).resolve().parents[2]
FLOW_HEAD = "flow: bomb\nblocks:\n  main: [answer, hangup]\n"


def alias_bomb(levels: int, as_key: bool = True) -> str:
    """The issue's shape: each level lists the previous one nine times; the last is used as a mapping key (a
    list node as a key was turned into a string of its whole expansion)."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    last = f"*l{levels - 1}"
    lines.append(f"? {last}\n: boom" if as_key else f"boom: {last}")
    return FLOW_HEAD + "\n".join(lines) + "\n"


def flow_problems(text: str) -> list[str]:
    with pytest.raises(FlowError) as err:
        parse_flow(text, "f.yaml")
    return [str(p) for p in err.value.problems]


@pytest.mark.parametrize("levels", [7, 8, 9, 12])
@pytest.mark.parametrize("as_key", [True, False])
def test_alias_bombs_are_refused_at_once_with_little_memory(levels: int, as_key: bool) -> None:
    """A 500-byte flow that expands to 9^9 values is refused while it is read, in milliseconds, naming the
    line; one more level (which used to be an out-of-memory kill) the same."""
    text = alias_bomb(levels, as_key)
    assert len(text) < 1000
    tracemalloc.start()
    t0 = time.perf_counter()
    problems = flow_problems(text)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 2.0 and peak < 50 * 1024 * 1024, (elapsed, peak)
    assert len(problems) == 1 and "values once aliases are expanded" in problems[0], problems
    assert problems[0].startswith("f.yaml:")


@pytest.mark.parametrize("text, expected", [
    ("a: &a [*a]\n", "f.yaml:1:8: YAML refused: alias *a refers to a node that contains it"),
    ("? [1, 2]\n: x\n", "f.yaml:1:3: YAML refused: a mapping key must be a plain value, not a list or a mapping"),
    ("? {a: 1}\n: x\n", "f.yaml:1:3: YAML refused: a mapping key must be a plain value, not a list or a mapping"),
    ("a: !!python/object/apply:os.system [echo hi]\n", "f.yaml:1:4: YAML refused: the tag "
     "!!python/object/apply:os.system is not allowed (plain YAML lists only)"),
    ("a: !!python/name:os.system ''\n", "f.yaml:1:4: YAML refused: the tag !!python/name:os.system is not allowed "
     "(plain YAML values only)"),
    ("a: !custom 1\n", "f.yaml:1:4: YAML refused: the tag !custom is not allowed (plain YAML values only)"),
    ("a: !!set {x: null}\n", "f.yaml:1:4: YAML refused: the tag !!set is not allowed (plain YAML mappings only)"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", "f.yaml:1:67: YAML refused: nested more than 64 levels deep"),
    ("a: 1" + "0" * 5000 + "\n", "f.yaml:1:4: YAML refused: cannot read"),
    ("a: 2024-13-45\n", "f.yaml:1:4: YAML refused: cannot read '2024-13-45' as timestamp"),
    ("a: b\nc: \ud800\n", "f.yaml:2:4: YAML refused: the text is not valid Unicode (a lone surrogate)"),
])
def test_refused_documents_name_the_place(text: str, expected: str) -> None:
    """Each hostile construct is one clear problem at its line and column (not an exception, not a hang)."""
    problems = flow_problems(text)
    assert problems[0].startswith(expected), problems


def test_size_and_problem_count_are_bounded() -> None:
    """Over the size limit: refused before parsing; a file with a million mistakes stops at 100 problems."""
    big = "a: " + "x" * (safe_yaml.DEFAULT_LIMITS.max_bytes + 1)
    assert "at most 2,097,152 are read" in flow_problems(big)[0]
    many = "flow: many\nblocks:\n  main: &l [" + ", ".join(["answr"] * 15000) + "]\n" + \
        "".join(f"  b{i}: *l\n" for i in range(10))
    t0 = time.perf_counter()
    problems = flow_problems(many)
    assert time.perf_counter() - t0 < 10
    assert len(problems) == 101 and problems[-1].endswith("checking stopped after 100 problems"), problems[-3:]


@pytest.mark.parametrize("text", ["just a string", "42", "- a\n- b\n", "null\n...\n"])
def test_a_flow_that_is_not_a_mapping_is_one_clear_problem(text: str) -> None:
    """A bare scalar or a list as the whole flow: 'expected a mapping', never an exception."""
    problems = flow_problems(text)
    assert any("expected a mapping" in p or "is required" in p for p in problems), problems


def test_acd_and_core_config_use_the_same_refusals() -> None:
    """acd.yaml with a python tag or a bomb, hotline.yaml with a complex key: ConfigError naming the line."""
    for text in ("agents: !!python/object:os.system {}\n", alias_bomb(9).replace(FLOW_HEAD, "")):
        with pytest.raises(ConfigError) as err:
            acd_config.parse(text, "acd.yaml")
        assert "YAML refused" in str(err.value) and "acd.yaml:" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config("? [a]\n: 1\n", "hotline.yaml", env={})
    assert "hotline.yaml:1:3: YAML refused: a mapping key must be a plain value" in str(err.value)


def test_empty_config_is_refused_when_asked() -> None:
    """An empty hotline.yaml means defaults at first start, but a reload refuses it."""
    assert parse_config("", "hotline.yaml", env={}).data["web"]
    with pytest.raises(ConfigError) as err:
        parse_config("\n# nothing\n", "hotline.yaml", env={}, allow_empty=False)
    assert "the file is empty" in str(err.value)


def test_parsing_keeps_nothing_alive() -> None:
    """Eight validations of a 160 KB flow leave no YAML node alive (a module-level loader used to keep every
    node ever parsed: 484 MB to 991 MB after 60 validations)."""
    steps = "".join(f"    - play: {{prompt: welcome}}\n    - say: {{value: '{i}', as: digits}}\n"
                    for i in range(2600))
    text = f"flow: big\nblocks:\n  main:\n    - answer\n{steps}    - hangup\n"
    assert 150_000 < len(text) < 200_000
    for _ in range(8):
        flow = parse_flow(text, "big.yaml")
    assert len(flow.blocks["main"]) == 5202
    del flow
    gc.collect()
    alive = sum(1 for o in gc.get_objects() if isinstance(o, yaml.Node))
    assert alive == 0, f"{alive} YAML nodes kept after 8 parses"


def test_load_is_safe_load_for_plain_documents() -> None:
    """The data reader gives what yaml.safe_load gives for ordinary files (merge keys included)."""
    for path in [REPO / "etc" / "hotline.yaml", REPO / "etc" / "queues.yaml", *sorted((REPO / "etc" / "flows").glob("*.yaml"))]:
        text = path.read_text(encoding="utf-8")
        assert safe_yaml.load(text) == yaml.safe_load(text), path
    assert safe_yaml.load("a: &x {b: 1}\nc:\n  <<: *x\n  d: 2\n") == {"a": {"b": 1}, "c": {"b": 1, "d": 2}}


_READERS = {"safe_load", "load", "full_load", "unsafe_load", "load_all", "safe_load_all", "compose", "compose_all",
            "SafeLoader", "Loader", "FullLoader", "UnsafeLoader", "CLoader", "CSafeLoader", "CFullLoader",
            "BaseLoader", "CBaseLoader", "parse"}


def test_every_yaml_read_goes_through_safe_yaml() -> None:
    """No product module reads YAML on its own (yaml.safe_load, yaml.compose, a Loader class): only
    dialplan/safe_yaml.py does, so the limits hold for every document the box reads."""
    offenders = []
    for folder in ("daemon", "dialplan", "drivers", "webadmin"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.name == "safe_yaml.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                        and node.value.id == "yaml" and node.attr in _READERS:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: yaml.{node.attr}")
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("yaml"):
                    offenders += [f"{path.relative_to(REPO)}:{node.lineno}: from {node.module} import {a.name}"
                                  for a in node.names if a.name in _READERS]
    assert not offenders, offenders
