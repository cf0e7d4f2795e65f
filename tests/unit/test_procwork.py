"""The worker process for big documents (daemon/box/procwork.py): answers and errors come back intact, and a
job that runs too long, takes too much memory or piles up is refused while the pool keeps serving."""
from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from hotline.daemon.acd import config as acd_config
from hotline.daemon.box import procwork
from hotline.daemon.box.procwork import ProcessWork, WorkFailed, WorkFailure
from hotline.daemon.errors import ConfigError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie no one has reaped yet is gone too
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _gone(pid: int, seconds: float = 10.0) -> bool:
    """True once the process has ended (a killed process takes a moment to go)."""
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def run(coro):
    return asyncio.run(coro)


def test_a_big_acd_yaml_is_checked_in_the_worker_with_file_line_col_problems() -> None:
    """A 200 KB acd.yaml with an unknown key at line 4: ConfigError raised here, naming file:line:col; the check
    ran in another process (the daemon's own pid is not the worker's)."""
    work = ProcessWork(timeout=60)
    try:
        padding = "".join(f"# {'x' * 70}\n" for _ in range(3000))
        text = "agents:\n  - name: alice\n    extension: '1001'\n    bogus: 1\n" + padding + "queues: {}\n"
        assert len(text) > procwork.BIG

        async def check() -> None:
            with pytest.raises(ConfigError) as err:
                await work.run(acd_config.parse, text, "import.yaml")
            assert "import.yaml:4:5: agents[0].bogus: unknown key" in str(err.value), str(err.value)
            assert await work.run(os.getpid) != os.getpid()
        run(check())
        assert work.status()["jobs"] == 2 and work.status()["failures"] == 0
    finally:
        work.shutdown()


def test_a_job_over_its_time_is_refused_and_the_next_one_runs() -> None:
    """time.sleep(30) with a 1 s limit: WorkFailed (timeout, 422) in about a second; the pool still answers."""
    work = ProcessWork(timeout=1.0)
    try:
        async def check() -> None:
            t0 = time.monotonic()
            with pytest.raises(WorkFailed) as err:
                await work.run(time.sleep, 30)
            assert err.value.failure is WorkFailure.TIMEOUT and err.value.status == 422
            assert time.monotonic() - t0 < 25
            assert await work.run(sum, [1, 2, 3]) == 6
        run(check())
    finally:
        work.shutdown()


def test_a_job_that_eats_memory_is_refused_and_the_next_one_runs() -> None:
    """A 4 GB allocation in the worker: refused as too big to check (the address-space cap), not an OOM kill."""
    work = ProcessWork(timeout=30)
    try:
        async def check() -> None:
            with pytest.raises(WorkFailed) as err:
                await work.run(bytearray, 4 << 30)
            assert err.value.failure is WorkFailure.DIED and "too big" in str(err.value)
            assert await work.run(len, "abc") == 3
        run(check())
    finally:
        work.shutdown()


def test_a_stuck_worker_is_killed_and_replaced() -> None:
    """A job whose worker never answers (SIGALRM ignored, so the per-job alarm cannot end it): after the wall
    limit the worker is killed, the job answers WorkFailed, and a new worker serves the next job."""
    work = ProcessWork(timeout=0.5)
    try:
        async def check() -> None:
            first = await work.run(os.getpid)
            await work.run(signal.signal, signal.SIGALRM, signal.SIG_IGN)  # as if stuck in C code: no alarm
            with pytest.raises(WorkFailed):
                await work.run(time.sleep, 60)
            assert _gone(first)
            assert await work.run(os.getpid) != first
            assert work.status()["restarts"] >= 1
        run(check())
    finally:
        work.shutdown()


def test_too_many_waiting_jobs_are_refused_with_429() -> None:
    """With room for one job, a second at the same time is refused at once (busy, 429); the first finishes."""
    work = ProcessWork(max_waiting=1, timeout=30)
    try:
        async def check() -> None:
            first = asyncio.ensure_future(work.run(time.sleep, 1.0))
            await asyncio.sleep(0)
            with pytest.raises(WorkFailed) as err:
                await work.run(len, "x")
            assert err.value.failure is WorkFailure.BUSY and err.value.status == 429
            assert await first is None
        run(check())
    finally:
        work.shutdown()


def test_shutdown_ends_the_worker_even_mid_job() -> None:
    """The daemon's stop does not wait for a running check: the worker is gone within seconds."""
    work = ProcessWork(timeout=60)
    pids: list[int] = []

    async def check() -> None:
        pids.append(await work.run(os.getpid))
        asyncio.ensure_future(work.run(time.sleep, 50))
        await asyncio.sleep(0.5)
        t0 = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, work.shutdown)
        assert time.monotonic() - t0 < 15
    try:
        run(check())
    finally:
        work.shutdown()
    assert _gone(pids[0])


def test_a_daemon_that_dies_without_shutting_down_leaves_no_worker_or_forkserver() -> None:
    """A daemon killed outright (no shutdown of the pool): its worker ends within seconds, and the forkserver
    with it (before, both stayed for ever: the worker holds both ends of the pool's pipes)."""
    import subprocess
    import sys
    import tempfile
    code = ("import os, sys\n"
            "from hotline.daemon.box.procwork import ProcessWork\n"
            "w = ProcessWork()\n"
            "w.warm()\n"
            "print(*[p.pid for p in w._pool._processes.values()], flush=True)\n"
            "os._exit(0)\n")
    with tempfile.TemporaryFile("w+") as out:   # not a pipe: the worker inherits it, and would hold it open
        proc = subprocess.run([sys.executable, "-P", "-c", code], stdout=out, stderr=subprocess.STDOUT, timeout=120)
        out.seek(0)
        text = out.read()
    assert proc.returncode == 0, text[-2000:]
    (worker,) = [int(p) for p in text.split()]
    with open(f"/proc/{worker}/stat", encoding="ascii") as f:
        forkserver = int(f.read().split(")")[-1].split()[1])   # the worker's parent
    assert _gone(worker, procwork.ORPHAN_POLL_S * 3), "the worker outlived its daemon"
    assert _gone(forkserver, 10), "the forkserver outlived its daemon and its worker"
