"""systemd's notify protocol: one datagram to $NOTIFY_SOCKET, no library needed."""
from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("hotline.notify")


class Notifier:
    """Sends READY/RELOADING/STOPPING/WATCHDOG when running under systemd (or a test socket)."""

    def __init__(self, env: dict[str, str] | None = None):
        env = dict(os.environ if env is None else env)
        self.address = env.get("NOTIFY_SOCKET") or None
        if self.address and self.address.startswith("@"):
            self.address = "\0" + self.address[1:]  # abstract namespace
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        self.watchdog_usec = int(usec) if usec.isdigit() and (not pid or pid == str(os.getpid())) else 0

    @property
    def enabled(self) -> bool:
        """True when a notify socket is configured."""
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half the configured timeout), or None."""
        return self.watchdog_usec / 2e6 if self.watchdog_usec else None

    def send(self, *fields: str) -> bool:
        """Send one notify message; failures are logged, never raised."""
        if not self.address:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(fields).encode(), self.address)
            return True
        except OSError as exc:
            log.warning("event=notify_failed error=%r", str(exc))
            return False

    def ready(self, status: str = "serving") -> bool:
        """READY=1."""
        return self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> bool:
        """RELOADING=1 with the monotonic timestamp systemd 253+ expects."""
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> bool:
        """STOPPING=1."""
        return self.send("STOPPING=1")

    def watchdog(self) -> bool:
        """WATCHDOG=1."""
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """STATUS=... shown by systemctl status."""
        return self.send(f"STATUS={text}")
