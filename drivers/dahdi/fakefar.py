"""The far ends of the fake DAHDI kernel's ports, as a test drives them: the exchange (rings, hangs up, reverses
polarity), the phones (off hook, on hook, flash), what each side sends and hears, span alarms, garbage events,
and the /proc/dahdi and system.conf files a card like it would leave (see fakekernel.py)."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import abi

if TYPE_CHECKING:
    from .fakekernel import FakeChannel


class FarEnds:
    """Mixed into FakeDahdi: the test's side of the fake card (it uses the kernel's lock and event queue)."""

    channels: dict[int, "FakeChannel"]
    span_alarms: dict[int, int]
    span_names: dict[int, str]
    zone: str
    cond: threading.Condition
    unplugged: bool

    def _event(self, ch: "FakeChannel", code: int) -> None: ...
    _carry_bits: Any   # fakecas.CasLink's

    def unplug(self) -> None:
        """The card is gone (a PCI hot-unplug, a USB card pulled): every descriptor reports POLLERR and every call
        on one fails with ENODEV."""
        with self.cond:
            self.unplugged = True
            self.cond.notify_all()

    def _far(self, channo: int, fxo: bool | None = None) -> FakeChannel:
        ch = self.channels[channo]
        if fxo is not None and ch.fxo_port != fxo:
            raise ValueError(f"channel {channo} is an {'FXO' if ch.fxo_port else 'FXS'} port")
        return ch

    def co_ring(self, channo: int, rings: int | None = None) -> None:
        """The exchange rings an FXO port with the zone's cadence (until answered, co_hangup or ``rings`` bursts)."""
        with self.cond:
            ch = self._far(channo, fxo=True)
            ch.co_ringing, ch.cadence_pos, ch.in_burst, ch.rings_left = True, 0, False, rings

    def co_ring_with_callerid(self, channo: int, number: str, standard: str = "cn", name: str = "",
                              rings: int | None = None, polarity_first: bool = False) -> None:
        """The exchange rings with caller ID as real audio from the box's own generator (drivers/common): FSK
        ("cn", "bell", "etsi") 600 ms into the first pause, DTMF ("dtmf-a", "dtmf-d") before the first
        ring; ``polarity_first``: a polarity reversal, then the FSK, then the first ring."""
        from hotline.drivers.common.callerid import CallerId
        from hotline.drivers.common.callerid_audio import CidStandard, generate_callerid
        std = CidStandard(standard)
        audio = generate_callerid(CallerId(number=number, name=name), std)
        with self.cond:
            ch = self._far(channo, fxo=True)
            ch.co_ringing, ch.cadence_pos, ch.in_burst, ch.rings_left = True, 0, False, rings
            if polarity_first:
                self._event(ch, abi.Event.POLARITY)
                self.cond.notify_all()
            if std in (CidStandard.DTMF_A, CidStandard.DTMF_D) or polarity_first:
                ch.pending.append(np.concatenate([np.zeros(2400, np.int16), audio]) if polarity_first else audio)
                ch.ring_delay = int(len(audio) / 8) + 300
            else:
                ch.cid_after_first = np.concatenate([np.zeros(4800, np.int16), audio])

    def co_tone(self, channo: int, tone: str, seconds: float) -> None:
        """The exchange plays a call-progress tone of the zone ("busy", "ringback", "congestion", "dial") on the
        line for ``seconds``, with the box's own tone generator (drivers/common/tones)."""
        from hotline.drivers.common.tones import ToneGenerator
        gen = ToneGenerator.for_profile(self.zone.upper(), tone)
        audio = np.concatenate([gen.next_frame() for _ in range(int(seconds * 50))])
        self.far_send(channo, audio)

    def co_hangup(self, channo: int) -> None:
        """The far end hangs up: the exchange stops ringing, or drops loop current on an answered line (ONHOOK)."""
        with self.cond:
            ch = self._far(channo, fxo=True)
            if ch.co_ringing and ch.in_burst:
                self._event(ch, abi.Event.RINGOFFHOOK)
            ch.co_ringing = ch.in_burst = False
            if ch.offhook:
                self._event(ch, abi.Event.ONHOOK)
            ch.pending.clear()
            self.cond.notify_all()

    def co_polarity(self, channo: int) -> None:
        """The exchange reverses the line's polarity (answer or hang-up signal on some lines, caller ID on others)."""
        with self.cond:
            self._event(self._far(channo, fxo=True), abi.Event.POLARITY)
            self.cond.notify_all()

    def phone_offhook(self, channo: int) -> None:
        """The phone on an FXS port is lifted (the ringing stops)."""
        with self.cond:
            ch = self._far(channo, fxo=False)
            ch.offhook, ch.box_ringing, ch.in_burst, ch.oht_left = True, False, False, 0
            self._event(ch, abi.Event.RINGOFFHOOK)
            self.cond.notify_all()

    def phone_onhook(self, channo: int) -> None:
        """The phone is hung up."""
        with self.cond:
            ch = self._far(channo, fxo=False)
            ch.offhook = False
            self._event(ch, abi.Event.ONHOOK)
            self.cond.notify_all()

    def phone_flash(self, channo: int) -> None:
        """The phone's hook-flash key."""
        with self.cond:
            self._event(self._far(channo, fxo=False), abi.Event.WINKFLASH)
            self.cond.notify_all()

    def ringing(self, channo: int) -> bool:
        """Whether the box is ringing this phone."""
        return self.channels[channo].box_ringing

    def far_send(self, channo: int, samples: np.ndarray) -> None:
        """Audio the far end sends (queued, 8 kHz int16)."""
        with self.cond:
            self.channels[channo].pending.append(np.asarray(samples, dtype=np.int16))

    def far_loop(self, channo: int, samples: np.ndarray) -> None:
        """The far end sends this audio over and over (benchmarks)."""
        with self.cond:
            self.channels[channo].loop = np.asarray(samples, dtype=np.int16)

    def heard(self, channo: int) -> np.ndarray:
        """Everything the far end heard so far."""
        with self.cond:
            parts = list(self.channels[channo].heard)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def alarm(self, spanno: int, alarms: int) -> None:
        """Set a span's alarms (0 clears them): ALARM or NOALARM on every open channel of the span."""
        with self.cond:
            self.span_alarms[spanno] = int(alarms)
            for ch in self.channels.values():
                if ch.spanno == spanno:
                    self._event(ch, abi.Event.ALARM if alarms else abi.Event.NOALARM)
            if not alarms:   # E1 CAS: the bits cross the link again (BITSCHANGED where they differ)
                for ch in self.channels.values():
                    if ch.peer and ch.sig == abi.Sig.CAS:
                        self._carry_bits(ch)
            self.cond.notify_all()

    def inject(self, channo: int, code: int) -> None:
        """Queue any event code (garbage, codes this driver does not know)."""
        with self.cond:
            self._event(self.channels[channo], code)
            self.cond.notify_all()

    # ---- what discovery reads ---------------------------------------------------------------------------------
    def write_proc(self, proc_dir: str | Path) -> None:
        """/proc/dahdi/N files as the kernel prints them."""
        base = Path(proc_dir)
        base.mkdir(parents=True, exist_ok=True)
        for spanno, name in self.span_names.items():
            words = " ".join(w for bit, w in ((abi.Alarm.BLUE, "BLUE"), (abi.Alarm.YELLOW, "YELLOW"),
                                              (abi.Alarm.RED, "RED")) if self.span_alarms[spanno] & bit)
            lines = [f'Span {spanno}: {name} "Fake card span {spanno}" (MASTER) {words}'.rstrip() + " ", ""]
            for ch in (c for c in self.channels.values() if c.spanno == spanno):
                lines.append(f"\t{ch.channo:4d} {ch.name} {ch.sig.name} " + ("(In use) " if ch.fd else ""))
            (base / str(spanno)).write_text("\n".join(lines) + "\n")

    def system_conf(self) -> str:
        """/etc/dahdi/system.conf as dahdi_genconf writes it for this card."""
        out = ["# Autogenerated by dahdi_genconf (fake)", f"loadzone\t= {self.zone}", f"defaultzone\t= {self.zone}"]
        for ch in self.channels.values():
            out.append(f"{ch.sig.name.lower()}={ch.channo}")
            out.append(f"echocanceller=mg2,{ch.channo}")
        return "\n".join(out) + "\n"
