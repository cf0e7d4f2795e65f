"""Fax page data for fax modems (drivers/common/t4.py), read with the fax library's bounded tool runner: a
document that tiffcp cannot read is a DocumentError like any other document problem."""
from __future__ import annotations

from pathlib import Path

from hotline.drivers.common.t4 import RTC, T4Error, T4Page, count_rows, reverse, write_t4_tiff
from hotline.drivers.common.t4 import read_t4_pages as _read

from .tools import DocumentError, Limits, run_tool

__all__ = ["T4Page", "read_t4_pages", "write_t4_tiff", "count_rows", "reverse", "RTC"]


def read_t4_pages(path: Path, limits: Limits = Limits()) -> list[T4Page]:
    """Every page of a fax TIFF as MH data in wire order with RTC (DocumentError when it cannot be read)."""
    path = Path(path)
    try:
        return _read(path, lambda argv, cwd: run_tool(argv, document=path, cwd=cwd, limits=limits))
    except T4Error as exc:
        raise DocumentError(str(exc)) from exc
