"""Fixtures for the sample-flow tests: a box state with demo data, and dry runs through the real engine."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import zoneinfo
from pathlib import Path

import pytest

from hotline.daemon.box.config import load_config
from hotline.daemon.calls.flowtest import DryRun, dry_run

REPO = Path(__file__).resolve().parents[2]
OPEN_HOURS = "2026-11-23 10:00"  # a Monday morning: the office schedule is open


@pytest.fixture(scope="session")
def box_config(tmp_path_factory: pytest.TempPathFactory, hotline_session_bin: str, espeak: str):
    """The shipped configuration on a fresh state directory with demo data, calendar and flows."""
    state = tmp_path_factory.mktemp("flowbox")
    env = {**os.environ, "HOTLINE_STATE_DIR": str(state), "HOTLINE_CONFIG": str(REPO / "etc" / "hotline.yaml")}
    for args in (["db", "upgrade"], ["demo-setup", "--state", str(state)], ["demo-data"]):
        subprocess.run([hotline_session_bin, *args], env=env, check=True, capture_output=True, timeout=120)
    return load_config(str(REPO / "etc" / "hotline.yaml"), env={"HOTLINE_STATE_DIR": str(state)})


@pytest.fixture(scope="session")
def hotline_session_bin() -> str:
    """The installed console script."""
    import sys
    path = Path(sys.executable).parent / "hotline"
    assert path.exists(), "run ./scripts/test: it installs the project"
    return str(path)


@pytest.fixture
def walk(box_config):
    """Run one caller through a flow: walk(flow, presses, caller=..., at=..., language=...)."""
    def run(flow: str, presses: list[str], caller: str = "13800138000", at: str = OPEN_HOURS,
            language: str | None = None, answer_after: float | None = None, limit: float = 240.0) -> DryRun:
        when = dt.datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))
        return asyncio.run(dry_run(box_config, flow, caller, presses, when, language, answer_after, limit))
    return run


def assert_path(run: DryRun, *expected: tuple[str, dict]) -> None:
    """The trail contains these (step, data subset) entries in this order."""
    it = iter(run.trail)
    for step, data in expected:
        for t in it:
            if t.get("step") == step and all(t.get(k) == v for k, v in data.items()):
                break
        else:
            raise AssertionError(f"trail lacks {step} {data} (in order); trail was:\n" +
                                 "\n".join(f"  {t}" for t in run.trail))


@pytest.fixture
def path_is():
    """assert_path as a fixture."""
    return assert_path
