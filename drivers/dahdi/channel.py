"""One DAHDI channel: opened through /dev/dahdi/channel + DAHDI_SPECIFY, set up (block size, law), and its controls
(hook, ring, flash, polarity, on-hook transfer, dialling, echo canceller, gains) and kernel events as LineSignals."""
from __future__ import annotations

import enum
import errno
import logging
import math
import os
import struct
import threading
from dataclasses import dataclass

from hotline.drivers.analog.signals import LineSignal

from . import abi
from .syscalls import Syscalls

log = logging.getLogger("hotline.drivers.dahdi")

BLOCK = 160  # bytes per read: 20 ms of G.711 at 8,000 samples/s
_INT = struct.Struct("<i")


class Role(enum.Enum):
    """What a port faces: FXO ports take the exchange's lines, FXS ports feed an agent's phone."""

    FXO = "fxo"
    FXS = "fxs"
    E1 = "e1"      # an E1 timeslot with channel-associated signalling (MFC/R2 through libopenr2)


class ChannelError(Exception):
    """A channel could not be opened or set up; the message names the channel and what went wrong."""


@dataclass
class ChannelInfo:
    """What DAHDI_GET_PARAMS told about a channel."""

    channo: int
    spanno: int
    chanpos: int
    sigtype: int
    name: str
    law: abi.Law
    alarms: int


# Event codes per port role; a code missing here is not a hook signal (RINGERON/OFF of our own ringing, overruns).
_FXO_PORT = {abi.Event.RINGBEGIN: LineSignal.RING_BEGIN, abi.Event.RINGOFFHOOK: LineSignal.RING_END,
             abi.Event.ONHOOK: LineSignal.ONHOOK, abi.Event.POLARITY: LineSignal.POLARITY,
             abi.Event.WINKFLASH: LineSignal.WINKFLASH}
_FXS_PORT = {abi.Event.RINGOFFHOOK: LineSignal.OFFHOOK, abi.Event.ONHOOK: LineSignal.ONHOOK,
             abi.Event.WINKFLASH: LineSignal.WINKFLASH, abi.Event.POLARITY: LineSignal.POLARITY}
_BOTH = {abi.Event.DIALCOMPLETE: LineSignal.DIALCOMPLETE, abi.Event.HOOKCOMPLETE: LineSignal.HOOKCOMPLETE,
         abi.Event.ALARM: LineSignal.ALARM, abi.Event.NOALARM: LineSignal.NOALARM}
QUIET_EVENTS = {abi.Event.RINGERON, abi.Event.RINGEROFF, abi.Event.OVERRUN, abi.Event.EC_DISABLED,
                abi.Event.BITSCHANGED, abi.Event.TIMER_PING, abi.Event.TIMER_EXPIRED}


def gain_table(db: float, law: abi.Law) -> bytes:
    """A 256-entry G.711 gain table (DAHDI applies it to every byte): decode, scale by ``db``, encode."""
    from hotline.drivers.common import g711
    import numpy as np
    codes = np.arange(256, dtype=np.uint8)
    decode, encode = (g711.alaw_decode, g711.alaw_encode) if law is abi.Law.ALAW else (g711.ulaw_decode,
                                                                                       g711.ulaw_encode)
    scaled = np.clip(np.rint(decode(codes).astype(np.float64) * math.pow(10, db / 20)), -32768, 32767)
    return encode(scaled.astype(np.int16)).astype(np.uint8).tobytes()


class DahdiChannel:
    """One open channel. Controls are plain ioctls (short, never blocking) callable from any thread; audio and
    events are read by the span's poller thread only."""

    def __init__(self, sys: Syscalls, channo: int, role: Role, device: str = abi.CHANNEL_DEVICE):
        self.sys, self.channo, self.role, self.device = sys, channo, role, device
        self.fd = -1
        self.info: ChannelInfo | None = None
        self.dialing = False
        self.lock = threading.Lock()  # ioctls from the loop and the poller thread never interleave on one fd

    # ---- life ---------------------------------------------------------------------------------------------------
    def open(self, law: abi.Law) -> ChannelInfo:
        """Open the channel device non-blocking, select the channel, set 160-byte blocks and the law, read the
        parameters and check the port's signalling fits its role; raises ChannelError naming what failed."""
        try:
            self.fd = self.sys.open(self.device, os.O_RDWR | os.O_NONBLOCK)
        except OSError as exc:
            raise ChannelError(f"channel {self.channo}: cannot open {self.device}: {exc.strerror or exc} "
                               "(is the DAHDI kernel module loaded? see docs/cards.md)") from None
        try:
            self._set(abi.DAHDI_SPECIFY, self.channo, "select the channel (DAHDI_SPECIFY)")
            self._set(abi.DAHDI_SET_BLOCKSIZE, BLOCK, "set the block size")
            if law is not abi.Law.DEFAULT:
                self._set(abi.DAHDI_SETLAW, int(law), "set the law")
            p = self.params()
        except BaseException:
            self.close()
            raise
        self.info = ChannelInfo(p["channo"], p["spanno"], p["chanpos"], p["sigtype"], p["name"],
                                abi.Law(p["curlaw"]) if p["curlaw"] in (1, 2) else abi.Law.MULAW, p["chan_alarms"])
        self._check_signalling(p["sigtype"])
        return self.info

    def _check_signalling(self, sig: int) -> None:
        if sig == abi.Sig.NONE:
            self.close()
            raise ChannelError(f"channel {self.channo}: not configured in /etc/dahdi/system.conf "
                               "(run dahdi_genconf, then dahdi_cfg -vv)")
        if self.role is Role.E1:
            if sig != abi.Sig.CAS:
                have = _sig_name(sig)
                self.close()
                raise ChannelError(f"channel {self.channo}: configured as e1 (MFC/R2) here but the card has {have} "
                                   "signalling (MFC/R2 needs cas=... in /etc/dahdi/system.conf, see docs/cards.md)")
            return
        want_fxs_sig = self.role is Role.FXO
        if (want_fxs_sig and not abi.is_fxs_signalled(sig)) or (not want_fxs_sig and not abi.is_fxo_signalled(sig)):
            have = _sig_name(sig)
            self.close()
            raise ChannelError(f"channel {self.channo}: configured as {self.role.value} here but the card has "
                               f"{have} signalling (an FXO port uses fxs* signalling and an FXS port fxo*; "
                               "check fxo:/fxs: against /etc/dahdi/system.conf)")

    def close(self) -> None:
        """Close the descriptor (the kernel puts the port on hook)."""
        if self.fd >= 0:
            try:
                self.sys.close(self.fd)
            except OSError:
                pass
            self.fd = -1

    # ---- ioctls -------------------------------------------------------------------------------------------------
    def _ioctl(self, request: int, buf: bytearray) -> bytearray:
        with self.lock:
            self.sys.ioctl(self.fd, request, buf)
        return buf

    def _set(self, request: int, value: int, what: str) -> None:
        try:
            self._ioctl(request, bytearray(_INT.pack(value)))
        except OSError as exc:
            raise ChannelError(f"channel {self.channo}: cannot {what}: {os.strerror(exc.errno) if exc.errno else exc}"
                               + (" (no such channel on this box)" if exc.errno == errno.ENXIO else "")
                               + (" (another program has it open)" if exc.errno == errno.EBUSY else "")) from None

    def params(self) -> dict:
        """DAHDI_GET_PARAMS as a dict."""
        return abi.unpack_params(bytes(self._ioctl(abi.DAHDI_GET_PARAMS, bytearray(abi.PARAMS.size))))

    def span_alarms(self) -> int:
        """The alarm bits of the channel's span (DAHDI_SPANSTAT), or its own when the span has none."""
        if self.info is None:
            return 0
        buf = bytearray(abi.pack_spaninfo({"spanno": self.info.spanno}))
        span = abi.unpack_spaninfo(bytes(self._ioctl(abi.DAHDI_SPANSTAT, buf)))
        return span["alarms"] or self.params()["chan_alarms"]

    def hook(self, hook: abi.Hook) -> None:
        """DAHDI_HOOK; an OSError (EINVAL on the wrong kind of port, EBUSY while ringing) is logged, not raised."""
        try:
            self._ioctl(abi.DAHDI_HOOK, bytearray(_INT.pack(int(hook))))
        except OSError as exc:
            log.warning("event=dahdi_hook_failed channel=%d hook=%s error=%s", self.channo, hook.name, exc)

    def offhook(self) -> None:
        """Go off hook (FXO: answer or seize the line)."""
        self.hook(abi.Hook.OFFHOOK)

    def onhook(self) -> None:
        """Go on hook (FXO: release the line; FXS: stop ringing)."""
        self.dialing = False
        self.hook(abi.Hook.ONHOOK)

    def ring(self, on: bool) -> None:
        """FXS: start ringing the phone (the kernel plays the zone's cadence) or stop."""
        self.hook(abi.Hook.RING if on else abi.Hook.RINGOFF)

    def flash(self) -> None:
        """FXO: hook flash towards the exchange; HOOKCOMPLETE follows."""
        self.hook(abi.Hook.FLASH)

    def set_polarity(self, reverse: bool) -> None:
        """FXS: reverse (or restore) the line's polarity, as an exchange does on answer or for caller ID."""
        self._ioctl(abi.DAHDI_SETPOLARITY, bytearray(_INT.pack(1 if reverse else 0)))

    def onhook_transfer(self, ms: int) -> None:
        """FXS: let audio reach an on-hook phone for ``ms`` (caller ID sent between or before rings)."""
        self._ioctl(abi.DAHDI_ONHOOKTRANSFER, bytearray(_INT.pack(ms)))

    def dial(self, digits: str) -> None:
        """Dial in band through the kernel's tone generator ("T" DTMF, "P" pulse, "w" wait); DIALCOMPLETE follows.
        Audio written meanwhile would cancel the dialling, so the poller writes none until it completes."""
        self.dialing = True
        self._ioctl(abi.DAHDI_DIAL, bytearray(abi.DIALOPERATION.pack(abi.DIAL_OP_APPEND, digits.encode()[:255])))

    def echo_cancel(self, taps: int) -> None:
        """Echo canceller on with ``taps`` taps (8 per ms), or off with 0."""
        self._ioctl(abi.DAHDI_ECHOCANCEL_PARAMS, bytearray(abi.ECHOCANPARAMS.pack(max(0, taps), 0)))

    def set_gains(self, rx_db: float, tx_db: float) -> None:
        """Receive and transmit gains in dB, as DAHDI's per-byte tables."""
        law = self.info.law if self.info is not None else abi.Law.MULAW
        self._ioctl(abi.DAHDI_SETGAINS, bytearray(abi.GAINS.pack(0, gain_table(rx_db, law), gain_table(tx_db, law))))

    def flush(self) -> None:
        """Drop buffered audio both ways (stale audio when a call starts)."""
        self._ioctl(abi.DAHDI_FLUSH, bytearray(_INT.pack(abi.FLUSH_READ | abi.FLUSH_WRITE)))

    def get_event(self) -> int:
        """DAHDI_GETEVENT: the oldest pending event code (0 when none)."""
        return _INT.unpack(self._ioctl(abi.DAHDI_GETEVENT, bytearray(4)))[0]

    # ---- audio (poller thread) ----------------------------------------------------------------------------------
    def send_audio(self, frame: bytes) -> int:
        """Write G.711 bytes; returns the count written, 0 when the kernel's buffers are full (EAGAIN). ELAST
        propagates as OSError: the caller reads the event and retries."""
        try:
            return self.sys.write(self.fd, frame)
        except BlockingIOError:
            return 0

    # ---- events -------------------------------------------------------------------------------------------------
    def signal(self, code: int) -> LineSignal | None:
        """The LineSignal an event code means on this port (RINGOFFHOOK is the end of a ring on an FXO port and a
        lifted handset on an FXS port), None for codes that are not hook signals."""
        try:
            event = abi.Event(code)
        except ValueError:
            return None
        table = _FXO_PORT if self.role is Role.FXO else _FXS_PORT
        out = table.get(event) or _BOTH.get(event)
        if out is LineSignal.DIALCOMPLETE:
            self.dialing = False
        return out


def _sig_name(sig: int) -> str:
    try:
        return abi.Sig(sig).name.lower()
    except ValueError:
        return f"0x{sig:x}"
