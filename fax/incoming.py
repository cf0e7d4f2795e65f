"""Received faxes: the TIFF is kept as received, plus a PDF (tiff2pdf) and one PNG per page (ghostscript) for the
panel and mail; written to a temporary folder and renamed into place only when all of it is done."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .tiff import read_pages
from .tools import DocumentError, Limits, run_tool

__all__ = ["ReceivedFax", "render_received", "publish_pages", "PNG_DPI"]

PNG_DPI = 100   # page images for the screen: about 850 x 1170 pixels, square pixels whatever the fax resolution


@dataclass(frozen=True)
class ReceivedFax:
    """A received fax's files."""

    tiff: Path
    pdf: Path
    pngs: list[Path]
    pages: int


def render_received(tiff: Path, out_dir: Path, stem: str = "fax", limits: Limits = Limits()) -> ReceivedFax:
    """Write ``<stem>.tif`` (a copy of the TIFF as received), ``<stem>.pdf`` and ``<stem>-NNN.png`` into ``out_dir``
    (blocking: run it in a thread). DocumentError naming the TIFF when it cannot be read."""
    tiff, out_dir = Path(tiff), Path(out_dir)
    if not stem or "/" in stem or stem.startswith((".", "-")):
        raise DocumentError(f"{stem!r}: not a usable file name stem")
    pages = read_pages(tiff)
    if not pages:
        raise DocumentError(f"{tiff}: the TIFF has no page")
    if len(pages) > limits.pages:
        raise DocumentError(f"{tiff}: {len(pages)} pages is more than the limit of {limits.pages}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hotline-fax-", dir=out_dir) as tmp:
        work = Path(tmp)
        shutil.copyfile(tiff, work / "fax.tif")
        run_tool(["tiff2pdf", "-o", "fax.pdf", "fax.tif"], document=tiff, cwd=work, limits=limits)
        run_tool(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dPDFSTOPONERROR", "-sDEVICE=pnggray",
                  f"-r{PNG_DPI}", "-sOutputFile=page-%03d.png", "fax.pdf"], document=tiff, cwd=work, limits=limits)
        made = sorted(work.glob("page-*.png"))
        if len(made) != len(pages):
            raise DocumentError(f"{tiff}: {len(pages)} pages in the TIFF but {len(made)} page images came out")
        final_tiff, final_pdf = out_dir / f"{stem}.tif", out_dir / f"{stem}.pdf"
        pngs = [out_dir / f"{stem}-{i:03d}.png" for i in range(1, len(made) + 1)]
        for src, dst in zip(made, pngs):
            os.replace(src, dst)
        os.replace(work / "fax.pdf", final_pdf)
        if final_tiff.resolve() != tiff.resolve():
            os.replace(work / "fax.tif", final_tiff)
    return ReceivedFax(final_tiff, final_pdf, pngs, len(pages))


def publish_pages(tiff: Path, folder: Path) -> int:
    """A fax's pages for the panel and mail, beside it in a job's folder: ``document.pdf`` and ``page-<n>.png``
    (blocking: run it in a thread); the number of pages. DocumentError when the TIFF cannot be read."""
    folder = Path(folder)
    with tempfile.TemporaryDirectory(prefix=".render-", dir=folder) as tmp:
        shown = render_received(tiff, Path(tmp), "document")
        os.replace(shown.pdf, folder / "document.pdf")
        for n, png in enumerate(shown.pngs, 1):
            os.replace(png, folder / f"page-{n}.png")
    return shown.pages
