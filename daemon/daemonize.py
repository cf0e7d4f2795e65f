"""Detaching with python-daemon for boxes without systemd: pidfile, umask 027, working directory."""
from __future__ import annotations

import os
from pathlib import Path

import daemon  # python-daemon, the top-level module our folder must never shadow

from .config import Config
from .errors import HotlineError


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
    return daemon.DaemonContext(umask=0o027, working_directory=str(state), pidfile=pid,
                                stderr=open(state / "hotline.log", "a", buffering=1),
                                detach_process=True)
