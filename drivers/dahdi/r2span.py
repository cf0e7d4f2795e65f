"""The MFC/R2 signalling of one E1 span's channels, run on the span's poller thread in the place of the analog
layer (signalling.py): one openr2 context for the span, one R2Port per channel, the event loop's commands queued
and run there, openr2 fed the channel's events and, during MF, its audio (it reads and writes the channel itself
then), and its timers run when due."""
from __future__ import annotations

import logging
import queue
from typing import Any, Callable

import numpy as np

from hotline.drivers.analog.signals import LineSignal
from hotline.drivers.base import LineEvent

from . import r2lib, r2seam
from .channel import DahdiChannel
from .r2 import R2Context, R2Port, R2Settings, china_digits
from .syscalls import OsSyscalls, Syscalls

log = logging.getLogger("hotline.drivers.dahdi.r2")


def r2_settings(r2: dict[str, Any]) -> R2Settings:
    """R2Settings from the checked config (config.Plan.r2)."""
    return R2Settings(variant=r2lib.VARIANTS[r2.get("variant", "cn")], max_ani=int(r2.get("max_ani", 10)),
                      max_dnis=int(r2.get("max_dnis", 4)),
                      category=r2lib.CATEGORIES.get(r2.get("category", "national"),
                                                    r2lib.Category.NATIONAL_SUBSCRIBER),
                      ani=str(r2.get("ani") or ""), immediate_accept=bool(r2.get("immediate_accept")),
                      skip_category=bool(r2.get("skip_category")))


class R2Signalling:
    """The R2 ports of one span, in poller-row order (the interface SpanPoller and DahdiLine use)."""

    cas = True

    def __init__(self, members: list[tuple[str, DahdiChannel]], sink: Callable[[LineEvent], None],
                 settings: R2Settings, sys: Syscalls, name: str = "span"):
        self.settings, self.sys = settings, sys
        self.ctx = R2Context(settings, name=name)
        self.routed: list[int] = []
        self.ports: list[R2Port] = []
        self.alarm_hook: Callable[[int, bool], str] = lambda row, on: ""   # set by the span poller
        for row, (line, channel) in enumerate(members):
            if not isinstance(sys, OsSyscalls):   # a fake kernel: openr2's own system calls go to it too
                r2seam.route(channel.fd, sys)
                self.routed.append(channel.fd)
            self.ports.append(R2Port(line, self.ctx, channel.fd, sink,
                                     alarm_reason=lambda on, row=row: self.alarm_hook(row, on)))
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.wake: Callable[[], None] = lambda: None

    # ---- the event loop's side ------------------------------------------------------------------------------------
    def command(self, row: int, name: str, *args: Any) -> None:
        """Run port ``row``'s command (answer, hangup, dial) on the poller thread at its next wake-up."""
        self.commands.put((row, name, args))
        self.wake()

    # ---- the poller thread's side ---------------------------------------------------------------------------------
    def run_commands(self, now: float) -> None:
        """The queued commands in order, then openr2's due timers (errors are logged, never fatal to the span)."""
        while True:
            try:
                row, name, args = self.commands.get_nowait()
            except queue.Empty:
                break
            port = self.ports[row]
            try:
                if name == "dial":
                    self._dial(port, args[0])
                elif name in ("answer", "hangup"):
                    getattr(port, name)(*args)
                else:
                    log.debug("event=r2_command_ignored line=%s command=%s", port.name, name)
            except Exception:
                log.exception("event=r2_command_failed line=%s command=%s", port.name, name)
        for port in self.ports:
            if port.due():
                port.process()

    def _dial(self, port: R2Port, number: str) -> None:
        s = self.settings
        digits = china_digits(number, s.ani) if s.variant is r2lib.Variant.CHINA else number
        port.dial(digits, s.ani, s.category)
        port.dnis = number

    def process(self, row: int) -> None:
        """openr2 handles what channel ``row`` has now: events, MF audio, due timers."""
        self.ports[row].process()

    def on_signal(self, row: int, signal: LineSignal, now: float, detail: str = "") -> None:
        """Unused: openr2 reads an R2 channel's events itself."""

    def take_audio(self, rows: list[int], blocks: np.ndarray) -> None:
        """Unused: R2 line signalling is in the bits, and openr2 reads MF tones itself."""

    def tick(self, now: float) -> dict[int, bytes]:
        """Nothing of its own to write: openr2 writes its MF tones itself."""
        return {}

    def owns_audio(self, row: int) -> bool:
        """openr2 reads and writes channel ``row`` itself now (MF digits): the poller leaves its audio alone."""
        return self.ports[row].mf

    def set_down(self, row: int) -> None:
        """Start port ``row`` down (its span was in alarm at open)."""
        self.ports[row].set_down("alarm")

    def status(self) -> list[dict]:
        """Every port's R2 state for the panel."""
        return [p.status() for p in self.ports]

    def close(self) -> None:
        """Delete the openr2 channels and context (before the driver closes the descriptors)."""
        self.ctx.delete()
        for fd in self.routed:
            r2seam.unroute(fd)
