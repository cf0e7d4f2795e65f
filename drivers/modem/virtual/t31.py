"""A class 1 fax modem on a pty, made of spandsp's own T.31 modem emulation (libspandsp2, through ctypes): the DTE
runs T.30 over +FTM/+FRM/+FTH/+FRH, and the modem's line goes to a spandsp fax terminal (the far fax machine).

This is the independent class 1 implementation a class 1 driver is tested against (no Hotline code between the
pty and the line). The line is clocked in 20 ms steps at ``speed`` times real time (DTE software keeps T.30's
timing in real time: above about 2x the far machine starts to time out).

    line = T31Line(receive_tiff="/tmp/got.tif")      # a fax machine answers the DTE's ATD and keeps the pages
    run("efax -d", line.path, "-o1 -t 5550100 page1.tif")
    line.wait_far(30)  ->  0 (T.30 completion code: OK)

``ecm`` lets the far machine use error correction; ``far_is_fax=False`` has the DTE's call answered by silence.
"""
from __future__ import annotations

import ctypes
import os
import select
import threading
import time
import tty

import numpy as np

from hotline.drivers.common import spandsp

_P = ctypes.c_void_p
#: int at_tx_handler(at_state_t *s, void *user_data, const uint8_t *buf, size_t len)
AtTxHandler = ctypes.CFUNCTYPE(ctypes.c_int, _P, _P, ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t)
#: int modem_control_handler(t31_state_t *s, void *user_data, int op, const char *num)
ControlHandler = ctypes.CFUNCTYPE(ctypes.c_int, _P, _P, ctypes.c_int, _P)
_PCM = ctypes.POINTER(ctypes.c_int16)
_SIGNATURES = {
    "t31_init": (_P, [_P, AtTxHandler, _P, ControlHandler, _P, _P, _P]),
    "t31_free": (ctypes.c_int, [_P]),
    "t31_at_rx": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
    "t31_rx": (ctypes.c_int, [_P, _PCM, ctypes.c_int]),
    "t31_tx": (ctypes.c_int, [_P, _PCM, ctypes.c_int]),
    "t31_call_event": (ctypes.c_int, [_P, ctypes.c_int]),
    "t31_set_transmit_on_idle": (None, [_P, ctypes.c_int]),
}
# at_interpreter.h (spandsp 0.0.6)
CALL, ANSWER, HANGUP, OFFHOOK, ONHOOK, DTR, RTS, CTS = range(8)
EVENT_ALERTING, EVENT_CONNECTED, EVENT_ANSWERED = 1, 2, 3
FRAME = 160
ANSWER_DELAY = 0.5     # line seconds before the far machine picks up the DTE's call


class T31Line:
    """spandsp's T.31 modem on a pty, its line to a spandsp fax terminal; threads run until close()."""

    def __init__(self, ident: str = "+86 10 5555 0100", send_tiff: str | None = None,
                 receive_tiff: str | None = None, speed: float = 1.0, ecm: bool = False, far_is_fax: bool = True):
        self.lib = spandsp.load(_SIGNATURES, spandsp.SpandspError)
        spandsp.library()
        self.ident, self.send_tiff, self.receive_tiff, self.speed = ident, send_tiff, receive_tiff, speed
        self.ecm, self.far_is_fax = ecm, far_is_fax
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self._lock = threading.RLock()
        self._out = bytearray()
        self._cts = True
        self._answer_at: float | None = None
        self._line_time = 0.0
        self.controls: list[tuple[int, object]] = []
        self.far_code: int | None = None
        self._far_done = threading.Event()
        self._far: int | None = None
        self._callbacks = [AtTxHandler(self._at_tx), ControlHandler(self._control)]
        self.t31 = self.lib.t31_init(None, self._callbacks[0], None, self._callbacks[1], None, None, None)
        if not self.t31:
            raise spandsp.SpandspError("t31_init returned NULL")
        self.lib.t31_set_transmit_on_idle(self.t31, 1)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._pty_thread, daemon=True, name="t31-pty"),
                         threading.Thread(target=self._clock_thread, daemon=True, name="t31-line")]
        for t in self._threads:
            t.start()

    # -- the far fax machine ------------------------------------------------------------------------------
    def _far_machine(self, calling: bool) -> None:
        lib = spandsp.library()
        fax = lib.fax_init(None, 1 if calling else 0)
        lib.fax_set_transmit_on_idle(fax, 1)
        t30 = lib.fax_get_t30_state(fax)
        lib.t30_set_tx_ident(t30, self.ident.encode("ascii"))
        lib.t30_set_supported_modems(t30, int(spandsp.Modems.V27TER | spandsp.Modems.V29 | spandsp.Modems.V17))
        lib.t30_set_ecm_capability(t30, 1 if self.ecm else 0)
        handler = spandsp.PhaseEHandler(self._phase_e)
        self._callbacks.append(handler)
        lib.t30_set_phase_e_handler(t30, handler, None)
        if calling:
            lib.t30_set_tx_file(t30, os.fsencode(self.send_tiff or ""), -1, -1)
        else:
            lib.t30_set_rx_file(t30, os.fsencode(self.receive_tiff or os.devnull), -1)
        self._far = fax

    def _phase_e(self, _t30: int, _user: int, code: int) -> None:
        self.far_code = code
        self._far_done.set()

    def ring(self, times: int = 1, interval: float = 1.0) -> None:
        """The far machine calls the modem with ``send_tiff``: RING to the DTE ``times`` times, ``interval``
        seconds apart (a box that waits for caller ID between the rings answers after the second)."""
        with self._lock:
            self._far_machine(calling=True)
            self.lib.t31_call_event(self.t31, EVENT_ALERTING)
        for _ in range(times - 1):
            time.sleep(interval)
            with self._lock:
                self.lib.t31_call_event(self.t31, EVENT_ALERTING)

    def wait_far(self, timeout: float) -> int | None:
        """The far machine's T.30 completion code once its call ended (0 = OK), None on timeout."""
        self._far_done.wait(timeout)
        return self.far_code

    # -- spandsp's callbacks (under the lock) --------------------------------------------------------------
    def _at_tx(self, _s: int, _user: int, buf, length: int) -> int:
        self._out += ctypes.string_at(buf, length)
        return length

    def _control(self, _s: int, _user: int, op: int, num: int | None) -> int:
        value = ctypes.string_at(num).decode("ascii", "replace") if op == CALL and num else num
        self.controls.append((op, value))
        if op == CTS:
            self._cts = bool(num)
        elif op == CALL:
            if self.far_is_fax:     # otherwise the call is answered by something silent (a person, a voice line)
                self._far_machine(calling=False)
            self._answer_at = self._line_time + ANSWER_DELAY
        elif op == ANSWER:
            self.lib.t31_call_event(self.t31, EVENT_ANSWERED)
        return 0

    # -- threads -------------------------------------------------------------------------------------------
    def _pty_thread(self) -> None:
        while not self._stop.is_set():
            if self._cts:
                ready, _, _ = select.select([self.master], [], [], 0.01)
                if ready:
                    try:
                        data = os.read(self.master, 256)
                    except OSError:
                        data = b""
                    if data:
                        with self._lock:
                            self.lib.t31_at_rx(self.t31, data, len(data))
            else:
                time.sleep(0.005)    # CTS off: the DTE's bytes wait in the pty (flow control)
            with self._lock:
                out, self._out = bytes(self._out), bytearray()
            while out and not self._stop.is_set():
                try:
                    out = out[os.write(self.master, out):]
                except BlockingIOError:
                    time.sleep(0.002)
                except OSError:
                    break

    def _clock_thread(self) -> None:
        to_far, to_modem = np.zeros(FRAME, np.int16), np.zeros(FRAME, np.int16)
        start, steps = time.monotonic(), 0
        while not self._stop.is_set():
            steps += 1
            delay = start + steps * FRAME / 8000 / self.speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with self._lock:
                self._line_time = steps * FRAME / 8000
                if self._answer_at is not None and self._line_time >= self._answer_at:
                    self._answer_at = None
                    self.lib.t31_call_event(self.t31, EVENT_CONNECTED)
                got = self.lib.t31_tx(self.t31, to_far.ctypes.data_as(_PCM), FRAME)
                to_far[max(got, 0):] = 0
                if self._far is not None:
                    lib = spandsp.library()
                    got = lib.fax_tx(self._far, to_modem.ctypes.data_as(_PCM), FRAME)
                    to_modem[max(got, 0):] = 0
                    lib.fax_rx(self._far, to_far.ctypes.data_as(_PCM), FRAME)
                else:
                    to_modem[:] = 0
                self.lib.t31_rx(self.t31, to_modem.ctypes.data_as(_PCM), FRAME)

    def close(self) -> None:
        """Stop the threads and close the pty (spandsp's state is left to the process)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
