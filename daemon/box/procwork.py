"""Request work on big documents in a worker process, so the daemon's GIL is never held for long.

A thread off the event loop is not enough for a big document: parsing and checking it holds the interpreter's
lock for long stretches the media clock cannot interrupt (C code of the YAML parser and of regular expressions,
and the full garbage collections its hundreds of thousands of new objects set off: 30 to 70 ms each). In a
worker process none of that touches the daemon, and the memory of a parse leaves with the process.

One long-lived worker, forked from a forkserver that has imported the checking code once; it is replaced after
``TASKS_PER_CHILD`` jobs (its memory goes back to the system). At most ``MAX_WAITING`` jobs wait; a job has
``TIMEOUT_S`` of wall time (an alarm in the worker) and as much CPU time (a hard limit that ends the worker),
a worker at most ``MEMORY_BYTES`` more address space; a stuck worker is killed and the pool restarted.
Documents under ``BIG`` bytes are checked on the request-work thread (:func:`hotline.daemon.aio.off_loop`):
a process round trip costs more than they do.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import multiprocessing
import os
import pickle
import resource
import signal
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, TypeVar

from ..aio import off_loop, trim
from ..errors import HotlineError

T = TypeVar("T")
log = logging.getLogger("hotline.procwork")

BIG = 64 * 1024          # bytes of input from which work goes to the worker process
MAX_WAITING = 8          # jobs running or waiting; more are refused (429)
TIMEOUT_S = 20.0         # wall and CPU seconds a job may take
TASKS_PER_CHILD = 10     # a worker is replaced after this many jobs
MEMORY_BYTES = 1 << 30   # address space a worker may add to what it has at start
ORPHAN_POLL_S = 2.0      # how often a worker checks that the daemon still runs
NICE = 10                # the worker's CPU priority below the daemon's: on a busy machine the clock goes first
PRELOAD = ["hotline.daemon.box.procwork", "hotline.dialplan.flow", "hotline.dialplan.apps",
           "hotline.webadmin.handlers.flow_versions", "hotline.daemon.acd.config",
           "hotline.webadmin.handlers.config_calendar", "hotline.daemon.calls.simctl",
           "hotline.webadmin.handlers.inputs"]


class WorkFailure(enum.Enum):
    """Why a job gave no answer."""

    BUSY = "busy"
    TIMEOUT = "timeout"
    DIED = "died"


class WorkFailed(HotlineError):
    """A document could not be checked: too many waiting (429), too slow or too big to check (422)."""

    def __init__(self, failure: WorkFailure, message: str):
        super().__init__(message)
        self.failure = failure
        self.status = 429 if failure is WorkFailure.BUSY else 422

    def __reduce__(self) -> tuple:
        return (type(self), (self.failure, str(self)))


class _Alarm(BaseException):
    """Raised in the worker when a job's wall time is up (a BaseException: the job's own handlers let it by)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise _Alarm()


def _orphan_watch(daemon_pid: int) -> None:
    """In the worker: end it once the daemon is gone. Its parent is the forkserver, and it holds both ends of the
    pool's pipes, so a daemon that died without shutting the pool down would leave it (and the forkserver,
    which lives while a child holds its alive pipe) running for ever."""
    while True:
        time.sleep(ORPHAN_POLL_S)
        try:   # gone, or a zombie its parent has not reaped yet
            with open(f"/proc/{daemon_pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    os._exit(0)
        except OSError:
            os._exit(0)


def _worker_start(daemon_pid: int) -> None:
    """In each new worker: the alarm handler; Ctrl-C is the daemon's business, not the worker's; a lower CPU
    priority (NICE); at most MEMORY_BYTES of address space beyond its size at start (past it: MemoryError); a
    watch that ends the worker when the daemon is gone."""
    threading.Thread(target=_orphan_watch, args=(daemon_pid,), name="orphan-watch", daemon=True).start()
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(NICE)
    except OSError:
        pass
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            size = int(f.read().split()[0]) * resource.getpagesize()
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = size + MEMORY_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    except (OSError, ValueError) as exc:
        log.warning("event=worker_memory_limit_failed error=%r", str(exc))


def _run_job(fn: Callable[..., T], args: tuple, timeout: float) -> T:
    """In the worker: ``fn(*args)`` within ``timeout`` seconds of wall time (an alarm) and about as much CPU
    time (a limit the kernel enforces where no alarm can interrupt, such as C code). The pool carries the
    arguments, the answer and any exception across (each pickled once: a 10 MB body is not copied again)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime + timeout) + 2
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu if hard == resource.RLIM_INFINITY else min(cpu, hard), hard))
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return fn(*args)
    except _Alarm:
        raise WorkFailed(WorkFailure.TIMEOUT, f"the document could not be checked in {timeout:g} s") from None
    except MemoryError:
        raise WorkFailed(WorkFailure.DIED, "the document is too big to check") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class ProcessWork:
    """A bounded pool of worker processes for request work (one worker by default)."""

    def __init__(self, workers: int = 1, max_waiting: int = MAX_WAITING, timeout: float = TIMEOUT_S,
                 tasks_per_child: int = TASKS_PER_CHILD):
        self.workers, self.max_waiting, self.timeout = workers, max_waiting, timeout
        self.tasks_per_child = tasks_per_child
        self.waiting = 0
        self.jobs = self.failures = self.restarts = 0
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        # Submitting can start a process (and the forkserver the first time): never on the event loop.
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="procwork")

    def _get_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(PRELOAD)
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self.workers, mp_context=ctx, initializer=_worker_start, initargs=(os.getpid(),),
                    max_tasks_per_child=self.tasks_per_child)
            return self._pool

    def _drop_pool(self, pool: concurrent.futures.ProcessPoolExecutor, kill: bool) -> None:
        """Forget a broken or stuck pool (the next job starts a new one); a stuck worker is killed."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
                self.restarts += 1
        if kill:
            for proc in list(getattr(pool, "_processes", {}).values()):  # no public way to end a stuck worker
                proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, fn: Callable, args: tuple) -> tuple[concurrent.futures.ProcessPoolExecutor,
                                                           concurrent.futures.Future]:
        pool = self._get_pool()
        return pool, pool.submit(_run_job, fn, args, self.timeout)

    def warm(self) -> None:
        """Start the forkserver and the worker now (in a thread), so the first big document does not wait."""
        pool = self._get_pool()
        pool.submit(int, 0).result(timeout=120)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a worker process (``fn`` and its arguments picklable); its exception is raised here.
        WorkFailed when too many jobs wait, the job takes too long or its process dies."""
        if self.waiting >= self.max_waiting:
            raise WorkFailed(WorkFailure.BUSY, "too many big documents are being checked; try again in a moment")
        loop = asyncio.get_running_loop()
        self.waiting += 1
        self.jobs += 1
        try:
            try:  # the function only (the arguments are plain data): a lambda cannot go to the worker
                pickle.dumps(fn)
            except (pickle.PicklingError, AttributeError, TypeError) as exc:  # a test's own checker
                log.warning("event=work_in_thread fn=%s reason=%r", getattr(fn, "__name__", fn), str(exc))
                return await off_loop(fn, *args)
            pool, future = await loop.run_in_executor(self._thread, self._submit, fn, args)
            try:
                value = await asyncio.wait_for(asyncio.wrap_future(future), self.timeout * 2 + 10)
            except asyncio.TimeoutError:
                self.failures += 1
                log.error("event=worker_stuck fn=%s timeout=%s", getattr(fn, "__name__", fn), self.timeout)
                await loop.run_in_executor(self._thread, self._drop_pool, pool, True)
                raise WorkFailed(WorkFailure.TIMEOUT, f"the document could not be checked in {self.timeout:g} s") \
                    from None
            except BrokenProcessPool:
                self.failures += 1
                log.error("event=worker_died fn=%s", getattr(fn, "__name__", fn))
                await loop.run_in_executor(self._thread, self._drop_pool, pool, False)
                raise WorkFailed(WorkFailure.DIED, "checking the document ended its worker process (too big or "
                                                   "too slow to check)") from None
            except WorkFailed:
                self.failures += 1
                raise
        finally:
            self.waiting -= 1
            self._thread.submit(trim)  # the memory of the request's copies goes back to the system
        return value

    def status(self) -> dict:
        """Jobs run, failures (timeouts, dead workers), pool restarts, jobs waiting now."""
        return {"jobs": self.jobs, "failures": self.failures, "restarts": self.restarts, "waiting": self.waiting}

    def shutdown(self) -> None:
        """Stop the worker at once (a job still running is abandoned, waiting ones cancelled: a check holds
        nothing that needs saving, and the daemon's stop must not wait for one)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is None:
            return
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)


WORK = ProcessWork()


async def off_loop_sized(size: int, fn: Callable[..., T], *args: Any) -> T:
    """Work that grows with its input: on the request-work thread for inputs under BIG bytes, in the worker
    process above (``fn`` a module-level function, arguments and result picklable)."""
    if size < BIG:
        return await off_loop(fn, *args)
    return await WORK.run(fn, *args)
