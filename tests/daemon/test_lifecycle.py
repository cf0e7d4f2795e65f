"""The daemon's life as systemd and a sysadmin see it: notify, reload, drain, --daemon, bad input at start."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = (REPO / "etc" / "hotline.yaml").read_text()
SYSTEMD_VARS = ("NOTIFY_SOCKET", "INVOCATION_ID", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")
OVERRIDES = ("HOTLINE_CONFIG", "HOTLINE_STATE_DIR", "HOTLINE_DATABASE_URL", "HOTLINE_WEB_LISTEN")


# ---- helpers -----------------------------------------------------------------------------------

def shipped_with(old: str, new: str) -> str:
    """The shipped configuration with one line changed (failing clearly if that line is gone)."""
    assert old in SHIPPED, f"etc/hotline.yaml no longer contains {old!r}: update this test"
    return SHIPPED.replace(old, new)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without systemd's or Hotline's variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_VARS + OVERRIDES}
    env.update(extra)
    return env


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def http(method: str, url: str, token: str | None = None, body: dict | None = None,
         timeout: float = 10) -> tuple[int, dict]:
    """One JSON request; (status, document)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


class NotifySocket:
    """A unix datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="hl-notify-", dir="/tmp")  # short: sun_path holds 108 bytes
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.received: list[tuple[float, dict[str, str]]] = []

    def _recv(self, timeout: float) -> bool:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return False
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        self.received.append((time.monotonic(), fields))
        return True

    def expect(self, key: str, value: str = "1", timeout: float = 20) -> dict[str, str]:
        """Read until a message with key=value arrives; return its fields (earlier ones are kept)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._recv(deadline - time.monotonic()) and self.received[-1][1].get(key) == value:
                return self.received[-1][1]
        raise AssertionError(f"no {key}={value} within {timeout}s; got {[m for _, m in self.received]}")

    def collect(self, seconds: float) -> list[tuple[float, dict[str, str]]]:
        """Everything that arrives during the next ``seconds``."""
        start = len(self.received)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._recv(deadline - time.monotonic())
        return self.received[start:]

    def close(self) -> None:
        """Remove the socket."""
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify():
    """A notify socket for one test."""
    sock = NotifySocket()
    yield sock
    sock.close()


@pytest.fixture
def start_daemon(daemon_factory, make_config, tmp_path: Path):
    """Start ``hotline run`` with a clean environment (never inheriting a real systemd's variables)."""
    def start(config_text: str = SHIPPED, **env: str):
        d = daemon_factory(config=make_config(config_text), start=False)
        for var in SYSTEMD_VARS:
            d.env.pop(var, None)
        d.env.update(env)
        return d.start()
    return start


def qa_token(hotline_bin: str, state: Path) -> str:
    """Create the QA user (``hotline demo-setup``) before the daemon starts; its API token."""
    state.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([hotline_bin, "-c", str(REPO / "etc" / "hotline.yaml"), "demo-setup", "--state",
                           str(state)], env=clean_env(HOTLINE_STATE_DIR=str(state)), capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return (state / "qa-token").read_text().strip()


def place_call(d, token: str) -> str:
    """A caller rings in; wait until the box has answered it (the flow then runs for ~40 s)."""
    status, doc = http("POST", d.url + "/api/v1/sim/calls", token, {"from": "13800138000", "to": "8001"})
    assert status == 201, doc
    call_id = doc["id"]
    wait_until(lambda: http("GET", f"{d.url}/api/v1/sim/calls/{call_id}", token)[1].get("state") == "answered",
               10, "the call to be answered")
    return call_id


def journal(state: Path, call_id: str) -> tuple[list[tuple[str, dict]], tuple[str, str] | None]:
    """The call's journal events and its CDR (disposition, cause), read from the SQLite file."""
    with sqlite3.connect(state / "hotline.db") as db:
        events = [(kind, json.loads(data)) for kind, data in
                  db.execute("SELECT kind, data FROM events WHERE call_uuid = ? ORDER BY id", (call_id,))]
        row = db.execute("SELECT disposition, cause FROM cdrs WHERE call_uuid = ?", (call_id,)).fetchone()
    return events, row


def exit_status(d, timeout: float) -> int:
    """Wait for a daemon to exit; on timeout fail with what it logged."""
    try:
        return d.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"daemon still running {timeout}s later:\n{d.output()}") from None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz(url: str) -> tuple[int, dict] | None:
    """/healthz status and document, or None when nothing answers."""
    try:
        return http("GET", url + "/healthz", timeout=2)
    except OSError:
        return None


# ---- systemd notify ----------------------------------------------------------------------------

def test_notify_ready_watchdog_reload_stopping(start_daemon, notify) -> None:
    """READY=1 when serving, WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1+MONOTONIC_USEC then READY=1,
    STOPPING=1 on SIGTERM, exit 0."""
    d = start_daemon(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="200000")
    ready = notify.expect("READY")
    assert ready.get("STATUS") == "serving"
    assert healthz(d.url)[0] == 200

    pings = [t for t, m in notify.collect(1.2) if m.get("WATCHDOG") == "1"]
    assert len(pings) >= 7, f"only {len(pings)} WATCHDOG=1 in 1.2 s with WATCHDOG_USEC=200000"
    gaps = sorted(b - a for a, b in zip(pings, pings[1:]))
    assert 0.07 <= gaps[len(gaps) // 2] <= 0.15, gaps

    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    d.signal(signal.SIGHUP)
    reloading = notify.expect("RELOADING")
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert before <= int(reloading["MONOTONIC_USEC"]) <= after
    assert notify.expect("READY").get("STATUS") == "serving"

    d.signal(signal.SIGTERM)
    notify.expect("STOPPING")
    assert exit_status(d, 20) == 0
    kinds = [next(iter(m)) for _, m in notify.received if "WATCHDOG" not in m]
    assert kinds == ["READY", "RELOADING", "READY", "STOPPING"], kinds


def test_watchdog_for_another_pid_is_ignored(start_daemon, notify) -> None:
    """WATCHDOG_PID naming another process (inherited by a child) means: do not send watchdog pings."""
    d = start_daemon(NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="200000", WATCHDOG_PID=str(os.getpid()))
    notify.expect("READY")
    assert not [m for _, m in notify.collect(0.6) if "WATCHDOG" in m]
    d.signal(signal.SIGTERM)
    assert exit_status(d, 20) == 0


def test_abstract_notify_socket_and_sigint(start_daemon) -> None:
    """An abstract-namespace NOTIFY_SOCKET ('@name', as systemd may pass) works; SIGINT stops like SIGTERM."""
    name = f"hl-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(20)
        d = start_daemon(NOTIFY_SOCKET="@" + name)
        assert sock.recv(4096).decode().splitlines()[0] == "READY=1"
        d.signal(signal.SIGINT)
        assert sock.recv(4096).decode() == "STOPPING=1"
        assert exit_status(d, 20) == 0


def test_sighup_with_broken_config_keeps_the_old_one(start_daemon, notify) -> None:
    """A broken file on SIGHUP is logged with file:line and ignored; the daemon keeps serving; a fix applies."""
    d = start_daemon(NOTIFY_SOCKET=notify.path)
    notify.expect("READY")
    path = d.config
    broken = shipped_with("  drain_timeout: 30\n", "  drain_timeout: 1\n  drain_timout: 5\n")
    line = broken.splitlines().index("  drain_timout: 5") + 1
    path.write_text(broken)
    d.signal(signal.SIGHUP)
    notify.expect("RELOADING")
    assert "reload failed" in notify.expect("READY")["STATUS"]
    out = d.output()
    assert (f"event=reload_rejected problem=\"{path}:{line}:3: engine.drain_timout: unknown key "
            "(did you mean 'drain_timeout'?)\"") in out, out
    assert "event=reload_failed keeping=previous problems=1" in out
    status, doc = healthz(d.url)
    assert (status, doc["status"]) == (200, "serving")

    # the original text again: nothing changed, so the broken file's drain_timeout: 1 was never applied
    path.write_text(SHIPPED)
    d.signal(signal.SIGHUP)
    notify.expect("RELOADING")
    assert notify.expect("READY")["STATUS"] == "serving"
    wait_until(lambda: "event=reloaded changed=nothing" in d.output(), 5, "the no-change reload to be logged")

    path.write_text(shipped_with("  drain_timeout: 30\n", "  drain_timeout: 7\n"))
    d.signal(signal.SIGHUP)
    notify.expect("RELOADING")
    notify.expect("READY")
    wait_until(lambda: "event=reloaded changed=engine" in d.output(), 5, "the fixed reload to be logged")
    d.signal(signal.SIGTERM)
    assert exit_status(d, 20) == 0
    assert "event=draining active=0 timeout=7.0" in d.output()


# ---- drain -------------------------------------------------------------------------------------

def test_sigterm_drains_refuses_new_calls_and_waits_for_the_call(start_daemon, hotline_bin, tmp_path) -> None:
    """SIGTERM with a call up: a new caller is refused (busy), the call goes on, and once the caller
    hangs up the daemon exits 0; the call ends normally in the journal and the CDR."""
    token = qa_token(hotline_bin, tmp_path / "state")
    d = start_daemon()
    call = place_call(d, token)
    d.signal(signal.SIGTERM)
    wait_until(lambda: (healthz(d.url) or (0, {}))[1].get("status") == "stopping", 5, "/healthz to say stopping")
    assert healthz(d.url)[0] == 503  # load balancers stop sending while the box drains

    status, doc = http("POST", d.url + "/api/v1/sim/calls", token, {"from": "13900139000", "to": "8001"})
    assert status == 503 and doc["reason"] == "draining", doc      # the API caller learns the box refused it
    refused = wait_until(lambda: (lambda r: r if r["state"] == "ended" else None)(
        http("GET", f"{d.url}/api/v1/sim/calls/{doc['id']}", token)[1]), 5, "the new call to be refused")
    assert refused["cause"] == "rejected", refused
    assert [e["data"] for e in refused["events"] if e["kind"] == "call.refused"] == [{"reason": "draining"}]

    time.sleep(1.0)
    assert d.proc.poll() is None, "the daemon stopped without waiting for the call in progress"
    assert http("GET", f"{d.url}/api/v1/sim/calls/{call}", token)[1]["state"] == "answered"
    hung_up_at = time.monotonic()
    assert http("DELETE", f"{d.url}/api/v1/sim/calls/{call}", token)[0] == 200
    assert exit_status(d, 10) == 0
    assert time.monotonic() - hung_up_at < 5
    events, cdr = journal(d.state, call)
    assert [e for e in events if e[0] == "call.ended"] == [("call.ended", {"cause": "normal"})]
    assert cdr == ("answered", "normal")
    assert journal(d.state, doc["id"])[1] == ("refused", "rejected")


def test_drain_timeout_ends_the_call_with_cause_shutdown(start_daemon, hotline_bin, tmp_path) -> None:
    """With engine.drain_timeout: 2 and a call that does not end, the daemon waits ~2 s, ends the call
    (cause shutdown, in the journal and the CDR) and exits 0."""
    token = qa_token(hotline_bin, tmp_path / "state")
    d = start_daemon(shipped_with("  drain_timeout: 30\n", "  drain_timeout: 2\n"))
    call = place_call(d, token)
    sent = time.monotonic()
    d.signal(signal.SIGTERM)
    assert exit_status(d, 15) == 0
    took = time.monotonic() - sent
    assert 1.8 <= took <= 8, f"exit {took:.1f}s after SIGTERM with drain_timeout 2:\n{d.output()}"
    events, cdr = journal(d.state, call)
    assert [e for e in events if e[0] == "call.ended"] == [("call.ended", {"cause": "shutdown"})]
    assert cdr is not None and cdr[1] == "shutdown"
    assert "event=drain_timeout ending=1" in d.output()


def test_second_sigterm_stops_at_once(start_daemon, hotline_bin, tmp_path, notify) -> None:
    """During a long drain (30 s) a SIGHUP is ignored (no READY=1 after STOPPING=1) and a second SIGTERM
    stops now: exit 0, the call ended with cause shutdown."""
    token = qa_token(hotline_bin, tmp_path / "state")
    d = start_daemon(NOTIFY_SOCKET=notify.path)
    notify.expect("READY")
    call = place_call(d, token)
    d.signal(signal.SIGTERM)
    notify.expect("STOPPING")
    wait_until(lambda: "event=draining active=1 timeout=30.0" in d.output(), 5, "the drain to start")
    d.signal(signal.SIGHUP)
    assert [m for _, m in notify.collect(0.5)] == []
    wait_until(lambda: "event=reload_ignored state=stopping" in d.output(), 5, "the SIGHUP to be ignored")
    assert d.proc.poll() is None
    sent = time.monotonic()
    d.signal(signal.SIGTERM)
    assert exit_status(d, 10) == 0
    assert time.monotonic() - sent < 4
    assert "event=stop_now reason=second_signal" in d.output()
    events, cdr = journal(d.state, call)
    assert [e for e in events if e[0] == "call.ended"] == [("call.ended", {"cause": "shutdown"})]
    assert cdr is not None and cdr[1] == "shutdown"


# ---- run --daemon ------------------------------------------------------------------------------

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by init) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.fixture
def detached():
    """Pids of detached daemons a test started; each still alive at the end is stopped by its pid."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            try:
                wait_until(lambda: not _pid_alive(pid), 15, f"pid {pid} to stop")
            except AssertionError:
                os.kill(pid, signal.SIGKILL)


def test_run_daemon_detaches_with_pidfile_and_removes_it(hotline_bin, tmp_path, detached) -> None:
    """``run --daemon`` returns at once, writes <state>/hotline.pid, serves /healthz from the state
    directory with umask 027, reloads its (relative) config on SIGHUP, and removes the pidfile on SIGTERM."""
    port = free_port()
    (tmp_path / "hotline.yaml").write_text(SHIPPED)
    env = clean_env(HOTLINE_STATE_DIR="var", HOTLINE_WEB_LISTEN=f"127.0.0.1:{port}")
    cmd = [hotline_bin, "-c", "hotline.yaml", "run", "--daemon"]  # relative paths, like a sysadmin types them
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 10
    state = tmp_path / "var"
    pidfile = state / "hotline.pid"
    pid = int(pidfile.read_text())  # written before the command returned...
    detached.append(pid)
    url = f"http://127.0.0.1:{port}"
    assert healthz(url)[0] == 200  # ...and the daemon was serving by then
    assert os.readlink(f"/proc/{pid}/cwd") == str(state)
    assert os.getsid(pid) != os.getsid(0)  # detached into a session of its own (double fork)
    assert (state / "hotline.db").exists() and not (state / "var").exists()
    assert (state / "hotline.db").stat().st_mode & 0o027 == 0  # created under umask 027

    again = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert again.returncode != 0
    assert f"hotline: error: pidfile {pidfile}: hotline already running as pid {pid}" in again.stderr
    under_systemd = subprocess.run(cmd, cwd=tmp_path, env={**env, "NOTIFY_SOCKET": "/run/systemd/notify"},
                                   capture_output=True, text=True, timeout=30)
    assert under_systemd.returncode != 0
    assert "--daemon is for boxes without systemd" in under_systemd.stderr

    log = state / "hotline.log"
    os.kill(pid, signal.SIGHUP)
    wait_until(lambda: "event=reloaded" in log.read_text() or "reload_rejected" in log.read_text(), 10,
               "the reload to be logged")
    assert "event=reloaded changed=nothing" in log.read_text(), log.read_text()

    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not _pid_alive(pid), 15, "the detached daemon to exit")
    assert not pidfile.exists()
    assert "event=stopped" in log.read_text()


def test_run_daemon_that_cannot_start_fails_visibly(hotline_bin, tmp_path, detached) -> None:
    """``run --daemon`` whose daemon fails at start (port in use) exits non-zero with the daemon's message,
    not 0 with the error hidden in a log file; no pidfile is left behind."""
    (tmp_path / "hotline.yaml").write_text(SHIPPED)
    state = tmp_path / "state"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = clean_env(HOTLINE_STATE_DIR=str(state), HOTLINE_WEB_LISTEN=f"127.0.0.1:{port}")
        proc = subprocess.run([hotline_bin, "-c", str(tmp_path / "hotline.yaml"), "run", "--daemon"], env=env,
                              capture_output=True, text=True, timeout=60)
        if proc.returncode == 0:  # the bug this guards against: make sure the stray daemon gets stopped
            time.sleep(1)
            if (state / "hotline.pid").exists():
                detached.append(int((state / "hotline.pid").read_text()))
    assert proc.returncode != 0
    assert f"hotline: error: web.listen 127.0.0.1:{port}: already in use" in proc.stderr, proc.stderr
    assert f"{state / 'hotline.log'}" in proc.stderr  # where to read more
    assert not (state / "hotline.pid").exists()
    assert (state / "hotline.log").stat().st_mode & 0o777 == 0o640


def test_run_daemon_with_explicit_pidfile(hotline_bin, tmp_path, detached) -> None:
    """``--pidfile PATH`` is honoured (and removed again on stop)."""
    port = free_port()
    pidfile = tmp_path / "run" / "h.pid"
    pidfile.parent.mkdir()
    (tmp_path / "hotline.yaml").write_text(SHIPPED)
    env = clean_env(HOTLINE_STATE_DIR=str(tmp_path / "state"), HOTLINE_WEB_LISTEN=f"127.0.0.1:{port}")
    proc = subprocess.run([hotline_bin, "-c", str(tmp_path / "hotline.yaml"), "run", "--daemon", "--pidfile",
                           str(pidfile)], env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    pid = int(pidfile.read_text())
    detached.append(pid)
    assert healthz(f"http://127.0.0.1:{port}")[0] == 200
    assert not (tmp_path / "state" / "hotline.pid").exists()
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not _pid_alive(pid), 15, "the detached daemon to exit")
    assert not pidfile.exists()


# ---- bad input at start ------------------------------------------------------------------------

def _run_foreground(hotline_bin: str, tmp_path: Path, state: Path, port: int, timeout: float = 30):
    (tmp_path / "hotline.yaml").write_text(SHIPPED)
    env = clean_env(HOTLINE_STATE_DIR=str(state), HOTLINE_WEB_LISTEN=f"127.0.0.1:{port}")
    return subprocess.run([hotline_bin, "-c", str(tmp_path / "hotline.yaml"), "run"], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_port_in_use_is_a_clear_error_and_damages_nothing(hotline_bin, tmp_path) -> None:
    """Someone else holds web.listen's port: one message naming web.listen and the port, non-zero exit,
    and the users and calls already stored are intact."""
    state = tmp_path / "state"
    token = qa_token(hotline_bin, state)
    with sqlite3.connect(state / "hotline.db") as db:
        users_before = db.execute("SELECT name, role, password_hash FROM users ORDER BY name").fetchall()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _run_foreground(hotline_bin, tmp_path, state, port)
    assert proc.returncode not in (0, 78), proc.stderr
    assert f"hotline: error: web.listen 127.0.0.1:{port}: already in use" in proc.stderr
    assert "Traceback" not in proc.stderr
    with sqlite3.connect(state / "hotline.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT name, role, password_hash FROM users ORDER BY name").fetchall() == users_before
    assert token


def test_unwritable_state_dir_is_a_clear_error(hotline_bin, tmp_path) -> None:
    """A state directory that cannot be created (here: under a regular file) is named in one message."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    state = blocker / "state"
    proc = _run_foreground(hotline_bin, tmp_path, state, free_port())
    assert proc.returncode not in (0, 78), proc.stderr  # not a configuration error: the file is fine
    assert f"{state}: cannot create: Not a directory" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_newer_database_schema_exits_78_and_is_left_alone(hotline_bin, tmp_path) -> None:
    """A database written by a newer Hotline: exit 78 (systemd will not restart-loop), schema untouched."""
    state = tmp_path / "state"
    qa_token(hotline_bin, state)
    with sqlite3.connect(state / "hotline.db") as db:
        latest = db.execute("SELECT MAX(version) FROM hotline_schema").fetchone()[0]
        db.execute("INSERT INTO hotline_schema (version, applied_at) VALUES (?, 0)", (latest + 1,))
        tables = sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
    proc = _run_foreground(hotline_bin, tmp_path, state, free_port())
    assert proc.returncode == 78, proc.stderr
    assert f"database schema version {latest + 1} is newer than this Hotline" in proc.stderr
    with sqlite3.connect(state / "hotline.db") as db:
        assert db.execute("SELECT MAX(version) FROM hotline_schema").fetchone()[0] == latest + 1
        assert sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")) == tables


def test_second_daemon_on_the_same_state_dir_is_refused(start_daemon, hotline_bin, tmp_path) -> None:
    """A second ``hotline run`` (or ``run --daemon``) on a state directory in use is refused clearly;
    the first keeps serving."""
    first = start_daemon()
    proc = _run_foreground(hotline_bin, tmp_path, first.state, free_port())
    assert proc.returncode != 0
    assert (f"hotline: error: paths.state {first.state}: already in use by a running hotline "
            f"(pid {first.proc.pid})") in proc.stderr, proc.stderr
    detached = subprocess.run([hotline_bin, "-c", str(tmp_path / "hotline.yaml"), "run", "--daemon"],
                              env=clean_env(HOTLINE_STATE_DIR=str(first.state),
                                            HOTLINE_WEB_LISTEN=f"127.0.0.1:{free_port()}"),
                              capture_output=True, text=True, timeout=60)
    assert detached.returncode != 0
    assert f"paths.state {first.state}: already in use by a running hotline" in detached.stderr
    status, doc = healthz(first.url)
    assert (status, doc["status"]) == (200, "serving")
    assert first.proc.poll() is None
