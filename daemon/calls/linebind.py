"""Which lines reach which route, and the flow steps those lines cannot carry (half duplex: never bridged or queued).

Routes match dialled numbers; a call on a line that delivers none (an analog line) takes its device's
``number:``. A half-duplex device (a voice modem; ``driver: sim`` with ``duplex: half``) whose number has a
route binds that route's flow to half-duplex lines: a step that bridges or queues the caller is an error at the
step's file:line:col. A half-duplex device without a routed number sends its calls to the route for ``*``: the
same steps there are warnings (calls with a dialled number may still come from full-duplex lines).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from hotline.dialplan.flow import Flow, FlowError, parse_flow
from hotline.dialplan.registry import APPS
from hotline.dialplan.schema import Problem
from hotline.drivers import registry
from hotline.drivers.base import Duplex


@dataclass(frozen=True)
class HalfDuplexRoute:
    """A route that half-duplex lines reach: by their device's number (bound) or as the ``*`` fallback."""

    dialed: str
    flow: str
    devices: tuple[str, ...]
    bound: bool  # True: the devices' number is this route's; False: their calls fall back to route *


def device_duplex(device: dict) -> Duplex:
    """What a configured device's driver says its lines will be, from the settings alone (unknown: full)."""
    cls = registry.get(device.get("driver", ""))
    traits = cls.configured_traits(device) if cls is not None else None
    return traits.duplex if traits is not None else Duplex.FULL


def half_duplex_routes(data: dict) -> list[HalfDuplexRoute]:
    """The routes half-duplex devices reach, from a validated configuration's ``devices`` and ``routes``."""
    routes = {r["dialed"]: r["flow"] for r in data.get("routes") or []}
    reached: dict[tuple[str, bool], list[str]] = {}
    for dev in data.get("devices") or []:
        if not dev.get("enabled", True) or device_duplex(dev) is not Duplex.HALF:
            continue
        number = dev.get("number")
        if number and number in routes:
            reached.setdefault((number, True), []).append(dev["name"])
        elif "*" in routes:
            reached.setdefault(("*", False), []).append(dev["name"])
    return [HalfDuplexRoute(dialed, routes[dialed], tuple(devs), bound) for (dialed, bound), devs in reached.items()]


def line_problems(flow: Flow, routes: Iterable[HalfDuplexRoute]) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for the steps of ``flow`` that half-duplex lines reaching it cannot run."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    filename = flow.filename or f"{flow.name}.yaml"
    for route in routes:
        if route.flow != flow.name:
            continue
        lines = ", ".join(route.devices)
        for block, steps in flow.blocks.items():
            for i, step in enumerate(steps):
                spec = APPS.get(step.app)
                if spec is None or not spec.full_duplex:
                    continue
                key = f"blocks.{block}[{i}].{step.app}"
                if route.bound:
                    errors.append(Problem(filename, step.line, step.column, key,
                                          f"route {route.dialed} answers on half-duplex line {lines}: step "
                                          f"'{step.app}' needs a full-duplex line (a half-duplex line plays or "
                                          "records, never both: use menu, play, say, voicemail or "
                                          "callback_request there)"))
                else:
                    warnings.append(Problem(filename, step.line, step.column, key,
                                            f"calls on half-duplex line {lines} (no routed number) take route *: "
                                            f"step '{step.app}' will be refused on them (give the device a "
                                            "number: with its own route)"))
    return errors, warnings


def check_flows(flows: Iterable[Flow], routes: list[HalfDuplexRoute]) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of line_problems over several flows."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for flow in flows:
        e, w = line_problems(flow, routes)
        errors += e
        warnings += w
    return errors, warnings


def flow_files(directory: Path) -> list[Flow]:
    """The flows in a directory's YAML files that parse (the ones that do not: ``hotline flow check``)."""
    out: list[Flow] = []
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        try:
            out.append(parse_flow(path.read_text(encoding="utf-8"), str(path)))
        except (FlowError, OSError, UnicodeDecodeError):
            continue
    return out


def check_config_flows(config: Any) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for a configuration and the flow files beside it (``hotline check-config``)."""
    routes = half_duplex_routes(config.data)
    if not routes:
        return [], []
    return check_flows(flow_files(config.etc_path("flows", "flows")), routes)
