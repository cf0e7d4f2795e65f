"""Talking to a modem in command mode: one command at a time with its answer (Chat), the identification and
initialisation sequence (ATZ, E0 V1, ATI/ATI3/ATI9, +FCLASS=?, +VSM=?) and the in-band reset. Runs on the modem's
thread; blocking is fine there."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from . import at, profiles
from .at import FINAL, Identity, Result
from .port import Port, PortGone
from .profiles import ChipsetProfile, VoiceFormat

log = logging.getLogger("hotline.drivers.modem")

COMMAND_TIMEOUT = 3.0


class CommandFailed(Exception):
    """A command got a final code other than OK (ERROR, NO CARRIER ...)."""

    def __init__(self, command: str, result: Result, lines: list[str]):
        super().__init__(f"{command} answered {result.value}")
        self.command, self.result, self.lines = command, result, lines


class NoAnswer(Exception):
    """A command got no final result code in time: the modem stalls."""


class NotVoice(Exception):
    """The modem works but cannot be used as a voice line (no class 8, no usable format)."""


class LineReader:
    """Splits a byte stream into text lines at CR or LF (empty lines dropped, non-ASCII replaced)."""

    def __init__(self, limit: int = 512):
        self.buf = bytearray()
        self.limit = limit

    def feed(self, data: bytes) -> list[str]:
        """Complete lines found so far."""
        self.buf += data
        out = []
        while True:
            cut = min((i for i in (self.buf.find(b"\r"), self.buf.find(b"\n")) if i >= 0), default=-1)
            if cut < 0:
                break
            raw, self.buf = bytes(self.buf[:cut]), self.buf[cut + 1:]
            text = raw.decode("ascii", "replace").strip()
            if text:
                out.append(text)
        if len(self.buf) > self.limit:  # a line that never ends is garbage: keep the tail only
            self.buf = self.buf[-self.limit:]
        return out

    def clear(self) -> None:
        """Forget a half line."""
        self.buf.clear()


@dataclass
class Chat:
    """Synchronous command/answer exchange over a Port (for initialisation and recovery, not during calls)."""

    port: Port
    clock: Callable[[], float] = time.monotonic
    reader: LineReader = field(default_factory=LineReader)
    echo_off: bool = False   # ATE0 was acknowledged: an echoed command now means a faulty modem
    echoes: int = 0          # commands the modem echoed back after ATE0
    unsolicited: list[str] = field(default_factory=list)  # RING etc. seen while waiting

    def command(self, text: str, timeout: float = COMMAND_TIMEOUT) -> list[str]:
        """Send ``text`` and return its information lines; CommandFailed on ERROR, NoAnswer on silence."""
        self.port.write(text.encode("ascii") + b"\r")
        deadline = self.clock() + timeout
        lines: list[str] = []
        echoed = False
        while self.clock() < deadline:
            data = self.port.read()
            if not data:
                continue
            for line in self.reader.feed(data.replace(b"\x10", b"")):
                if line.upper().endswith(text.upper()):  # an echo (after any bytes typed before the command)
                    echoed = True
                    if self.echo_off:
                        self.echoes += 1
                    continue
                result = at.parse_result(line)
                if result in FINAL:
                    if result is Result.OK or (result is Result.CONNECT and text.upper().startswith("AT+V")):
                        return lines
                    raise CommandFailed(text, result, lines)
                if result is not None:
                    self.unsolicited.append(line)
                    continue
                lines.append(line)
        if echoed:
            raise NoAnswer(f"no answer to {text} within {timeout:g} s: the modem only echoes commands back "
                           "(stuck echo)")
        raise NoAnswer(f"no answer to {text} within {timeout:g} s")

    def try_command(self, text: str, timeout: float = COMMAND_TIMEOUT) -> list[str] | None:
        """Like command, but None when the modem answered ERROR."""
        try:
            return self.command(text, timeout)
        except CommandFailed:
            return None

    def drain(self, seconds: float = 0.1) -> bytes:
        """Read and drop whatever arrives for ``seconds``."""
        got = bytearray()
        end = self.clock() + seconds
        while self.clock() < end:
            got += self.port.read()
        self.reader.clear()
        return bytes(got)


@dataclass
class ModemInfo:
    """What initialisation found: who the modem is, which profile and voice format the driver uses."""

    identity: Identity
    profile: ChipsetProfile
    format: VoiceFormat
    rate: int
    caller_id: bool
    echoes: int = 0
    voice: bool = True           # False: a fax-only modem opened for a ``mode: fax`` line (no +VSM format in use)

    def status(self) -> dict:
        """Plain values for status() (the panel and /healthz)."""
        return {"manufacturer": self.identity.manufacturer or self.profile.vendor, "model": self.identity.model,
                "revision": self.identity.revision, "profile": self.profile.name,
                "format": f"{self.format.name} ({self.format.code}) at {self.rate} Hz" if self.voice
                else "none (fax only)", "caller_id": self.caller_id,
                "duplex": "full" if self.profile.full_duplex else "half"}


def in_band_reset(chat: Chat) -> None:
    """Bring a modem back to command mode without DTR (a pty has none): end any voice stream (DLE ! DLE ETX),
    the +++ escape with guard times, a CR to flush the command line, then ATZ. Raises NoAnswer when it stays silent."""
    chat.port.write(b"\x10!\x10\x03")
    chat.drain(0.3)
    chat.port.write(b"+++")
    chat.drain(1.1)
    chat.port.write(b"\r")  # ends whatever the modem collected as a command line (the bytes above, in command mode)
    chat.drain(0.2)
    chat.command("ATZ", timeout=3.0)


def initialise(chat: Chat, profile_setting: str = "auto", reset_first: bool = False, device: str = "",
               voice_required: bool = True) -> ModemInfo:
    """Identify and set up a modem for voice: ATZ, E0 V1, ATI/ATI3/ATI9, +FCLASS=?, +FCLASS=8, +VSM=?, the
    best format, caller ID (``device`` names it in the log). Raises NoAnswer (stalled), NotVoice (unusable),
    PortGone (unplugged). ``voice_required=False`` (a fax line): a modem without voice class opens too, with
    caller ID only."""
    chat.drain(0.05)
    chat.port.write(b"\r")
    chat.drain(0.1)
    if reset_first:
        in_band_reset(chat)
    else:
        try:
            chat.command("ATZ", timeout=2.0)
        except (NoAnswer, CommandFailed):
            in_band_reset(chat)  # left in voice mode by the last program, or deaf: try the long way once
    chat.command("ATE0V1")
    chat.echo_off = True
    chat.echoes = 0
    answers = {cmd: chat.try_command(cmd) or [] for cmd in ("ATI", "ATI3", "ATI9")}
    classes = chat.try_command("AT+FCLASS=?") or []
    ident = at.identify(answers, classes)
    if ident.classes and not ident.has_voice and voice_required:
        raise NotVoice(f"the modem offers no voice class (+FCLASS=? answered {','.join(ident.classes)})")
    if profile_setting == "auto":
        profile = profiles.identify({k: "\n".join(v) for k, v in answers.items()})
    else:
        profile = profiles.get_profile(profile_setting)
    if ident.classes and not ident.has_voice:     # a fax-only modem on a fax line: no voice set-up
        caller_id = any(chat.try_command(c) is not None for c in (profile.caller_id_command, "AT#CID=1"))
        log.info("event=modem_identified device=%s port=%s manufacturer=%r model=%r profile=%s format=none "
                 "rate=0 caller_id=%s", device or "-", chat.port.name, ident.manufacturer, ident.model,
                 profile.name, caller_id)
        return ModemInfo(ident, profile, profile.preferred_format, profile.preferred_rate, caller_id, chat.echoes,
                         voice=False)
    chat.command("AT+FCLASS=8")
    offered = at.parse_vsm(chat.try_command("AT+VSM=?") or [])
    try:
        fmt, rate = at.choose_format(offered or list(profile.formats))
    except at.FormatRefused as exc:
        raise NotVoice(str(exc)) from None
    chat.command(f"AT+VSM={fmt.code},{rate}")
    caller_id = chat.try_command(profile.caller_id_command) is not None
    if not caller_id:
        other = "AT#CID=1" if profile.caller_id_command != "AT#CID=1" else "AT+VCID=1"
        caller_id = chat.try_command(other) is not None
    chat.try_command("AT+VLS=0")
    log.info("event=modem_identified device=%s port=%s manufacturer=%r model=%r profile=%s format=%s rate=%d "
             "caller_id=%s", device or "-", chat.port.name, ident.manufacturer, ident.model, profile.name, fmt.name, rate, caller_id)
    return ModemInfo(ident, profile, fmt, rate, caller_id, chat.echoes)


__all__ = ["Chat", "CommandFailed", "LineReader", "ModemInfo", "NoAnswer", "NotVoice", "PortGone", "in_band_reset",
           "initialise"]
