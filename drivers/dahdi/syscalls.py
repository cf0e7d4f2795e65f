"""The driver's only door to the kernel: open, ioctl, read, write, poll, close (and a pipe to wake a poller), as one
small object that tests replace with a fake DAHDI kernel (drivers/dahdi/fakekernel.py) at exactly this seam."""
from __future__ import annotations

import fcntl
import os
import select
from typing import Protocol

POLLIN, POLLPRI, POLLOUT, POLLERR, POLLHUP, POLLNVAL = (select.POLLIN, select.POLLPRI, select.POLLOUT,
                                                         select.POLLERR, select.POLLHUP, select.POLLNVAL)


class Poller(Protocol):
    """What select.poll() returns."""

    def register(self, fd: int, eventmask: int = ...) -> None: ...
    def modify(self, fd: int, eventmask: int) -> None: ...
    def unregister(self, fd: int) -> None: ...
    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]: ...


class Syscalls(Protocol):
    """The system calls the DAHDI driver makes; errors are OSError with the kernel's errno (EAGAIN, ELAST=500)."""

    def open(self, path: str, flags: int) -> int: ...
    def ioctl(self, fd: int, request: int, arg: bytearray) -> int: ...
    def read(self, fd: int, n: int) -> bytes: ...
    def write(self, fd: int, data: bytes) -> int: ...
    def close(self, fd: int) -> None: ...
    def poll(self) -> Poller: ...
    def pipe(self) -> tuple[int, int]: ...


class OsSyscalls:
    """The real kernel: os.open, fcntl.ioctl (the buffer is passed by pointer and filled in place), os.read,
    os.write, os.close, select.poll, os.pipe."""

    def open(self, path: str, flags: int) -> int:
        """os.open."""
        return os.open(path, flags)

    def ioctl(self, fd: int, request: int, arg: bytearray) -> int:
        """fcntl.ioctl with a mutable buffer: the kernel reads and writes the struct in place."""
        return fcntl.ioctl(fd, request, arg, True)

    def read(self, fd: int, n: int) -> bytes:
        """os.read."""
        return os.read(fd, n)

    def write(self, fd: int, data: bytes) -> int:
        """os.write."""
        return os.write(fd, data)

    def close(self, fd: int) -> None:
        """os.close."""
        os.close(fd)

    def poll(self) -> Poller:
        """select.poll()."""
        return select.poll()

    def pipe(self) -> tuple[int, int]:
        """A non-blocking os.pipe()."""
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        return r, w
