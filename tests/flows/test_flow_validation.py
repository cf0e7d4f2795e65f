"""Broken flows are refused with every problem at its exact file:line:col; warnings do not block."""
from __future__ import annotations

import pathlib
import subprocess
import textwrap

from hotline.daemon.service.lookups import validate_lookup
from hotline.dialplan.flow import FlowError, parse_flow

PROMPTS = {("hello", "zh_CN"), ("hello", "en_US"), ("menu1", "zh_CN"), ("menu1", "en_US"), ("only_en", "en_US")}


def problems(text: str) -> tuple[list[str], list[str]]:
    """(problems, warnings) of a flow text named f.yaml."""
    src = textwrap.dedent(text).lstrip("\n")
    try:
        flow = parse_flow(src, "f.yaml", lambda p, lang: (p, lang) in PROMPTS, validate_lookup)
    except FlowError as exc:
        return [str(p) for p in exc.problems], [str(w) for w in exc.warnings]
    return [], [str(w) for w in flow.warnings]


def test_a_good_flow_has_no_problems() -> None:
    """The reference flow validates cleanly."""
    assert problems("""
        flow: good
        blocks:
          main:
            - answer
            - menu: {prompt: menu1, options: {"1": a}}
          a:
            - play: hello
            - hangup
    """) == ([], [])


def test_every_kind_of_problem_reported_at_once_with_its_place() -> None:
    """Unknown app, unknown/missing/wrong-typed arguments, missing block, missing prompt, bad lookup."""
    errs, warns = problems("""
        flow: broken
        blocks:
          main:
            - answr
            - menu: {prompt: menu1, options: {"1": nowhere}, timeout: soon}
            - play: {prompt: hello, loud: true}
            - collect: {prompt: hello}
            - goto: mian
            - play: no_such_prompt
            - lookup: {table: product, by: model, value: "${x}"}
            - lookup: {table: products, by: colour, value: "${x}"}
    """)
    assert errs == [
        "f.yaml:4:7: blocks.main[0]: unknown app 'answr' (did you mean 'answer'?)",
        "f.yaml:5:44: blocks.main[1].menu.options.1: no block 'nowhere'",
        "f.yaml:5:63: blocks.main[1].menu.timeout: expected a number from 0.5 to 600.0, got str 'soon'",
        "f.yaml:6:29: blocks.main[2].play.loud: unknown key",
        "f.yaml:7:16: blocks.main[3].collect.var: is required",
        "f.yaml:8:13: blocks.main[4].goto.block: no block 'mian' (did you mean 'main'?)",
        "f.yaml:9:13: blocks.main[5].play.prompt: prompt 'no_such_prompt' does not exist in any language of this flow",
        "f.yaml:10:15: blocks.main[6].lookup: lookup: unknown table 'product' (did you mean 'products'?); "
        "known tables: customers, dealers, faq, orders, products, repair_centers, tickets, warranties, water_accounts",
        "f.yaml:11:15: blocks.main[7].lookup: lookup: table 'products' cannot be searched by 'colour'; "
        "it can be searched by: model",
    ]


def test_structure_problems() -> None:
    """Missing header keys, a step that is not one app, an empty block, a bad start block, YAML syntax."""
    errs, _ = problems("""
        title: {zh_CN: x}
        start: begin
        blocks:
          main:
            - {answer: {}, hangup: {}}
          empty: []
    """)
    assert "f.yaml:1:1: flow: is required" in errs
    assert "f.yaml:5:7: blocks.main[0]: a step is one app: '- answer' or '- menu: {...}'" in errs
    assert "f.yaml:6:10: blocks.empty: a block is a non-empty list of steps" in errs
    assert any(e.startswith("f.yaml:1:1: start: no block 'begin'") for e in errs)
    errs, _ = problems("flow: x\nblocks: {main: [answer\n")
    assert len(errs) == 1 and errs[0].startswith("f.yaml:") and "YAML syntax error" in errs[0]


def test_app_level_checks() -> None:
    """Arguments that are fine alone but wrong together are caught by the app's own check."""
    errs, _ = problems("""
        flow: apps
        blocks:
          main:
            - menu: {prompt: menu1, options: {"1": main}, repeat_key: "1"}
            - collect: {var: x, min_digits: 5, max_digits: 3, pattern: "(("}
            - transfer: {extension: "1001", number: "13800138000"}
            - branch: {cases: [{when: {var: x}, goto: main}]}
            - menu: {prompt: menu1, options: {"12": main}}
    """)
    assert "f.yaml:4:13: blocks.main[0].menu: key '1' is both an option and the repeat key" in errs
    assert "f.yaml:5:16: blocks.main[1].collect: min_digits 5 is more than max_digits 3" in errs
    assert any(e.startswith("f.yaml:5:16: blocks.main[1].collect: pattern is not a valid regular expression")
               for e in errs)
    assert "f.yaml:6:17: blocks.main[2].transfer: give exactly one of extension: or number:" in errs
    assert any(e.startswith("f.yaml:7:15: blocks.main[3].branch.cases[0]: a condition needs var:") for e in errs)
    assert "f.yaml:8:39: blocks.main[4].menu.options.12: key does not match [0-9*#A-D]" in errs


def test_warnings_unreachable_blocks_and_missing_languages() -> None:
    """An unreachable block and a prompt missing in one language are warnings; the flow is still valid."""
    errs, warns = problems("""
        flow: warn
        blocks:
          main:
            - play: only_en
            - hangup
          orphan:
            - hangup
    """)
    assert errs == []
    assert warns == ["f.yaml:4:13: blocks.main[0].play.prompt: prompt 'only_en' has no zh_CN version; "
                     "en_US will be played",
                     "f.yaml:6:3: blocks.orphan: unreachable block (nothing jumps here)"]


def test_hotline_flow_check_cli(tmp_path, hotline_bin) -> None:
    """`hotline flow check` prints the problems and exits 1; a good file says OK; the shipped flows pass."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: bad\nblocks:\n  main:\n    - goto: nowhere\n")
    env = {"HOTLINE_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"}
    etc = pathlib.Path(__file__).resolve().parents[2] / "etc"
    check = [hotline_bin, "-c", str(etc / "hotline.yaml"), "flow", "check"]
    out = subprocess.run([*check, str(bad)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1 and f"{bad}:4:13: blocks.main[0].goto.block: no block 'nowhere'" in out.stdout
    flows = sorted(str(p) for p in (etc / "flows").glob("*.yaml"))
    out = subprocess.run([*check, *flows], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count(": OK (flow ") == 3


def test_fax_detect_is_a_flag_of_the_flow() -> None:
    """fax_detect: true/false at the top of a flow (false: CNG never takes its calls); anything else is an error at its
    place, a misspelling gets a "did you mean"."""
    assert parse_flow("flow: f\nfax_detect: false\nblocks: {main: [answer]}\n", "f.yaml").fax_detect is False
    assert parse_flow("flow: f\nblocks: {main: [answer]}\n", "f.yaml").fax_detect is True
    errs, _ = problems("""
        flow: f
        fax_detect: sometimes
        fax_detec: false
        blocks: {main: [answer]}
    """)
    assert errs == ["f.yaml:2:13: fax_detect: expected true or false, got str 'sometimes'",
                    "f.yaml:3:1: fax_detec: unknown key (did you mean 'fax_detect'?)"]
