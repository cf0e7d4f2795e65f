"""The modem's own thread: reads the port, splits text from DLE-shielded audio, feeds the line state machine,
carries out its actions, paces audio at 8,000 bytes/s between the port and the elastic buffers, and recovers
(in-band reset, USB reset, re-open after an unplug) without a restart."""
from __future__ import annotations

import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from hotline.drivers.base import (FRAME_SAMPLES, DeviceFailed, EventSink, LineDown, LineEvent, LineUp)
from hotline.drivers.common.elastic import ElasticBuffer

from . import at, faxreceive
from .dle import DleDecoder, DleEvent, DleKind, shield
from .formats import FormatBridge
from .faxreceive import FaxReceiveRequest, FaxReceiveResult
from .init import Chat, CommandFailed, LineReader, ModemInfo, NoAnswer, NotVoice, initialise
from .port import Port, PortGone
from .profiles import ChipsetProfile, Quirk
from .state import (FAX_FROM, AudioMode, CidLine, Code, Command, Dialect, Dle, LineMachine, LineState, Post, Send,
                    SendRaw, SetAudio, Stalled, Tick)

log = logging.getLogger("hotline.drivers.modem")

RATE = 8000
TICK_EVERY = 0.1        # seconds between Tick inputs to the state machine
LEAD = 4 * FRAME_SAMPLES  # bytes written ahead of the 8,000 bytes/s schedule (the modem's own buffer)
REOPEN_EVERY = 0.5      # seconds between attempts to re-open an unplugged port
DRAIN_LIMIT = 1.0       # seconds to wait for the modem's DLE ETX after the box stopped a recording
ECHO_LIMIT = 3          # echoed commands after ATE0 before the modem counts as echoing


def dialect_for(profile: ChipsetProfile) -> Dialect:
    """The state machine's spelling of the voice commands for a chipset profile."""
    from hotline.drivers.base import Duplex
    full = profile.full_duplex and not profile.quirks & Quirk.NO_VTR
    hangup = ("AT+VLS=0", profile.hangup_command) if profile.quirks & Quirk.VLS0_BEFORE_HANGUP \
        else (profile.hangup_command,)
    stop = b"\x10^" if profile.quirks & Quirk.ABORT_CARET else b"\x10!"
    return Dialect(duplex=Duplex.FULL if full else Duplex.HALF, hangup=hangup, stop_record=stop,
                   dtmf_shielded=profile.dtmf_shielded)


def readable(command: str) -> str:
    """A command as a technician reads it: the DLE codes that end audio spelled out (``DLE ETX``, ``DLE !``)."""
    return command.replace("\x10", "DLE ").replace("\x03", "ETX")


@dataclass
class Health:
    """What went wrong so far (for status() and the panel)."""

    faults: list[str] = field(default_factory=list)   # current problems: "stalled", "echo", "unplugged"
    resets: int = 0
    usb_resets: int = 0
    reopens: int = 0
    garbage_lines: int = 0
    last_error: str = ""


class ModemSession:
    """One modem line's thread and everything that runs on it."""

    def __init__(self, device: str, line: str, port: str, profile: str, number: str, sink: EventSink,
                 opener: Callable | None = None, usb_reset: Callable[[str], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, fax: str = "auto", voice_required: bool = True):
        self.device, self.line, self.profile_setting, self.number = device, line, profile, number
        self.fax_setting = fax
        self.voice_required = voice_required   # False on a ``mode: fax`` line: a fax-only modem opens too
        self.fax_class: str | None = None   # the class faxes are received in (None: no fax on this line)
        self.fax_why = ""                   # why there is no fax class
        self.fax_request: FaxReceiveRequest | None = None   # the fax coming in now
        self.fax_counts = {"received": 0, "failed": 0}
        self.sink, self.clock = sink, clock
        self.port = Port(port, opener)
        self.usb_reset = usb_reset
        self.info: ModemInfo | None = None
        self.machine: LineMachine | None = None
        self.bridge: FormatBridge | None = None
        self.rx: ElasticBuffer | None = None
        self.tx: ElasticBuffer | None = None
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self.health = Health()
        self.decoder = DleDecoder()
        self.reader = LineReader()
        self.mode = AudioMode.NONE
        self.draining_until = 0.0     # after stopping +VRX: bytes before the modem's DLE ETX are dropped
        self.tx_t0 = 0.0
        self.tx_sent = 0
        self.last_command = ""
        self.echoes = 0
        self.bytes_in = self.bytes_out = 0
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.up = False

    # ---- life (open/close run in a worker thread of the daemon) -------------------------------------------
    def open(self) -> ModemInfo:
        """Open the port and initialise the modem (blocking); raises PortGone, NoAnswer or NotVoice."""
        self.port.open()
        try:
            info = initialise(Chat(self.port, self.clock), self.profile_setting, device=self.device,
                              voice_required=self.voice_required)
        except BaseException:
            self.port.close()
            raise
        self._adopt(info)
        return info

    def _adopt(self, info: ModemInfo) -> None:
        """Use what initialisation found: dialect, format bridge, buffers sized for one line."""
        self.info = info
        self.bridge = FormatBridge(info.format, info.rate)
        if self.rx is None:
            target = 3 * FRAME_SAMPLES
            self.rx = ElasticBuffer(1, self.bridge.codec, target=target, capacity=25 * FRAME_SAMPLES)
            self.tx = ElasticBuffer(1, self.bridge.codec, target=target, capacity=25 * FRAME_SAMPLES)
        state = self.machine.state if self.machine else LineState.IDLE
        self.machine = LineMachine(self.line, dialect_for(info.profile), state=state, number=self.number)
        self.machine.port_back()
        self.fax_class, self.fax_why = faxreceive.choose_class(self.fax_setting, info.identity.classes)
        self.up = True
        if info.echoes:
            self._fault("echo")

    def start(self) -> None:
        """Start the thread (after open succeeded)."""
        self.thread = threading.Thread(target=self._run_thread, name=f"modem-{self.device}", daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop the thread, hang up if possible, close the port."""
        self._stop.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=3.0)
        if self.port.is_open:
            try:
                self.port.write(b"\x10!\x10\x03\rATH0\r")
            except PortGone:
                pass
        self.port.close()

    def command(self, kind: str, arg: str = "") -> None:
        """A command from the box (any thread): queued for the modem's thread."""
        if kind == "hangup" and self.fax_request is not None:
            self.fax_request.abort.set()    # the fax stops (+FK, ATH) before the hang-up is read
        self.commands.put((kind, arg))

    def receive_fax(self, request: FaxReceiveRequest) -> None:
        """Take the call (ringing, or in voice) as a fax (any thread): the modem's thread leaves voice mode, runs
        the fax class's receive and sets ``request.future`` to a FaxReceiveResult."""
        self.commands.put(("fax", request))

    # ---- the thread --------------------------------------------------------------------------------------
    def _run_thread(self) -> None:
        next_tick = 0.0
        while not self._stop.is_set():
            try:
                if not self.port.is_open:
                    self._reopen_thread()
                    continue
                data = self.port.read()
                now = self.clock()
                if data:
                    self.bytes_in += len(data)
                    self._received(data, now)
                while True:
                    try:
                        kind, arg = self.commands.get_nowait()
                    except queue.Empty:
                        break
                    if kind == "fax":
                        self._fax(arg)
                        continue
                    self._feed(Command(kind, arg, now))
                if now >= next_tick:
                    next_tick = now + TICK_EVERY
                    self._feed(Tick(now))
                if self.mode in (AudioMode.TX, AudioMode.DUPLEX):
                    self._send_audio(now)
            except PortGone as exc:
                self._lost(str(exc))
            except Exception as exc:  # a bug must not leave the line silently dead: report it
                log.exception("event=modem_thread_failed device=%s", self.device)
                self._post(DeviceFailed(self.device, reason=f"modem thread failed: {exc}"))
                return

    def _received(self, data: bytes, now: float) -> None:
        """Split bytes in stream order: audio runs, DLE events, and text lines in command mode."""
        for item in self.decoder.feed(data):
            if isinstance(item, DleEvent):
                self._feed(Dle(item, now))
                if item.kind is DleKind.END_OF_STREAM:  # the data ended: what follows is text (OK, NO CARRIER)
                    self.draining_until = 0.0
            elif self.mode in (AudioMode.RX, AudioMode.DUPLEX):
                self.rx.push(0, self.bridge.from_device(item))
            elif now < self.draining_until:
                continue  # the tail of a recording the box already stopped
            else:
                for line in self.reader.feed(item):
                    self._text(line, now)

    def _text(self, line: str, now: float) -> None:
        """One line in command mode: a result code, a caller-ID line, an echo, or garbage (logged, ignored)."""
        if self.last_command and line.upper() == self.last_command.upper():
            self.echoes += 1
            if self.echoes >= ECHO_LIMIT and "echo" not in self.health.faults:
                self._fault("echo")
                log.error("event=modem_echoes device=%s command=%r detail=%r", self.device, self.last_command,
                          "commands come back after ATE0")
            return
        result = at.parse_result(line)
        if result is not None:
            self._feed(Code(result, now))
            return
        cid = at.parse_cid_line(line)
        if cid is not None:
            self._feed(CidLine(cid[0], cid[1], now))
            return
        self.health.garbage_lines += 1
        if self.health.garbage_lines <= 20 or self.health.garbage_lines % 100 == 0:
            log.warning("event=modem_garbage device=%s line=%r count=%d", self.device, line[:60],
                        self.health.garbage_lines)

    def _feed(self, item) -> None:
        if self.machine is None:
            return
        for action in self.machine.feed(item):
            self._act(action)

    def _act(self, action) -> None:
        """Carry out one action of the state machine."""
        if isinstance(action, Post):
            self._post(action.event)
        elif isinstance(action, Send):
            self.last_command = action.text
            self._write(action.text.encode("ascii") + b"\r")
        elif isinstance(action, SendRaw):
            self._write(action.data)
        elif isinstance(action, SetAudio):
            self._set_audio(action.mode)
        elif isinstance(action, Stalled):
            self._stalled(action.command)

    def _set_audio(self, mode: AudioMode) -> None:
        was, self.mode = self.mode, mode
        if mode is not AudioMode.NONE and self.bridge is not None:
            self.bridge.restart()
        if mode in (AudioMode.TX, AudioMode.DUPLEX) and was not in (AudioMode.TX, AudioMode.DUPLEX):
            self.tx_t0, self.tx_sent = self.clock(), 0
        if was in (AudioMode.RX, AudioMode.DUPLEX) and mode is AudioMode.NONE:
            self.draining_until = self.clock() + DRAIN_LIMIT
        if mode is AudioMode.NONE:
            self.reader.clear()

    def _send_audio(self, now: float) -> None:
        """Write what is due at 8,000 bytes/s (plus a small lead) from the send buffer, DLE-shielded."""
        due = int((now - self.tx_t0) * RATE) + LEAD - self.tx_sent
        while due >= FRAME_SAMPLES:
            codes = self.tx.take(FRAME_SAMPLES)[0]
            self._write(shield(self.bridge.to_device(codes)))
            self.tx_sent += FRAME_SAMPLES
            due -= FRAME_SAMPLES

    def _write(self, data: bytes) -> None:
        self.port.write(data)
        self.bytes_out += len(data)

    def _post(self, event: LineEvent) -> None:
        try:
            self.sink(event)
        except Exception:
            log.exception("event=modem_sink_failed device=%s", self.device)

    def _fault(self, name: str) -> None:
        if name not in self.health.faults:
            self.health.faults.append(name)

    def _clear(self, name: str) -> None:
        if name in self.health.faults:
            self.health.faults.remove(name)

    # ---- fax ---------------------------------------------------------------------------------------------
    def _fax(self, req: FaxReceiveRequest) -> None:
        """Run one fax receive on this thread (blocking): stop the audio, the class's receive function (it
        answers with ATA in the fax class and hangs up at the end), back to voice class and idle."""
        m, fclass = self.machine, self.fax_class
        receive = faxreceive.receiver_for(fclass) if fclass else None
        if m is None or self.info is None or receive is None:
            req.future.set_result(FaxReceiveResult(fclass or "", reason=self.fax_why or "the modem is not ready"))
            return
        if m.state not in FAX_FROM:
            req.future.set_result(FaxReceiveResult(fclass, reason=f"no call to take as fax (line {m.state.value})"))
            return
        was = m.state
        stop = m.fax_begin()
        self.mode = AudioMode.NONE
        self.fax_request = req
        result: FaxReceiveResult | None = None
        try:
            if stop:
                self._write(stop)
                self._await_command_mode()
            self.decoder.reset()
            self.reader.clear()
            log.info("event=modem_fax_start device=%s class=%s from=%s", self.device, fclass, was.value)
            result = receive(self.port, fclass, req, self.info.profile)
            try:
                if self.info.voice:
                    Chat(self.port, self.clock).try_command("AT+FCLASS=8", timeout=3.0)   # idle in voice, as opened
            except (NoAnswer, CommandFailed) as exc:
                log.warning("event=modem_fax_voice_back device=%s error=%s", self.device, exc)
        except PortGone as exc:
            result = result or FaxReceiveResult(fclass, reason=f"the modem went away: {exc}")
            req.future.set_result(result)
            self.fax_request = None
            self._lost(str(exc))
            return
        except Exception as exc:   # a bug in a receive function must not kill the line
            log.exception("event=modem_fax_failed device=%s", self.device)
            result = FaxReceiveResult(fclass, reason=f"fax receive failed: {exc}"[:200])
        self.fax_request = None
        self.decoder.reset()
        self.reader.clear()
        m.fax_end(self.clock())
        self.fax_counts["received" if result.ok else "failed"] += 1
        log.info("event=modem_fax_end device=%s class=%s pages=%d hangup=%s remote=%r reason=%r", self.device,
                 fclass, result.pages, result.hangup, result.remote_ident, result.reason)
        req.future.set_result(result)

    def _await_command_mode(self, timeout: float = 4.0) -> None:
        """After the DLE bytes that end audio: drop the audio still coming until the modem's OK/VCON."""
        got = bytearray()
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            got += self.port.read()
            tail = got[got.rfind(b"\x10\x03") + 1:] if b"\x10\x03" in got else got
            if re.search(rb"(^|[\r\n])(OK|VCON)\r", bytes(tail)):
                return
        log.warning("event=modem_fax_voice_end device=%s detail=%r", self.device, "no OK after ending audio")

    # ---- recovery ----------------------------------------------------------------------------------------
    def _lost(self, reason: str) -> None:
        """The port failed (unplugged): end the call, mark the line down, re-open in the background."""
        if not self.up:
            return
        self.up = False
        self.health.last_error = reason
        self._fault("unplugged")
        log.error("event=modem_lost device=%s reason=%r", self.device, reason)
        self.port.close()
        self.mode = AudioMode.NONE
        self.decoder.reset()
        self.reader.clear()
        if self.machine is not None:
            for action in self.machine.port_lost():
                if isinstance(action, Post):
                    self._post(action.event)
        self._post(LineDown(self.line, reason=f"modem unplugged or not answering: {reason}"))

    def _reopen_thread(self) -> None:
        """Try to open and initialise the port again; LineUp when it works."""
        if self._stop.wait(REOPEN_EVERY):
            return
        try:
            self.port.open()
            info = initialise(Chat(self.port, self.clock), self.profile_setting, device=self.device,
                              voice_required=self.voice_required)
        except (PortGone, NoAnswer, CommandFailed, NotVoice) as exc:
            self.port.close()
            self.health.last_error = str(exc)
            return
        self.health.reopens += 1
        self._adopt(info)
        self._clear("unplugged")
        self._clear("stalled")
        log.info("event=modem_back device=%s profile=%s", self.device, info.profile.name)
        self._post(LineUp(self.line))

    def _stalled(self, command: str) -> None:
        """A command got no answer: in-band reset, then a USB reset for USB modems; else the device failed."""
        command = readable(command)
        self._fault("stalled")
        self.health.resets += 1
        log.error("event=modem_stalled device=%s command=%r", self.device, command)
        had_call = self.machine is not None and self.machine.state not in (LineState.IDLE, LineState.DOWN)
        if self.machine is not None and had_call:
            for action in self.machine.port_lost():
                if isinstance(action, Post):
                    self._post(action.event)
        self.mode = AudioMode.NONE
        self.decoder.reset()
        self.reader.clear()
        try:
            info = initialise(Chat(self.port, self.clock), self.profile_setting, reset_first=True,
                              device=self.device, voice_required=self.voice_required)
        except (NoAnswer, CommandFailed, NotVoice) as exc:
            self.health.last_error = f"reset failed: {exc}"
        else:
            self._adopt(info)
            self._clear("stalled")
            return
        if self.usb_reset is not None:
            self.health.usb_resets += 1
            done, res = False, None
            try:
                res = self.usb_reset(self.port.name)  # drivers/usb's ResetResult, or a plain bool
                outcome = getattr(getattr(res, "outcome", None), "value", "")
                done = bool(getattr(res, "ok", res)) or outcome == "reenumerated"
                reason = getattr(res, "reason", "") or ("done" if done else "not done")
                if not done:
                    self.health.last_error += f"; USB reset: {reason}"
            except Exception as exc:
                outcome, reason = "failed", f"{type(exc).__name__}: {exc}"
                self.health.last_error += f"; USB reset failed: {exc}"
            usb = getattr(res, "device", None)  # logged here: drivers/usb's reset_for_tty does not log
            where = f" usb={usb.id} bus={usb.bus} address={usb.address} usb_port={usb.port_path}" if usb else ""
            (log.warning if done else log.error)(
                "event=usb_reset device=%s port=%s outcome=%s%s tty_after=%s reason=%r", self.device, self.port.name,
                outcome or ("reset" if done else "failed"), where, getattr(res, "tty_after", None) or "-",
                reason)
            if done:
                self.up = True
                self._lost("USB reset: re-opening the port")
                return
        self.up = False
        self._post(LineDown(self.line, reason=f"modem stalled: {self.health.last_error}"))
        self._post(DeviceFailed(self.device, reason=f"modem stopped answering ({command}); "
                                                    f"{self.health.last_error}"))
        self._stop.set()

    # ---- the box's side (event loop): elastic buffers ------------------------------------------------------
    def status(self) -> dict:
        """State, identified modem, faults and counters."""
        st: dict = {"state": self.machine.state.value if self.machine else "down", "port": self.port.name,
                    "faults": list(self.health.faults), "resets": self.health.resets,
                    "usb_resets": self.health.usb_resets, "reopens": self.health.reopens,
                    "garbage_lines": self.health.garbage_lines, "echoes": self.echoes,
                    "bytes_in": self.bytes_in, "bytes_out": self.bytes_out}
        if self.health.last_error:
            st["last_error"] = self.health.last_error
        if self.info is not None:
            st["modem"] = self.info.status()
        if self.machine is not None:
            st["events"] = dict(self.machine.counters)
        st["fax"] = {"class": self.fax_class, "setting": self.fax_setting, **self.fax_counts}
        if self.fax_class is None and self.fax_why:
            st["fax"]["reason"] = self.fax_why
        if self.rx is not None:
            st["buffers"] = {"rx_underruns": self.rx.stats.underruns, "rx_trims": self.rx.stats.trims,
                             "tx_underruns": self.tx.stats.underruns, "tx_trims": self.tx.stats.trims,
                             "rx_overflows": self.rx.stats.overflows, "tx_overflows": self.tx.stats.overflows}
        return st
