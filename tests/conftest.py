"""Shared fixtures: config files, a real daemon process on a loopback port, PostgreSQL."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HOTLINE = str(Path(sys.executable).parent / "hotline")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def hotline_bin() -> str:
    """Path of the installed ``hotline`` console script."""
    assert os.path.exists(HOTLINE), f"{HOTLINE} missing: run scripts/test (it installs the project)"
    return HOTLINE


@pytest.fixture
def make_config(tmp_path: Path):
    """Write a configuration file for a test; returns its path."""
    def make(text: str | None = None, name: str = "hotline.yaml", **subs: object) -> Path:
        if text is None:
            text = (REPO / "etc" / "hotline.yaml").read_text()
        path = tmp_path / name
        path.write_text(text.format(**subs) if subs else text)
        return path
    return make


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the throwaway PostgreSQL cluster started by scripts/test (never skipped)."""
    url = os.environ.get("HOTLINE_TEST_PG_URL")
    if not url:
        pytest.fail("HOTLINE_TEST_PG_URL is not set: run the suite through ./scripts/test, which starts "
                    "a throwaway PostgreSQL cluster (or start one with scripts/pg-cluster start DIR)")
    return url


class Daemon:
    """A ``hotline run`` subprocess on a free loopback port with its own state directory."""

    def __init__(self, config: Path, state: Path, env: dict[str, str] | None = None):
        self.port = free_port()
        self.state = state
        self.config = config
        self.env = {**os.environ, "HOTLINE_STATE_DIR": str(state),
                    "HOTLINE_WEB_LISTEN": f"127.0.0.1:{self.port}", **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.log_path = state.parent / f"daemon-{self.port}.log"

    @property
    def url(self) -> str:
        """Base URL of the daemon's web server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True, timeout: float = 30) -> "Daemon":
        """Start the process and wait for /healthz."""
        self.state.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([HOTLINE, "-c", str(self.config), "run"], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30) -> dict:
        """Poll /healthz until it answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    return json.load(r)
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"daemon not healthy within {timeout}s:\n{self.output()}")

    def output(self) -> str:
        """Everything the daemon logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def signal(self, sig: int) -> None:
        """Send a signal to the daemon."""
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        """Wait for the process to exit; its status."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Stop the daemon if still running: SIGTERM (it drains calls in progress), a second SIGTERM after 3 s
        (it stops at once, as an operator's second Ctrl-C does: a test that left a call up waited the whole
        drain, 15 s of teardown each), then SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(3)
                return
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(12)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def daemon_factory(tmp_path: Path, make_config):
    """Start daemons for a test; all are stopped afterwards."""
    started: list[Daemon] = []

    def factory(config: Path | None = None, state: Path | None = None, env: dict | None = None,
                start: bool = True) -> Daemon:
        d = Daemon(config or make_config(), state or tmp_path / "state", env)
        started.append(d)
        return d.start() if start else d
    yield factory
    for d in started:
        d.stop()


def best_correlation(haystack, needle) -> float:
    """Peak normalized cross-correlation of ``needle`` anywhere in ``haystack`` (0..1)."""
    import numpy as np
    h = np.asarray(haystack, dtype=np.float64)
    n = np.asarray(needle, dtype=np.float64)
    if len(h) < len(n) or not n.any():
        return 0.0
    size = 1 << int(np.ceil(np.log2(len(h) + len(n))))
    corr = np.fft.irfft(np.fft.rfft(h, size) * np.conj(np.fft.rfft(n, size)), size)[: len(h) - len(n) + 1]
    energy = np.convolve(h * h, np.ones(len(n)), "valid")
    norm = np.sqrt(np.maximum(energy, 1e-9) * (n * n).sum())
    return float(np.max(corr / norm))


@pytest.fixture(scope="session")
def correlate():
    """best_correlation as a fixture (test folders cannot import each other)."""
    return best_correlation


@pytest.fixture(scope="session")
def espeak() -> str:
    """espeak-ng must be installed (scripts/setup-env installs it); never skip."""
    path = shutil.which("espeak-ng")
    if not path:
        pytest.fail("espeak-ng is not installed: run ./scripts/test (it installs Debian's espeak-ng)")
    return path


TEST_PASSWORD = "correct-horse-9"
DEFAULT_PEOPLE = {"admin": "admin", "sup": "supervisor", "agent1": "agent", "qa1": "qa"}


def prepare_state(state: Path, people: dict[str, str], password: str = TEST_PASSWORD, acd: str | None = None,
                  language: str = "en_US", tokens: tuple[str, ...] = ()) -> dict[str, str]:
    """Before a daemon starts: the schema, users (one password), ACD agents and queues, in this process (what
    `hotline user add` and `hotline acd import` do, without a process start each). Returns API tokens."""
    from hotline.daemon.box import users
    from hotline.daemon.acd import config as acd_config
    from hotline.daemon.store import migrations
    from hotline.daemon.store.db import Store
    state.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{state / 'hotline.db'}")
    store.open()
    try:
        store.write_sync(migrations.check, store.db, True)
        for name, role in people.items():
            store.write_sync(users.add_user, name, users.Role(role), password, language)
        if acd:
            store.write_sync(acd_config.import_document, acd_config.parse(acd, "acd.yaml"))
        return {name: store.write_sync(users.new_token, name) for name in tokens}
    finally:
        store.close()


@pytest.fixture
def prepared_box(daemon_factory, tmp_path: Path):
    """prepared_box(flows={name: yaml}, routes={dialed: flow}, acd=queues_yaml, people={name: role}, engine={...},
    config={section: {...}}, start=True) -> a daemon on the simulated card with those flows, routes, queues and
    users (password TEST_PASSWORD, language en_US); `.tokens` holds an API token for every qa user."""
    import yaml

    def make(flows: dict[str, str] | None = None, routes: dict[str, str] | None = None, acd: str | None = None,
             people: dict[str, str] | None = None, engine: dict | None = None, config: dict | None = None,
             start: bool = True, language: str = "en_US") -> Daemon:
        cfg = yaml.safe_load((REPO / "etc" / "hotline.yaml").read_text())
        flows_dir = tmp_path / "flows"
        flows_dir.mkdir(exist_ok=True)
        for name, text in (flows or {}).items():
            (flows_dir / f"{name}.yaml").write_text(text)
        if flows and not (flows_dir / "documents").exists():  # the fax library's shipped documents, as on a fresh box
            shutil.copytree(REPO / "etc" / "flows" / "documents", flows_dir / "documents")
        cfg["paths"].update(flows=str(flows_dir if flows else REPO / "etc" / "flows"),
                            prompt_manifest=str(REPO / "etc" / "prompts" / "manifest.yaml"))
        if routes is not None:
            cfg["routes"] = [{"dialed": k, "flow": v} for k, v in routes.items()]
        cfg["engine"].update({"drain_timeout": 1, **(engine or {})})
        for section, values in (config or {}).items():
            cfg[section] = {**cfg.get(section, {}), **values} if isinstance(values, dict) else values
        path = tmp_path / "hotline.yaml"
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
        d = daemon_factory(config=path, start=False)
        people = DEFAULT_PEOPLE if people is None else people
        d.tokens = prepare_state(d.state, people, acd=acd, language=language,
                                 tokens=tuple(n for n, r in people.items() if r == "qa"))
        d.qa_token = next(iter(d.tokens.values()), None)
        return d.start() if start else d
    return make


@pytest.fixture(scope="session")
def fresh_pg_database(pg_url: str):
    """A context manager factory: `with fresh_pg_database() as url:` gives a uniquely named, empty database on
    the test cluster (created and dropped; the cluster comes from scripts/test)."""
    import contextlib
    import urllib.parse
    import uuid

    from hotline.daemon.store.db import make_database

    @contextlib.contextmanager
    def make(prefix: str = "hotline_t"):
        import psycopg2
        base = make_database(pg_url)
        admin = psycopg2.connect(dbname=base.database, **base.connect_params)
        admin.autocommit = True
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        parts = urllib.parse.urlsplit(pg_url)  # urlunsplit would drop the '//' of an empty host
        try:
            with admin.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
            yield f"{parts.scheme}://{parts.netloc}/{name}" + (f"?{parts.query}" if parts.query else "")
        finally:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    return make


@pytest.fixture
def database_for(tmp_path: Path, request):
    """`with database_for("sqlite" | "postgresql") as url:` an empty database of that kind (a file under
    tmp_path, or a fresh PostgreSQL database that is dropped afterwards)."""
    import contextlib

    @contextlib.contextmanager
    def make(kind: str, name: str = "hotline"):
        if kind == "sqlite":
            yield f"sqlite:///{tmp_path / (name + '.db')}"
            return
        with request.getfixturevalue("fresh_pg_database")() as url:
            yield url
    return make


@pytest.fixture
def usb_tree(tmp_path: Path):
    """A fake /sys and /dev as the kernel lays out USB modems (tests/usb_tree.py): .add(vid, pid, ...) plugs one
    in, .remove(port_path) pulls it; .sys and .dev are the roots to hand to hotline.drivers.usb."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("hotline_tests_usb_tree", Path(__file__).parent / "usb_tree.py")
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module   # dataclasses look their module up there
        spec.loader.exec_module(module)
    return module.UsbTree(tmp_path / "usbtree")


# The slowest files start first (measured with --durations; a file missing here just keeps its place): with one file
# per worker (--dist loadfile), a long file picked up last keeps one worker busy after the others have finished.
SLOW_FIRST = (
    "tests/browser/test_layout.py", "tests/scenarios/test_scenarios.py", "tests/scenarios/test_acd.py",
    "tests/drivers/modem/test_vgetty.py", "tests/scenarios/test_acd_routing.py", "tests/scenarios/test_acd_callbacks.py",
    "tests/drivers/modem/test_modem_ivr.py", "tests/drivers/modem/test_virtualmodem.py",
    "tests/drivers/modem/test_driver_emulator.py", "tests/scenarios/test_sip_sipp.py", "tests/browser/test_desk.py",
    "tests/flows/test_printer_support.py", "tests/scenarios/test_qa_api.py", "tests/unit/test_metrics_series.py",
    "tests/webadmin/test_login_guard.py", "tests/scenarios/test_journal_safety.py",
)


def pytest_collection_modifyitems(session, config, items) -> None:
    """Slowest files first (a stable sort: the order within a file and of the other files is unchanged)."""
    rank = {path: i for i, path in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
