"""libopenr2's own system calls on a channel routed through Hotline's Syscalls seam, so the fake DAHDI kernel serves
them as the real kernel would.

Debian's libopenr2 (1.3.3) has no custom I/O interface: it drives a DAHDI channel through its descriptor with libc's
ioctl/read/write (DAHDI_SETTXBITS, DAHDI_GETRXBITS, DAHDI_GETEVENT, DAHDI_IOMUX, MF tones as audio), exactly as it
does on a real card. On a real box the driver hands it the real descriptor and nothing here is used. Over a fake
kernel (tests, scripts/dahdi-bench) the library's entries for those libc functions (its GOT slots) are pointed at
ctypes callbacks: a descriptor registered with ``route(fd, sys)`` goes to ``sys`` (with errno set from the OSError it
raises, ELAST included), any other descriptor to libc as before.
"""
from __future__ import annotations

import ctypes
import errno
import mmap
import struct
import threading
from pathlib import Path
from typing import Any

from . import r2lib

_libc = ctypes.CDLL(None, use_errno=True)
_real = {name: getattr(_libc, name) for name in ("ioctl", "read", "write", "close")}
for _f in _real.values():
    _f.restype = ctypes.c_ssize_t
_real["ioctl"].argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_real["read"].argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_real["write"].argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_real["close"].argtypes = [ctypes.c_int]

IOCTL_T = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, use_errno=True)
RW_T = ctypes.CFUNCTYPE(ctypes.c_ssize_t, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, use_errno=True)
CLOSE_T = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, use_errno=True)

_routes: dict[int, Any] = {}
_lock = threading.Lock()
_installed: list[Any] = []    # the callbacks, alive as long as the process


def _size(request: int) -> int:
    """The argument size encoded in an ioctl number."""
    return (request >> 16) & 0x3FFF


def _fail(exc: OSError) -> int:
    ctypes.set_errno(exc.errno or errno.EIO)
    return -1


def _ioctl(fd: int, request: int, arg: int | None) -> int:
    sys = _routes.get(fd)
    if sys is None:
        res = _real["ioctl"](fd, request, arg)
        ctypes.set_errno(ctypes.get_errno())
        return int(res)
    n = _size(request)
    buf = bytearray(ctypes.string_at(arg, n)) if arg and n else bytearray(4)
    try:
        sys.ioctl(fd, request, buf)
    except OSError as exc:
        return _fail(exc)
    if arg and n:
        ctypes.memmove(arg, bytes(buf[:n]), n)
    return 0


def _read(fd: int, buf: int, count: int) -> int:
    sys = _routes.get(fd)
    if sys is None:
        res = _real["read"](fd, buf, count)
        ctypes.set_errno(ctypes.get_errno())
        return int(res)
    try:
        data = sys.read(fd, count)
    except OSError as exc:
        return _fail(exc)
    ctypes.memmove(buf, data, len(data))
    return len(data)


def _write(fd: int, buf: int, count: int) -> int:
    sys = _routes.get(fd)
    if sys is None:
        res = _real["write"](fd, buf, count)
        ctypes.set_errno(ctypes.get_errno())
        return int(res)
    try:
        return int(sys.write(fd, ctypes.string_at(buf, count)))
    except OSError as exc:
        return _fail(exc)


def _close(fd: int) -> int:
    sys = _routes.pop(fd, None)
    if sys is None:
        res = _real["close"](fd)
        ctypes.set_errno(ctypes.get_errno())
        return int(res)
    try:
        sys.close(fd)
    except OSError as exc:
        return _fail(exc)
    return 0


def route(fd: int, sys: Any) -> None:
    """libopenr2's calls on ``fd`` go to ``sys`` (a fake kernel) from now on; the library is patched once."""
    with _lock:
        if not _installed:
            _install()
        _routes[fd] = sys


def unroute(fd: int) -> None:
    """Forget ``fd`` (the channel was closed by the driver)."""
    with _lock:
        _routes.pop(fd, None)


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p), ("dli_sname", ctypes.c_char_p),
                ("dli_saddr", ctypes.c_void_p)]


_SLOT_TYPES = {6, 7, 1025, 1026}   # GLOB_DAT and JUMP_SLOT on x86-64 and aarch64: one pointer per slot


def _slots(path: str, names: set[str]) -> dict[str, list[int]]:
    """name -> offsets (from the load base) of the library's GOT slots for those imported functions (ELF64 LE)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise r2lib.R2Error(f"{path}: not a 64-bit little-endian ELF library")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    dynsym = next((s for s in sections if s[1] == 11), None)  # SHT_DYNSYM
    if dynsym is None:
        raise r2lib.R2Error(f"{path}: no dynamic symbol table (section headers stripped?)")
    dynstr = sections[dynsym[6]]

    def name(sym_index: int) -> str:
        st_name, = struct.unpack_from("<I", data, dynsym[4] + sym_index * 24)
        end = data.index(b"\0", dynstr[4] + st_name)
        return data[dynstr[4] + st_name:end].decode()
    out: dict[str, list[int]] = {}
    for s in sections:
        if s[1] != 4:                                          # SHT_RELA
            continue
        for off in range(s[4], s[4] + s[5], 24):
            r_offset, r_info, _ = struct.unpack_from("<QQq", data, off)
            if (r_info & 0xFFFFFFFF) in _SLOT_TYPES and r_info >> 32:
                n = name(r_info >> 32)
                if n in names:
                    out.setdefault(n, []).append(r_offset)
    return out


def _install() -> None:
    """Point libopenr2's GOT slots for ioctl, read, write and close at the router."""
    lib = r2lib.library()
    info = _DlInfo()
    dladdr = _libc.dladdr
    dladdr.argtypes, dladdr.restype = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)], ctypes.c_int
    if not dladdr(ctypes.cast(lib.openr2_chan_process_event, ctypes.c_void_p), ctypes.byref(info)):
        raise r2lib.R2Error("cannot find where libopenr2 is loaded (dladdr)")
    callbacks = {"ioctl": IOCTL_T(_ioctl), "read": RW_T(_read), "write": RW_T(_write), "close": CLOSE_T(_close)}
    slots = _slots(info.dli_fname.decode(), set(callbacks))
    missing = set(callbacks) - set(slots)
    if missing:
        raise r2lib.R2Error(f"libopenr2 does not import {', '.join(sorted(missing))} as expected")
    mprotect = _libc.mprotect
    mprotect.argtypes, mprotect.restype = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int
    page = mmap.PAGESIZE
    for fn, offsets in slots.items():
        target = ctypes.cast(callbacks[fn], ctypes.c_void_p).value
        for off in offsets:
            addr = info.dli_fbase + off
            start = addr & ~(page - 1)
            if mprotect(start, page, mmap.PROT_READ | mmap.PROT_WRITE) != 0:
                raise r2lib.R2Error(f"cannot make libopenr2's GOT writable: errno {ctypes.get_errno()}")
            ctypes.c_void_p.from_address(addr).value = target
    _installed.extend(callbacks.values())
