"""The serial port of one modem: the only pyserial code. Opened with ``serial_for_url`` on the modem's own thread
(a device path, a /dev/serial/by-id name or any pyserial URL such as ``virtualmodem://``); every error becomes
PortGone."""
from __future__ import annotations

import importlib
import os
import time
from typing import Any, Callable

import serial

BY_ID = "/dev/serial/by-id"
READ_TIMEOUT = 0.01  # seconds a read waits: the thread's loop runs at least this often


class PortGone(Exception):
    """The port cannot be opened or stopped working (unplugged, I/O error)."""


def resolve(port: str) -> str:
    """The URL or path to open: a bare /dev/serial/by-id name gets its folder; URLs and paths stay."""
    if "://" in port or port.startswith("/") or port.startswith("COM"):
        return port
    return os.path.join(BY_ID, port)


def is_url(port: str) -> bool:
    """True for a pyserial URL (``scheme://``), False for a device node."""
    return "://" in port


class Port:
    """One open serial port; ``read`` waits at most READ_TIMEOUT, ``write`` sends everything or raises PortGone."""

    def __init__(self, port: str, opener: Callable[..., Any] | None = None):
        self.name = resolve(port)
        self._opener = opener or serial.serial_for_url
        self._ser: Any = None

    def open(self) -> None:
        """Open the port (raises PortGone naming it)."""
        if self.name.startswith("virtualmodem://"):
            try:  # the emulator ships with the driver, like the sim card (looked up by name: it is optional)
                register = importlib.import_module("hotline.drivers.modem.virtual").register
            except (ImportError, AttributeError) as exc:
                raise PortGone(f"cannot open {self.name}: the modem emulator is not installed ({exc})") from exc
            register()
        try:
            self._ser = self._opener(self.name, baudrate=115200, timeout=READ_TIMEOUT, write_timeout=2.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortGone(f"cannot open {self.name}: {exc}") from exc

    @property
    def is_open(self) -> bool:
        """True while the port is open."""
        return self._ser is not None

    def read(self, limit: int = 4096) -> bytes:
        """What arrived (up to ``limit`` bytes), b"" after READ_TIMEOUT of quiet."""
        ser = self._require()
        try:
            waiting = ser.in_waiting
            return ser.read(min(limit, waiting) if waiting else 1)
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            raise PortGone(f"{self.name}: read failed: {exc}") from exc

    def write(self, data: bytes) -> None:
        """Send bytes."""
        ser = self._require()
        try:
            ser.write(data)
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            raise PortGone(f"{self.name}: write failed: {exc}") from exc

    def write_some(self, data: bytes) -> int:
        """Send what the port takes now without waiting (flow control, or a pty reader that stopped, may take
        nothing); returns the count sent. A URL port without a file descriptor takes everything."""
        ser = self._require()
        fd = getattr(ser, "fd", None)
        try:
            if not isinstance(fd, int):
                ser.write(data)
                return len(data)
            return os.write(fd, data)
        except BlockingIOError:
            return 0
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            raise PortGone(f"{self.name}: write failed: {exc}") from exc

    def drop_dtr(self, seconds: float = 0.5) -> bool:
        """Hang up by dropping DTR; False where the port has no modem-control lines (a pty, a URL)."""
        ser = self._require()
        try:
            ser.dtr = False
            time.sleep(seconds)
            ser.dtr = True
            return True
        except (serial.SerialException, OSError, ValueError, AttributeError, NotImplementedError):
            return False

    def close(self) -> None:
        """Close (never raises)."""
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:  # closing a port that vanished must not stop the recovery
                pass

    def _require(self) -> Any:
        if self._ser is None:
            raise PortGone(f"{self.name} is not open")
        return self._ser
