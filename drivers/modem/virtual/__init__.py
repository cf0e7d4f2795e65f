"""A virtual V.253 voice modem for tests: a pyserial URL handler, a scriptable far end and a pty runner.

    from hotline.drivers.modem import virtual
    virtual.register()                                   # teaches pyserial virtualmodem://
    port = serial.serial_for_url("virtualmodem://usr?name=line1", timeout=1)
    far = virtual.far_end("line1")                       # ring(), send_dtmf(), speak(), heard(), hangup() ...
"""
from __future__ import annotations

from hotline.drivers.modem.virtual.far_end import CallState, FarEnd, LineTone
from hotline.drivers.modem.virtual.lines import far_end, forget, forget_all

PACKAGE = "hotline.drivers.modem.virtual"

__all__ = ["CallState", "FarEnd", "LineTone", "far_end", "forget", "forget_all", "register"]


def register() -> None:
    """Let serial.serial_for_url() open virtualmodem:// URLs (idempotent)."""
    import serial

    if PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(PACKAGE)
