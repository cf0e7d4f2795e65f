"""pyserial URL handler for virtualmodem://PROFILE?name=NAME (found by pyserial through this module's name).

PROFILE is a name in hotline.drivers.modem.profiles.PROFILES; NAME picks the
line (default: the profile name), shared with far_end(NAME). Writes block
while the modem's audio buffer is full, like CTS flow control; closing the
port or dropping DTR hangs up, like a real tty with HUPCL and &D2.
"""
from __future__ import annotations

import time
import urllib.parse

from serial.serialutil import PortNotOpenError, SerialBase, SerialException, SerialTimeoutException

from hotline.drivers.modem.profiles import PROFILES
from hotline.drivers.modem.virtual import lines
from hotline.drivers.modem.virtual.modem import VirtualModem


def parse_url(url: str) -> tuple[str, str]:
    """Return (profile, line name) from virtualmodem://PROFILE?name=NAME, or raise SerialException."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "virtualmodem":
        raise SerialException(f"{url!r}: expected virtualmodem://PROFILE?name=NAME")
    profile = parts.netloc or parts.path.lstrip("/")
    if profile not in PROFILES:
        raise SerialException(f"{url!r}: unknown modem profile {profile!r}; known: {', '.join(PROFILES)}")
    options = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    unknown = set(options) - {"name"}
    if unknown:
        raise SerialException(f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}; only name= is known")
    name = options.get("name", [profile])[0] or profile
    return profile, name


class Serial(SerialBase):
    """A pyserial port whose other side is a VirtualModem."""

    def __init__(self, *args, **kwargs) -> None:
        self._modem: VirtualModem | None = None
        self._generation = -1
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        """Attach to the named line's modem; fails while the device is unplugged."""
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        profile, name = parse_url(self._port)
        try:
            modem = lines.modem_for(name, PROFILES[profile])
        except ValueError as exc:
            raise SerialException(str(exc)) from None
        if not modem.plugged:
            raise SerialException(f"could not open port {self._port}: [Errno 2] No such file or directory (unplugged)")
        self._modem, self._generation = modem, modem.generation
        self.is_open = True
        self._update_dtr_state()

    def close(self) -> None:
        """Close the port; the modem hangs up (HUPCL)."""
        if self.is_open and self._alive(raise_=False):
            with self._modem.lock:
                self._modem.go_on_hook()
        self.is_open = False
        super().close()

    def _reconfigure_port(self) -> None:
        """Speed and framing mean nothing on a virtual line."""

    def _alive(self, raise_: bool = True) -> bool:
        modem = self._modem
        ok = modem is not None and modem.plugged and modem.generation == self._generation
        if not ok and raise_:
            raise SerialException("device reports readiness to read but returned no data "
                                  "(device disconnected or multiple access on port?)")
        return ok

    @property
    def in_waiting(self) -> int:
        """Bytes ready to read."""
        if not self.is_open:
            raise PortNotOpenError()
        self._alive()
        return self._modem.waiting()

    def read(self, size: int = 1) -> bytes:
        """Read up to `size` bytes, honouring the port timeout (None blocks, 0 polls)."""
        if not self.is_open:
            raise PortNotOpenError()
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        data = bytearray()
        while len(data) < size:
            self._alive()
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            chunk = self._modem.read_to_dte(size - len(data), 0.2 if left is None else min(left, 0.2))
            data += chunk
            if deadline is not None and time.monotonic() >= deadline:
                break
        if not data:
            self._alive()
        return bytes(data)

    def write(self, data: bytes) -> int:
        """Write bytes; blocks while the modem's audio buffer is full (write_timeout applies)."""
        if not self.is_open:
            raise PortNotOpenError()
        data = bytes(data)
        deadline = None if self._write_timeout is None else time.monotonic() + self._write_timeout
        view = memoryview(data)
        while view:
            self._alive()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise SerialTimeoutException("Write timeout")
            if not self._modem.wait_room(0.2 if left is None else min(left, 0.2)):
                continue
            room = self._modem.tx_room()
            self._modem.from_dte(bytes(view[:room]))
            view = view[room:]
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered on this side."""

    def reset_input_buffer(self) -> None:
        """Drop bytes the modem sent that were not read yet."""
        if not self.is_open:
            raise PortNotOpenError()
        self._alive()
        self._modem.read_to_dte(1 << 30, 0)

    def reset_output_buffer(self) -> None:
        """Nothing is buffered on this side."""

    @property
    def out_waiting(self) -> int:
        """Always 0: writes go straight to the modem."""
        return 0

    def _update_dtr_state(self) -> None:
        if self.is_open and not self._dtr_state and self._alive(raise_=False):
            with self._modem.lock:
                self._modem.go_on_hook()

    def _update_rts_state(self) -> None:
        """RTS is not used."""

    def _update_break_state(self) -> None:
        """Break is not used."""

    @property
    def cts(self) -> bool:
        """Clear to send while the modem's audio buffer has room."""
        self._alive()
        return self._modem.tx_room() > 0

    @property
    def dsr(self) -> bool:
        """The modem is there."""
        return self._alive(raise_=False)

    @property
    def ri(self) -> bool:
        """Ring indicator is not emulated (RING arrives as text)."""
        return False

    @property
    def cd(self) -> bool:
        """Carrier detect: a call is up."""
        self._alive()
        return self._modem.off_hook
