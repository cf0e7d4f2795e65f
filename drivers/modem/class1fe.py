"""The class 1 front end of spandsp's T.30 engine: one loop that turns what T.30 asks for (through its set_rx_type,
set_tx_type and send_hdlc callbacks) into modem steps (+FTH/+FRH frames, +FTM/+FRM data, +FTS silence, ATD, ATA),
and what the modem says back into T.30's frames, data and carrier news; T.30's clock runs in real time.

Nothing is done inside a callback: requests are queued and acted on by the loop. Every step has a deadline, T.30's
own timers bound the protocol, and the whole call has a time limit: a silent or babbling modem ends the call with
a reason, never a hang. faxclass1.Class1Fax sets up the modem and T.30 and runs this loop for one call.
"""
from __future__ import annotations

import collections
import ctypes
import enum
import logging
import threading
import time
from typing import Callable

from hotline.drivers.common import spandsp, spandsp_t30
from hotline.drivers.common.spandsp_t30 import FrontEnd, Signal, T30Modem

from .class1hdlc import HdlcDecoder, HdlcEncoder
from .class1link import DLE_ETX, Modulation, ModemReader, Result, is_final, modulation_code, stuff_frame
from .dle import shield
from .port import Port

log = logging.getLogger("hotline.fax.class1")

__all__ = ["Class1FrontEnd", "Failure", "Step", "Stopped"]

CAN = b"\x18"                 # any character ends +FRH/+FRM while the modem waits for a carrier
GAP = "+FTS=8"                # 80 ms of silence before a transmission (T.30 5.3.2.2 asks 75 ms +- 20)
CHUNK = 512                   # image bytes taken from T.30 at a time
RX_IDLE = 10.0                # seconds of quiet inside a received carrier before it counts as lost
RESULT_WAIT = 5.0             # seconds for the result after a frame or the end of data
ABORT_WAIT = 3.0
RX_RESTART = 0.05             # the shortest time between two +FRH/+FRM after an empty answer
T30_MODEMS = {T30Modem.V27TER: Modulation.V27TER, T30Modem.V29: Modulation.V29, T30Modem.V17: Modulation.V17}
LOG_LINES = 600


class Failure(enum.Enum):
    """Why a call did not deliver (NONE when it did)."""

    NONE = "none"
    DIAL = "dial"              # busy, no answer, no dial tone, no carrier on the dial
    NOT_A_FAX = "not_a_fax"    # the line answered but no fax machine spoke T.30
    PROTOCOL = "protocol"      # T.30 ended with an error (the reason has T.30's words)
    MODEM = "modem"            # the modem answered ERROR, garbage, or nothing
    TIMEOUT = "timeout"        # the call ran past its time limit
    STOPPED = "stopped"        # the owner stopped it
    INTERNAL = "internal"      # a fault in the box (logged)


class Step(enum.Enum):
    """What the modem is busy with (IDLE: command state, ready for the next thing T.30 asks)."""

    IDLE = "idle"
    COMMAND = "command"        # an AT command waits for its result
    DIAL = "dial"              # ATD: waits for CONNECT (a V.21 carrier: the far fax machine speaks)
    ANSWER = "answer"          # ATA: the modem sends CED, then CONNECT to send the first frames
    HDLC_TX = "hdlc_tx"        # a frame was sent: waits for CONNECT (more) or OK (the final one went)
    DATA_TX = "data_tx"        # +FTM: image or training data goes out
    HDLC_RX = "hdlc_rx"        # +FRH: waits for CONNECT, a frame, then OK/ERROR
    DATA_RX = "data_rx"        # +FRM: waits for CONNECT, then data until DLE ETX
    ABORT = "abort"            # a receive is being stopped: waits for its result
    PAUSE = "pause"            # silence T.30 asked for (a local timer)


class Stopped(Exception):
    """The owner set the abort event."""


class Class1FrontEnd:
    """The loop's state and steps; a subclass (faxclass1.Class1Fax) opens T.30, sets ``_t30`` and ``_result``."""

    def __init__(self, port: Port, command_timeout: float, dial_timeout: float, answer_timeout: float,
                 abort: threading.Event | None):
        self.port = port
        self.command_timeout, self.dial_timeout, self.answer_timeout = command_timeout, dial_timeout, answer_timeout
        self.abort = abort or threading.Event()
        self.reader = ModemReader()
        self.transcript: list[str] = []
        self._number = ""
        self._log: collections.deque[str] = collections.deque(maxlen=LOG_LINES)   # T.30's own log lines
        self._callbacks: list[object] = []
        self._events: collections.deque[tuple] = collections.deque()
        self._frames: collections.deque[bytes | None] = collections.deque()
        self._out = bytearray()            # stuffed image data the port has not taken yet
        self._encoder: HdlcEncoder | None = None   # ECM frames going out through +FTM (framed here)
        self._decoder: HdlcDecoder | None = None   # ECM frames coming in through +FRM
        self._t30: int | None = None
        self._code: int | None = None
        self._step = Step.IDLE
        self._sub = ""                    # the step's own stage ("connect", "frame", "result", "end" ...)
        self._deadline = float("inf")
        self._then: Callable[[], None] | None = None
        self._commands: list[tuple[str, Result]] = []
        self._offhook = False             # connected: T.30's receives may start
        self._line_used = False           # ATD or ATA went out: the call ends with ATH0 whatever happened
        self._tx_code: int | None = None  # +FTH code while the modem waits for our next frame
        self._want_rx: tuple[T30Modem, int, bool, bool] | None = None
        self._rx_code = 0
        self._rx_carrier: Step | None = None   # the receive step whose carrier T.30 was told is up
        self._rx_after = 0.0
        self._v21_next = False            # +FRM answered +FCERROR: the far end sent V.21, take it with +FRH=3
        self._frame = bytearray()
        self._frame_final = False
        self._data_left = True
        self._sent_bytes = 0
        self._rate = 300
        self._last_rx = 0.0
        self._finished = False
        self._heard_far = False
        self._result = None                # the call's Class1Result (faxclass1)
        self._on_page: Callable[[int], None] | None = None
        self._on_connected: Callable[[], None] | None = None

    def _read(self) -> None:
        if self.abort.is_set() and not self._finished:
            raise Stopped()
        data = self.port.read()
        if data:
            self.reader.feed(data)

    def _write(self, data: bytes, note: str | None = None) -> None:
        if note:
            self.transcript.append("> " + note)
        self.port.write(data)

    def _fail(self, failure: Failure, reason: str) -> None:
        """End the call with this reason (the first one counts)."""
        result = self._result
        if result is not None and result.failure is Failure.NONE:
            result.failure, result.reason = failure, reason
        self._finished = True

    # -- T.30's callbacks (inside t30 calls on this thread: only queue) -----------------------------------
    def _on_set_rx(self, _user: int, kind: int, bit_rate: int, short_train: int, use_hdlc: int) -> None:
        self._events.append(("rx", T30Modem(kind), bit_rate, bool(short_train), bool(use_hdlc)))

    def _on_set_tx(self, _user: int, kind: int, bit_rate: int, short_train: int, use_hdlc: int) -> None:
        self._events.append(("tx", T30Modem(kind), bit_rate, short_train, bool(use_hdlc)))

    def _on_send_hdlc(self, _user: int, msg, length: int) -> None:
        # T.30 may queue a frame before it asks for the transmitter (it waits for the far carrier to drop first)
        self._frames.append(ctypes.string_at(msg, length) if msg and length > 0 else None)

    def _on_phase_e(self, _t30: int, _user: int, code: int) -> None:
        if self._code is None:
            self._code = code

    def _on_phase_d(self, t30: int, _user: int, _result: int) -> int:
        try:
            stats = spandsp.T30Stats()
            spandsp.library().t30_get_transfer_statistics(t30, ctypes.byref(stats))
            pages = stats.pages_tx if self._result and self._result.calling else stats.pages_rx
            if self._on_page is not None and pages:
                self._on_page(pages)
        except Exception:   # never let an exception cross into C
            log.exception("class 1 fax: page callback failed")
        return 0

    def _on_log(self, _level: int, text: bytes | None) -> None:
        if text:
            self._log.append(text.decode("ascii", "replace").rstrip())

    # -- telling T.30 --------------------------------------------------------------------------------------
    def _status(self, status: FrontEnd) -> None:
        spandsp_t30.library().t30_front_end_status(self._t30, int(status))

    def _hdlc_signal(self, signal: Signal) -> None:
        spandsp_t30.library().t30_hdlc_accept(self._t30, None, int(signal), 1)

    def _data_signal(self, signal: Signal) -> None:
        spandsp_t30.library().t30_non_ecm_put_bit(self._t30, int(signal))

    # -- the loop ------------------------------------------------------------------------------------------
    def _loop(self, deadline: float) -> None:
        last = time.monotonic()
        while not self._finished:
            now = time.monotonic()
            if now > deadline:
                self._fail(Failure.TIMEOUT, f"the call ran past its limit of {self.time_limit:g} s")
                break
            self._read()
            self._advance(time.monotonic())
            now = time.monotonic()
            samples = int((now - last) * 8000)
            if samples > 0:
                last += samples / 8000
                spandsp_t30.library().t30_timer_update(self._t30, samples)
            if self._step is Step.IDLE and not self._finished:
                self._next()

    def _set(self, step: Step, sub: str = "", timeout: float | None = None) -> None:
        self._step, self._sub = step, sub
        self._deadline = time.monotonic() + timeout if timeout is not None else float("inf")

    def _next(self) -> None:
        """Start what T.30 asked for next (its queued requests), or keep listening as it wants."""
        while self._step is Step.IDLE and not self._finished and (self._events or self._frames):
            if not self._events:
                if self._tx_code is None and self._frames[0] is not None:
                    break        # the frame waits for T.30 to ask for the transmitter
                self._send_frame(self._frames.popleft())
                continue
            event = self._events.popleft()
            if event[0] == "rx":
                self._want_rx = None if event[1] in (T30Modem.NONE, T30Modem.DONE) else event[1:]
                self._v21_next = False
            else:
                self._start_tx(*event[1:])
        if self._step is Step.IDLE and not self._finished and self._want_rx and self._offhook \
                and not self._frames and time.monotonic() >= self._rx_after:
            self._start_rx()

    # ---- transmitting
    def _start_tx(self, kind: T30Modem, bit_rate: int, short_train: int, use_hdlc: bool) -> None:
        if kind is T30Modem.NONE:
            return
        if kind is T30Modem.DONE:
            self._finished = True
            return
        if kind is T30Modem.PAUSE:
            self._set(Step.PAUSE, timeout=max(short_train, 0) / 1000)
            return
        if kind is T30Modem.CNG:
            self._line_used = True
            self._write(f"ATD{self._number}\r".encode("ascii"), f"ATD{self._number}")
            self._set(Step.DIAL, "connect", self.dial_timeout)
            return
        if kind is T30Modem.CED:
            self._line_used = True
            self._write(b"ATA\r", "ATA")
            self._set(Step.ANSWER, "connect", self.answer_timeout)
            return
        if kind is T30Modem.V21:
            code, self._rate = 3, 300
        elif kind in T30_MODEMS:
            code, self._rate = modulation_code(T30_MODEMS[kind], bit_rate, bool(short_train)), bit_rate
        else:
            self._fail(Failure.PROTOCOL, f"T.30 asked for a modem class 1 cannot send ({kind.name})")
            return
        if use_hdlc and code == 3:
            if self._tx_code == code:
                return           # the modem already waits for our frames (after ATA, or between frames)
            self._commands = [(GAP, Result.OK), (f"+FTH={code}", Result.CONNECT)]
            self._then = lambda: setattr(self, "_tx_code", code)
        elif use_hdlc:           # ECM image frames: +FTM, the framing done here (200 ms of flags first)
            self._tx_code = None
            self._commands = [(GAP, Result.OK), (f"+FTM={code}", Result.CONNECT)]
            self._then = lambda: self._start_ecm_tx(code, bit_rate)
        else:
            self._tx_code = None
            self._commands = [(GAP, Result.OK), (f"+FTM={code}", Result.CONNECT)]
            self._then = self._start_data_tx
        self._next_command()

    def _next_command(self) -> None:
        text, _ = self._commands[0]
        self._write(f"AT{text}\r".encode("ascii"), "AT" + text)
        self._set(Step.COMMAND, text, self.command_timeout)

    def _start_ecm_tx(self, code: int, bit_rate: int) -> None:
        self._out.clear()
        self._sent_bytes = 0
        self._encoder = HdlcEncoder(preamble_flags=bit_rate // 40)
        self._tx_code = code

    def _send_frame(self, frame: bytes | None) -> None:
        if self._encoder is not None:     # ECM: frame it into the data stream; T.30 may give the next at once
            if frame is None:
                self._encoder.close()
                self._encoder, self._tx_code = None, None
                self._out += DLE_ETX
                self._data_left = False
                self.transcript.append(f"> ECM block: {self._sent_bytes} bytes of frames")
                self._set(Step.DATA_TX, "data")
            else:
                data = self._encoder.frame(frame)
                self._sent_bytes += len(data)
                self._out += shield(data)
                self._status(FrontEnd.SEND_STEP_COMPLETE)
            return
        if frame is None:         # T.30 ends the HDLC transmission
            if self._tx_code is None:
                self._status(FrontEnd.SEND_STEP_COMPLETE)      # the final frame already ended it
                return
            self._write(DLE_ETX, "<end of frames>")
            self._set(Step.HDLC_TX, "end", RESULT_WAIT)
            return
        if self._tx_code is None:
            self._fail(Failure.PROTOCOL, "T.30 sent a frame while the modem was not transmitting")
            return
        self.transcript.append(f"> frame {frame[:3].hex(' ')}{' ...' if len(frame) > 3 else ''} ({len(frame)} bytes)")
        self._write(stuff_frame(frame))
        self._frame_final = is_final(frame)
        self._set(Step.HDLC_TX, "frame", RESULT_WAIT + len(frame) * 16 / self._rate)

    def _start_data_tx(self) -> None:
        self._data_left, self._sent_bytes = True, 0
        self._out.clear()
        self._set(Step.DATA_TX, "data")

    def _pump(self) -> None:
        """Hand the modem image (or training) bytes as fast as the port takes them (the modem's flow control
        paces us); DLE ETX after the last."""
        buf = (ctypes.c_uint8 * CHUNK)()
        while True:
            if self._out:
                sent = self.port.write_some(bytes(self._out))
                del self._out[:sent]
                if self._out:
                    return
            if not self._data_left:
                if not self.transcript[-1].startswith("> ECM block"):
                    self.transcript.append(f"> {self._sent_bytes} data bytes, DLE ETX")
                self._set(Step.DATA_TX, "end", RESULT_WAIT + self._sent_bytes * 8 / self._rate)
                return
            n = spandsp_t30.library().t30_non_ecm_get_chunk(self._t30, buf, CHUNK)
            data = bytes(buf[:max(n, 0)])
            self._sent_bytes += len(data)
            self._out += shield(data)
            if n < CHUNK:
                self._data_left = False
                self._out += DLE_ETX

    # ---- receiving
    def _start_rx(self) -> None:
        kind, bit_rate, short_train, use_hdlc = self._want_rx
        if kind is T30Modem.V21 or self._v21_next:
            code, use_hdlc = 3, True
        elif kind in T30_MODEMS:
            code = modulation_code(T30_MODEMS[kind], bit_rate, short_train)
        else:
            self._want_rx = None
            return
        self._rx_code = code
        if self._decoder is not None:
            self._decoder.close()
        self._decoder = HdlcDecoder() if use_hdlc and code != 3 else None   # ECM frames come through +FRM
        cmd = f"+FRH={code}" if code == 3 else f"+FRM={code}"
        self._write(f"AT{cmd}\r".encode("ascii"), "AT" + cmd)
        self._set(Step.HDLC_RX if code == 3 else Step.DATA_RX, "connect")

    def _rx_connected(self) -> None:
        """CONNECT to +FRH/+FRM (or to ATD): the carrier is there; tell T.30 once per carrier."""
        self._last_rx = time.monotonic()
        if not self._heard_far and self._result is not None and self._result.calling and self._on_connected:
            self._on_connected()
        self._heard_far = True
        if self._step is Step.HDLC_RX:
            self._frame = bytearray()
            self._set(Step.HDLC_RX, "frame", RX_IDLE)
            if self._rx_carrier is not Step.HDLC_RX:
                self._carrier_down()
                self._rx_carrier = Step.HDLC_RX
                if self._rx_code != 3:
                    self._hdlc_signal(Signal.TRAINING_SUCCEEDED)
                self._hdlc_signal(Signal.CARRIER_UP)
                self._hdlc_signal(Signal.FRAMING_OK)
        else:
            self._carrier_down()
            self._set(Step.DATA_RX, "data", RX_IDLE)
            if self._decoder is not None:
                self._rx_carrier = Step.HDLC_RX
                self._hdlc_signal(Signal.TRAINING_SUCCEEDED)
                self._hdlc_signal(Signal.CARRIER_UP)
                self._hdlc_signal(Signal.FRAMING_OK)
            else:
                self._rx_carrier = Step.DATA_RX
                self._data_signal(Signal.TRAINING_SUCCEEDED)

    def _carrier_down(self) -> None:
        if self._rx_carrier is not None:
            carrier, self._rx_carrier = self._rx_carrier, None
            if carrier is Step.DATA_RX:
                self._data_signal(Signal.CARRIER_DOWN)
            else:
                self._hdlc_signal(Signal.CARRIER_DOWN)

    def _rx_ended(self, empty: bool) -> None:
        """A receive step is over; an empty answer (no carrier) waits a moment before T.30's next +FRH/+FRM."""
        self._carrier_down()
        if empty:
            self._rx_after = time.monotonic() + RX_RESTART
        self._set(Step.IDLE)

    # -- moving the current step on with what the modem said -------------------------------------------------
    def _advance(self, now: float) -> None:
        step = self._step
        if self._code is not None and step in (Step.DIAL, Step.ANSWER, Step.HDLC_RX, Step.DATA_RX) \
                and self._sub == "connect":
            self._abort_rx()         # T.30 has finished: stop waiting
            return
        if step is Step.IDLE and self._encoder is not None and self._out:
            sent = self.port.write_some(bytes(self._out))    # ECM frames leave while T.30 makes more
            del self._out[:sent]
        if step is Step.DATA_TX and self._sub == "data":
            self._pump()
        elif step in (Step.HDLC_RX, Step.DATA_RX) and self._sub in ("frame", "data"):
            self._take_data(now)
            return
        elif step is Step.PAUSE:
            if now >= self._deadline:
                self._set(Step.IDLE)
                self._status(FrontEnd.SEND_STEP_COMPLETE)
            return
        elif step is Step.HDLC_RX and self._sub == "connect" and self._events:
            self._abort_rx()         # T.30 wants something else (its timer ran out): stop listening
            return
        elif step is Step.DATA_RX and self._sub == "connect" and self._events:
            self._abort_rx()
            return
        line = self.reader.line()
        if line is None:
            if now > self._deadline:
                self._timed_out()
            return
        self.transcript.append("< " + line)
        result = Result.parse(line)
        if result is None or result is Result.RING:
            return
        self._on_result(result)

    def _abort_rx(self) -> None:
        self._write(CAN, "<CAN>")
        self._set(Step.ABORT, self._step.value, ABORT_WAIT)

    def _take_data(self, now: float) -> None:
        chunk = self.reader.data()
        if chunk.data:
            self._last_rx = now
            self._deadline = now + RX_IDLE
            if self._step is Step.HDLC_RX:
                self._frame += chunk.data
                if len(self._frame) > 2048:
                    self._fail(Failure.MODEM, "the modem sent an HDLC frame over 2 kB (garbage on the port)")
                    return
            elif self._decoder is not None:
                for frame, good in self._decoder.feed(chunk.data):
                    buf = (ctypes.c_uint8 * len(frame)).from_buffer_copy(frame)
                    spandsp_t30.library().t30_hdlc_accept(self._t30, buf, len(frame), 1 if good else 0)
            else:
                buf = (ctypes.c_uint8 * len(chunk.data)).from_buffer_copy(chunk.data)
                spandsp_t30.library().t30_non_ecm_put_chunk(self._t30, buf, len(chunk.data))
        if chunk.ended:
            self._sub = "result" if self._step is Step.HDLC_RX else "end"
            self._deadline = now + RESULT_WAIT
        elif now > self._deadline:
            self.transcript.append(f"- no data for {RX_IDLE:g} s inside the carrier")
            self._abort_rx()

    def _on_result(self, result: Result) -> None:
        step, sub = self._step, self._sub
        if step is Step.COMMAND:
            text, want = self._commands[0]
            if result is not want:
                self._fail(Failure.MODEM, f"the modem answered {result.value} to AT{text}")
                return
            self._commands.pop(0)
            if self._commands:
                self._next_command()
            else:
                self._set(Step.IDLE)
                then, self._then = self._then, None
                if then is not None:
                    then()
        elif step is Step.DIAL:
            self._result.dial_result = result.value
            if result is Result.CONNECT:
                self._offhook = True
                self._step, self._rx_code = Step.HDLC_RX, 3
                self._rx_connected()
            elif result is not Result.OK:
                self._set(Step.IDLE)
                self._fail(Failure.DIAL, f"the modem answered {result.value} to the dial")
        elif step is Step.ANSWER:
            self._result.dial_result = result.value
            if result is Result.CONNECT:
                self._offhook, self._tx_code, self._rate = True, 3, 300
                self._heard_far = True
                self._set(Step.IDLE)
                if self._on_connected is not None:
                    self._on_connected()
                self._status(FrontEnd.SEND_STEP_COMPLETE)   # CED went out; T.30 sends its first frames now
            elif result is not Result.OK:
                self._set(Step.IDLE)
                self._fail(Failure.DIAL, f"the modem answered {result.value} to ATA")
        elif step is Step.HDLC_TX:
            if sub == "frame" and result is Result.CONNECT and not self._frame_final:
                self._set(Step.IDLE)
                self._status(FrontEnd.SEND_STEP_COMPLETE)
            elif result is Result.OK:
                self._tx_code = None
                self._set(Step.IDLE)
                self._status(FrontEnd.SEND_STEP_COMPLETE)
            elif result is not Result.CONNECT:
                self._tx_failed(result, "a frame")
        elif step is Step.DATA_TX:
            if result is Result.OK and sub == "end":
                self._set(Step.IDLE)
                self._status(FrontEnd.SEND_STEP_COMPLETE)
            elif result is not Result.CONNECT:
                self._tx_failed(result, "image data")
        elif step is Step.HDLC_RX:
            self._hdlc_rx_result(result)
        elif step is Step.DATA_RX:
            if sub == "connect" and result is Result.CONNECT:
                self._rx_connected()
            elif sub == "connect" and result in (Result.FCERROR, Result.FRH3):
                self._v21_next = True           # the far end is sending a V.21 command instead
                if result is Result.FRH3:
                    self._step = Step.HDLC_RX
                else:
                    self._set(Step.IDLE)
            else:
                self._rx_ended(sub == "connect")
        elif step is Step.ABORT:
            if result is Result.CONNECT:          # the carrier came just as we stopped: read what it brings
                self._step = Step.HDLC_RX if sub == Step.HDLC_RX.value else Step.DATA_RX
                self._rx_connected()
                return
            if sub in (Step.DIAL.value, Step.ANSWER.value):
                self._fail(Failure.NOT_A_FAX, "no fax machine answered")
                return
            self._step = Step.HDLC_RX if sub == Step.HDLC_RX.value else Step.DATA_RX
            self._rx_ended(True)

    def _hdlc_rx_result(self, result: Result) -> None:
        sub = self._sub
        if sub == "connect":
            if result is Result.CONNECT:
                self._rx_connected()
            else:
                self._rx_ended(True)          # NO CARRIER / ERROR: nothing this time
            return
        if sub != "result":
            return
        frame = bytes(self._frame[:-2]) if len(self._frame) >= 2 else b""   # the modem passes the FCS along
        good = result is Result.OK
        if result not in (Result.OK, Result.ERROR):
            self._rx_ended(False)
            return
        self.transcript.append(f"< frame {frame[:3].hex(' ')} ({len(frame)} bytes, {'good' if good else 'bad FCS'})")
        self._v21_next = False
        if frame:
            buf = (ctypes.c_uint8 * len(frame)).from_buffer_copy(frame)
            spandsp_t30.library().t30_hdlc_accept(self._t30, buf, len(frame), 1 if good else 0)
        if good and is_final(frame):
            self._rx_ended(False)              # the modem said OK once the carrier had dropped
        elif self._events or not self._want_rx or self._finished:
            self._set(Step.IDLE)
        else:                                  # more frames in this carrier: ask for the next at once
            self._write(f"AT+FRH={self._rx_code}\r".encode("ascii"), f"AT+FRH={self._rx_code}")
            self._set(Step.HDLC_RX, "connect")

    def _tx_failed(self, result: Result, what: str) -> None:
        """A transmission ended badly: NO CARRIER is the line (the far end hung up), anything else the modem."""
        self._set(Step.IDLE)
        if result is Result.NO_CARRIER:
            self._fail(Failure.PROTOCOL, f"the line dropped (NO CARRIER) while sending {what}")
        else:
            self._fail(Failure.MODEM, f"the modem answered {result.value} while sending {what}")

    def _timed_out(self) -> None:
        step, sub = self._step, self._sub
        if step is Step.DIAL:
            self._write(CAN, "<CAN>")
            self._fail(Failure.NOT_A_FAX if self._result.dial_result == "" else Failure.DIAL,
                       f"no fax machine answered within {self.dial_timeout:g} s of dialling")
        elif step is Step.ANSWER:
            self._fail(Failure.MODEM, f"the modem did not connect within {self.answer_timeout:g} s of ATA")
        elif step is Step.COMMAND:
            self._fail(Failure.MODEM, f"the modem gave no result to AT{sub} within {self.command_timeout:g} s")
        elif step is Step.ABORT:
            self.transcript.append("- no result to the stop: the modem is taken to be in command state")
            self._step = Step.HDLC_RX if sub == Step.HDLC_RX.value else Step.DATA_RX
            self._rx_ended(True)
        elif step in (Step.HDLC_RX, Step.DATA_RX):
            self._rx_ended(False)
        else:
            self._fail(Failure.MODEM, f"the modem gave no result while {step.value} ({sub}) in time")

