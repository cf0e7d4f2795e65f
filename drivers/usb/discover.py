"""What the panel's "add device", ``hotline devices probe`` and the modem driver's ``probe()`` show: voice modems
plugged into this box, each as a ready-made device entry (driver, port, profile), plus every serial port."""
from __future__ import annotations

from typing import Any

from .ids import Kind
from .sysfs import UsbSerialDevice, scan


def device_entry(dev: UsbSerialDevice) -> dict[str, Any]:
    """One discovered USB device as a plain dict (JSON for the panel, a row for the CLI)."""
    known = dev.known
    usable = known is None or known.usable
    return {
        "driver": "modem",
        "port": dev.stable_port,
        "tty": dev.tty,
        "by_id": list(dev.by_id),
        "profile": dev.profile,
        "name": dev.name,
        "usb_id": dev.id,
        "manufacturer": dev.manufacturer,
        "product": dev.product,
        "serial": dev.serial,
        "usb_port": dev.port_path,
        "bus": dev.bus,
        "address": dev.address,
        "known": known is not None,
        "kind": known.kind.value if known is not None else "unknown",
        "voice": known.kind is Kind.VOICE_MODEM if known is not None else None,
        "usable": usable and dev.tty is not None,
        "note": (known.note if known is not None else
                 "not in Hotline's table of modems: the driver identifies it when it opens (profile auto)"),
        "source": known.source if known is not None else "",
    }


def probe_devices(include_unknown: bool = True, sys_dir: str | None = None,
                  dev_dir: str | None = None) -> list[dict[str, Any]]:
    """USB modems on this box, known ones first; with ``include_unknown`` also other USB devices with a serial
    node (a modem missing from the table, or a USB-serial adapter with a modem behind it)."""
    found = scan(sys_dir, dev_dir, include_unknown=include_unknown)
    found.sort(key=lambda d: (d.known is None, d.port_path))
    return [device_entry(d) for d in found]


def probe() -> list[dict[str, Any]]:
    """For the modem driver's ``Driver.probe``: usable USB modems as short device sections (driver, port,
    profile) with what they are (modem, usb_id)."""
    return [{"driver": "modem", "port": e["port"], "profile": e["profile"], "modem": e["name"], "usb_id": e["usb_id"]}
            for e in probe_devices(include_unknown=True) if e["usable"]]


def serial_ports() -> list[dict[str, Any]]:
    """Every serial port pyserial sees (on-board ttyS*, USB, ...), with what the port says about itself."""
    from serial.tools import list_ports
    out = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        out.append({"port": p.device, "description": p.description or "", "hwid": p.hwid or "",
                    "usb_id": f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None and p.pid is not None else ""})
    return out
