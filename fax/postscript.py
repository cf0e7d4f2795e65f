"""The PostScript Hotline writes for ghostscript: the page-header prologue, text pages, and image pages."""
from __future__ import annotations

import unicodedata

import numpy as np

from .tools import DocumentError

__all__ = ["ps_string", "header_prologue", "text_document", "image_document", "PAGE_W", "PAGE_H"]

PAGE_W = 1728 / 204 * 72    # points across a fax page (215 mm)
PAGE_H = 2292 / 196 * 72    # points down an A4-long fax page (297 mm)
HEADER_BAND = 16            # points at the top of each page that the header line owns
TEXT_COLUMNS = 80
TEXT_LEADING = 12
MAX_IMAGE_PIXELS = 50_000_000

_LATIN1_FONT = ("/Courier findfont dup length dict begin { 1 index /FID ne { def } { pop pop } ifelse } forall\n"
                "/Encoding ISOLatin1Encoding def currentdict end /Courier-Latin1 exch definefont pop\n")


def _latin1(text: str) -> bytes:
    norm = unicodedata.normalize("NFKC", text)
    return "".join(c if 32 <= ord(c) < 256 and ord(c) != 127 else "?" for c in norm).encode("latin-1")


def ps_string(text: str) -> str:
    """A PostScript string literal for ``text`` (Latin-1; other characters print as '?'; escapes for the rest)."""
    out = []
    for b in _latin1(text):
        if b in (0x28, 0x29, 0x5C):          # ( ) \
            out.append("\\" + chr(b))
        elif b < 32 or b > 126:
            out.append(f"\\{b:03o}")
        else:
            out.append(chr(b))
    return "(" + "".join(out) + ")"


def header_prologue(text: str | None, total: int | None, page_h: float = PAGE_H) -> str:
    """A prologue run before the document: when ``text`` is given, every page gets a white band at the top with
    ``text`` on the left and "Page n/m" on the right (n counted in global VM, so the document's own save/restore
    and per-page setpagedevice cannot reset it)."""
    if text is None:
        return "%!PS\n"
    tail = ps_string(f"/{total}" if total is not None else "")
    top = page_h - HEADER_BAND
    base = page_h - 11
    return ("%!PS\n" + _LATIN1_FONT +
            "true setglobal globaldict begin /HLpage 0 def\n"
            f"/HLtext {ps_string(text)} def /HLtail {tail} def end false setglobal\n"
            "<< /EndPage { exch pop dup 2 ne { pop\n"
            "  globaldict /HLpage 2 copy get 1 add put\n"
            f"  gsave initgraphics 1 setgray 0 {top:.2f} {PAGE_W:.2f} {HEADER_BAND} rectfill 0 setgray\n"
            "  /Courier-Latin1 findfont 9 scalefont setfont\n"
            f"  24 {base:.2f} moveto globaldict /HLtext get show\n"
            "  globaldict /HLpage get 12 string cvs\n"
            "  dup stringwidth pop (Page ) stringwidth pop add globaldict /HLtail get stringwidth pop add\n"
            f"  {PAGE_W - 24:.2f} exch sub {base:.2f} moveto (Page ) show show globaldict /HLtail get show\n"
            "  grestore true } { pop false } ifelse } >> setpagedevice\n")


def _text_lines(text: str) -> list[list[str]]:
    """Pages of lines: tabs expanded, long lines wrapped at 80 columns, form feeds start a new page."""
    per_page = int((PAGE_H - HEADER_BAND - 24 - 36) // TEXT_LEADING) + 1
    pages: list[list[str]] = [[]]
    for chunk_i, chunk in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\f")):
        if chunk_i:
            pages.append([])
        for line in chunk.split("\n"):
            line = line.expandtabs(8)
            pieces = [line[i:i + TEXT_COLUMNS] for i in range(0, len(line), TEXT_COLUMNS)] or [""]
            for piece in pieces:
                if len(pages[-1]) >= per_page:
                    pages.append([])
                pages[-1].append(piece)
    while len(pages) > 1 and not any(s.strip() for s in pages[-1]):
        pages.pop()
    return pages


def text_document(text: str) -> tuple[bytes, int]:
    """Plain text as PostScript pages in Courier 10 pt (Latin-1; other characters print as '?'); (PS, pages)."""
    pages = _text_lines(text)
    out = ["%!PS\n", _LATIN1_FONT]
    first = PAGE_H - HEADER_BAND - 24
    for lines in pages:
        out.append("/Courier-Latin1 findfont 10 scalefont setfont\n")
        for i, line in enumerate(lines):
            if line.strip():
                out.append(f"54 {first - i * TEXT_LEADING:.2f} moveto {ps_string(line.rstrip())} show\n")
        out.append("showpage\n")
    return "".join(out).encode("ascii"), len(pages)


def _parse_pnm(data: bytes, where: str) -> np.ndarray:
    """A netpbm P4/P5/P6 image as 8-bit gray (0 black, 255 white)."""
    fields: list[bytes] = []
    pos = 0
    want = 3
    while len(fields) < want + 1:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while pos < len(data) and not data[pos:pos + 1].isspace():
            pos += 1
        if start == pos:
            raise DocumentError(f"{where}: the image could not be decoded")
        fields.append(data[start:pos])
        if fields[0] == b"P4":
            want = 2
    pos += 1   # the one whitespace byte before the samples
    magic = fields[0]
    width, height = int(fields[1]), int(fields[2])
    if width <= 0 or height <= 0 or width * height > MAX_IMAGE_PIXELS:
        raise DocumentError(f"{where}: a {width} x {height} image is too large to fax")
    if magic == b"P4":
        row = (width + 7) // 8
        bits = np.frombuffer(data, np.uint8, row * height, pos).reshape(height, row)
        return np.where(np.unpackbits(bits, axis=1)[:, :width], 0, 255).astype(np.uint8)
    maxval = int(fields[3])
    channels = {b"P5": 1, b"P6": 3}.get(magic)
    if channels is None:
        raise DocumentError(f"{where}: unexpected image format {magic!r}")
    dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
    samples = np.frombuffer(data, dtype, width * height * channels, pos).astype(np.float32) * (255.0 / maxval)
    img = samples.reshape(height, width, channels)
    gray = img[..., 0] if channels == 1 else img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(gray, 0, 255).astype(np.uint8)


def image_document(pnm: bytes, where: str) -> bytes:
    """One page showing an image (netpbm output) as large as fits below the header, aspect kept, top-centred."""
    gray = _parse_pnm(pnm, where)
    h, w = gray.shape
    area_w, area_h = PAGE_W - 36, PAGE_H - HEADER_BAND - 36
    scale = min(area_w / w, area_h / h)
    sw, sh = w * scale, h * scale
    tx, ty = (PAGE_W - sw) / 2, PAGE_H - HEADER_BAND - 18 - sh
    head = (f"%!PS\ngsave {tx:.3f} {ty:.3f} translate {sw:.3f} {sh:.3f} scale /DeviceGray setcolorspace\n"
            f"<< /ImageType 1 /Width {w} /Height {h} /BitsPerComponent 8 /Decode [0 1] "
            f"/ImageMatrix [{w} 0 0 -{h} 0 {h}] /DataSource currentfile >> image\n")
    return head.encode("ascii") + gray.tobytes() + b"\ngrestore showpage\n"
