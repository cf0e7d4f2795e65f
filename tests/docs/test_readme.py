"""The README's commands work as written: every ``sh`` block runs against a box set up like the demo.

The rule (also stated in the README): every fenced ``sh`` block runs, top to bottom, in one bash
session (``set -euo pipefail``: a failing command fails the test, naming its line), from a directory
laid out like a checkout (``.venv`` and ``etc`` of this one, ``var`` fresh) where the demo's steps
(check-config, db upgrade, demo-setup, demo-data) were run and ``hotline run`` serves on a free port,
which replaces ``127.0.0.1:8080`` / ``localhost:8080`` in the commands (``HOTLINE_WEB_LISTEN`` is set
so that ``hotline sim`` finds it). A ``#=> TEXT`` line promises that the output of the commands since
the previous promise contains TEXT. A block right after an HTML comment containing
``not run by tests`` is skipped (machine setup, installs, the test runner itself). A ``log`` block
lists lines the demo daemon's log must contain.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
MARK = "@@readme-segment@@"


@dataclass
class Block:
    """One fenced block of the README."""

    lang: str
    line: int  # 1-based line of the opening fence
    lines: list[str] = field(default_factory=list)
    skipped: bool = False


def readme_blocks(text: str) -> list[Block]:
    """Fenced blocks in order; ``skipped`` when the previous non-blank line is a not-run comment."""
    blocks: list[Block] = []
    current: Block | None = None
    previous = ""
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if current is None and m:
            current = Block(m.group(1), number, skipped="not run by tests" in previous)
        elif current is not None and line.strip() == "```":
            blocks.append(current)
            current = None
        elif current is not None:
            current.lines.append(line)
        if line.strip():
            previous = line
    assert current is None, f"README.md:{current.line}: unclosed code block"
    return blocks


@dataclass
class Segment:
    """Commands up to a set of promises."""

    first_line: int
    commands: list[tuple[int, str]] = field(default_factory=list)
    promises: list[str] = field(default_factory=list)


def segments(blocks: list[Block]) -> list[Segment]:
    """The runnable sh lines cut into segments, each ending with the promises that follow its commands."""
    out: list[Segment] = []
    for block in blocks:
        if block.lang != "sh" or block.skipped:
            continue
        seg = Segment(block.line + 1)
        for offset, line in enumerate(block.lines, block.line + 1):
            if line.startswith("#=>"):
                seg.promises.append(line[3:].strip())
                continue
            if seg.promises:
                out.append(seg)
                seg = Segment(offset)
            seg.commands.append((offset, line))
        out.append(seg)
    return out


def script(segs: list[Segment], address: str) -> str:
    """One bash script: a marker before each segment; README line numbers kept for error messages."""
    parts = ["set -euo pipefail", "trap 'echo \"README.md:$README_LINE: command failed (status $?)\" >&2' ERR"]
    for seg in segs:
        parts.append(f"echo '{MARK}'")
        for number, line in seg.commands:
            line = line.replace("127.0.0.1:8080", address).replace("localhost:8080", address)
            if line.strip() and not line.lstrip().startswith("#"):
                parts.append(f"README_LINE={number}")
            parts.append(line)
    return "\n".join(parts) + "\n"


def test_the_readme_rules_find_the_walkthrough() -> None:
    """The parser sees the walkthrough and its promises, and skips the marked blocks (a guard for the guard)."""
    blocks = readme_blocks(README.read_text())
    runnable = [b for b in blocks if b.lang == "sh" and not b.skipped]
    skipped = [b for b in blocks if b.skipped]
    assert any("sim dtmf" in "\n".join(b.lines) for b in runnable)
    assert any("./scripts/demo" in "\n".join(b.lines) for b in skipped)
    assert all(b.lang in ("sh", "log") for b in blocks), [(b.line, b.lang) for b in blocks]
    assert sum(len(s.promises) for s in segments(blocks)) >= 10


@pytest.fixture
def demo_checkout(tmp_path: Path, daemon_factory, hotline_bin: str, espeak: str):
    """A directory laid out like a checkout with the demo's state, and the daemon serving it on a free port."""
    root = tmp_path / "checkout"
    root.mkdir()
    (root / ".venv").symlink_to(Path(hotline_bin).parent.parent)
    (root / "etc").symlink_to(REPO / "etc")
    state = root / "var"
    state.mkdir()
    config = root / "etc" / "hotline.yaml"
    d = daemon_factory(config=config, state=state, env={"HOTLINE_CONFIG": str(config)}, start=False)
    for args in (["check-config"], ["db", "upgrade"], ["demo-setup", "--state", str(state)], ["demo-data"]):
        subprocess.run([hotline_bin, "-c", str(config), *args], env=d.env, cwd=root, check=True,
                       capture_output=True, timeout=300)
    d.start(timeout=60)
    return root, d


def test_every_readme_command_block_runs_and_prints_what_it_promises(demo_checkout) -> None:
    """The README's sh blocks, run as written against a demo box: every command succeeds and every
    promised output appears; the daemon logs the line the README shows."""
    root, d = demo_checkout
    blocks = readme_blocks(README.read_text())
    segs = segments(blocks)
    address = f"127.0.0.1:{d.port}"
    env = {k: v for k, v in d.env.items() if not k.startswith("HOTLINE_") or k == "HOTLINE_WEB_LISTEN"}
    proc = subprocess.run(["bash", "-c", script(segs, address)], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{proc.stderr[-3000:]}\n--- stdout ---\n{proc.stdout[-3000:]}"
    outputs = proc.stdout.split(MARK + "\n")[1:]
    assert len(outputs) == len(segs), proc.stdout[-2000:]
    for seg, out in zip(segs, outputs):
        for promise in seg.promises:
            assert promise in out, (f"README.md:{seg.first_line}: the commands there should print {promise!r}; "
                                    f"they printed:\n{out[-2000:]}")
    log = d.output()
    for block in blocks:
        if block.lang == "log":
            for line in block.lines:
                assert line in log, f"README.md:{block.line}: the daemon never logged {line!r}"
    assert "Task was destroyed" not in log
