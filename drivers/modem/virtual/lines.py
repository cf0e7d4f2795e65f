"""The registry of virtual lines by name: one far end and (once a port is opened) one modem per name."""
from __future__ import annotations

import threading

from hotline.drivers.modem.profiles import ChipsetProfile
from hotline.drivers.modem.virtual.far_end import FarEnd
from hotline.drivers.modem.virtual.modem import VirtualModem

_lock = threading.Lock()
_far: dict[str, FarEnd] = {}
_modems: dict[str, VirtualModem] = {}


def far_end(name: str) -> FarEnd:
    """The far end of line `name` (created on first use, before or after the port is opened)."""
    with _lock:
        if name not in _far:
            _far[name] = FarEnd(name)
        return _far[name]


def modem_for(name: str, profile: ChipsetProfile) -> VirtualModem:
    """The modem of line `name`, created with `profile` on first open (ValueError if opened as another profile)."""
    far = far_end(name)
    with _lock:
        modem = _modems.get(name)
        if modem is None:
            modem = _modems[name] = VirtualModem(profile, far)
        elif modem.profile.name != profile.name:
            raise ValueError(f"virtual modem {name!r} is a {modem.profile.name} modem, not {profile.name}")
        return modem


def existing_modem(name: str) -> VirtualModem | None:
    """The modem of line `name` if a port has created it."""
    with _lock:
        return _modems.get(name)


def forget(name: str) -> None:
    """Stop and drop line `name` (its far end too)."""
    with _lock:
        modem = _modems.pop(name, None)
        _far.pop(name, None)
    if modem is not None:
        modem.shutdown()


def forget_all() -> None:
    """Stop every virtual line (test teardown)."""
    with _lock:
        names = set(_far) | set(_modems)
    for name in names:
        forget(name)
