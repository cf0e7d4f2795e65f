"""Fax documents with the real tools: PDF, PostScript, text, PNG and JPEG become TIFF-F with a header line;
received TIFFs become PDF and PNG pages; broken or hostile documents give clear errors and leave nothing behind."""
from __future__ import annotations

import struct
import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from hotline.fax.documents import DocumentKind, PageHeader, Resolution, detect_kind, to_fax_tiff
from hotline.fax.incoming import render_received
from hotline.fax.postscript import HEADER_BAND, text_document
from hotline.fax.tiff import page_bitmaps, read_pages
from hotline.fax.tools import DocumentError, Limits

HEADER = PageHeader("Hotline test box", "+86 10 8001", datetime(2026, 12, 7, 9, 30))
TWO_PAGES = b"""%!PS
/Helvetica findfont 48 scalefont setfont
1 1 2 { /n exch def 72 600 moveto (Page ) show n 3 string cvs show
  6 setlinewidth 72 100 moveto 540 100 n mul lineto stroke showpage } for
"""


def header_rows(resolution: Resolution) -> int:
    """Rows of the page the header band covers."""
    return int(HEADER_BAND / 72 * resolution.dpi[1]) + 1


def tool(argv: list[str], stdin: bytes | None = None) -> bytes:
    """Run a fixture-making tool (netpbm, ghostscript) and return its output."""
    return subprocess.run(argv, input=stdin, capture_output=True, check=True, timeout=60).stdout


@pytest.fixture
def ps_doc(tmp_path: Path) -> Path:
    path = tmp_path / "two-pages.ps"
    path.write_bytes(TWO_PAGES)
    return path


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files or folders in ``folder`` other than ``keep`` (temporary folders left by a failed conversion)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.mark.parametrize("resolution, rows, ydpi", [(Resolution.FINE, 2292, 196), (Resolution.NORMAL, 1146, 98)])
def test_postscript_becomes_tiff_f(ps_doc: Path, tmp_path: Path, resolution: Resolution, rows: int,
                                   ydpi: int) -> None:
    """Two PostScript pages -> a two-page TIFF-F 1728 wide at 204 x 196 (fine) or 204 x 98 (normal) dpi."""
    doc = to_fax_tiff(ps_doc, tmp_path / "out" / "doc.tif", resolution, HEADER)
    assert (doc.pages, doc.kind, doc.resolution) == (2, DocumentKind.POSTSCRIPT, resolution)
    pages = read_pages(doc.path)
    assert [(p.width, p.length, p.x_dpi, p.y_dpi) for p in pages] == [(1728, rows, 204.0, float(ydpi))] * 2
    info = subprocess.run(["tiffinfo", str(doc.path)], capture_output=True, text=True, timeout=30).stdout
    assert info.count("CCITT Group 3") == 2


def test_header_line_on_every_page_with_page_n_of_m(ps_doc: Path, tmp_path: Path) -> None:
    """Each page starts with the header band: the same text on the left (box, number, date) on every page, and a
    right end that differs between page 1/2 and 2/2; without a header the band is blank."""
    with_header = page_bitmaps(to_fax_tiff(ps_doc, tmp_path / "h.tif", header=HEADER).path)
    without = page_bitmaps(to_fax_tiff(ps_doc, tmp_path / "n.tif", header=None).path)
    band = header_rows(Resolution.FINE)
    for page in with_header:
        assert page[:band].sum() > 1000          # printed text
    assert not any(page[:band].any() for page in without)
    left, right = slice(0, 1000), slice(1400, 1728)
    assert np.array_equal(with_header[0][:band, left], with_header[1][:band, left])
    assert not np.array_equal(with_header[0][:band, right], with_header[1][:band, right])
    assert with_header[0][:band, right].any()
    for h, n in zip(with_header, without):       # the document itself is untouched below the band
        assert np.array_equal(h[band:], n[band:])


def test_pdf_gives_the_same_pages_as_its_postscript(ps_doc: Path, tmp_path: Path) -> None:
    """A PDF made by ghostscript from the PostScript (on the fax page size) faxes (almost) identically: the PDF path
    works and its pages are counted for the header."""
    pdf = tmp_path / "two-pages.pdf"
    tool(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite", "-dDEVICEWIDTHPOINTS=609.88",
          "-dDEVICEHEIGHTPOINTS=841.96", "-dFIXEDMEDIA", f"-sOutputFile={pdf}", str(ps_doc)])   # the fax page size
    a = page_bitmaps(to_fax_tiff(ps_doc, tmp_path / "ps.tif", header=HEADER).path)
    doc = to_fax_tiff(pdf, tmp_path / "pdf.tif", header=HEADER)
    assert (doc.kind, doc.pages) == (DocumentKind.PDF, 2)
    b = page_bitmaps(doc.path)
    for pa, pb in zip(a, b):
        assert np.mean(pa != pb) < 0.002


def test_text_pages_wrap_and_break(tmp_path: Path) -> None:
    """Text: long lines wrap, a form feed starts a page, 150 lines fill three pages; the header says n/3."""
    lines = [f"line {i:03d} " + "x" * 100 if i == 5 else f"line {i:03d}" for i in range(150)]
    src = tmp_path / "notes.txt"
    src.write_text("\n".join(lines[:10]) + "\f" + "\n".join(lines[10:]) + "\nÜmlaut and 中文\n", encoding="utf-8")
    ps, pages = text_document(src.read_text(encoding="utf-8"))
    assert b"(line 005 " in ps and b"\\334mlaut" in ps and b"?? " not in ps.split(b"mlaut and ")[1][:1]
    doc = to_fax_tiff(src, tmp_path / "notes.tif", Resolution.NORMAL, HEADER)
    assert doc.kind is DocumentKind.TEXT and doc.pages == pages == 4   # 11 lines, then 141 + 1 over 3 pages
    bitmaps = page_bitmaps(doc.path)
    assert all(b[header_rows(Resolution.NORMAL):].any() for b in bitmaps)


@pytest.mark.parametrize("kind, make", [
    (DocumentKind.PNG, lambda: tool(["pnmtopng"], tool(["pgmramp", "-lr", "400", "300"]))),
    (DocumentKind.JPEG, lambda: tool(["pnmtojpeg"], tool(["ppmpat", "-g2", "-randomseed=7", "300", "400"]))),  # fixed colours
])
def test_images_fit_one_page(tmp_path: Path, kind: DocumentKind, make) -> None:
    """PNG and JPEG pictures fill one page below the header, halftoned to black and white."""
    src = tmp_path / "picture.bin"          # the name says nothing: the content decides
    src.write_bytes(make())
    doc = to_fax_tiff(src, tmp_path / "pic.tif", header=HEADER)
    assert (doc.kind, doc.pages) == (kind, 1)
    page = page_bitmaps(doc.path)[0]
    body = page[header_rows(Resolution.FINE):]
    assert 0.05 < body.mean() < 0.6           # grey picture: some black, not all black


@pytest.mark.parametrize("name, content, words", [
    ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R >> garbage\n%%EOF\n", "gs could not read it"),
    ("cut.png", None, "pngtopnm could not read it"),
    ("fake.jpg", b"\xff\xd8\xff\xe0 this is not a JPEG", "jpegtopnm could not read it"),
    ("program.bin", b"\x7fELF\x02\x01\x01\x00" + bytes(100), "not a PDF, PostScript, text, PNG or JPEG"),
    ("empty.pdf", b"", "the document is empty"),
])
def test_broken_documents_give_an_error_naming_the_file(tmp_path: Path, name: str, content: bytes | None,
                                                        words: str) -> None:
    """Broken input: DocumentError naming the file and what is wrong; the destination folder holds nothing new."""
    if content is None:
        content = tool(["pnmtopng"], tool(["pgmramp", "-lr", "400", "300"]))[:120]
    src = tmp_path / name
    src.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(DocumentError) as err:
        to_fax_tiff(src, out / "doc.tif", header=HEADER)
    assert str(src) in str(err.value) and words in str(err.value)
    assert leftovers(out, set()) == []


def test_a_document_that_runs_forever_is_stopped(tmp_path: Path) -> None:
    """PostScript is a program: one that loops forever is stopped at the time limit with a clear error."""
    src = tmp_path / "loop.ps"
    src.write_bytes(b"%!PS\n{ 1 pop } loop\n")
    with pytest.raises(DocumentError, match="loop.ps: gs took longer than 2 s"):
        to_fax_tiff(src, tmp_path / "out" / "doc.tif", limits=Limits(seconds=2))
    assert leftovers(tmp_path / "out", set()) == []


def test_too_many_pages_and_too_large_documents_are_refused(tmp_path: Path) -> None:
    """Size and page bounds are checked before (size) or right after counting (pages), with the limits named."""
    src = tmp_path / "many.ps"
    src.write_bytes(b"%!PS\n1 1 30 { pop /Helvetica findfont 20 scalefont setfont 72 72 moveto (x) show showpage } for\n")
    with pytest.raises(DocumentError, match="many.ps: 30 pages is more than the limit of 10"):
        to_fax_tiff(src, tmp_path / "a.tif", limits=Limits(pages=10))
    with pytest.raises(DocumentError, match="many.ps: .* bytes is more than the limit of 50"):
        to_fax_tiff(src, tmp_path / "b.tif", limits=Limits(input_bytes=50))


def test_no_argument_can_become_an_option(tmp_path: Path) -> None:
    """A document whose name looks like a ghostscript option is still just a document (tools see our own names)."""
    src = tmp_path / "-sOutputFile=%pipe%touch PWNED"
    src.write_bytes(TWO_PAGES)
    doc = to_fax_tiff(src, tmp_path / "ok.tif")
    assert doc.pages == 2 and not (tmp_path / "PWNED").exists() and not Path("PWNED").exists()


def test_detect_kind_reads_content_not_names(tmp_path: Path) -> None:
    """Kinds come from the first bytes."""
    assert detect_kind(tmp_path / "x", b"%PDF-1.7\n") is DocumentKind.PDF
    assert detect_kind(tmp_path / "x", b"%!PS-Adobe-3.0\n") is DocumentKind.POSTSCRIPT
    assert detect_kind(tmp_path / "x", "纯文本 plain text".encode()) is DocumentKind.TEXT


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_received_fax_becomes_pdf_and_png_pages(ps_doc: Path, tmp_path: Path) -> None:
    """A received TIFF is kept as received, with a PDF of the same pages and one screen-sized PNG per page (square
    pixels: a normal-resolution page is not squashed)."""
    for resolution in Resolution:
        tif = to_fax_tiff(ps_doc, tmp_path / f"rx-{resolution.value}.tif", resolution, HEADER).path
        original = tif.read_bytes()
        out = tmp_path / f"inbox-{resolution.value}"
        fax = render_received(tif, out, "fax-42")
        assert fax.pages == 2 and fax.tiff.read_bytes() == original
        pdf = fax.pdf.read_bytes()
        assert pdf.startswith(b"%PDF-") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") \
            + pdf.count(b"/Type /Page>") + pdf.count(b"/Type/Page") >= 2
        assert [p.name for p in fax.pngs] == ["fax-42-001.png", "fax-42-002.png"]
        for png in fax.pngs:
            w, h = _png_size(png)
            assert 840 <= w <= 860 and 1160 <= h <= 1180
        assert leftovers(out, {"fax-42.tif", "fax-42.pdf", "fax-42-001.png", "fax-42-002.png"}) == []


def test_a_broken_received_tiff_gives_an_error_and_no_files(tmp_path: Path) -> None:
    """A TIFF cut short (a call that dropped mid-write, a disk that filled) is reported, naming the file."""
    tif = tmp_path / "cut.tif"
    tif.write_bytes(b"II*\x00" + struct.pack("<I", 4096) + bytes(20))
    out = tmp_path / "inbox"
    with pytest.raises(DocumentError, match="cut.tif: TIFF file is cut short"):
        render_received(tif, out, "fax-1")
    assert not out.exists() or leftovers(out, set()) == []
