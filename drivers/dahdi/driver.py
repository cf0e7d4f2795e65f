"""The ``dahdi`` driver: a card's FXO and FXS ports (or E1/T1 channels) as trunk and station lines; channels opened
off the event loop, one poller thread per span, audio through elastic buffers into the media engine."""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Any, Callable

import numpy as np

from hotline.drivers.base import (FRAME_SAMPLES, AnswerSupervision, Capability, Driver, DriverNotReady, DtmfMode,
                                  EventSink, HangupCause, Line, LineKind, LineTraits, Option, Ringing)
from hotline.drivers.common.elastic import Codec

from . import abi, config, discover
from .channel import ChannelError, DahdiChannel, Role
from .r2lib import R2Error, library as r2_library
from .r2span import R2Signalling, r2_settings
from .signalling import SpanSignalling
from .span import Port, SpanPoller
from .syscalls import OsSyscalls, Syscalls

log = logging.getLogger("hotline.drivers.dahdi")

# FXO: answer() goes off hook on the poller thread, which confirms it; FXS: the phone answers by going off hook
TRUNK_TRAITS = LineTraits(dtmf_in=DtmfMode.INBAND, dtmf_out=DtmfMode.INBAND,
                          answer_supervision=AnswerSupervision.CONFIRMED)
STATION_TRAITS = LineTraits(dtmf_in=DtmfMode.INBAND, dtmf_out=DtmfMode.INBAND, caller_id_send=True)


class DahdiLine(Line):
    """One port; commands are queued to its analog machine on the span's poller thread (they never block)."""

    def __init__(self, name: str, kind: LineKind, signalling: SpanSignalling | R2Signalling, row: int,
                 extension: str = "", r2: bool = False):
        caps = Capability.VOICE_FRAMES | (Capability.RING_STATION if kind is LineKind.STATION
                                          else Capability.DIAL if r2 else Capability.DIAL | Capability.FLASH)
        self.r2 = r2   # an E1 MFC/R2 channel (r2span.py) rather than an analog port
        super().__init__(name=name, kind=kind, capabilities=caps, extension=extension,
                         traits=STATION_TRAITS if kind is LineKind.STATION else TRUNK_TRAITS)
        self.signalling, self.row = signalling, row

    def _do(self, command: str, *args: Any) -> None:
        self.signalling.command(self.row, command, *args)

    def answer(self) -> None:
        """FXO: off hook on the ringing line (AnswerConfirmed follows); FXS: nothing, the phone answers itself."""
        if self.kind is LineKind.TRUNK:
            self._do("answer")

    def hangup(self) -> None:
        """FXO: on hook; FXS: stop ringing, or busy tone until the agent hangs up."""
        self._do("hangup")

    def reject(self, cause: HangupCause = HangupCause.REJECTED) -> None:
        """An analog line cannot send busy: not answering is the refusal (the FXO line rings until the caller
        gives up)."""
        self._do("hangup")

    def dial(self, number: str) -> None:
        """FXO: seize, dial in-band DTMF, then answer supervision (polarity or call progress) posts Answered."""
        if self.kind is not LineKind.TRUNK:
            raise ValueError(f"{self.name}: a station port cannot dial")
        if not number or not all(c in "0123456789*#ABCD" for c in number):
            raise ValueError(f"{self.name}: cannot dial {number!r} (digits, * and # only)")
        if self.r2 and not number.isdigit():
            raise ValueError(f"{self.name}: cannot dial {number!r} over MFC/R2 (digits only)")
        self._do("dial", number)

    def ring(self, caller_id: str = "", caller_name: str = "") -> None:
        """FXS: ring the phone with the country's cadence and send it the caller ID (FSK or DTMF audio)."""
        self._do("ring", caller_id, caller_name)

    def stop_ring(self) -> None:
        """FXS: stop ringing."""
        self._do("stop_ring")

    def message_waiting(self, on: bool) -> None:
        """FXS: light or clear the phone's message-waiting lamp (FSK by on-hook transfer once the phone is idle;
        only with ``mwi: true``)."""
        if self.kind is LineKind.STATION:
            self._do("message_waiting", bool(on))

    def flash(self) -> None:
        """FXO: hook flash (an R2 channel has none)."""
        if self.kind is LineKind.TRUNK and not self.r2:
            self._do("flash")

    def send_dtmf(self, digits: str) -> None:
        """Digits go in band (the media engine plays them)."""
        raise NotImplementedError("a DAHDI line sends DTMF in band")


class DahdiDriver(Driver):
    """Registered as ``driver: dahdi``."""

    name = "dahdi"
    schema = (
        Option("fxo", str, "", help='FXO ports (lines from the exchange) as DAHDI channel ranges, like "1-4"'),
        Option("fxs", str, "", help='FXS ports (agent phones) as DAHDI channel ranges, like "5-8"'),
        Option("extensions", list, [], help="extension of each FXS port, in channel order (default: channel number)"),
        Option("country", str, "cn", choices=config.COUNTRIES, help="tones, cadences and caller-ID standard"),
        Option("law", str, "default", choices=("default", "alaw", "ulaw"),
               help="G.711 law on the channels (default: the span's, A-law in China and Europe)"),
        Option("echo_cancel", int, 128, min=0, max=1024, help="echo canceller taps during calls (0: off)"),
        Option("rx_gain", float, 0.0, min=-24, max=24, help="dB added to what callers say"),
        Option("tx_gain", float, 0.0, min=-24, max=24, help="dB added to what callers hear"),
        Option("device", str, abi.CHANNEL_DEVICE, help="the DAHDI channel device"),
        Option("answer", str, "progress", choices=config.ANSWER_MODES,
               help="FXO: how an outgoing call's answer is detected (voice or ringback stopping, polarity reversal, "
                    "or at once after dialling)"),
        Option("callerid_send", str, "", choices=("",) + config.CALLERID_SEND,
               help="FXS: caller ID the phones understand (default: the country's; dtmf-a for DTMF phones)"),
        Option("mwi", bool, False, help="FXS: the phones show message waiting from FSK messages (their lamp)"),
        Option("hangup_on_polarity", bool, False, help="FXO: a polarity reversal in a call means the far end hung up"),
        Option("busy_disconnect", bool, True,
               help="FXO: busy, congestion or dial tone in a call means the far end hung up (Chinese lines)"),
        Option("e1", str, "", help='E1 channels with channel-associated signalling, as DAHDI channel ranges, like '
                                   '"1-15,17-31"'),
        Option("signalling", str, "", choices=("",) + config.SIGNALLINGS,
               help="E1: the line signalling the exchange uses (mfcr2: MFC/R2 through libopenr2)"),
        Option("r2_variant", str, "cn", choices=config.R2_VARIANTS, help="E1 MFC/R2: the country variant"),
        Option("r2_max_ani", int, 10, min=1, max=80, help="E1 MFC/R2: caller's number digits asked for"),
        Option("r2_max_dnis", int, 4, min=1, max=80, help="E1 MFC/R2: called number digits asked for"),
        Option("r2_category", str, "national", choices=config.R2_CATEGORIES,
               help="E1 MFC/R2: the caller category sent on calls out"),
        Option("r2_ani", str, "", help="E1 MFC/R2: the box's number sent as ANI on calls out (empty: none)"),
        Option("r2_immediate_accept", bool, False, help="E1 MFC/R2: accept without the group B signal"),
        Option("r2_skip_category", bool, False, help="E1 MFC/R2: do not ask callers for their category"),
    )

    def __init__(self, device_name: str, settings: dict[str, Any], sink: EventSink, sys: Syscalls | None = None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(device_name, settings, sink)
        self.clock = clock
        self.plan = config.check(device_name, settings)
        self.sys = sys if sys is not None else OsSyscalls()
        self.lines: list[DahdiLine] = []
        self.channels: list[DahdiChannel] = []
        self.spans: list[SpanPoller] = []
        self.where: dict[str, tuple[int, int]] = {}   # line name -> (span index, row)
        self.frame = np.zeros((0, FRAME_SAMPLES), dtype=np.int16)
        self.offsets: list[int] = []
        self._lines_seen: list[str] | None = None
        self._plan_rows: list[tuple[SpanPoller, np.ndarray, np.ndarray]] = []
        self._global_rows = np.zeros(0, dtype=np.intp)
        self._read_this_tick = False
        self._live = False
        self.opened = False

    # ---- contract -------------------------------------------------------------------------------------------------
    @classmethod
    def check_settings(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        """What the schema cannot see (ranges, overlaps, one extension per FXS port) as (key, message), so
        ``hotline check-config`` reports it at the key's line."""
        return config.check("", settings).issues

    @classmethod
    def probe(cls) -> list[dict]:
        """Analog ports and E1 CAS spans DAHDI configured on this box, as device sections (/proc/dahdi, system.conf)."""
        return discover.probe()

    def validate_environment(self) -> list[str]:
        """Bad settings, or no DAHDI channel device on this box."""
        if self.plan.problems:
            return self.plan.problems
        if any(p.role is Role.E1 for p in self.plan.ports):
            try:
                r2_library()
            except R2Error as exc:
                return [f"{self.device_name}: {exc}"]
        if isinstance(self.sys, OsSyscalls) and not os.path.exists(self.plan.device):
            return [f"{self.device_name}: {self.plan.device} does not exist: the DAHDI kernel module is not loaded "
                    "(see docs/cards.md: dahdi-dkms, dahdi_cfg)"]
        return []

    def open(self) -> list[Line]:
        """Open and set up every configured channel (blocking ioctls, in the daemon's worker thread), group them by
        span and start one poller per span; DriverNotReady names every channel that failed."""
        if self.plan.problems:
            raise DriverNotReady("; ".join(self.plan.problems))
        opened: list[tuple[config.Port, DahdiChannel]] = []
        errors = []
        for port in self.plan.ports:
            ch = DahdiChannel(self.sys, port.channo, port.role, self.plan.device)
            try:
                ch.open(self.plan.law)
                if self.plan.rx_gain or self.plan.tx_gain:
                    ch.set_gains(self.plan.rx_gain, self.plan.tx_gain)
                ch.echo_cancel(0)
            except (ChannelError, OSError) as exc:
                errors.append(str(exc))
                ch.close()
                continue
            opened.append((port, ch))
        if errors:
            for _, ch in opened:
                ch.close()
            raise DriverNotReady(f"{self.device_name}: " + "; ".join(errors[:8])
                                 + (f" (and {len(errors) - 8} more)" if len(errors) > 8 else ""))
        self.channels = [ch for _, ch in opened]
        try:
            self._build(opened)
        except R2Error as exc:
            self.close()
            raise DriverNotReady(f"{self.device_name}: {exc}") from None
        for span in self.spans:
            span.start()
        self.opened = True
        return list(self.lines)

    def _build(self, opened: list[tuple[config.Port, DahdiChannel]]) -> None:
        """Lines, signalling and one SpanPoller per span; lines of a span in alarm start down with the reason."""
        by_span: dict[int, list[tuple[config.Port, DahdiChannel]]] = {}
        for port, ch in opened:
            by_span.setdefault(ch.info.spanno, []).append((port, ch))
        codec = Codec.ALAW if opened and opened[0][1].info.law is abi.Law.ALAW else Codec.ULAW
        offset = 0
        sink = self._sink_with_number()
        for si, (spanno, members) in enumerate(sorted(by_span.items())):
            ports = []
            names = [f"{self.device_name}-{port.channo}" for port, _ in members]
            r2 = members[0][0].role is Role.E1
            if r2:   # an E1 span: MFC/R2 on every configured channel of it
                signalling: SpanSignalling | R2Signalling = R2Signalling(
                    [(n, ch) for n, (_, ch) in zip(names, members)], sink, r2_settings(self.plan.r2), self.sys,
                    name=f"{self.device_name}-span{spanno}")
            else:
                signalling = SpanSignalling([(n, ch, port.role) for n, (port, ch) in zip(names, members)], sink,
                                            self.plan.country, self.settings, codec)
            for row, ((port, ch), name) in enumerate(zip(members, names)):
                if r2:
                    line = DahdiLine(name, LineKind.TRUNK, signalling, row, r2=True)
                elif port.role is Role.FXO:
                    line = DahdiLine(name, LineKind.TRUNK, signalling, row)
                else:
                    line = DahdiLine(name, LineKind.STATION, signalling, row, extension=port.extension)
                ports.append(Port(row, ch, name))
                self.lines.append(line)
                self.where[name] = (si, offset + row)
            poller = SpanPoller(self.device_name, spanno, ports, signalling, self.sys, self.sink, codec, self.clock)
            poller.echo_taps = self.plan.echo_taps
            alarms = members[0][1].span_alarms()
            if alarms:
                reason = f"span {spanno}: {abi.alarm_text(alarms)}"
                poller.state.alarms, poller.state.reason = alarms, reason
                for p in ports:
                    signalling.set_down(p.row)
                for line in self.lines[-len(ports):]:
                    line.up, line.down_reason = False, reason
            self.spans.append(poller)
            self.offsets.append(offset)
            offset += len(ports)
        self.frame = np.zeros((offset, FRAME_SAMPLES), dtype=np.int16)

    def _sink_with_number(self) -> EventSink:
        """The sink, with the device's ``number`` as the dialled number of every incoming call."""
        number = str(self.settings.get("number") or "")
        if not number:
            return self.sink

        def post(event: Any) -> None:
            if isinstance(event, Ringing) and not event.dialed:
                event = dataclasses.replace(event, dialed=number)
            self.sink(event)
        return post

    def close(self) -> None:
        """Stop the pollers and close every channel (the kernel puts them on hook)."""
        for span in self.spans:
            span.stop()
            if isinstance(span.signalling, R2Signalling):
                if span.thread.is_alive():   # openr2 is not thread-safe: never free it under a running poller
                    log.error("event=dahdi_r2_not_freed device=%s span=%d reason=poller_still_running",
                              self.device_name, span.spanno)
                else:
                    span.signalling.close()
        for ch in self.channels:
            ch.close()
        self.opened = False

    def status(self) -> dict:
        """Ports, spans with their alarms and counters, for the panel and /healthz."""
        fxo = [p.channo for p in self.plan.ports if p.role is Role.FXO]
        fxs = [p.channo for p in self.plan.ports if p.role is Role.FXS]
        alarms = [s.state.reason for s in self.spans if s.state.reason]
        return {"device": self.device_name, "driver": self.name, "state": "up" if self.opened else "down",
                "fxo": config.format_ranges(fxo), "fxs": config.format_ranges(fxs), "country": self.plan.country,
                "e1": config.format_ranges([p.channo for p in self.plan.ports if p.role is Role.E1]),
                "lines": len(self.lines), "alarms": alarms, "spans": [s.status() for s in self.spans]}

    # ---- frame device (event loop, never blocks) ------------------------------------------------------------------
    def tick(self) -> None:
        """This tick's frame of every channel: one take and decode per span."""
        if not self._read_this_tick and self._live:
            self._follow([])
        self._read_this_tick = False
        for span, offset in zip(self.spans, self.offsets):
            self.frame[offset:offset + len(span.ports)] = span.rx.take_frame()

    def read_frames(self, lines: list[str], out: np.ndarray) -> None:
        """What the far ends said this tick."""
        self._read_this_tick = True
        if lines is not self._lines_seen:
            self._follow(lines)
        out[:] = self.frame[self._global_rows]

    def write_frames(self, lines: list[str], frames: np.ndarray) -> None:
        """What the box says, encoded once per span into the send buffers the pollers pace out."""
        if lines is not self._lines_seen:
            self._follow(lines)
        for span, rows, idx in self._plan_rows:
            span.tx.push_samples(rows, frames[idx])

    def _follow(self, lines: list[str]) -> None:
        """The engine's set of lines with a call changed: open and close buffers, tell the pollers."""
        self._lines_seen = lines
        self._global_rows = np.array([self.where[n][1] for n in lines], dtype=np.intp)
        per_span: dict[int, tuple[list[int], list[int]]] = {}
        for i, n in enumerate(lines):
            si, g = self.where[n]
            rows, idx = per_span.setdefault(si, ([], []))
            rows.append(g - self.offsets[si])
            idx.append(i)
        self._plan_rows = [(self.spans[si], np.array(r, dtype=np.intp), np.array(x, dtype=np.intp))
                           for si, (r, x) in sorted(per_span.items())]
        for si, span in enumerate(self.spans):
            span.set_live(set(per_span.get(si, ([], []))[0]))
        self._live = bool(lines)
