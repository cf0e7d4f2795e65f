"""Wires the components together in start order; the one place that knows them all."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hotline.dialplan import builtin
from hotline.dialplan.interpreter import FlowRun

from ..acd.manager import Acd
from .component import StoreComponent
from ..calls.manager import CallManager
from ..calls.context import CallSession
from ..calls.devices import DeviceManager
from ..calls.flows import BoxServices, FlowStore, FlowVersions, Router
from ..calls.journal import Journal
from ..calls.linebind import check_flows, flow_files, half_duplex_routes
from ..errors import ConfigError, Problem
from ..media.engine import MediaEngine
from . import localtime
from .metrics_collect import MetricsUpdater
from ..calls.prompts import PromptLibrary
from ..calls.simctl import SimControl
from .statedir import StateDir
from ..calls.supervise import Supervisor
from ..stats.summary import StatsComponent
from .webserver import WebComponent

if TYPE_CHECKING:
    from .app import Hotline
    from .component import Component

log = logging.getLogger("hotline.app")


class DevicesComponent(DeviceManager):
    """The device manager, telling the engine about frame devices as they come up, fail and come back."""

    def __init__(self, app: "Hotline", engine: MediaEngine, calls_ref: list):
        super().__init__(app.config["devices"], lambda ev: calls_ref[0].on_line_event(ev), app.metrics)
        self.engine = engine
        engine.on_device_error = self.driver_raised
        self.store = app.store

    async def start(self) -> None:
        """Lines taken out of service in the panel stay out; open devices (each frame device joins the engine's
        tick when it comes up, also later)."""
        from ..calls.devices import load_disabled_lines
        for name in await self.store.read(load_disabled_lines):
            self.disabled[name] = (True, "")
        await super().start()

    def reconfigure(self, config) -> None:
        """SIGHUP: devices keep running; the numbers their lines answer for may change."""
        self.set_numbers(config["devices"])


class FlowsComponent:
    """Publishes the flow files at start; invalid ones are logged and never published."""

    def __init__(self, store: FlowStore, directory):
        self.store = store
        self.directory = directory
        self.problems: list[str] = []

    async def start(self) -> None:
        """Load the stored versions, then publish flow files whose content is new; refuse to start (ConfigError)
        when a flow has a step the lines reaching it cannot run (a half-duplex line and a queue)."""
        self.problems = self.store.load_stored()
        if self.directory.exists():
            self.problems += self.store.load_dir(self.directory)
        errors = self.store.line_errors + self.store.active_line_problems()
        if errors:
            raise ConfigError(errors)

    def check_reload(self, config) -> list[Problem]:
        """Before a reload is applied (in a thread): the errors the new configuration would cause with the active
        flows and the flow files a reload would publish; any error keeps the previous configuration."""
        routes = half_duplex_routes(config.data)
        if not routes:
            return []
        candidates = {name: self.store.get(name) for name in self.store.versions}
        for flow in flow_files(self.directory):
            known = self.store.versions.get(flow.name, [])
            if not any(v.digest == flow.digest for v in known):
                candidates[flow.name] = flow  # load_dir would publish it
        return check_flows([f for f in candidates.values() if f is not None], routes)[0]

    def reconfigure(self, config) -> None:
        """SIGHUP: the routes half-duplex lines reach may have changed; pick up versions published meanwhile
        (CLI, panel) and new flow files."""
        self.store.half_duplex = half_duplex_routes(config.data)
        self.problems = self.store.load_stored()
        if self.directory.exists():
            self.problems += self.store.load_dir(self.directory)

    async def stop(self) -> None:
        """Nothing to release."""

    def status(self) -> dict:
        """Flows and their problems."""
        return {"state": "up" if not self.problems else "degraded", "flows": sorted(self.store.versions),
                "problems": self.problems[:20]}


def validate_lookup(table: str, by: str) -> str | None:
    """The lookup allow-list check used when flows are validated."""
    from ..service.lookups import validate_lookup as check
    return check(table, by)


def build_components(app: "Hotline") -> list[tuple[str, "Component"]]:
    """store -> journal -> engine -> devices -> calls -> web."""
    cfg = app.config
    eng = cfg["engine"]
    localtime.set_default(cfg["locale"]["timezone"])
    engine = MediaEngine(eng["max_channels"] + 8, speed=eng["speed"], overrun_ms=eng["overrun_ms"],
                         metrics=app.metrics)
    journal = Journal(app.store, clock=engine.now, metrics=app.metrics, state_dir=cfg.state_dir)
    calls_ref: list = []
    devices = DevicesComponent(app, engine, calls_ref)
    calls = CallManager(devices, engine, journal, app.store, cfg.path_for("recordings"), cfg, app.metrics)
    calls.record_calls = eng["record_calls"]
    calls.record_stereo = eng["record_stereo"]
    calls_ref.append(calls)
    prompts = PromptLibrary(cfg.path_for("prompts"), cfg["locale"]["language"],
                            cfg.etc_path("prompt_manifest", "prompts/manifest.yaml"))
    stations = [s for d in cfg["devices"] for s in d.get("stations", [])]
    operator = eng["operator"] or (stations[0] if stations else "")
    flows = FlowStore(prompts, lookup_check=validate_lookup, persist=FlowVersions(app.store))
    flows.half_duplex = half_duplex_routes(cfg.data)
    for warning in cfg.warnings:
        log.warning("event=config_warning problem=%r", str(warning))
    router = Router(cfg["routes"], flows)
    services = BoxServices(app.store, journal, prompts, cfg["locale"]["timezone"], stations, clock=engine.now,
                           spool=cfg.path_for("spool"))

    def flow_for(call):
        if call.direction == "internal":
            return builtin.station_dial
        route = next((r for r in router.routes if r["dialed"] == call.dialed), None) or \
            next((r for r in router.routes if r["dialed"] == "*"), None)
        if route is not None and route.get("recording"):
            call.vars["recording_policy"] = route["recording"]  # CallManager.answer applies it
        flow = router.flow_for(call.dialed)
        # CNG takes a fax unless the route or the flow says fax_detect: false (CallManager.answer watches for it)
        call.vars["fax_detect"] = (route is None or route.get("fax_detect", True) is not False) and (
            flow is None or flow.fax_detect)
        if flow is None:
            return builtin.reception
        return lambda ctx, flow=flow: FlowRun(flow, ctx, services).run()
    calls.flow_for = flow_for
    calls.context_factory = lambda call, m: CallSession(call, m, prompts, cfg["locale"]["tone_profile"],
                                                        cfg["locale"]["language"], operator)
    acd = Acd(app.store, journal, calls, devices, engine, prompts)
    acd.services, services.acd, calls.acd = services, acd, acd
    from ..calls.simnumbers import SimNumbers
    sim = SimControl(devices, calls, engine)
    app.services.update(engine=engine, journal=journal, devices=devices, calls=calls, prompts=prompts,
                        sim=sim, sim_numbers=SimNumbers(sim, calls), flows=flows, router=router, box=services, acd=acd,
                        supervisor=Supervisor(calls, engine, devices, journal))
    from ..fax.library import FaxLibrary, shipped_dir
    from ..fax.queue import FaxQueue
    from ..fax.registry import make_sender
    fax_settings = dict(cfg["fax"])
    fax_settings.pop("inbox", None)
    library = FaxLibrary(shipped_dir(cfg.etc_path("flows", "flows")), cfg.path_for("spool") / "fax" / "library")
    fax = FaxQueue(app.store, journal, calls, devices, engine, make_sender(fax_settings.pop("sender"), fax_settings),
                   library, cfg.path_for("spool"), fax_settings, app.metrics)
    services.fax = fax
    flows.document_check = library.names
    from ..fax.engine import SpandspSender
    from ..fax.receiver import FaxReceiver
    sender = fax.sender
    fax_in = FaxReceiver(app.store, journal, calls, engine, cfg.path_for("spool"), fax_settings, app.metrics,
                         pool=(lambda: sender.pool) if isinstance(sender, SpandspSender) else None)
    from ..fax.delivery import FaxDelivery, InboxSettings
    from ..mail.outbox import Outbox
    from ..mail.voicemail import VoicemailMailer, VoicemailMailSettings
    outbox = Outbox(app.store, cfg["mail"], journal)
    fax_delivery = FaxDelivery(app.store, outbox, InboxSettings.from_config(cfg), cfg.path_for("spool"), journal)
    voicemail_mail = VoicemailMailer(app.store, outbox, VoicemailMailSettings.from_config(cfg))
    services.on_voicemail.append(voicemail_mail.on_voicemail)
    from ..calls.mwi import MessageLamps
    lamps = MessageLamps(app.store, devices, {name: box["extension"] for name, box in
                                              cfg["voicemail"]["mailboxes"].items() if box.get("extension")})
    services.on_voicemail.append(lamps.on_voicemail)   # a new message lights its extension's lamp
    fax_in.on_received.append(fax_delivery.deliver)   # a received fax is filed with its customer and mailed
    app.services.update(fax=fax, fax_library=library, fax_receiver=fax_in, mail_outbox=outbox,
                        fax_delivery=fax_delivery, message_lamps=lamps)
    stats = StatsComponent(app.store, lambda: sum(1 for ln in devices.lines.values() if ln.kind.value == "trunk"),
                           timezone=cfg["locale"]["timezone"])
    app.services["stats"] = stats
    state = StateDir(cfg.state_dir, [cfg.path_for(n) for n in ("recordings", "prompts", "spool")])
    comps: list[tuple[str, Component]] = [
        ("state", state),
        ("store", StoreComponent(app.store, cfg["database"]["auto_upgrade"], cfg)),
        ("journal", journal),
        ("engine", engine),
        ("devices", devices),
        ("flows", FlowsComponent(flows, cfg.etc_path("flows", "flows"))),
        ("calls", calls),
        ("acd", acd),
        ("fax", fax),
        ("fax_in", fax_in),
        ("mail", outbox),
        ("fax_delivery", fax_delivery),
        ("stats", stats),
        ("metrics", MetricsUpdater(app.metrics, app.store, lambda: list(acd.queues), cfg["locale"]["timezone"],
                                   {"state": cfg.state_dir, "recordings": cfg.path_for("recordings")},
                                   clock=engine.now)),
        ("web", WebComponent(app.services)),
    ]
    return comps
