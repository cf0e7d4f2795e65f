"""The analog signalling of one span's ports: the shared analog machines (drivers/analog: FxoPort, FxsPort in an
AnalogBank) run on the span's poller thread, fed by the channels' events and audio, acting through the channels.

Every machine call happens on the poller thread: hook signals and audio blocks arrive there, and the event loop's
commands (answer, dial, ring, ...) are queued and run there at the next wake-up. The bank ticks once per round of
audio blocks (the span's clock), so caller ID, call progress, busy-tone disconnect and the machines' timers run in
card time. A machine's own audio (DTMF when dialling out, caller ID to a phone, busy tone) replaces the engine's
for that channel while the machine ``owns_audio``.
"""
from __future__ import annotations

import logging
import queue
from typing import Any, Callable

import numpy as np

from hotline.drivers.analog.bank import AnalogBank
from hotline.drivers.analog.fxo import FxoPort, FxoState
from hotline.drivers.analog.fxs import FxsPort, FxsState
from hotline.drivers.analog.profiles import COUNTRIES, AnalogSettings, AnswerMode
from hotline.drivers.analog.signals import LineSignal
from hotline.drivers.base import FRAME_SAMPLES, LineEvent
from hotline.drivers.common import g711
from hotline.drivers.common.callerid_audio import CidStandard
from hotline.drivers.common.elastic import Codec

from .channel import DahdiChannel, Role

log = logging.getLogger("hotline.drivers.dahdi")

OHT_MS = 3000          # on-hook transfer armed for this long while a machine sends audio to an on-hook phone
OHT_REARM_FRAMES = 100  # re-armed every 2 s of such audio


def analog_settings(role: Role, country: str, options: dict[str, Any]) -> AnalogSettings:
    """The analog machine's settings of a DAHDI port: the device's country (lines of a country without an analog
    profile use the "us" one), its answer, hang-up and caller-ID options; FXS flashes are timed by the kernel
    (WINKFLASH)."""
    code = country if country in COUNTRIES else "us"
    if role is Role.FXS:
        sends = str(options.get("callerid_send") or "").lower()
        return AnalogSettings(country=code, flash_max_ms=0.0, callerid_send=CidStandard(sends) if sends else None,
                              mwi=bool(options.get("mwi", False)))
    return AnalogSettings(country=code, answer=AnswerMode(str(options.get("answer") or "progress").lower()),
                          hangup_on_polarity=bool(options.get("hangup_on_polarity", False)),
                          busy_disconnect=bool(options.get("busy_disconnect", True)))


class ChannelHardware:
    """The AnalogHardware seam over one DAHDI channel: hook controls are the channel's ioctls, audio frames are kept
    for the poller to write (after on-hook transfer is armed when the phone is on hook)."""

    def __init__(self, channel: DahdiChannel, role: Role):
        self.channel, self.role = channel, role
        self.machine: FxoPort | FxsPort | None = None
        self.frame: np.ndarray | None = None   # this tick's signalling audio
        self._oht_frames = 0

    def offhook(self) -> None:
        """Off hook (FXO: answer or seize)."""
        self.channel.offhook()

    def onhook(self) -> None:
        """On hook (FXO: release the line)."""
        self.channel.onhook()

    def ring(self, on: bool) -> None:
        """Ringing voltage on or off (FXS): the machine times the cadence and the pauses for caller ID."""
        self.channel.ring(on)

    def flash(self) -> None:
        """Hook flash towards the exchange (FXO)."""
        self.channel.flash()

    def send_audio(self, frame: np.ndarray) -> None:
        """Keep the frame for this round's write; a phone on hook hears it only through on-hook transfer."""
        self.frame = frame
        if self.role is Role.FXS and self.machine is not None and self.machine.state in (FxsState.IDLE,
                                                                                        FxsState.RINGING):
            if self._oht_frames <= 0:
                try:
                    self.channel.onhook_transfer(OHT_MS)
                except OSError as exc:
                    log.warning("event=dahdi_onhook_transfer_failed channel=%d error=%s", self.channel.channo, exc)
                self._oht_frames = OHT_REARM_FRAMES
            self._oht_frames -= 1
        else:
            self._oht_frames = 0

    def paused(self) -> None:
        """No signalling audio this round: on-hook transfer may run out meanwhile, so the next audio arms it
        again (a second message-waiting or caller-ID message seconds later still reaches the on-hook phone)."""
        self._oht_frames = 0


class SpanSignalling:
    """The analog machines of one span, in poller-row order, and the queue of the event loop's commands."""

    def __init__(self, members: list[tuple[str, DahdiChannel, Role]], sink: Callable[[LineEvent], None],
                 country: str, options: dict[str, Any], codec: Codec):
        self.hw: list[ChannelHardware] = []
        self.machines: list[FxoPort | FxsPort] = []
        for name, channel, role in members:
            hw = ChannelHardware(channel, role)
            cls = FxoPort if role is Role.FXO else FxsPort
            machine = cls(name, hw, sink, analog_settings(role, country, options))
            hw.machine = machine
            self.hw.append(hw)
            self.machines.append(machine)
        self.bank = AnalogBank(self.machines)
        self.codec = codec
        self.inbound = np.zeros((len(members), FRAME_SAMPLES), dtype=np.int16)
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.wake: Callable[[], None] = lambda: None   # set by the span poller: wakes its thread

    # ---- the event loop's side ------------------------------------------------------------------------------------
    def command(self, row: int, name: str, *args: Any) -> None:
        """Run machine ``row``'s command ``name`` (answer, hangup, dial, flash, ring, stop_ring) on the poller
        thread at its next wake-up."""
        self.commands.put((row, name, args))
        self.wake()

    # ---- the poller thread's side ---------------------------------------------------------------------------------
    def run_commands(self, now: float) -> None:
        """The queued commands, in order (errors are logged: a bad command must not stop the span)."""
        while True:
            try:
                row, name, args = self.commands.get_nowait()
            except queue.Empty:
                return
            try:
                getattr(self.machines[row], name)(*args, now)
            except Exception:
                log.exception("event=dahdi_command_failed line=%s command=%s", self.machines[row].name, name)

    def on_signal(self, row: int, signal: LineSignal, now: float, detail: str = "") -> None:
        """A hook signal from channel ``row``."""
        self.machines[row].on_signal(signal, now, detail)

    def take_audio(self, rows: list[int], blocks: np.ndarray) -> None:
        """This round's G.711 blocks (one row of ``blocks`` per entry of ``rows``) as the machines' inbound audio."""
        n = min(blocks.shape[1], FRAME_SAMPLES)
        decode = g711.alaw_decode if self.codec is Codec.ALAW else g711.ulaw_decode
        self.inbound[rows, :n] = decode(blocks[:, :n])

    def tick(self, now: float) -> dict[int, bytes]:
        """One 20 ms round of the bank (detectors, timers); returns the machines' audio to write, G.711 by row."""
        for hw in self.hw:
            hw.frame = None
        self.bank.tick(self.inbound, now)
        self.inbound[:] = 0
        for hw in self.hw:
            if hw.frame is None:
                hw.paused()
        rows = [i for i, hw in enumerate(self.hw) if hw.frame is not None]
        if not rows:
            return {}
        encode = g711.alaw_encode if self.codec is Codec.ALAW else g711.ulaw_encode
        codes = encode(np.stack([self.hw[i].frame for i in rows])).astype(np.uint8)
        return {r: codes[j].tobytes() for j, r in enumerate(rows)}

    def owns_audio(self, row: int) -> bool:
        """Whether machine ``row`` sends its own audio now (the engine's is not written meanwhile)."""
        return self.machines[row].owns_audio

    def set_down(self, row: int) -> None:
        """Start a port down (its span was in alarm at open): the NOALARM that follows brings it up."""
        m = self.machines[row]
        m.state = FxoState.DOWN if isinstance(m, FxoPort) else FxsState.DOWN

    def status(self) -> list[dict]:
        """Every machine's state for the panel."""
        return [m.status() for m in self.machines]
