"""E1 CAS in the fake DAHDI kernel: channels with CAS signalling carry ABCD bits both ways (DAHDI_SETTXBITS,
DAHDI_GETRXBITS, DAHDI_EVENT_BITSCHANGED) and their audio, and two spans can be wired back to back as by an E1
cable (the box's span and the far exchange's), plus the ioctls libopenr2 issues on a channel (DAHDI_CHANNO,
DAHDI_GET/SET_BUFINFO, DAHDI_ECHOCANCEL, DAHDI_IOMUX with NOWAIT)."""
from __future__ import annotations

import errno
import struct
import threading
from typing import TYPE_CHECKING

import numpy as np

from hotline.drivers.common import g711

from . import abi

if TYPE_CHECKING:
    from .fakekernel import FakeChannel

_INT = struct.Struct("<i")
IDLE_BITS = abi.ABIT | abi.DBIT   # "1001": what an E1 CAS channel idles with before anyone sets its bits
BLOCK = 160


def _err(code: int) -> OSError:
    return OSError(code, errno.errorcode.get(code, str(code)))


def e1_members(first: int, name: str) -> list[tuple[int, abi.Sig, str]]:
    """The 30 voice channels of one E1 span numbered from ``first`` (timeslot 16 carries the CAS bits: it is not a
    channel), all with CAS signalling."""
    return [(first + ts - 1, abi.Sig.CAS, f"{name}/{ts}") for ts in range(1, 32) if ts != 16]


class CasLink:
    """Mixed into FakeDahdi: CAS bits and back-to-back spans."""

    channels: dict[int, "FakeChannel"]
    span_alarms: dict[int, int]
    cond: threading.Condition

    def _event(self, ch: "FakeChannel", code: int) -> None: ...

    def link(self, a: int, b: int) -> None:
        """Wire channel ``a`` to channel ``b`` (bits and audio both ways), as the two ends of one E1 timeslot."""
        with self.cond:
            self.channels[a].peer, self.channels[b].peer = b, a

    def link_spans(self, span_a: int, span_b: int) -> None:
        """Wire two spans back to back, channel by channel in order (the box's span and the far exchange's)."""
        a = sorted(c.channo for c in self.channels.values() if c.spanno == span_a)
        b = sorted(c.channo for c in self.channels.values() if c.spanno == span_b)
        if len(a) != len(b):
            raise ValueError(f"spans {span_a} and {span_b} have {len(a)} and {len(b)} channels")
        for x, y in zip(a, b):
            self.link(x, y)

    def _down(self, ch: "FakeChannel") -> bool:
        """No signal crosses this channel's link (either span in alarm)."""
        peer = self.channels.get(ch.peer) if ch.peer else None
        return bool(self.span_alarms.get(ch.spanno) or (peer is not None and self.span_alarms.get(peer.spanno)))

    # ---- ioctls (called with the lock held) -------------------------------------------------------------------
    def _channo(self, ch: "FakeChannel", arg: bytearray) -> int:
        _INT.pack_into(arg, 0, ch.channo)
        return 0

    def _get_bufinfo(self, ch: "FakeChannel", arg: bytearray) -> int:
        arg[:] = abi.BUFFERINFO.pack(ch.bufpolicy, ch.bufpolicy, 4, ch.blocksize, min(4, len(ch.rx)),
                                     len(ch.tx) // max(1, ch.blocksize))
        return 0

    def _set_bufinfo(self, ch: "FakeChannel", arg: bytearray) -> int:
        txpolicy, _, numbufs, bufsize, _, _ = abi.BUFFERINFO.unpack(bytes(arg))
        if not 16 <= bufsize <= 8192 or not 2 <= numbufs <= 32:
            raise _err(errno.EINVAL)
        ch.blocksize, ch.bufpolicy = bufsize, txpolicy
        return 0

    def _echocancel_onoff(self, ch: "FakeChannel", arg: bytearray) -> int:
        taps = _INT.unpack_from(arg)[0]
        ch.ec_taps = 128 if taps == 1 else max(0, taps)
        return 0

    def _settxbits(self, ch: "FakeChannel", arg: bytearray) -> int:
        if ch.sig != abi.Sig.CAS:
            raise _err(errno.EINVAL)
        bits = _INT.unpack_from(arg)[0] & 0xF
        ch.txbits = bits
        self._carry_bits(ch)
        return 0

    def _carry_bits(self, ch: "FakeChannel") -> None:
        """The far end sees ``ch``'s bits (BITSCHANGED when they changed), unless the link is down."""
        peer = self.channels.get(ch.peer) if ch.peer else None
        if peer is None or self._down(ch):
            return
        if peer.rxbits != ch.txbits:
            peer.rxbits = ch.txbits
            self._event(peer, abi.Event.BITSCHANGED)

    def _getrxbits(self, ch: "FakeChannel", arg: bytearray) -> int:
        if ch.sig != abi.Sig.CAS:
            raise _err(errno.EINVAL)
        _INT.pack_into(arg, 0, ch.rxbits)
        return 0

    def _iomux(self, ch: "FakeChannel", arg: bytearray) -> int:
        want = _INT.unpack_from(arg)[0]
        got = 0
        if want & abi.IOMUX_SIGEVENT and ch.events:
            got |= abi.IOMUX_SIGEVENT
        if want & abi.IOMUX_READ and ch.rx and not ch.events:
            got |= abi.IOMUX_READ
        if want & abi.IOMUX_WRITE and len(ch.tx) < 4 * ch.blocksize:
            got |= abi.IOMUX_WRITE
        _INT.pack_into(arg, 0, got)
        return 0

    # ---- the clock ------------------------------------------------------------------------------------------------
    def _cas_audio(self, linked: list["FakeChannel"]) -> None:
        """One block each way across every wired timeslot (A-law bytes unchanged, idle code when nothing was
        written or the link is down); what the box's side sent is kept in ``heard`` once its far end answered."""
        out: dict[int, bytes] = {}
        for ch in linked:
            block = bytes(ch.tx[:BLOCK])
            del ch.tx[:BLOCK]
            if ch.pending and len(block) < BLOCK:
                pcm = np.zeros(BLOCK, dtype=np.int16)
                self._pull(ch, pcm)
                block = g711.alaw_encode(pcm).astype(np.uint8).tobytes()
            out[ch.channo] = block + b"\xd5" * (BLOCK - len(block))
            if block and ch.heard_on:
                ch.heard.append(g711.alaw_decode(np.frombuffer(out[ch.channo], dtype=np.uint8)))
        for ch in linked:
            peer = self.channels[ch.peer]
            if peer.fd is None:
                continue
            data = b"\xd5" * BLOCK if self._down(ch) or ch.fd is None else out[ch.channo]
            peer.rx.append(data)
            if len(peer.rx) > 4:
                peer.rx.popleft()
                peer.overruns += 1

    @staticmethod
    def _pull(ch: "FakeChannel", dest: np.ndarray) -> None: ...


CAS_IOCTLS = {abi.DAHDI_CHANNO: CasLink._channo, abi.DAHDI_GET_BUFINFO: CasLink._get_bufinfo,
              abi.DAHDI_SET_BUFINFO: CasLink._set_bufinfo, abi.DAHDI_ECHOCANCEL: CasLink._echocancel_onoff,
              abi.DAHDI_SETTXBITS: CasLink._settxbits, abi.DAHDI_GETRXBITS: CasLink._getrxbits,
              abi.DAHDI_IOMUX: CasLink._iomux}
