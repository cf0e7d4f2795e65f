"""T.4 page data as fax modems carry it: MH (1-D) pages with EOLs in wire bit order, read from and written to TIFF.

A class 2/2.0 modem takes and gives phase C data as bytes whose first bit on the line is the least significant
(``+FBOR=0``, "direct"); ``reverse()`` gives the other order. Pages are read from any fax TIFF by normalising it
with ``tiffcp`` (one G3 1-D strip per page, LSB first) and written back as a G3 TIFF that libtiff decodes.
"""
from __future__ import annotations

import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["T4Page", "T4Error", "read_t4_pages", "write_t4_tiff", "count_rows", "reverse", "RTC", "TIFFCP"]

# tiffcp normalises any fax TIFF to one G3 1-D strip per page; file names are fixed names in a temporary folder
TIFFCP = ["tiffcp", "-c", "g3:1d", "-f", "lsb2msb", "-r", "1000000", "in.tif", "out.tif"]
Runner = Callable[[list, Path], object]   # runs TIFFCP in a folder; raises on failure


class T4Error(ValueError):
    """A TIFF whose pages cannot be read as fax page data; the message names the file."""

_REV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
EOL_BITS = np.array([0] * 11 + [1], dtype=np.uint8)
RTC = np.packbits(np.tile(EOL_BITS, 6), bitorder="little").tobytes()   # six EOLs: return to control
# the EOL that ends the last line (libtiff's G3 strips put an EOL before each line, T.4 one after each), then RTC
END_OF_PAGE = np.packbits(np.concatenate([np.zeros(4, np.uint8), np.tile(EOL_BITS, 7)]), bitorder="little").tobytes()
FINE_DPI = 196.0


def reverse(data: bytes) -> bytes:
    """Each byte with its bit order reversed (``+FBOR=1`` phase C data, or TIFF FillOrder 1)."""
    return bytes(data).translate(_REV)


@dataclass(frozen=True)
class T4Page:
    """One page of MH data in wire order (first bit = LSB), ending with RTC; 1728 (or other) pixels wide."""

    data: bytes
    width: int = 1728
    fine: bool = True

    @property
    def rows(self) -> int:
        """Scan lines coded in the data (EOL-delimited segments that hold a code)."""
        return count_rows(self.data)


def count_rows(data: bytes) -> int:
    """Scan lines in MH data (wire order): segments between EOLs that carry any code, up to RTC (six EOLs in a
    row; anything after it, such as a sender's flush byte, is not page data); fill counts nothing."""
    bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8), bitorder="little")
    ones = np.flatnonzero(bits)
    if ones.size == 0:
        return 0
    zeros_before = np.diff(ones, prepend=-1) - 1
    eol = np.flatnonzero(zeros_before >= 11)           # indices (into ones) of the 1 that ends an EOL
    if eol.size == 0:
        return 1
    empty = np.diff(eol) == 1                          # two EOLs with no code between them
    run = np.convolve(empty.astype(np.int8), np.ones(5, dtype=np.int8), "valid") if empty.size >= 5 else []
    rtc = np.flatnonzero(np.asarray(run) == 5)
    if rtc.size:
        rows = int(np.count_nonzero(~empty[:rtc[0]]))  # a coded line between each pair of EOLs before RTC
    else:
        rows = int(np.count_nonzero(~empty)) + int(eol[-1] < ones.size - 1)   # no RTC: a last line may follow
    return rows + int(eol[0] > 0)                      # a line before the first EOL


def _ifds(data: bytes) -> list[dict[int, list[float]]]:
    """Every IFD of a TIFF as tag -> values (SHORT, LONG and RATIONAL tags)."""
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        raise T4Error("not a TIFF file")
    end = "<" if data[:2] == b"II" else ">"
    sizes = {3: ("H", 2), 4: ("I", 4), 5: ("II", 8)}
    out: list[dict[int, list[float]]] = []
    (offset,) = struct.unpack_from(end + "I", data, 4)
    while offset and len(out) < 10_000:
        (count,) = struct.unpack_from(end + "H", data, offset)
        tags: dict[int, list[float]] = {}
        for i in range(count):
            tag, typ, n, raw = struct.unpack_from(end + "HHI4s", data, offset + 2 + 12 * i)
            if typ not in sizes:
                continue
            fmt, size = sizes[typ]
            where = offset + 2 + 12 * i + 8 if n * size <= 4 else struct.unpack_from(end + "I", raw)[0]
            values = struct.unpack_from(end + fmt * n, data, where)
            tags[tag] = ([values[k] / values[k + 1] if values[k + 1] else 0.0 for k in range(0, len(values), 2)]
                         if typ == 5 else list(values))
        out.append(tags)
        (offset,) = struct.unpack_from(end + "I", data, offset + 2 + 12 * count)
    return out


def _tiffcp(argv: list, cwd: Path) -> None:
    try:
        proc = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise T4Error(f"tiffcp: {exc}") from exc
    if proc.returncode != 0:
        raise T4Error(f"tiffcp could not read it ({proc.stderr.decode(errors='replace').strip()[-200:]})")


def read_t4_pages(path: Path, run: Runner | None = None) -> list[T4Page]:
    """Every page of a fax TIFF as MH data in wire order with RTC (T4Error when it cannot be read). ``run``
    runs tiffcp (the fax library passes its bounded tool runner); by default a plain run with a 60 s timeout."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="hotline-t4-") as tmp:
        work = Path(tmp)
        (work / "in.tif").write_bytes(path.read_bytes())
        try:
            (run or _tiffcp)(list(TIFFCP), work)
        except T4Error as exc:
            raise T4Error(f"{path}: {exc}") from exc
        data = (work / "out.tif").read_bytes()
    try:
        ifds = _ifds(data)
    except (struct.error, T4Error) as exc:
        raise T4Error(f"{path}: unreadable TIFF ({exc})") from exc
    pages = []
    for tags in ifds:
        strips = b"".join(data[int(o):int(o) + int(n)] for o, n in zip(tags.get(273, []), tags.get(279, [])))
        if int(tags.get(266, [1])[0]) != 2:
            strips = reverse(strips)
        pages.append(T4Page(strips + END_OF_PAGE, int(tags.get(256, [1728])[0]), tags.get(283, [FINE_DPI])[0] > 150))
    if not pages:
        raise T4Error(f"{path}: no pages")
    return pages


def write_t4_tiff(path: Path, pages: list[T4Page]) -> None:
    """Write pages as a little-endian G3 1-D TIFF (FillOrder 2, one strip per page, 204 x 98/196 dpi)."""
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    prev_next = 4
    for page in pages:
        rows = max(1, page.rows)
        strip_at = len(out)
        out += page.data
        if len(out) % 2:
            out += b"\x00"
        res_at = len(out)
        out += struct.pack("<IIII", 204, 1, 196 if page.fine else 98, 1)
        entries = [(256, 4, page.width), (257, 4, rows), (258, 3, 1), (259, 3, 3), (262, 3, 0), (266, 3, 2),
                   (273, 4, strip_at), (277, 3, 1), (278, 4, rows), (279, 4, len(page.data)),
                   (282, 5, res_at), (283, 5, res_at + 8), (292, 4, 0), (296, 3, 2)]
        ifd_at = len(out)
        struct.pack_into("<I", out, prev_next, ifd_at)
        out += struct.pack("<H", len(entries))
        for tag, typ, value in entries:
            out += struct.pack("<HHI", tag, typ, 1) + (struct.pack("<HH", value, 0) if typ == 3
                                                     else struct.pack("<I", value))
        prev_next = len(out)
        out += b"\x00\x00\x00\x00"
    tmp = Path(f"{path}.part")
    tmp.write_bytes(bytes(out))
    tmp.replace(path)
