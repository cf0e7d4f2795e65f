"""The fake DAHDI kernel behaves as the real one at the syscall seam: channel selection, ELAST until the event is read,
EAGAIN, POLLPRI, the signalling of each port kind, ring cadences, on-hook transfer, polarity, dialling, gains."""
from __future__ import annotations

import errno
import os
import struct

import numpy as np
import pytest

from hotline.drivers.dahdi import abi
from hotline.drivers.dahdi.channel import DahdiChannel, Role, gain_table
from hotline.drivers.dahdi.fakekernel import FakeDahdi
from hotline.drivers.dahdi.syscalls import POLLIN, POLLPRI

INT = struct.Struct("<i")


def opened(k: FakeDahdi, channo: int) -> int:
    fd = k.open(abi.CHANNEL_DEVICE, os.O_RDWR | os.O_NONBLOCK)
    k.ioctl(fd, abi.DAHDI_SPECIFY, bytearray(INT.pack(channo)))
    k.ioctl(fd, abi.DAHDI_SET_BLOCKSIZE, bytearray(INT.pack(160)))
    return fd


def event(k: FakeDahdi, fd: int) -> int:
    buf = bytearray(4)
    k.ioctl(fd, abi.DAHDI_GETEVENT, buf)
    return INT.unpack(buf)[0]


def test_channel_selection_and_parameters() -> None:
    """/dev/dahdi/channel only; SPECIFY picks a channel once (ENXIO unknown, EBUSY taken); FXO ports report FXS
    signalling and FXS ports FXO signalling."""
    k = FakeDahdi.analog(fxo=2, fxs=2)
    with pytest.raises(FileNotFoundError):
        k.open("/dev/dahdi/1", os.O_RDWR)
    fd = k.open(abi.CHANNEL_DEVICE, os.O_RDWR)
    with pytest.raises(OSError) as no_chan:
        k.ioctl(fd, abi.DAHDI_GET_PARAMS, bytearray(abi.PARAMS.size))
    assert no_chan.value.errno == errno.EINVAL
    with pytest.raises(OSError) as unknown:
        k.ioctl(fd, abi.DAHDI_SPECIFY, bytearray(INT.pack(9)))
    assert unknown.value.errno == errno.ENXIO
    k.ioctl(fd, abi.DAHDI_SPECIFY, bytearray(INT.pack(1)))
    with pytest.raises(OSError) as busy:
        k.ioctl(k.open(abi.CHANNEL_DEVICE, os.O_RDWR), abi.DAHDI_SPECIFY, bytearray(INT.pack(1)))
    assert busy.value.errno == errno.EBUSY
    buf = bytearray(abi.PARAMS.size)
    k.ioctl(fd, abi.DAHDI_GET_PARAMS, buf)
    p = abi.unpack_params(bytes(buf))
    assert (p["channo"], p["spanno"], p["chanpos"], p["name"]) == (1, 1, 1, "WCTDM/0/0")
    assert p["sigtype"] == abi.Sig.FXSKS and abi.is_fxs_signalled(p["sigtype"])
    fxs = opened(k, 3)
    k.ioctl(fxs, abi.DAHDI_GET_PARAMS, buf)
    assert abi.unpack_params(bytes(buf))["sigtype"] == abi.Sig.FXOKS
    with pytest.raises(OSError) as notty:
        k.ioctl(fd, 0x4004da7f, bytearray(4))
    assert notty.value.errno == errno.ENOTTY


def test_elast_blocks_audio_until_the_event_is_read_and_pollpri_reports_it() -> None:
    """Reads give EAGAIN with nothing buffered; an event makes read and write fail with ELAST and poll() report
    POLLPRI until DAHDI_GETEVENT took it; 160-byte blocks flow per 20 ms of the fake clock."""
    k = FakeDahdi.analog(fxo=1, fxs=1)
    fd = opened(k, 1)
    with pytest.raises(BlockingIOError):
        k.read(fd, 160)
    poller = k.poll()
    poller.register(fd, POLLIN | POLLPRI)
    assert poller.poll(0) == []
    k.advance(1)
    assert poller.poll(0) == [(fd, POLLIN)]
    k.co_ring(1)
    k.advance(1)
    assert poller.poll(0) == [(fd, POLLIN | POLLPRI)]
    for call in (lambda: k.read(fd, 160), lambda: k.write(fd, b"\xd5" * 160)):
        with pytest.raises(OSError) as elast:
            call()
        assert elast.value.errno == abi.ELAST
    assert event(k, fd) == abi.Event.RINGBEGIN
    assert len(k.read(fd, 160)) == 160 and k.write(fd, b"\xd5" * 160) == 160
    assert event(k, fd) == abi.Event.NONE


def test_exchange_ring_cadence_on_an_fxo_port_follows_the_zone() -> None:
    """China: 1 s on, 4 s off: RINGBEGIN at each burst, RINGOFFHOOK as it ends (FXS signalling); US: 2 s on."""
    for zone, on_ms in (("cn", 1000), ("us", 2000)):
        k = FakeDahdi.analog(fxo=1, fxs=0, zone=zone)
        fd = opened(k, 1)
        k.co_ring(1, rings=2)
        seen = []
        for block in range(600):
            k.advance(1)
            for code in iter(lambda: event(k, fd), 0):
                seen.append((block * 20, abi.Event(code).name))
        assert [name for _, name in seen] == ["RINGBEGIN", "RINGOFFHOOK"] * 2, seen
        assert seen[1][0] - seen[0][0] == on_ms, seen
        assert seen[2][0] - seen[0][0] == on_ms + 4000, seen


def test_fxs_port_rings_the_phone_and_hook_changes_use_fxo_signalling() -> None:
    """Ringing a phone gives RINGERON/RINGEROFF; lifting it stops the ringing (RINGOFFHOOK), a flash is WINKFLASH,
    hanging up ONHOOK; ringing an off-hook phone is EBUSY and RING on an FXO port is EINVAL."""
    k = FakeDahdi.analog(fxo=1, fxs=1)
    fxo, fxs = opened(k, 1), opened(k, 2)
    with pytest.raises(OSError) as wrong:
        k.ioctl(fxo, abi.DAHDI_HOOK, bytearray(INT.pack(abi.Hook.RING)))
    assert wrong.value.errno == errno.EINVAL
    k.ioctl(fxs, abi.DAHDI_HOOK, bytearray(INT.pack(abi.Hook.RING)))
    k.advance(60)
    assert k.ringing(2) and [event(k, fxs), event(k, fxs)] == [abi.Event.RINGERON, abi.Event.RINGEROFF]
    k.phone_offhook(2)
    assert not k.ringing(2) and event(k, fxs) == abi.Event.RINGOFFHOOK
    with pytest.raises(OSError) as busy:
        k.ioctl(fxs, abi.DAHDI_HOOK, bytearray(INT.pack(abi.Hook.RING)))
    assert busy.value.errno == errno.EBUSY
    k.phone_flash(2)
    k.phone_onhook(2)
    assert [event(k, fxs), event(k, fxs)] == [abi.Event.WINKFLASH, abi.Event.ONHOOK]


def test_onhook_transfer_polarity_and_dialling() -> None:
    """Audio reaches an on-hook phone only during on-hook transfer (FSK caller ID); SETPOLARITY flips an FXS line;
    DAHDI_DIAL ends in DIALCOMPLETE and a write while dialling cancels it, as in the kernel."""
    k = FakeDahdi.analog(fxo=1, fxs=1)
    fxo, fxs = opened(k, 1), opened(k, 2)
    k.write(fxs, b"\x55" * 160)
    k.advance(1)
    assert k.channels[2].heard_oht == []
    k.ioctl(fxs, abi.DAHDI_ONHOOKTRANSFER, bytearray(INT.pack(100)))
    for _ in range(8):
        k.write(fxs, b"\x55" * 160)
        k.advance(1)
    assert len(k.channels[2].heard_oht) == 5 and k.heard(2).size == 0  # 100 ms, and not as a call
    k.ioctl(fxs, abi.DAHDI_SETPOLARITY, bytearray(INT.pack(1)))
    assert k.channels[2].polarity == 1
    with pytest.raises(OSError):
        k.ioctl(fxo, abi.DAHDI_SETPOLARITY, bytearray(INT.pack(1)))
    k.ioctl(fxo, abi.DAHDI_HOOK, bytearray(INT.pack(abi.Hook.OFFHOOK)))
    k.ioctl(fxo, abi.DAHDI_DIAL, bytearray(abi.DIALOPERATION.pack(abi.DIAL_OP_APPEND, b"T95511")))
    k.advance(10)
    assert event(k, fxo) == abi.Event.NONE
    k.advance(20)
    assert event(k, fxo) == abi.Event.DIALCOMPLETE and k.channels[1].dialed == "95511"
    k.ioctl(fxo, abi.DAHDI_DIAL, bytearray(abi.DIALOPERATION.pack(abi.DIAL_OP_APPEND, b"T123")))
    k.write(fxo, b"\xd5" * 160)
    k.advance(30)
    assert k.channels[1].cancelled_dials == 1 and event(k, fxo) == abi.Event.NONE


def test_gains_apply_per_byte_and_flash_ends_in_hookcomplete() -> None:
    """SETGAINS tables change what each side hears (+6 dB doubles the amplitude); FLASH gives HOOKCOMPLETE after
    the flash time, the line is open meanwhile."""
    k = FakeDahdi.analog(fxo=1, fxs=0)
    ch = DahdiChannel(k, 1, Role.FXO)
    ch.open(abi.Law.ALAW)
    ch.set_gains(6.0, -6.0)
    ch.offhook()
    k.far_send(1, np.full(160, 2000, np.int16))
    k.advance(1)
    from hotline.drivers.common import g711
    got = g711.alaw_decode(np.frombuffer(k.read(ch.fd, 160), np.uint8))
    assert 3800 <= np.median(got) <= 4200
    ch.send_audio(g711.alaw_encode(np.full(160, 4000, np.int16)).tobytes())
    k.advance(1)
    assert 1900 <= np.median(k.heard(1)) <= 2100
    assert gain_table(0.0, abi.Law.ALAW) == bytes(range(256))
    ch.flash()
    k.advance(30)
    assert ch.get_event() == abi.Event.NONE
    k.advance(10)
    assert ch.get_event() == abi.Event.HOOKCOMPLETE
