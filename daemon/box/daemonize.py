"""Detaching with python-daemon for boxes without systemd: pidfile, umask 027, working directory."""
from __future__ import annotations

import os
import select
import time
from pathlib import Path
from typing import Callable

import daemon  # python-daemon, the top-level module our folder must never shadow

from .config import Config
from ..errors import HotlineError


class PidFile:
    """Writes the daemon's pid once detached and removes it on exit; refuses a live one."""

    def __init__(self, path: Path):
        self.path = path

    def _live_pid(self) -> int | None:
        try:
            pid = int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def check(self) -> None:
        """Refuse to start when another daemon holds the pidfile."""
        pid = self._live_pid()
        if pid is not None:
            raise HotlineError(f"pidfile {self.path}: hotline already running as pid {pid}")

    def __enter__(self) -> "PidFile":
        self.check()
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(f"{os.getpid()}\n")
        os.replace(tmp, self.path)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.path.read_text().strip() == str(os.getpid()):
                self.path.unlink()
        except OSError:
            pass


def under_systemd(env: dict[str, str] | None = None) -> bool:
    """True when started by systemd (which wants the process to stay in the foreground)."""
    env = dict(os.environ if env is None else env)
    return bool(env.get("INVOCATION_ID") or env.get("NOTIFY_SOCKET")) or os.getppid() == 1 and os.getpid() != 1


def daemon_context(cfg: Config, pidfile: str | None) -> daemon.DaemonContext:
    """A DaemonContext for ``hotline run --daemon``; refuses to fork under systemd."""
    if under_systemd():
        raise HotlineError("--daemon is for boxes without systemd: under systemd run 'hotline run' "
                           "(Type=notify) instead")
    state = cfg.state_dir
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HotlineError(f"paths.state {state}: cannot create: {exc.strerror}") from None
    pid = PidFile(Path(pidfile).resolve() if pidfile else state / "hotline.pid")
    pid.check()
    # opened before the umask applies: create it 0640 like everything the daemon writes afterwards
    log_fd = os.open(state / "hotline.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    return daemon.DaemonContext(umask=0o027, working_directory=str(state), pidfile=pid,
                                stderr=open(log_fd, "a", buffering=1), detach_process=True)


def run_detached(cfg: Config, pidfile: str | None, main: Callable[[Callable[[], None]], int],
                 timeout: float = 120.0) -> int:
    """Detach and run ``main(ready)`` as the daemon. This process waits and returns 0 once the daemon has
    called ``ready()``; if the daemon stops while starting it raises its error, so the command fails visibly."""
    ctx = daemon_context(cfg, pidfile)
    log_path = Path(ctx.working_directory) / "hotline.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:  # becomes the daemon: python-daemon forks twice more and only the last one returns here
        os.close(read_fd)
        ctx.files_preserve = [write_fd]

        def ready() -> None:
            try:
                os.write(write_fd, b"ready\n")
            except OSError:
                pass  # nobody waits any more (the command was interrupted): keep running
            os.close(write_fd)
        with ctx:
            return main(ready)
    os.close(write_fd)
    os.waitpid(child, 0)  # the intermediate process exits as soon as it has forked
    said = b""
    deadline = time.monotonic() + timeout
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while b"ready" not in said and time.monotonic() < deadline:
            if select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))[0]:
                chunk = pipe.read(64)
                if not chunk:
                    break  # every copy of the write end is closed: the daemon has exited
                said += chunk
    if b"ready" in said:
        return 0
    if time.monotonic() >= deadline:
        raise HotlineError(f"the daemon did not report ready within {timeout:.0f} s; it may still be starting: "
                           f"see {log_path}")
    raise HotlineError(f"the daemon stopped while starting:\n{_new_errors(log_path, offset)}\n"
                       f"(full log: {log_path})")


def _new_errors(log_path: Path, offset: int) -> str:
    """What the daemon wrote to its log since ``offset``: its error lines, else the last few lines."""
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            lines = f.read().decode(errors="replace").splitlines()
    except OSError:
        return "  (no log)"
    errors = [line for line in lines if line.startswith("hotline: ") or "level=error" in line]
    return "\n".join("  " + line for line in (errors or lines[-5:]))
