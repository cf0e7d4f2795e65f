"""A pyusb backend fake at the device level (usb.backend.IBackend): devices by bus and address, each with a
scripted answer to open and reset, and a log of what was done to it."""
from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Callable

import pytest
import usb.backend
import usb.core


@dataclass(eq=False)
class FakeDevice:
    """One device the fake backend enumerates."""

    vid: int
    pid: int
    bus: int
    address: int
    open_error: int | None = None                 # errno raised by open (EACCES: no permission on the node)
    reset_error: tuple[int, int] | None = None     # (libusb code, errno) raised by reset
    on_reset: Callable[[], None] | None = None     # what a reset does to the world (re-enumeration in sysfs)
    log: list[str] = field(default_factory=list)


class Descriptor:
    """A device descriptor with every field pyusb's Device reads."""

    def __init__(self, d: FakeDevice):
        self.bLength, self.bDescriptorType, self.bcdUSB = 18, 1, 0x0200
        self.bDeviceClass, self.bDeviceSubClass, self.bDeviceProtocol = 2, 0, 0
        self.bMaxPacketSize0, self.idVendor, self.idProduct, self.bcdDevice = 64, d.vid, d.pid, 0x0100
        self.iManufacturer, self.iProduct, self.iSerialNumber, self.bNumConfigurations = 1, 2, 3, 1
        self.address, self.bus, self.port_number, self.port_numbers, self.speed = d.address, d.bus, 4, (4,), 2


class Handle:
    """An open device handle."""

    def __init__(self, d: FakeDevice):
        self.device = d


class FakeBackend(usb.backend.IBackend):
    """Enumerates the given devices; open/close/reset act on them as libusb would."""

    def __init__(self, *devices: FakeDevice):
        super().__init__()
        self.devices = list(devices)

    def enumerate_devices(self):
        return iter(list(self.devices))

    def get_device_descriptor(self, dev: FakeDevice) -> Descriptor:
        return Descriptor(dev)

    def open_device(self, dev: FakeDevice) -> Handle:
        if dev not in self.devices:
            raise usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)
        if dev.open_error is not None:
            raise usb.core.USBError("Access denied (insufficient permissions)", -3, dev.open_error)
        dev.log.append("open")
        return Handle(dev)

    def close_device(self, handle: Handle) -> None:
        handle.device.log.append("close")

    def release_interface(self, handle: Handle, intf: int) -> None:
        handle.device.log.append(f"release {intf}")

    def reset_device(self, handle: Handle) -> None:
        d = handle.device
        if d.reset_error is not None:
            d.log.append("reset failed")
            code, err = d.reset_error
            raise usb.core.USBError("No such device (it may have been disconnected)" if err == errno.ENODEV
                                    else "Entity not found", code, err)
        d.log.append("reset")
        if d.on_reset is not None:
            d.on_reset()


@pytest.fixture
def fake_usb():
    """fake_usb(*FakeDevice) -> a FakeBackend to pass as ``backend=``."""
    return FakeBackend


@pytest.fixture
def usb_device():
    """usb_device(vid, pid, bus=, address=, ...) -> a FakeDevice for fake_usb."""
    return FakeDevice
