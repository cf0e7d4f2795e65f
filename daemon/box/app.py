"""The running daemon: builds components in order, serves, reloads on SIGHUP, drains on SIGTERM."""
from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
import sys
import time
from typing import Any, Callable

from . import procwork
from ..aio import map_big_blocks, off_loop
from .config import Config, load_config
from ..errors import ConfigError
from .assembly import build_components
from .component import Component
from .logsetup import setup_logging
from .metrics import Metrics
from .notify import Notifier
from ..store.db import Store
from ..version import VERSION

log = logging.getLogger("hotline.app")




class Hotline:
    """The daemon: components, services for the web layer, signals and systemd notify."""

    def __init__(self, config: Config, env: dict[str, str] | None = None):
        self.config = config
        self.started_at = time.time()
        self.notifier = Notifier(env)
        self.metrics = Metrics()
        self.store = Store(config.database_url)
        self.services: dict[str, Any] = {"app": self, "store": self.store, "metrics": self.metrics,
                                         "config": config}
        self.components: list[tuple[str, Component]] = []
        self.started: list[tuple[str, Component]] = []
        self.state = "starting"
        self._stop_requests = 0
        self._stopped = asyncio.Event()
        self._watchdog_task: asyncio.Task | None = None

    def build(self) -> None:
        """Create the components in start order (store -> journal -> drivers -> engine -> calls -> web)."""
        self.components = build_components(self)
        self.metrics.attach(self)

    def component_states(self) -> dict[str, dict]:
        """Each component's status(), for /healthz and metrics."""
        out = {}
        for name, comp in self.components:
            try:
                out[name] = comp.status()
            except Exception as exc:  # a broken status() must not break /healthz
                out[name] = {"state": "error", "error": str(exc)}
        return out

    def health(self) -> dict:
        """The /healthz document; ``failing`` (a 503) while a component cannot keep its records (the journal)."""
        components = self.component_states()
        status = self.state
        if status == "serving" and any(c.get("state") == "failing" for c in components.values()):
            status = "failing"
        return {"status": status, "version": VERSION, "uptime_s": round(time.time() - self.started_at, 3),
                "components": components}

    async def start(self) -> None:
        """Start every component in order; on failure stop the ones already started."""
        for name, comp in self.components:
            try:
                await comp.start()
            except BaseException:
                await self._stop_started()
                raise
            self.started.append((name, comp))
        self.state = "serving"
        self.notifier.ready()
        if self.notifier.watchdog_interval:
            self._watchdog_task = asyncio.get_running_loop().create_task(self._watchdog())
        log.info("event=ready version=%s components=%s", VERSION, ",".join(n for n, _ in self.components))

    async def _watchdog(self) -> None:
        interval = self.notifier.watchdog_interval or 1.0
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    def install_signal_handlers(self) -> None:
        """SIGHUP reloads; SIGTERM/SIGINT drain (a second one stops at once)."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self.reload()))
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def reload(self) -> bool:
        """Validate the configuration file again; apply it, or keep the old one and log why."""
        if self.state != "serving":
            # after STOPPING=1 a READY=1 would tell systemd the service is back; a drain is not reloaded
            log.warning("event=reload_ignored state=%s", self.state)
            return False
        self.notifier.reloading()
        try:
            # read and checked off the event loop: the media clock keeps ticking while a big file is parsed
            new = await off_loop(functools.partial(load_config, self.config.path, base=self.config.base,
                                                   allow_empty=False))
            # the components' own checks (flows against the lines reaching them) before anything is applied
            problems = await off_loop(self._check_reload, new)
            if problems:
                raise ConfigError(problems)
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("event=reload_rejected problem=%r", str(problem))
            log.error("event=reload_failed keeping=previous problems=%d", len(exc.problems))
            self.notifier.ready("reload failed: kept the previous configuration")
            return False
        for warning in new.warnings:
            log.warning("event=config_warning problem=%r", str(warning))
        changed = self.apply_config(new)
        log.info("event=reloaded changed=%s", ",".join(changed) or "nothing")
        self.notifier.ready()
        return True

    def _check_reload(self, new: Config) -> list:
        """Problems the started components find with a new configuration (their ``check_reload``; a thread)."""
        problems: list = []
        for _, comp in self.started:
            hook = getattr(comp, "check_reload", None)
            if hook is not None:
                problems += hook(new)
        return problems

    def apply_config(self, new: Config) -> list[str]:
        """Apply what can change without a restart; report what changed."""
        changed = [k for k in new.data if new.data[k] != self.config.data.get(k)]
        restart_only = {"paths", "web", "database"} & set(changed)
        if restart_only:
            log.warning("event=reload_needs_restart sections=%s", ",".join(sorted(restart_only)))
        self.config.data.update({k: new.data[k] for k in changed if k not in restart_only})
        setup_logging(self.config["logging"]["level"], self.config["logging"]["components"])
        for _, comp in self.started:
            hook = getattr(comp, "reconfigure", None)
            if hook is not None:
                hook(self.config)
        return changed

    def request_stop(self) -> None:
        """First call drains; a second one stops at once."""
        self._stop_requests += 1
        loop = asyncio.get_running_loop()
        if self._stop_requests == 1:
            loop.create_task(self.shutdown(drain=True))
        else:
            log.warning("event=stop_now reason=second_signal")
            loop.create_task(self.shutdown(drain=False))

    async def shutdown(self, drain: bool = True) -> None:
        """Refuse new calls, wait for calls in progress (bounded), stop in reverse order."""
        if self.state in ("stopping", "stopped") and drain:
            return
        self.state = "stopping"
        self.notifier.stopping()
        calls = self.services.get("calls")
        if drain and calls is not None:
            timeout = self.config["engine"]["drain_timeout"]
            log.info("event=draining active=%d timeout=%s", calls.active_count(), timeout)
            await calls.drain(timeout)
        elif calls is not None:
            calls.refuse_new()
        if self._stop_requests > 1 and drain:
            return  # a second signal arrived while draining: that stop runs instead
        await self._stop_started()
        self.state = "stopped"
        self._stopped.set()

    async def _stop_started(self) -> None:
        if self._watchdog_task:
            self._watchdog_task.cancel()
        while self.started:
            name, comp = self.started.pop()
            try:
                await comp.stop()
            except Exception:
                log.exception("event=stop_failed component=%s", name)

    async def wait_stopped(self) -> None:
        """Return once the daemon has stopped."""
        await self._stopped.wait()


async def serve(config: Config, on_ready: Callable[[], None] | None = None) -> int:
    """Run the daemon until a stop signal; the exit status for the process. ``on_ready`` runs once serving."""
    map_big_blocks()
    app = Hotline(config)
    app.build()
    await app.start()
    # Start-up objects (modules, config, flows, prompts) live for good: frozen, they leave every full
    # collection, which then pauses the media tick for 25-37 ms instead of 60-100 ms with 600 calls up.
    # Here, not in start(): boxes built in-process by tests come and go and must stay collectable.
    gc.collect()
    gc.freeze()
    # The GIL is handed over every millisecond instead of every 5, so the tick waits less for the request-work
    # thread (a big flow checked, a long import parsed): hotline abuse-bench missed 22 ticks with 5 ms, 8 with
    # 1 ms, on the same quiet machine.
    sys.setswitchinterval(0.001)
    # Big documents are checked in a worker process (daemon/box/procwork.py): started now, off the loop, so the
    # first one does not wait for it.
    loop = asyncio.get_running_loop()
    warming = loop.run_in_executor(None, procwork.WORK.warm)
    warming.add_done_callback(lambda f: f.exception() and log.warning("event=worker_start_failed error=%r",
                                                                       str(f.exception())))
    app.install_signal_handlers()
    if on_ready is not None:
        on_ready()
    await app.wait_stopped()
    await loop.run_in_executor(None, procwork.WORK.shutdown)
    # One full collection at stop: a task left waiting forever would otherwise only be reported ("Task was
    # destroyed but it is pending!") whenever a collection happened to find it; here it shows every time.
    gc.collect()
    log.info("event=stopped")
    return 0
