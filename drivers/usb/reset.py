"""Resets a wedged USB modem through pyusb (a USB port reset, as on a replug), for the modem driver's recovery.

The result says what happened and nothing more: RESET only when libusb reported the reset done. After a
reset the kernel may give the modem a new serial node (ttyACM0 -> ttyACM1); with ``settle_s`` the function
waits for the device in the same USB socket to show a serial node again and reports it in ``tty_after``.
"""
from __future__ import annotations

import enum
import errno
import logging
import time
from dataclasses import dataclass
from typing import Any

from .sysfs import TtyKind, UsbSerialDevice, dev_root, device_for_tty, scan, sys_root

log = logging.getLogger("hotline.drivers.usb")


class ResetOutcome(enum.Enum):
    """How a reset went."""

    RESET = "reset"                # libusb reset the device
    REENUMERATED = "reenumerated"  # libusb: the device re-enumerated or vanished during the reset (look again)
    NOT_FOUND = "not_found"        # the serial node does not exist now
    NOT_USB = "not_usb"            # the serial node is not behind a USB device (ttyS*, a pty, the emulator)
    GONE = "gone"                  # sysfs knew the device, libusb finds it no more (unplugged)
    DENIED = "denied"              # no write access to /dev/bus/usb/BBB/DDD
    NO_BACKEND = "no_backend"      # libusb-1.0 is not installed
    FAILED = "failed"              # libusb refused the reset for another reason


@dataclass(frozen=True)
class ResetResult:
    """What ``reset_for_tty`` did, with a reason a technician can act on."""

    outcome: ResetOutcome
    tty: str
    reason: str = ""
    device: UsbSerialDevice | None = None
    tty_after: str | None = None   # the serial node seen after the reset (with settle_s), else None

    @property
    def ok(self) -> bool:
        """True only when the reset was done."""
        return self.outcome is ResetOutcome.RESET


def _classify(exc: Exception) -> tuple[ResetOutcome, str]:
    code = getattr(exc, "errno", None)
    if code == errno.ENODEV:
        return ResetOutcome.GONE, f"the device is gone ({exc})"
    if code in (errno.EACCES, errno.EPERM):
        return ResetOutcome.DENIED, (f"permission denied ({exc}): the hotline user needs write access to "
                                     "/dev/bus/usb (etc/udev/70-hotline-modems.rules gives it to group dialout)")
    if code == errno.ENOENT:
        return ResetOutcome.REENUMERATED, f"the device re-enumerated or was unplugged during the reset ({exc})"
    return ResetOutcome.FAILED, str(exc) or type(exc).__name__


def _wait_for_tty(port_path: str, settle_s: float, sys_dir: str, dev_dir: str) -> str | None:
    deadline = time.monotonic() + settle_s
    while True:
        for d in scan(sys_dir, dev_dir, include_unknown=True):
            if d.port_path == port_path and d.tty:
                return d.tty
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def reset_device(device: UsbSerialDevice, backend: Any = None) -> tuple[ResetOutcome, str]:
    """Reset one USB device found by its bus, address, VID and PID; (outcome, reason)."""
    import usb.core
    import usb.util
    try:
        found = usb.core.find(bus=device.bus, address=device.address, idVendor=device.vid, idProduct=device.pid,
                              backend=backend)
    except usb.core.NoBackendError:
        return ResetOutcome.NO_BACKEND, "libusb-1.0 is not installed (Debian package libusb-1.0-0)"
    except (usb.core.USBError, OSError) as exc:
        return _classify(exc)
    if found is None:
        return ResetOutcome.GONE, (f"no USB device {device.id} at bus {device.bus} address {device.address} "
                                   "any more (unplugged, or re-enumerated)")
    try:
        found.reset()
    except (usb.core.USBError, OSError) as exc:
        return _classify(exc)
    finally:
        try:
            usb.util.dispose_resources(found)
        except (usb.core.USBError, OSError):
            pass   # the handle of a device that just went away: nothing to release
    return ResetOutcome.RESET, f"USB reset of {device.id} at bus {device.bus} address {device.address}"


def reset_for_tty(tty_path: str, backend: Any = None, settle_s: float = 0.0, sys_dir: str | None = None,
                  dev_dir: str | None = None) -> ResetResult:
    """Reset the USB device behind a serial node (a /dev path or a by-id link); blocking: call it off the loop."""
    if "://" in tty_path:
        return ResetResult(ResetOutcome.NOT_USB, tty_path, f"{tty_path} is a pyserial URL, not a device node")
    root, dev = sys_dir or sys_root(), dev_dir or dev_root()
    owner = device_for_tty(tty_path, root, dev)
    if owner.kind is TtyKind.MISSING:
        return ResetResult(ResetOutcome.NOT_FOUND, tty_path, f"{tty_path}: no such serial device now")
    if owner.kind is TtyKind.NOT_USB or owner.device is None:
        return ResetResult(ResetOutcome.NOT_USB, tty_path, f"{tty_path} ({owner.tty}) is not a USB device")
    outcome, reason = reset_device(owner.device, backend)
    after = None
    if settle_s > 0 and outcome in (ResetOutcome.RESET, ResetOutcome.REENUMERATED):
        after = _wait_for_tty(owner.device.port_path, settle_s, root, dev)
        if after is None:
            reason += f"; no serial node in USB port {owner.device.port_path} within {settle_s:g} s"
    return ResetResult(outcome, tty_path, reason, owner.device, after)


def reset_for_port(port: str, settle_s: float = 5.0, backend: Any = None) -> bool:
    """The modem driver's USB recovery: reset the USB device behind ``port`` (a /dev path or by-id link) and wait
    up to ``settle_s`` for its serial node to come back; logs the outcome; True only when the reset was done.
    Blocking (libusb, sysfs): call it from the modem's thread, never on the event loop."""
    try:
        result = reset_for_tty(port, backend=backend, settle_s=settle_s)
    except Exception as exc:   # pyusb itself missing or broken: recovery must not kill the modem's thread
        log.error("event=usb_reset port=%s outcome=failed reason=%r", port, f"{type(exc).__name__}: {exc}")
        return False
    dev = result.device
    where = f" usb={dev.id} bus={dev.bus} address={dev.address} usb_port={dev.port_path}" if dev else ""
    (log.warning if result.ok else log.error)(
        "event=usb_reset port=%s outcome=%s%s tty_after=%s reason=%r", port, result.outcome.value, where,
        result.tty_after or "-", result.reason)
    return result.ok
