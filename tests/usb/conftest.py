"""A pyusb backend fake down to the endpoints (usb.backend.IBackend): devices by bus and address laid out as a
CDC-ACM modem (configuration 1: communication interface 0 with interrupt IN 0x83, data interface 1 with bulk
OUT 0x02 and bulk IN 0x81), a tiny AT responder behind the bulk endpoints, a "wedged" state in which the bulk
endpoints time out until a USB reset, scripted answers to open and reset, and a log of what was done."""
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
    wedged: bool = False                           # bulk transfers time out until the device is reset
    log: list[str] = field(default_factory=list)
    claimed: set[int] = field(default_factory=set)
    pending: bytearray = field(default_factory=bytearray)   # what the modem has to say on bulk IN


class Struct:
    """A descriptor: the given fields plus no extra descriptors."""

    def __init__(self, **fields):
        self.extra_descriptors = []
        self.__dict__.update(fields)


CONFIG = Struct(bLength=9, bDescriptorType=2, wTotalLength=67, bNumInterfaces=2, bConfigurationValue=1,
                iConfiguration=0, bmAttributes=0xA0, bMaxPower=50)
INTERFACES = [   # (descriptor, endpoints)
    (Struct(bLength=9, bDescriptorType=4, bInterfaceNumber=0, bAlternateSetting=0, bNumEndpoints=1,
            bInterfaceClass=2, bInterfaceSubClass=2, bInterfaceProtocol=1, iInterface=0),
     [Struct(bLength=7, bDescriptorType=5, bEndpointAddress=0x83, bmAttributes=3, wMaxPacketSize=16,
             bInterval=10, bRefresh=0, bSynchAddress=0)]),
    (Struct(bLength=9, bDescriptorType=4, bInterfaceNumber=1, bAlternateSetting=0, bNumEndpoints=2,
            bInterfaceClass=10, bInterfaceSubClass=0, bInterfaceProtocol=0, iInterface=0),
     [Struct(bLength=7, bDescriptorType=5, bEndpointAddress=0x02, bmAttributes=2, wMaxPacketSize=64,
             bInterval=0, bRefresh=0, bSynchAddress=0),
      Struct(bLength=7, bDescriptorType=5, bEndpointAddress=0x81, bmAttributes=2, wMaxPacketSize=64,
             bInterval=0, bRefresh=0, bSynchAddress=0)]),
]


def _timeout(what: str):
    return usb.core.USBTimeoutError(f"Operation timed out ({what})", -7, errno.ETIMEDOUT)


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

    def get_configuration_descriptor(self, dev: FakeDevice, config: int) -> Struct:
        return CONFIG

    def get_interface_descriptor(self, dev: FakeDevice, intf: int, alt: int, config: int) -> Struct:
        if alt != 0:   # one alternate setting per interface (pyusb iterates until IndexError, as libusb's backend)
            raise IndexError("invalid alternate setting")
        return INTERFACES[intf][0]

    def get_endpoint_descriptor(self, dev: FakeDevice, ep: int, intf: int, alt: int, config: int) -> Struct:
        return INTERFACES[intf][1][ep]

    def get_configuration(self, handle: Handle) -> int:
        return 1

    def claim_interface(self, handle: Handle, intf: int) -> None:
        handle.device.claimed.add(intf)
        handle.device.log.append(f"claim {intf}")

    def release_interface(self, handle: Handle, intf: int) -> None:
        handle.device.claimed.discard(intf)
        handle.device.log.append(f"release {intf}")

    def bulk_write(self, handle: Handle, ep: int, intf: int, data, timeout: int) -> int:
        d = handle.device
        assert (ep, intf) == (0x02, 1), f"bulk OUT is 0x02 on interface 1, not {ep:#x} on {intf}"
        if d.wedged:
            d.log.append("bulk OUT timeout")
            raise _timeout("bulk OUT")
        text = bytes(data)
        d.log.append(f"bulk OUT {text!r}")
        if text.strip().upper().startswith(b"AT"):
            d.pending += text + b"\r\nOK\r\n"          # echo on (E1), then the result code
        return len(text)

    def bulk_read(self, handle: Handle, ep: int, intf: int, buff, timeout: int) -> int:
        d = handle.device
        assert (ep, intf) == (0x81, 1), f"bulk IN is 0x81 on interface 1, not {ep:#x} on {intf}"
        if d.wedged or not d.pending:
            d.log.append("bulk IN timeout")
            raise _timeout("bulk IN")
        n = min(len(buff), len(d.pending))
        buff[:n] = type(buff)(buff.typecode, bytes(d.pending[:n]))
        del d.pending[:n]
        return n

    def reset_device(self, handle: Handle) -> None:
        d = handle.device
        if d.reset_error is not None:
            d.log.append("reset failed")
            code, err = d.reset_error
            raise usb.core.USBError("No such device (it may have been disconnected)" if err == errno.ENODEV
                                    else "Entity not found", code, err)
        d.log.append("reset")
        d.wedged = False
        d.claimed.clear()
        d.pending.clear()
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
