"""The ``hotline`` command as a technician uses it: help, version, users and tokens, database upgrade."""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import io
import os
import re
import sqlite3
import subprocess
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest

from hotline.daemon.cli.main import build_parser, main
from hotline.daemon.store.migrations import LATEST
from hotline.daemon.box.users import verify_password

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "etc" / "hotline.yaml"
NOT_INHERITED = ("NOTIFY_SOCKET", "INVOCATION_ID", "WATCHDOG_USEC", "WATCHDOG_PID", "HOTLINE_CONFIG",
                 "HOTLINE_STATE_DIR", "HOTLINE_DATABASE_URL", "HOTLINE_WEB_LISTEN")
TOKEN = re.compile(r"[A-Za-z0-9_-]{40,}")


@pytest.fixture
def hl(hotline_bin: str, tmp_path: Path):
    """Run ``hotline -c <shipped config> ARGS`` on a state directory of this test."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env["HOTLINE_STATE_DIR"] = str(tmp_path / "state")

    def run(*args: str, stdin: str | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([hotline_bin, "-c", str(SHIPPED), *args], env=env, input=stdin,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL if stdin is None else None)
    run.state = tmp_path / "state"
    return run


def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every subcommand path (run, db upgrade, user add, ...), from the parser itself."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(prefix + (name,))
                out.extend(_command_paths(sub, prefix + (name,)))
    return out


def test_help_for_every_subcommand(hotline_bin: str) -> None:
    """``hotline --help`` and ``hotline <sub> [<action>] --help`` print usage and exit 0: every path through the
    console script's own entry point in this process (``main`` builds the parser and exits in argparse, as the
    script does), and the top level plus the commands a technician meets first through the installed script."""
    paths = _command_paths(build_parser())
    required = [("run",), ("check-config",), ("config",), ("db", "upgrade"), ("user", "add"),
                ("user", "passwd"), ("user", "list"), ("version",)]
    for path in required:
        assert path in paths

    def check(path: tuple, code: object, out: str) -> None:
        assert code in (0, None), (path, code)
        assert out.startswith("usage: hotline"), (path, out)
        if path:
            assert path[-1] in out.splitlines()[0], (path, out)

    for path in [(), *paths]:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), pytest.raises(SystemExit) as exit_:
            main([*path, "--help"])
        check(path, exit_.value.code, buf.getvalue())

    def help_of(path: tuple) -> subprocess.CompletedProcess:
        return subprocess.run([hotline_bin, *path, "--help"], capture_output=True, text=True, timeout=60)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        done = dict(zip([(), *required], pool.map(help_of, [(), *required])))
    for path, proc in done.items():
        check(path, proc.returncode, proc.stdout)
    for name in ("run", "check-config", "config", "db", "user", "version"):
        assert re.search(rf"^\s+{re.escape(name)}\s", done[()].stdout, re.M), f"{name} missing from hotline --help"


def test_unknown_subcommand_is_a_usage_error(hotline_bin: str) -> None:
    """A typo in a subcommand exits 2 with argparse's message, not a traceback."""
    proc = subprocess.run([hotline_bin, "chek-config"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "invalid choice: 'chek-config'" in proc.stderr and "Traceback" not in proc.stderr


def test_version(hl) -> None:
    """``hotline version`` names the installed version, the schema it knows and Python's version."""
    proc = hl("version")
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(rf"hotline {re.escape(metadata.version('hotline'))} \(schema {LATEST}, "
                        r"python 3\.\d+\.\d+\)\n", proc.stdout), proc.stdout
    assert not hl.state.exists()  # version touches nothing


def test_db_upgrade_fresh_then_up_to_date(hl) -> None:
    """``hotline db upgrade`` creates the schema on a fresh box, then says it is up to date."""
    first = hl("db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"schema 0 -> {LATEST} (applied {list(range(1, LATEST + 1))})"
    again = hl("db", "upgrade")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"schema {LATEST} -> {LATEST} (up to date)"
    with sqlite3.connect(hl.state / "hotline.db") as db:
        assert db.execute("SELECT MAX(version) FROM hotline_schema").fetchone()[0] == LATEST
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_db_upgrade_refuses_a_newer_database(hl) -> None:
    """A database from a newer Hotline is left alone and the command exits 78 saying why."""
    assert hl("db", "upgrade").returncode == 0
    with sqlite3.connect(hl.state / "hotline.db") as db:
        db.execute("INSERT INTO hotline_schema (version, applied_at) VALUES (?, 0)", (LATEST + 1,))
    proc = hl("db", "upgrade")
    assert proc.returncode == 78
    assert f"database schema version {LATEST + 1} is newer than this Hotline" in proc.stderr
    with sqlite3.connect(hl.state / "hotline.db") as db:
        assert db.execute("SELECT MAX(version) FROM hotline_schema").fetchone()[0] == LATEST + 1


def test_user_add_with_password_list_and_passwd(hl) -> None:
    """Users are added with a password from stdin, listed without secrets, and can change password."""
    add = hl("user", "add", "alice", "--role", "agent", "--password-stdin", stdin="correct horse\n")
    assert add.returncode == 0, add.stderr
    assert add.stdout.strip() == "user alice added with role agent"
    assert hl("user", "add", "bob", "--role", "supervisor", "--token").returncode == 0
    listing = hl("user", "list")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines() == [
        "alice\tagent\tpassword=yes\ttokens=0\tenabled",
        "bob\tsupervisor\tpassword=no\ttokens=1\tenabled",
    ]
    assert "correct horse" not in listing.stdout

    def stored_hash() -> str:
        with sqlite3.connect(hl.state / "hotline.db") as db:
            return db.execute("SELECT password_hash FROM users WHERE name = 'alice'").fetchone()[0]
    before = stored_hash()
    assert verify_password("correct horse", before)
    passwd = hl("user", "passwd", "alice", "--password-stdin", stdin="battery staple\n")
    assert passwd.returncode == 0, passwd.stderr
    assert passwd.stdout.strip() == "password of alice changed; 0 open session(s) ended"
    after = stored_hash()
    assert verify_password("battery staple", after) and not verify_password("correct horse", after)


def test_user_mistakes_are_clear_errors(hl) -> None:
    """Duplicate user, weak password, unknown user, no password at all, bad name, bad role: clear, non-zero."""
    assert hl("user", "add", "alice", "--role", "agent", "--password-stdin", stdin="correct horse\n").returncode == 0
    cases = [
        (hl("user", "add", "alice", "--role", "qa", "--token"), 1, "hotline: error: user 'alice' already exists"),
        (hl("user", "add", "carol", "--role", "agent", "--password-stdin", stdin="short\n"), 1,
         "hotline: error: password must have at least 8 characters"),
        (hl("user", "passwd", "alice", "--password-stdin", stdin="short\n"), 1,
         "hotline: error: password must have at least 8 characters"),
        (hl("user", "passwd", "nobody", "--password-stdin", stdin="long enough pw\n"), 1,
         "hotline: error: no user named 'nobody'"),
        (hl("user", "passwd", "alice", "--password-stdin", stdin="\n"), 1,
         "hotline: error: no password given (use --password-stdin or a terminal)"),
        (hl("user", "add", "dave", "--role", "agent"), 1,
         "hotline: error: give a password (--password-stdin or a terminal) or --token"),
        (hl("user", "add", "bad name!", "--role", "agent", "--token"), 1,
         "hotline: error: user name 'bad name!': use 1-64 letters, digits, '.', '-' or '_'"),
        (hl("user", "add", "erin", "--role", "root", "--token"), 2, "invalid choice: 'root'"),
    ]
    for proc, status, message in cases:
        assert proc.returncode == status, (proc.args, proc.stderr)
        assert message in proc.stderr, (proc.args, proc.stderr)
        assert "Traceback" not in proc.stderr
    # the refused ones left nothing behind, and alice's password is unchanged
    assert [line.split("\t")[0] for line in hl("user", "list").stdout.splitlines()] == ["alice"]
    with sqlite3.connect(hl.state / "hotline.db") as db:
        assert verify_password("correct horse", db.execute("SELECT password_hash FROM users").fetchone()[0])


def _get(url: str, token: str | None) -> int:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_user_token_authenticates_against_a_running_daemon(hl, daemon_factory) -> None:
    """A token made with ``user add --token`` while the daemon runs is accepted by its API at once."""
    d = daemon_factory(state=hl.state)
    proc = hl("user", "add", "qa1", "--role", "qa", "--token")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    token = lines[-1]
    assert TOKEN.fullmatch(token), lines
    assert lines[:-1] == ["user qa1 added with role qa"]
    url = d.url + "/api/v1/sim/stations"
    assert _get(url, token) == 200
    assert _get(url, token[:-1] + ("A" if token[-1] != "A" else "B")) == 401
    assert _get(url, None) == 401
    # a second token for another role: an agent may not drive the simulator
    agent = hl("user", "add", "agent1", "--role", "agent", "--token")
    assert _get(url, agent.stdout.splitlines()[-1]) == 403
