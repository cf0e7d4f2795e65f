"""The far exchange of an E1 MFC/R2 link in the fake DAHDI kernel: its own span wired back to back with the box's,
driven by its own libopenr2 context (the other side of the protocol, the same variant), on its own thread. A test
places calls to the box (ANI, DNIS, category), answers or refuses the box's calls, clears, sends audio, and reads
what happened (``events``)."""
from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import abi, r2seam
from .fakecas import e1_members
from .fakekernel import FakeDahdi
from .r2 import R2Context, R2Handler, R2Settings, china_digits
from .r2lib import CallMode, Category, Cause
from .syscalls import POLLIN, POLLPRI

BOX_SPAN, FAR_SPAN = 1, 2
FAR_BASE = 101     # the exchange's channels are 101..131 (timeslot 16 left out as on the box's span)


def r2_card(law: abi.Law = abi.Law.ALAW) -> FakeDahdi:
    """A fake E1 card (span 1, channels 1-15,17-31, CAS) wired to the far exchange's span (channels 101-131)."""
    k = FakeDahdi([e1_members(1, "TE2/0/1"), e1_members(FAR_BASE, "EXCHANGE/1")], law=law,
                  span_names=["TE2/0/1", "EXCHANGE/1"])
    k.link_spans(BOX_SPAN, FAR_SPAN)
    for c in k.channels.values():
        c.heard_on = c.spanno == BOX_SPAN
    return k


@dataclass
class FarCall:
    """One channel of the exchange as the test sees it."""

    channo: int
    events: list = field(default_factory=list)     # (name, args) in order
    ani: str = ""
    dnis: str = ""
    category: str = ""
    answer_offered: bool = True                     # answer the box's calls when offered (after accept)
    refuse: Cause | None = None                     # or refuse them with this cause


class _FarHandler(R2Handler):
    def __init__(self, ex: "FakeExchange", call: FarCall):
        self.ex, self.call = ex, call

    def on_event(self, name: str, *args: Any) -> Any:
        ex, call, lib = self.ex, self.call, self.ex.ctx.lib
        chan = ex.chans.get(call.channo)
        if chan is None:   # openr2 sets the new channel idle before we know its pointer
            return 1 if name == "on_dnis_digit_received" else None
        if name in ("on_context_log", "on_call_read", "on_dnis_digit_received", "on_ani_digit_received"):
            return 1 if name == "on_dnis_digit_received" else None
        with ex.cond:
            call.events.append((name, args))
            ex.cond.notify_all()
        if name == "on_call_init":
            lib.openr2_chan_enable_read(chan)
        elif name == "on_call_offered":
            call.ani, call.dnis = args[0].decode(), args[1].decode()
            call.category = lib.openr2_proto_get_category_string(args[2]).decode()
            if call.refuse is not None:
                lib.openr2_chan_disconnect_call(chan, int(call.refuse))
            else:
                lib.openr2_chan_accept_call(chan, int(CallMode.NO_CHARGE))
        elif name == "on_call_accepted":
            lib.openr2_chan_disable_read(chan)
            if call.answer_offered and call.refuse is None and call.dnis:
                lib.openr2_chan_answer_call(chan)
        elif name == "on_call_disconnect":
            lib.openr2_chan_disable_read(chan)
            lib.openr2_chan_disconnect_call(chan, int(Cause.NORMAL_CLEARING))
        elif name == "on_call_end":
            lib.openr2_chan_disable_read(chan)
        return None


class FakeExchange:
    """The exchange's R2 side over the fake kernel's far span."""

    def __init__(self, kernel: FakeDahdi, settings: R2Settings | None = None, channels: list[int] | None = None):
        self.kernel = kernel
        self.ctx = R2Context(settings or R2Settings(), name="exchange")
        self.cond = threading.Condition()
        self.calls: dict[int, FarCall] = {}
        self.chans: dict[int, int] = {}
        self.fds: dict[int, int] = {}
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        nums = channels or sorted(c.channo for c in kernel.channels.values() if c.spanno == FAR_SPAN)
        for n in nums:
            fd = kernel.open(abi.CHANNEL_DEVICE, os.O_RDWR | os.O_NONBLOCK)
            kernel.ioctl(fd, abi.DAHDI_SPECIFY, bytearray(n.to_bytes(4, "little")))
            r2seam.route(fd, kernel)
            self.fds[n] = fd
            self.calls[n] = FarCall(n)
            self.chans[n] = self.ctx.channel(fd, _FarHandler(self, self.calls[n]))
        self.wake_r, self.wake_w = kernel.pipe()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="fake-exchange", daemon=True)
        self.thread.start()

    # ---- the test's side ------------------------------------------------------------------------------------------
    def _do(self, fn: Any, *args: Any) -> None:
        self.commands.put((fn, args))
        self.kernel.write(self.wake_w, b"!")

    def call(self, channo: int, dnis: str, ani: str = "", category: Category = Category.NATIONAL_SUBSCRIBER) -> None:
        """Seize ``channo`` and send DNIS, category and ANI by MF towards the box."""
        lib = self.ctx.lib

        def go() -> None:
            lib.openr2_chan_enable_read(self.chans[channo])
            lib.openr2_chan_make_call(self.chans[channo], ani.encode(), china_digits(dnis, ani).encode(),
                                      int(category))
        self._do(go)

    def hangup(self, channo: int) -> None:
        """Clear the call on ``channo`` (clear-forward on the exchange's calls, clear-back on the box's)."""
        self._do(lambda: self.ctx.lib.openr2_chan_disconnect_call(self.chans[channo], int(Cause.NORMAL_CLEARING)))

    def send(self, channo: int, samples: np.ndarray) -> None:
        """Audio the exchange's caller says (queued on the far channel, 8 kHz int16)."""
        self.kernel.far_send(channo, samples)

    def saw(self, channo: int, name: str) -> bool:
        """Whether openr2 reported ``name`` (on_call_answered, ...) on ``channo``."""
        with self.cond:
            return any(n == name for n, _ in self.calls[channo].events)

    def wait(self, channo: int, name: str, timeout: float = 10.0) -> bool:
        """Wait (wall time, the card's clock running) for an event on ``channo``."""
        end = time.monotonic() + timeout
        with self.cond:
            while not any(n == name for n, _ in self.calls[channo].events):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.05))
            return True

    def close(self) -> None:
        """Stop the thread, delete the openr2 channels and close the exchange's descriptors."""
        self._stop.set()
        self.kernel.write(self.wake_w, b"!")
        self.thread.join(timeout=2.0)
        self.ctx.delete()
        for fd in self.fds.values():
            r2seam.unroute(fd)
            self.kernel.close(fd)
        for fd in (self.wake_r, self.wake_w):
            self.kernel.close(fd)

    # ---- the thread -----------------------------------------------------------------------------------------------
    def _run(self) -> None:
        poller = self.kernel.poll()
        poller.register(self.wake_r, POLLIN)
        by_fd = {fd: n for n, fd in self.fds.items()}
        for fd in by_fd:
            poller.register(fd, POLLIN | POLLPRI)
        lib = self.ctx.lib
        while not self._stop.is_set():
            ready = poller.poll(20)
            while True:
                try:
                    fn, args = self.commands.get_nowait()
                except queue.Empty:
                    break
                fn(*args)
            for fd, _ in ready:
                if fd == self.wake_r:
                    try:
                        while self.kernel.read(self.wake_r, 64):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                chan = self.chans[by_fd[fd]]
                if lib.openr2_chan_get_read_enabled(chan):
                    lib.openr2_chan_process_event(chan)
                else:   # not in MF: drain the audio here (openr2 only wants the events)
                    lib.openr2_chan_process_event(chan)
                    try:
                        self.kernel.read(fd, 160)
                    except OSError:
                        pass
            for chan in self.chans.values():
                if lib.openr2_chan_get_time_to_next_event(chan) == 0:
                    lib.openr2_chan_process_event(chan)
