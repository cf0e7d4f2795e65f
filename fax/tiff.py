"""Reading fax TIFFs: page count and geometry from the directory chain, and decoded page bitmaps (via netpbm)."""
from __future__ import annotations

import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .tools import DocumentError, Limits, run_tool

__all__ = ["TiffPage", "read_pages", "page_bitmaps", "parse_pbm"]

_WIDTH, _LENGTH, _XRES, _YRES = 256, 257, 282, 283
MAX_PAGES = 10_000


@dataclass(frozen=True)
class TiffPage:
    """One image directory of a TIFF: size in pixels and resolution in dots per inch."""

    width: int
    length: int
    x_dpi: float
    y_dpi: float


def read_pages(path: Path) -> list[TiffPage]:
    """Every page of a TIFF (walks the IFD chain; DocumentError when the file is not a TIFF or is cut short)."""
    data = Path(path).read_bytes()
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        raise DocumentError(f"{path}: not a TIFF file")
    end = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(end + "I", data, 4)
        pages: list[TiffPage] = []
        seen: set[int] = set()
        while offset and len(pages) < MAX_PAGES:
            if offset in seen:
                raise DocumentError(f"{path}: TIFF directory chain loops")
            seen.add(offset)
            (count,) = struct.unpack_from(end + "H", data, offset)
            tags: dict[int, float] = {}
            for i in range(count):
                tag, typ, _n, value = struct.unpack_from(end + "HHI4s", data, offset + 2 + 12 * i)
                if typ == 3:
                    tags[tag] = struct.unpack_from(end + "H", value)[0]
                elif typ == 4:
                    tags[tag] = struct.unpack_from(end + "I", value)[0]
                elif typ == 5:
                    num, den = struct.unpack_from(end + "II", data, struct.unpack_from(end + "I", value)[0])
                    tags[tag] = num / den if den else 0.0
            pages.append(TiffPage(int(tags.get(_WIDTH, 0)), int(tags.get(_LENGTH, 0)),
                                  float(tags.get(_XRES, 0.0)), float(tags.get(_YRES, 0.0))))
            (offset,) = struct.unpack_from(end + "I", data, offset + 2 + 12 * count)
    except struct.error as exc:
        raise DocumentError(f"{path}: TIFF file is cut short ({exc})") from exc
    return pages


def parse_pbm(data: bytes, where: str = "PBM") -> np.ndarray:
    """A raw PBM (P4) image as a bool array, True = black."""
    parts = data.split(maxsplit=3)
    if len(parts) < 4 or parts[0] != b"P4":
        raise DocumentError(f"{where}: not a raw PBM image")
    width, height = int(parts[1]), int(parts[2])
    header_len = len(data) - len(parts[3])
    row_bytes = (width + 7) // 8
    body = np.frombuffer(data, dtype=np.uint8, count=row_bytes * height, offset=header_len)
    return np.unpackbits(body.reshape(height, row_bytes), axis=1)[:, :width].astype(bool)


def page_bitmaps(path: Path, limits: Limits = Limits()) -> list[np.ndarray]:
    """Each page of a fax TIFF decoded to a bool array (True = black), split by tiffsplit, decoded by tifftopnm."""
    path = Path(path)
    count = len(read_pages(path))
    with tempfile.TemporaryDirectory(prefix="hotline-fax-") as tmp:
        work = Path(tmp)
        (work / "in.tif").write_bytes(path.read_bytes())
        run_tool(["tiffsplit", "in.tif", "page-"], document=path, cwd=work, limits=limits)
        pages = sorted(work.glob("page-*.tif"))
        if len(pages) != count:
            raise DocumentError(f"{path}: tiffsplit found {len(pages)} pages, the directory chain {count}")
        out = []
        for page in pages:
            proc = run_tool(["tifftopnm", page.name], document=path, cwd=work, limits=limits)
            out.append(parse_pbm(proc.stdout, f"{path} page {len(out) + 1}"))
        return out
