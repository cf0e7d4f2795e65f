"""A fake DAHDI kernel at the driver's syscall seam (open/ioctl/read/write/poll/close) with the far ends of its ports.

It reproduces what the driver has to cope with on a real card: /dev/dahdi/channel + DAHDI_SPECIFY, block size,
law, DAHDI_GET_PARAMS and DAHDI_SPANSTAT, non-blocking reads (EAGAIN), ELAST on read and write while an event
waits (read it with DAHDI_GETEVENT), POLLPRI for events, the exchange's ring cadence on FXO ports (which use FXS
signalling: RINGBEGIN at each burst, RINGOFFHOOK when it ends), loop drop (ONHOOK), polarity reversal, phones on
FXS ports (FXO signalling: RINGOFFHOOK off hook, ONHOOK, WINKFLASH), ringing with the zone's cadence, on-hook
transfer, DTMF dialling ending in DIALCOMPLETE, hook flash ending in HOOKCOMPLETE, gains, the echo canceller and
span alarms. Audio moves 160 bytes per channel per 20 ms block of the fake's clock, which a test advances by hand
(``advance``) or lets run at wall-clock pace (``start_clock``). Used by the tests and scripts/dahdi-bench.
"""
from __future__ import annotations

import collections
import errno
import struct
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from hotline.drivers.common import g711

from . import abi
from .fakecas import CAS_IOCTLS, IDLE_BITS, CasLink
from .fakefar import FarEnds
from .syscalls import POLLERR, POLLIN, POLLNVAL, POLLOUT, POLLPRI

BLOCK_MS = 20
NUMBUFS = 4                        # kernel buffers per direction (chan_dahdi's default)
CADENCES = {"cn": (1000, 4000), "us": (2000, 4000), "uk": (400, 200, 400, 2000), "de": (1000, 4000)}
FLASH_MS = 750
DTMF_MS, PAUSE_MS = 100, 500
_INT = struct.Struct("<i")


def _err(code: int, what: str = "") -> OSError:
    return BlockingIOError(code, "EAGAIN") if code == errno.EAGAIN else OSError(code, what or errno.errorcode.get(
        code, "ELAST" if code == abi.ELAST else str(code)))


@dataclass
class FakeChannel:
    """One channel of the fake card, with its far end (the exchange or the phone)."""

    channo: int
    spanno: int
    chanpos: int
    sig: abi.Sig
    name: str
    law: abi.Law = abi.Law.ALAW
    fd: int | None = None
    blocksize: int = 1024
    rx: collections.deque = field(default_factory=collections.deque)
    tx: bytearray = field(default_factory=bytearray)
    events: collections.deque = field(default_factory=collections.deque)
    offhook: bool = False            # FXO port: the box holds the line; FXS port: the phone's handset is up
    box_ringing: bool = False        # FXS port: the box rings the phone
    co_ringing: bool = False         # FXO port: the exchange rings this line
    cadence_pos: int = 0             # ms into the current cadence
    rings_left: int | None = None
    ring_delay: int = 0              # ms before the exchange's first ring (DTMF caller ID plays meanwhile)
    cid_after_first: np.ndarray | None = None   # caller-ID audio the exchange sends after the first ring
    in_burst: bool = False
    flash_left: int = 0
    dial_queue: str = ""
    dial_left: int = 0
    dialing: bool = False
    oht_left: int = 0                # on-hook transfer: ms of audio still allowed to an on-hook phone
    polarity: int = 0
    ec_taps: int = 0
    rxgain: bytes = bytes(range(256))
    txgain: bytes = bytes(range(256))
    pending: collections.deque = field(default_factory=collections.deque)   # far-end audio (int16 arrays)
    loop: np.ndarray | None = None   # far end sends this over and over (benchmarks)
    loop_pos: int = 0
    heard: list = field(default_factory=list)      # what the far end heard (int16 blocks)
    heard_oht: list = field(default_factory=list)  # what an on-hook phone received by on-hook transfer
    dialed: str = ""
    rings: int = 0                   # bursts rung (either direction)
    polarity_flips: int = 0
    overruns: int = 0
    cancelled_dials: int = 0
    peer: int = 0                    # E1 CAS: the channel at the other end of this timeslot (fakecas.py)
    txbits: int = IDLE_BITS
    rxbits: int = IDLE_BITS
    bufpolicy: int = 0
    heard_on: bool = False           # E1 CAS: keep what this channel sends in ``heard``

    @property
    def fxo_port(self) -> bool:
        """An FXO port (FXS signalling): a line from the exchange."""
        return abi.is_fxs_signalled(self.sig)


class FakePoll:
    """select.poll() over the fake's descriptors."""

    def __init__(self, kernel: "FakeDahdi"):
        self.kernel, self.fds = kernel, {}
        self.waiting = True   # blocked in poll() with nothing ready (or not polling at all yet)
        kernel.pollers.append(self)

    def register(self, fd: int, eventmask: int = POLLIN | POLLPRI | POLLOUT) -> None:
        """Watch a descriptor."""
        self.fds[fd] = eventmask

    def modify(self, fd: int, eventmask: int) -> None:
        """Change what is watched."""
        if fd not in self.fds:
            raise FileNotFoundError(errno.ENOENT, "not registered")
        self.fds[fd] = eventmask

    def unregister(self, fd: int) -> None:
        """Stop watching."""
        self.fds.pop(fd, None)

    def poll(self, timeout: float | None = None) -> list[tuple[int, int]]:
        """Ready descriptors, waiting up to ``timeout`` ms for one (wall-clock time)."""
        k = self.kernel
        end = None if timeout is None or timeout < 0 else time.monotonic() + timeout / 1000.0
        with k.cond:
            while True:
                k.polls += 1
                ready = self.ready()
                if ready:
                    self.waiting = False
                    return ready
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    self.waiting = False
                    return []
                self.waiting = True
                k.settled.notify_all()
                k.cond.wait(left)

    def ready(self) -> list[tuple[int, int]]:
        """What poll() would report now (called with the kernel's lock held)."""
        out = []
        for fd, mask in self.fds.items():
            got = self.kernel._ready(fd) & (mask | POLLERR | POLLNVAL)
            if got:
                out.append((fd, got))
        return out


class FakeDahdi(FarEnds, CasLink):
    """The fake kernel and the far ends of its ports (the test's side: co_*, phone_*, far_*, alarm, inject)."""

    def __init__(self, spans: list[list[tuple[int, abi.Sig, str]]], law: abi.Law = abi.Law.ALAW, zone: str = "cn",
                 span_names: list[str] | None = None):
        self.channels: dict[int, FakeChannel] = {}
        self.span_alarms: dict[int, int] = {}
        self.span_names: dict[int, str] = {}
        self.zone = zone
        for si, members in enumerate(spans, start=1):
            self.span_alarms[si] = 0
            self.span_names[si] = (span_names or [])[si - 1] if span_names and si <= len(span_names) else \
                f"FAKE/{si - 1}"
            for pos, (channo, sig, name) in enumerate(members, start=1):
                self.channels[channo] = FakeChannel(channo, si, pos, sig, name, law)
        self.fds: dict[int, FakeChannel | None] = {}
        self.next_fd = 1000
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)      # state changed: pollers look again
        self.settled = threading.Condition(self.lock)   # a poller went idle: settle() looks again
        self.pollers: list[FakePoll] = []
        self.pipes: dict[int, bytearray] = {}    # read end -> bytes waiting
        self.pipe_ends: dict[int, int] = {}      # write end -> read end
        self.ms = 0
        self.blocks = 0
        self.polls = 0
        self.elast_returned = 0
        self.eagain_returned = 0
        self.advance_seconds = 0.0     # CPU the fake itself spent moving audio (the benchmark subtracts it)
        self.loaded = True             # False: /dev/dahdi/channel does not exist (module not loaded)
        self.unplugged = False         # True: the card is gone (POLLERR, ENODEV)
        self._clock: threading.Thread | None = None
        self._clock_stop = threading.Event()
        self.late_blocks = 0

    @classmethod
    def analog(cls, fxo: int = 4, fxs: int = 4, **kw) -> "FakeDahdi":
        """One analog card (like a TDM410P): channels 1..fxo are FXO ports (fxsks), the next fxs are FXS (fxoks)."""
        members = [(c, abi.Sig.FXSKS, f"WCTDM/0/{c - 1}") for c in range(1, fxo + 1)]
        members += [(c, abi.Sig.FXOKS, f"WCTDM/0/{c - 1}") for c in range(fxo + 1, fxo + fxs + 1)]
        return cls([members], span_names=["WCTDM/0"], **kw)

    @classmethod
    def e1(cls, spans: int = 4, **kw) -> "FakeDahdi":
        """``spans`` E1 spans of 30 voice channels each (CAS, FXS-kewlstart signalled), numbered 1..30*spans."""
        out = []
        for s in range(spans):
            out.append([(s * 30 + i, abi.Sig.FXSKS, f"TE4/0/{s + 1}/{i}") for i in range(1, 31)])
        return cls(out, span_names=[f"TE4/0/{s + 1}" for s in range(spans)], **kw)

    # ---- the syscall seam ---------------------------------------------------------------------------------------
    def open(self, path: str, flags: int) -> int:
        """Only /dev/dahdi/channel exists (while the module is loaded)."""
        if path != abi.CHANNEL_DEVICE or not self.loaded:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        with self.cond:
            fd = self.next_fd
            self.next_fd += 1
            self.fds[fd] = None
            return fd

    def close(self, fd: int) -> None:
        """Release the channel: the kernel puts it on hook and stops ringing."""
        with self.cond:
            if fd in self.pipes or fd in self.pipe_ends:
                self.pipes.pop(fd, None)
                self.pipe_ends.pop(fd, None)
                return
            if fd not in self.fds:
                raise _err(errno.EBADF)
            ch = self.fds.pop(fd)
            if ch is not None:
                ch.fd = None
                if ch.fxo_port:
                    ch.offhook = False
                ch.box_ringing = ch.dialing = False
                ch.rx.clear()
                ch.tx.clear()
                ch.events.clear()
            self.cond.notify_all()

    def poll(self) -> FakePoll:
        """A poll object over the fake's descriptors."""
        with self.cond:
            return FakePoll(self)

    def pipe(self) -> tuple[int, int]:
        """A non-blocking pipe (the span threads' wake-up)."""
        with self.cond:
            r, w = self.next_fd, self.next_fd + 1
            self.next_fd += 2
            self.pipes[r], self.pipe_ends[w] = bytearray(), r
            return r, w

    def settle(self, timeout: float = 1.0) -> bool:
        """Wait until every poller is blocked in poll() with nothing to report: the driver's threads have taken
        everything the card had for them (tests step the card and the box in lock-step with this)."""
        end = time.monotonic() + timeout
        with self.cond:
            while not all(p.waiting and not p.ready() for p in self.pollers
                          if any(fd in self.fds or fd in self.pipes for fd in p.fds)):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.settled.wait(left)
            return True

    def read(self, fd: int, n: int) -> bytes:
        """One block; ELAST while an event waits, EAGAIN when none is ready."""
        with self.cond:
            if fd in self.pipes:
                data = bytes(self.pipes[fd][:n])
                if not data:
                    raise _err(errno.EAGAIN)
                del self.pipes[fd][:n]
                return data
            ch = self._fd(fd)
            if ch.events:
                self.elast_returned += 1
                raise _err(abi.ELAST)
            if not ch.rx:
                self.eagain_returned += 1
                raise _err(errno.EAGAIN)
            block = ch.rx.popleft()
            if n < len(block):
                ch.rx.appendleft(block[n:])
                block = block[:n]
            return block

    def write(self, fd: int, data: bytes) -> int:
        """Into the channel's send buffers; ELAST while an event waits; a write cancels dialling in progress."""
        with self.cond:
            if fd in self.pipe_ends:
                self.pipes[self.pipe_ends[fd]] += data
                self.cond.notify_all()
                return len(data)
            ch = self._fd(fd)
            if ch.dialing:
                ch.dialing, ch.dial_queue, ch.dial_left = False, "", 0
                ch.cancelled_dials += 1
            if ch.events:
                self.elast_returned += 1
                raise _err(abi.ELAST)
            space = NUMBUFS * ch.blocksize - len(ch.tx)
            if space <= 0:
                self.eagain_returned += 1
                raise _err(errno.EAGAIN)
            take = bytes(data[:space])
            ch.tx += take
            return len(take)

    def ioctl(self, fd: int, request: int, arg: bytearray) -> int:
        """The DAHDI ioctls the driver uses; ENOTTY for any other."""
        with self.cond:
            if request == abi.DAHDI_SPECIFY:
                return self._specify(fd, _INT.unpack_from(arg)[0])
            ch = self._fd(fd)
            handler = _IOCTLS.get(request)
            if handler is None:
                raise _err(errno.ENOTTY)
            out = handler(self, ch, arg)
            self.cond.notify_all()
            return out

    def _fd(self, fd: int, specified: bool = True) -> FakeChannel | None:
        if self.unplugged and fd in self.fds:
            raise _err(errno.ENODEV, "No such device")
        if fd not in self.fds:
            raise _err(errno.EBADF)
        ch = self.fds[fd]
        if specified and ch is None:
            raise _err(errno.EINVAL, "channel not specified (DAHDI_SPECIFY first)")
        return ch

    def _specify(self, fd: int, channo: int) -> int:
        if self._fd(fd, specified=False) is not None:
            raise _err(errno.EINVAL)
        ch = self.channels.get(channo)
        if ch is None:
            raise _err(errno.ENXIO)
        if ch.fd is not None:
            raise _err(errno.EBUSY)
        ch.fd, self.fds[fd] = fd, ch
        return 0

    # ---- ioctl handlers (called with the lock held) -------------------------------------------------------------
    def _set_blocksize(self, ch: FakeChannel, arg: bytearray) -> int:
        n = _INT.unpack_from(arg)[0]
        if not 16 <= n <= 8192:
            raise _err(errno.EINVAL)
        ch.blocksize = n
        return 0

    def _get_blocksize(self, ch: FakeChannel, arg: bytearray) -> int:
        _INT.pack_into(arg, 0, ch.blocksize)
        return 0

    def _setlaw(self, ch: FakeChannel, arg: bytearray) -> int:
        law = _INT.unpack_from(arg)[0]
        if law not in (0, 1, 2):
            raise _err(errno.EINVAL)
        if law:
            ch.law = abi.Law(law)
        return 0

    def _get_params(self, ch: FakeChannel, arg: bytearray) -> int:
        arg[:] = abi.pack_params({"channo": ch.channo, "spanno": ch.spanno, "chanpos": ch.chanpos,
                                  "sigtype": int(ch.sig), "sigcap": int(ch.sig), "rxisoffhook": int(ch.offhook),
                                  "curlaw": int(ch.law), "name": ch.name, "flashtime": FLASH_MS,
                                  "rxflashtime": 1250, "chan_alarms": 0})
        return 0

    def _spanstat(self, ch: FakeChannel, arg: bytearray) -> int:
        spanno = _INT.unpack_from(arg)[0] or ch.spanno
        if spanno not in self.span_alarms:
            raise _err(errno.EINVAL)
        members = [c for c in self.channels.values() if c.spanno == spanno]
        arg[:] = abi.pack_spaninfo({"spanno": spanno, "name": self.span_names[spanno], "desc": "fake span",
                                    "alarms": self.span_alarms[spanno], "numchans": len(members),
                                    "totalchans": len(members), "totalspans": len(self.span_alarms),
                                    "spantype": "E1" if len(members) == 30 else "ANALOG"})
        return 0

    def _hook(self, ch: FakeChannel, arg: bytearray) -> int:
        hook = abi.Hook(_INT.unpack_from(arg)[0])
        if ch.fxo_port:   # FXS signalling: the box acts as a phone towards the exchange
            if hook is abi.Hook.OFFHOOK:
                if not ch.offhook:
                    ch.offhook = True
                    ch.co_ringing = ch.in_burst = False  # answered: the exchange stops ringing
            elif hook is abi.Hook.ONHOOK:
                ch.offhook = ch.dialing = False
                ch.dial_queue = ""
            elif hook is abi.Hook.FLASH:
                if not ch.offhook:
                    raise _err(errno.EINVAL)
                ch.flash_left = FLASH_MS
            else:
                raise _err(errno.EINVAL)
        else:             # FXO signalling: the box acts as the exchange towards a phone
            if hook is abi.Hook.RING:
                if ch.offhook:
                    raise _err(errno.EBUSY)
                ch.box_ringing, ch.cadence_pos, ch.in_burst = True, 0, False
            elif hook in (abi.Hook.RINGOFF, abi.Hook.ONHOOK, abi.Hook.OFFHOOK):
                ch.box_ringing = ch.in_burst = False
            else:
                raise _err(errno.EINVAL)
        return 0

    def _dial(self, ch: FakeChannel, arg: bytearray) -> int:
        op, raw = abi.DIALOPERATION.unpack(bytes(arg))
        if op == abi.DIAL_OP_CANCEL:
            ch.dialing, ch.dial_queue = False, ""
            return 0
        digits = raw.split(b"\0", 1)[0].decode("ascii", "replace")
        if ch.fxo_port and not ch.offhook:
            raise _err(errno.EINVAL)
        ch.dial_queue = (ch.dial_queue if op == abi.DIAL_OP_APPEND else "") + digits
        ch.dialing = True
        return 0

    def _echocancel(self, ch: FakeChannel, arg: bytearray) -> int:
        taps, count = abi.ECHOCANPARAMS.unpack_from(arg)
        if taps and not 32 <= taps <= 1024:
            raise _err(errno.EINVAL)
        ch.ec_taps = taps
        return 0

    def _setgains(self, ch: FakeChannel, arg: bytearray) -> int:
        _, rx, tx = abi.GAINS.unpack(bytes(arg))
        ch.rxgain, ch.txgain = rx, tx
        return 0

    def _getgains(self, ch: FakeChannel, arg: bytearray) -> int:
        arg[:] = abi.GAINS.pack(ch.channo, ch.rxgain, ch.txgain)
        return 0

    def _flush(self, ch: FakeChannel, arg: bytearray) -> int:
        what = _INT.unpack_from(arg)[0]
        if what & abi.FLUSH_READ:
            ch.rx.clear()
        if what & abi.FLUSH_WRITE:
            ch.tx.clear()
        if what & abi.FLUSH_EVENT:
            ch.events.clear()
        return 0

    def _onhooktransfer(self, ch: FakeChannel, arg: bytearray) -> int:
        if ch.fxo_port or ch.offhook:
            raise _err(errno.EINVAL)
        ch.oht_left = _INT.unpack_from(arg)[0]
        return 0

    def _setpolarity(self, ch: FakeChannel, arg: bytearray) -> int:
        if ch.fxo_port:
            raise _err(errno.EINVAL)
        value = 1 if _INT.unpack_from(arg)[0] else 0
        if value != ch.polarity:
            ch.polarity, ch.polarity_flips = value, ch.polarity_flips + 1
        return 0

    def _getevent(self, ch: FakeChannel, arg: bytearray) -> int:
        _INT.pack_into(arg, 0, ch.events.popleft() if ch.events else abi.Event.NONE)
        return 0

    def _ready(self, fd: int) -> int:
        if fd in self.pipes:
            return POLLIN if self.pipes[fd] else 0
        ch = self.fds.get(fd, False)
        if ch is False:
            return POLLNVAL
        if self.unplugged:
            return POLLERR
        if ch is None:
            return 0
        mask = POLLPRI if ch.events else 0
        if ch.rx:
            mask |= POLLIN
        if len(ch.tx) < NUMBUFS * ch.blocksize:
            mask |= POLLOUT
        return mask

    # ---- the clock ------------------------------------------------------------------------------------------------
    def now(self) -> float:
        """The card's clock in seconds (for the driver's timers, so tests need not wait in real time)."""
        return self.ms / 1000.0

    def advance(self, blocks: int = 1) -> None:
        """Let ``blocks`` × 20 ms of card time pass: audio both ways on every open channel, cadences and timers."""
        t0 = time.thread_time()
        for _ in range(blocks):
            with self.cond:
                self._step()
                self.cond.notify_all()
        self.advance_seconds += time.thread_time() - t0

    def start_clock(self, speed: float = 1.0) -> None:
        """Advance at wall-clock pace (``speed`` times real time) in a thread until stop_clock()."""
        self._clock_stop.clear()
        self._clock = threading.Thread(target=self._clock_thread, args=(speed,), name="fake-dahdi-clock",
                                       daemon=True)
        self._clock.start()

    def stop_clock(self) -> None:
        """Stop the wall-clock thread."""
        self._clock_stop.set()
        if self._clock is not None:
            self._clock.join(timeout=2.0)
            self._clock = None

    def _clock_thread(self, speed: float) -> None:
        t0, done = time.monotonic(), 0
        while not self._clock_stop.is_set():
            due = int((time.monotonic() - t0) * 1000 / BLOCK_MS * speed)
            if due > done:
                if due - done > 1:
                    self.late_blocks += due - done - 1
                self.advance(due - done)
                done = due
            self._clock_stop.wait(max(0.0, t0 + (done + 1) * BLOCK_MS / 1000 / speed - time.monotonic()))

    def _step(self) -> None:
        self.ms += BLOCK_MS
        self.blocks += 1
        live = [c for c in self.channels.values() if c.fd is not None and not c.peer]
        if live:
            self._audio(live)
        linked = [c for c in self.channels.values() if c.peer and (c.fd is not None or c.pending
                                                                   or self.channels[c.peer].fd is not None)]
        if linked:
            self._cas_audio(linked)
        for ch in self.channels.values():
            self._timers(ch)

    def _audio(self, live: list[FakeChannel]) -> None:
        """One block each way for every open channel (one stacked encode and decode per law)."""
        n = 160
        far = np.zeros((len(live), n), dtype=np.int16)
        for i, ch in enumerate(live):
            if ch.pending:
                self._pull(ch, far[i])
            elif ch.loop is not None:
                idx = (ch.loop_pos + np.arange(n)) % len(ch.loop)
                far[i] = ch.loop[idx]
                ch.loop_pos = (ch.loop_pos + n) % len(ch.loop)
        for law, enc, dec in ((abi.Law.ALAW, g711.alaw_encode, g711.alaw_decode),
                              (abi.Law.MULAW, g711.ulaw_encode, g711.ulaw_decode)):
            rows = [i for i, ch in enumerate(live) if ch.law is law]
            if not rows:
                continue
            codes = enc(far[rows]).astype(np.uint8)
            for j, i in enumerate(rows):
                ch = live[i]
                block = codes[j].tobytes()
                if ch.rxgain != _IDENTITY:
                    block = block.translate(ch.rxgain)
                if not self._connected(ch) and not (ch.fxo_port and not ch.flash_left):
                    # an FXO port hears the exchange on hook too (caller ID); an on-hook phone says nothing
                    block = (b"\xd5" if law is abi.Law.ALAW else b"\xff") * n
                ch.rx.append(block)
                if len(ch.rx) > NUMBUFS:
                    ch.rx.popleft()
                    ch.overruns += 1
                sent = bytes(ch.tx[:n])
                del ch.tx[:n]
                if sent and ch.txgain != _IDENTITY:
                    sent = sent.translate(ch.txgain)
                if sent and (self._connected(ch) or ch.oht_left > 0):
                    heard = dec(np.frombuffer(sent, dtype=np.uint8))
                    (ch.heard if self._connected(ch) else ch.heard_oht).append(heard)

    def _connected(self, ch: FakeChannel) -> bool:
        return ch.offhook and not ch.flash_left

    @staticmethod
    def _pull(ch: FakeChannel, dest: np.ndarray) -> None:
        pos = 0
        while pos < len(dest) and ch.pending:
            chunk = ch.pending[0]
            take = min(len(dest) - pos, len(chunk))
            dest[pos:pos + take] = chunk[:take]
            pos += take
            if take == len(chunk):
                ch.pending.popleft()
            else:
                ch.pending[0] = chunk[take:]

    def _timers(self, ch: FakeChannel) -> None:
        if ch.co_ringing and ch.ring_delay > 0:
            ch.ring_delay -= BLOCK_MS
        elif ch.co_ringing or ch.box_ringing:
            self._cadence(ch)
        if ch.flash_left:
            ch.flash_left = max(0, ch.flash_left - BLOCK_MS)
            if not ch.flash_left:
                self._event(ch, abi.Event.HOOKCOMPLETE)
        if ch.dialing:
            if ch.dial_left > 0:
                ch.dial_left -= BLOCK_MS
            while ch.dial_left <= 0 and ch.dial_queue:
                d, ch.dial_queue = ch.dial_queue[0], ch.dial_queue[1:]
                if d in "0123456789*#ABCD":
                    ch.dialed += d
                    ch.dial_left += DTMF_MS
                elif d in "wW":
                    ch.dial_left += PAUSE_MS
            if ch.dial_left <= 0 and not ch.dial_queue:
                ch.dialing = False
                self._event(ch, abi.Event.DIALCOMPLETE)
        if ch.oht_left > 0:
            ch.oht_left = max(0, ch.oht_left - BLOCK_MS)

    def _cadence(self, ch: FakeChannel) -> None:
        """Ring bursts by the zone's cadence: RINGBEGIN/RINGOFFHOOK for the exchange ringing an FXO port,
        RINGERON/RINGEROFF for the box ringing a phone."""
        pattern = CADENCES.get(self.zone, CADENCES["cn"])
        pos = ch.cadence_pos % sum(pattern)
        acc, on = 0, False
        for i, length in enumerate(pattern):
            if pos < acc + length:
                on = i % 2 == 0
                break
            acc += length
        if on and not ch.in_burst:
            ch.in_burst = True
            ch.rings += 1
            self._event(ch, abi.Event.RINGBEGIN if ch.co_ringing else abi.Event.RINGERON)
        elif not on and ch.in_burst:
            ch.in_burst = False
            self._event(ch, abi.Event.RINGOFFHOOK if ch.co_ringing else abi.Event.RINGEROFF)
            if ch.co_ringing and ch.cid_after_first is not None:
                ch.pending.append(ch.cid_after_first)
                ch.cid_after_first = None
            if ch.rings_left is not None:
                ch.rings_left -= 1
                if ch.rings_left <= 0:
                    ch.co_ringing = False
        ch.cadence_pos += BLOCK_MS

    def _event(self, ch: FakeChannel, code: int) -> None:
        if ch.fd is None:
            return
        if len(ch.events) < 64:
            ch.events.append(int(code))


_IDENTITY = bytes(range(256))
_IOCTLS = {abi.DAHDI_SET_BLOCKSIZE: FakeDahdi._set_blocksize, abi.DAHDI_GET_BLOCKSIZE: FakeDahdi._get_blocksize,
           abi.DAHDI_SETLAW: FakeDahdi._setlaw, abi.DAHDI_GET_PARAMS: FakeDahdi._get_params,
           abi.DAHDI_SPANSTAT: FakeDahdi._spanstat, abi.DAHDI_HOOK: FakeDahdi._hook, abi.DAHDI_DIAL: FakeDahdi._dial,
           abi.DAHDI_ECHOCANCEL_PARAMS: FakeDahdi._echocancel, abi.DAHDI_SETGAINS: FakeDahdi._setgains,
           abi.DAHDI_GETGAINS: FakeDahdi._getgains, abi.DAHDI_FLUSH: FakeDahdi._flush,
           abi.DAHDI_ONHOOKTRANSFER: FakeDahdi._onhooktransfer, abi.DAHDI_SETPOLARITY: FakeDahdi._setpolarity,
           abi.DAHDI_GETEVENT: FakeDahdi._getevent, **CAS_IOCTLS}
