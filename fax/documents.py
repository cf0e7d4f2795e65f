"""Outgoing fax documents: PDF, PostScript, text, PNG and JPEG become TIFF-F (1728 wide, fine or normal) with
ghostscript, each page carrying a header line (box name, number, date, page n/m).

The source is copied into a private temporary folder under a name we chose, every tool runs with a fixed argument
list there (``fax/tools.py``), and the result is renamed into place only when complete: a broken document gives a
``DocumentError`` naming it and leaves nothing behind.
"""
from __future__ import annotations

import enum
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .postscript import header_prologue, image_document, text_document
from .tiff import read_pages
from .tools import DocumentError, Limits, run_tool

__all__ = ["Resolution", "DocumentKind", "PageHeader", "FaxDocument", "detect_kind", "to_fax_tiff",
           "FAX_WIDTH"]

FAX_WIDTH = 1728   # pixels across an A4/Letter fax page (T.4, 215 mm at 204 dpi)
PAGE_MARK = "%%HotlinePage"


class Resolution(enum.Enum):
    """Fax vertical resolutions (horizontal is always 204 dpi)."""

    FINE = "fine"        # 204 x 196 dpi
    NORMAL = "normal"    # 204 x 98 dpi

    @property
    def dpi(self) -> tuple[int, int]:
        """(horizontal, vertical) dots per inch."""
        return (204, 196) if self is Resolution.FINE else (204, 98)

    @property
    def rows(self) -> int:
        """Rows of an A4-long page (297 mm)."""
        return 2292 if self is Resolution.FINE else 1146


class DocumentKind(enum.Enum):
    """What a source document is (told by its first bytes, not its name)."""

    PDF = "pdf"
    POSTSCRIPT = "postscript"
    TEXT = "text"
    PNG = "png"
    JPEG = "jpeg"


@dataclass(frozen=True)
class PageHeader:
    """The line printed at the top of every sent page."""

    box_name: str
    number: str
    when: datetime

    def text(self) -> str:
        """Left part of the line (the page n/m goes on the right)."""
        return f"{self.when:%Y-%m-%d %H:%M}  {self.box_name}  {self.number}"


@dataclass(frozen=True)
class FaxDocument:
    """A TIFF-F ready to send."""

    path: Path
    pages: int
    resolution: Resolution
    kind: DocumentKind


def detect_kind(path: Path, head: bytes | None = None) -> DocumentKind:
    """The document's kind from its content; DocumentError for anything else (naming the file)."""
    if head is None:
        with open(path, "rb") as f:
            head = f.read(4096)
    if head.startswith(b"%PDF-"):
        return DocumentKind.PDF
    if head.startswith(b"%!") or head.startswith(b"\x04%!"):
        return DocumentKind.POSTSCRIPT
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return DocumentKind.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return DocumentKind.JPEG
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return DocumentKind.TEXT
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 4:   # a character cut by the 4 KiB window
                return DocumentKind.TEXT
    raise DocumentError(f"{path}: not a PDF, PostScript, text, PNG or JPEG document")


def to_fax_tiff(source: Path, dest: Path, resolution: Resolution = Resolution.FINE,
                header: PageHeader | None = None, limits: Limits = Limits()) -> FaxDocument:
    """Convert one document to a TIFF-F at ``dest`` (blocking: run it in a thread); DocumentError when it can't."""
    source, dest = Path(source), Path(dest)
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise DocumentError(f"{source}: cannot read it ({exc.strerror})") from exc
    if size == 0:
        raise DocumentError(f"{source}: the document is empty")
    if size > limits.input_bytes:
        raise DocumentError(f"{source}: {size} bytes is more than the limit of {limits.input_bytes}")
    kind = detect_kind(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hotline-fax-", dir=dest.parent) as tmp:
        work = Path(tmp)
        doc, total = _prepare(source, kind, work, limits)
        if total is None:
            total = _count_pages(source, doc, work, limits)
        if total is not None and total > limits.pages:
            raise DocumentError(f"{source}: {total} pages is more than the limit of {limits.pages}")
        prologue = work / "header.ps"
        prologue.write_text(header_prologue(header.text() if header else None, total, resolution.rows * 72
                                            / resolution.dpi[1]), encoding="ascii")
        x, y = resolution.dpi
        out = work / "out.tif"
        run_tool(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dPDFSTOPONERROR", "-sDEVICE=tiffg3",
                  f"-r{x}x{y}", f"-g{FAX_WIDTH}x{resolution.rows}", "-dFIXEDMEDIA", "-dFitPage",
                  "-sOutputFile=out.tif", prologue.name, doc.name], document=source, cwd=work, limits=limits)
        pages = read_pages(out) if out.exists() else []
        if not pages:
            raise DocumentError(f"{source}: no page came out of it")
        if any(p.width != FAX_WIDTH for p in pages):
            raise DocumentError(f"{source}: ghostscript made pages that are not {FAX_WIDTH} wide")
        os.replace(out, dest)
    return FaxDocument(dest, len(pages), resolution, kind)


def _prepare(source: Path, kind: DocumentKind, work: Path, limits: Limits) -> tuple[Path, int | None]:
    """The file ghostscript reads, in ``work`` under our own name (a copy, or PostScript we wrote), and its pages
    when we know them already."""
    if kind is DocumentKind.TEXT:
        raw = source.read_bytes()
        text = raw.decode("utf-8", errors="replace")
        ps = work / "in.ps"
        document, pages = text_document(text)
        if pages > limits.pages:
            raise DocumentError(f"{source}: {pages} pages of text is more than the limit of {limits.pages}")
        ps.write_bytes(document)
        return ps, pages
    if kind in (DocumentKind.PNG, DocumentKind.JPEG):
        name = "in.png" if kind is DocumentKind.PNG else "in.jpg"
        shutil.copyfile(source, work / name)
        tool = "pngtopnm" if kind is DocumentKind.PNG else "jpegtopnm"
        proc = run_tool([tool, name], document=source, cwd=work, limits=limits)
        ps = work / "in.ps"
        ps.write_bytes(image_document(proc.stdout, str(source)))
        return ps, 1
    copy = work / ("in.pdf" if kind is DocumentKind.PDF else "in.ps")
    shutil.copyfile(source, copy)
    return copy, None


def _count_pages(source: Path, doc: Path, work: Path, limits: Limits) -> int:
    """Pages of a PDF or PostScript document: ghostscript runs it once on the null device and marks each page."""
    counter = work / "count.ps"
    counter.write_text(f"<< /EndPage {{ exch pop 2 ne dup {{ ({PAGE_MARK}\\n) print flush }} if }} >> "
                       "setpagedevice\n", encoding="ascii")
    proc = run_tool(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dPDFSTOPONERROR", "-sDEVICE=nullpage",
                     counter.name, doc.name], document=source, cwd=work, limits=limits)
    return proc.stdout.decode("ascii", "replace").count(PAGE_MARK)

