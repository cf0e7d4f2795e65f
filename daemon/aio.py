"""Small asyncio helpers shared by the components."""
from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
from typing import Any, Callable, TypeVar

T = TypeVar("T")


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancel a background task and wait until it has really stopped."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def _malloc_trim() -> Callable[[], None]:
    """glibc's malloc_trim(0), or nothing elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


_TRIM = _malloc_trim()


def trim() -> None:
    """Hand memory freed by any thread back to the system (glibc keeps it in each thread's arena otherwise)."""
    _TRIM()


BIG_BLOCK = 256 * 1024


def map_big_blocks() -> None:
    """Make glibc give every block of BIG_BLOCK bytes or more its own mapping, returned to the system when freed.

    By default glibc raises that threshold to the size of the last big block freed (up to 32 MB), so after one
    10 MB request body every later one comes from the heap, whose freed memory the process keeps: the daemon's
    RSS then stays at its biggest request. A fixed threshold stops that."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, BIG_BLOCK)
    mallopt(m_trim_threshold, BIG_BLOCK)


_WORKER: concurrent.futures.ThreadPoolExecutor | None = None


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """Run request work that grows with its input (parsing, validation, decoding) on the one request-work
    thread, then hand the memory it freed back to the system (a worker's malloc arena otherwise keeps it).

    One thread, not a pool: every CPU-bound thread competes with the event loop for the GIL, and with several
    at once the media clock waits for each in turn; requests queue behind each other instead (each is bounded
    by the input limits)."""
    global _WORKER
    if _WORKER is None:
        _WORKER = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="request-work")

    def run() -> T:
        try:
            return fn(*args)
        finally:
            trim()
    return await asyncio.get_running_loop().run_in_executor(_WORKER, run)
