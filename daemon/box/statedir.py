"""The state directory: created and checked at start, and locked so two daemons never share it."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import HotlineError


class StateDir:
    """Creates the state directories and holds an exclusive lock for the daemon's lifetime."""

    def __init__(self, root: Path, subdirs: list[Path]):
        self.root = root
        self.subdirs = subdirs
        self._fd: int | None = None

    async def start(self) -> None:
        """Create, check writable, lock (a second daemon on the same directory is refused)."""
        for path in [self.root, *self.subdirs]:
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HotlineError(f"paths: cannot create {path}: {exc.strerror}") from None
            if not os.access(path, os.W_OK | os.X_OK):
                raise HotlineError(f"paths: {path} is not writable by this user")
        fd = os.open(self.root / "hotline.lock", os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = (self.root / "hotline.lock").read_text().strip() or "another process"
            raise HotlineError(f"paths.state {self.root}: already in use by a running hotline "
                               f"(pid {holder})") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    async def stop(self) -> None:
        """Release the lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def status(self) -> dict:
        """Locked or not."""
        return {"state": "up" if self._fd is not None else "down", "path": str(self.root)}
