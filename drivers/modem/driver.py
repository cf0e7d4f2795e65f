"""The ``modem`` driver: one V.253 voice modem on a serial port (or a pyserial URL) as one trunk line whose audio
crosses the modem's thread through elastic buffers into the media engine."""
from __future__ import annotations

import importlib
import logging
import os
import re
from typing import Any, Callable

import numpy as np

from hotline.drivers.base import (FRAME_SAMPLES, AnswerSupervision, Capability, Driver, DriverNotReady, DtmfMode,
                                  Duplex, EventSink, FaxMode, HangupCause, Line, LineKind, LineTraits, Option)

from . import faxreceive, profiles
from .faxreceive import FaxReceiveRequest
from .init import CommandFailed, NoAnswer, NotVoice
from .port import PortGone, is_url, resolve
from .session import ModemSession, dialect_for

log = logging.getLogger("hotline.drivers.modem")

_NUMBER = re.compile(r"[0-9*#+]{1,32}")
_DIAL = re.compile(r"[0-9*#+ABCDTPW,!@;]{1,64}")


def _usb_reset(port: str) -> Callable[[str], Any] | None:
    """The USB reset of drivers/usb (``reset_for_tty``: a pyusb port reset of the device behind a serial node) for
    a device path, None for a pyserial URL or when drivers/usb is not installed: the driver never pretends a reset
    happened."""
    if is_url(port):
        return None
    reset_for_tty = _optional("hotline.drivers.usb.reset", "reset_for_tty")
    return None if reset_for_tty is None else (lambda path: reset_for_tty(path, settle_s=5.0))


def _optional(module: str, name: str) -> Any:
    """``module.name`` from an optional package (drivers/usb), None when it is not installed."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


class ModemLine(Line):
    """The modem's one trunk line; commands are queued for the modem's thread and never block."""

    def __init__(self, driver: "ModemDriver", name: str, traits: LineTraits):
        caps = Capability.VOICE_FRAMES | Capability.DTMF_DETECT | Capability.CALLER_ID | Capability.DIAL \
            | Capability.FLASH
        super().__init__(name=name, kind=LineKind.TRUNK, capabilities=caps, traits=traits)
        self.driver = driver

    def answer(self) -> None:
        """Go off hook in voice mode (AT+FCLASS=8, AT+VLS=1); AnswerConfirmed follows the modem's VCON/OK."""
        self.driver.session.command("answer")

    def hangup(self) -> None:
        """Stop audio (DLE ETX / DLE !) and go on hook (ATH0)."""
        self.driver.session.command("hangup")

    def reject(self, cause: HangupCause = HangupCause.REJECTED) -> None:
        """A modem cannot send busy: it simply does not answer (the caller keeps hearing ringback)."""
        self.hangup()

    def dial(self, number: str) -> None:
        """Dial out (ATD with T/P, W, comma); Answered follows the modem's VCON."""
        if not _DIAL.fullmatch(number):
            raise ValueError(f"{self.name}: cannot dial {number!r} (digits, * # + and the modifiers T P W , only)")
        self.driver.session.command("dial", number)

    def flash(self) -> None:
        """Hook flash (for transfers on the exchange)."""
        self.driver.session.command("flash")

    def send_dtmf(self, digits: str) -> None:
        """Digits go in band (the media engine plays them)."""
        raise NotImplementedError("a modem line sends DTMF in band")

    @property
    def fax_class(self) -> str | None:
        """The fax class this line receives in ("2", "2.0", "1"; None: the line takes no faxes)."""
        return self.driver.session.fax_class

    @property
    def fax_unavailable(self) -> str:
        """Why the line takes no faxes (empty when it does)."""
        return "" if self.fax_class else self.driver.session.fax_why

    @property
    def answers_fax(self) -> bool:
        """``mode: fax``: every call on this line is answered as fax (a fax line, like faxgetty)."""
        return self.driver.mode == "fax" and self.fax_class is not None

    def receive_fax(self, request: FaxReceiveRequest) -> None:
        """Take the call (ringing, or in voice after DLE c) as a fax into ``request.tiff``; the modem's thread
        sets ``request.future`` to a FaxReceiveResult and leaves the line on hook. Never blocks."""
        self.driver.session.receive_fax(request)

    def listen(self, on: bool) -> None:
        """The box starts or stops recording the caller: a half-duplex modem switches to +VRX and back to +VTX."""
        self.driver.session.command("listen" if on else "stop_listen")


class ModemDriver(Driver):
    """Registered as ``driver: modem``."""

    name = "modem"
    schema = (
        Option("port", str, required=True,
               help="the modem: a device path (/dev/ttyACM0), a /dev/serial/by-id name, or a pyserial URL "
                    "(virtualmodem://emu-half?name=test)"),
        Option("number", str, "", help="the number this line answers for (routes match it as the dialled number)"),
        Option("profile", str, "auto", choices=("auto", *profiles.PROFILES),
               help="chipset profile; auto identifies the modem with ATI/ATI3/ATI9"),
        Option("mode", str, "voice", choices=("voice", "fax"),
               help="voice: calls go to the route's flow (a caller's fax tone, DLE c, turns the call into a fax "
                    "receive); fax: every call is answered as fax into the faxes inbox"),
        Option("fax", str, "auto", choices=faxreceive.SETTINGS,
               help="the fax class calls are received in: auto (2.0, else 2, else 1 from AT+FCLASS=?), class2, "
                    "class2.0, class1, or none (the line takes no faxes)"),
    )

    def __init__(self, device_name: str, settings: dict[str, Any], sink: EventSink,
                 opener: Callable | None = None, usb_reset: Callable[[str], bool] | None = None):
        super().__init__(device_name, settings, sink)
        self.problems = self._check_settings()
        self.port_name = str(settings.get("port") or "")
        self.mode = str(settings.get("mode") or "voice")
        self.session = ModemSession(device_name, device_name, self.port_name, str(settings.get("profile") or "auto"),
                                    str(settings.get("number") or ""), sink, opener=opener,
                                    usb_reset=usb_reset if usb_reset is not None else _usb_reset(self.port_name),
                                    fax=str(settings.get("fax") or "auto"), voice_required=self.mode != "fax")
        self.line: ModemLine | None = None
        self._lines_seen: list[str] | None = None
        self._live = False
        self._read_this_tick = False
        self.frame = np.zeros((1, FRAME_SAMPLES), dtype=np.int16)

    def _check_settings(self) -> list[str]:
        """Bad settings, each naming the device and key."""
        s, out = self.settings, []
        if not str(s.get("port") or "").strip():
            out.append(f"{self.device_name}: port: a device path, /dev/serial/by-id name or pyserial URL is required")
        number = str(s.get("number") or "")
        if number and not _NUMBER.fullmatch(number):
            out.append(f"{self.device_name}: number: {number!r} is not a phone number (digits, * # +)")
        profile = str(s.get("profile") or "auto")
        if profile != "auto" and profile not in profiles.PROFILES:
            out.append(f"{self.device_name}: profile: unknown {profile!r}; known: auto, {', '.join(profiles.PROFILES)}")
        mode, fax = str(s.get("mode") or "voice"), str(s.get("fax") or "auto")
        if mode not in ("voice", "fax"):
            out.append(f"{self.device_name}: mode: {mode!r}: use voice or fax")
        if fax not in faxreceive.SETTINGS:
            out.append(f"{self.device_name}: fax: {fax!r}: use one of {', '.join(faxreceive.SETTINGS)}")
        elif mode == "fax" and fax == "none":
            out.append(f"{self.device_name}: mode: fax with fax: none: the line could take no call")
        return out

    # ---- contract ----------------------------------------------------------------------------------------
    @classmethod
    def probe(cls) -> list[dict]:
        """USB voice modems found by drivers/usb (when installed) as ready-made device entries (port, profile)."""
        found = _optional("hotline.drivers.usb.discover", "probe")  # usable modems as short device sections
        return [] if found is None else [d for d in found() if d.get("driver") == "modem"]

    def validate_environment(self) -> list[str]:
        """Bad settings, or a device node that is missing or not readable and writable."""
        if self.problems:
            return self.problems
        if is_url(self.port_name):
            return []
        path = resolve(self.port_name)
        if not os.path.exists(path):
            return [f"{self.device_name}: port: {path} does not exist (unplugged? see ls /dev/serial/by-id)"]
        if not os.access(path, os.R_OK | os.W_OK):
            return [f"{self.device_name}: port: {path} is not readable and writable by this user "
                    "(the service runs with the dialout group)"]
        return []

    def open(self) -> list[Line]:
        """Open the port, identify and initialise the modem (blocking, off the event loop), start its thread."""
        if self.problems:
            raise DriverNotReady("; ".join(self.problems))
        try:
            info = self.session.open()
        except PortGone as exc:
            raise DriverNotReady(f"{self.device_name}: {exc}") from None
        except NoAnswer as exc:
            raise DriverNotReady(f"{self.device_name}: the modem on {self.session.port.name} does not answer "
                                 f"({exc})") from None
        except (NotVoice, CommandFailed) as exc:
            raise DriverNotReady(f"{self.device_name}: {self.session.port.name}: {exc}") from None
        dialect = dialect_for(info.profile)
        fclass = self.session.fax_class
        if self.mode == "fax" and fclass is None:
            self.session.close()
            raise DriverNotReady(f"{self.device_name}: mode: fax, but {self.session.fax_why}")
        fax = FaxMode.NONE if fclass is None else FaxMode.CLASS1 if fclass.startswith("1") else FaxMode.CLASS2
        traits = LineTraits(duplex=dialect.duplex, dtmf_in=DtmfMode.EVENTS, dtmf_out=DtmfMode.INBAND,
                            answer_supervision=AnswerSupervision.CONFIRMED, fax=fax, fax_only=self.mode == "fax")
        self.line = ModemLine(self, self.device_name, traits)
        self.session.start()
        return [self.line]

    def close(self) -> None:
        """Stop the thread, hang up, close the port."""
        self.session.close()

    def status(self) -> dict:
        """The identified modem (manufacturer, model, profile, format), line state, faults and counters."""
        return {"device": self.device_name, "driver": self.name, **self.session.status()}

    # ---- frame device (event loop, never blocks) --------------------------------------------------------
    def tick(self) -> None:
        """Take this tick's frame out of the receive buffer (one decode)."""
        if not self._read_this_tick and self._live:
            self._follow([])
        self._read_this_tick = False
        rx = self.session.rx
        if rx is not None:
            self.frame = rx.take_frame()

    def read_frames(self, lines: list[str], out: np.ndarray) -> None:
        """What the caller said this tick (silence while the modem plays on a half-duplex line)."""
        self._read_this_tick = True
        if lines is not self._lines_seen:
            self._follow(lines)
        out[:] = self.frame[0]

    def write_frames(self, lines: list[str], frames: np.ndarray) -> None:
        """What the box says: encoded once into the send buffer the modem's thread paces out."""
        if lines is not self._lines_seen:
            self._follow(lines)
        tx = self.session.tx
        if tx is not None and self._live:
            tx.push_samples(np.zeros(1, dtype=np.intp), frames[:1])

    def _follow(self, lines: list[str]) -> None:
        """Open the buffers when the engine starts carrying the call, close them when it stops."""
        self._lines_seen = lines
        live = bool(lines)
        if live != self._live and self.session.rx is not None:
            for buf in (self.session.rx, self.session.tx):
                (buf.open_line if live else buf.close_line)(0)
        self._live = live

    def capturing(self, line: str, on: bool) -> None:
        """The media engine started or stopped keeping what the caller says (voicemail, record_prompt)."""
        if self.line is not None and line == self.line.name:
            self.line.listen(on)
