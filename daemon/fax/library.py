"""The fax document library: the documents flows and agents fax by name (``catalog``, ``spec-1020``, ``faq-100``).

Two folders, one name space: documents shipped with the flows (``<flows>/documents/``, text or PostScript
sources in the repository, so a fresh box has them with no step by hand) and documents uploaded in the panel
or API (``<spool>/fax/library/``). An upload with the name of a shipped document overrides it; deleting the
upload brings the shipped one back; shipped documents themselves cannot be deleted. Every function here does
file work: call it off the event loop.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .jobs import DOCUMENT_RE, FaxError

MAX_UPLOAD = 10 * 1024 * 1024
# suffix -> (content type, kind shown)
TYPES = {".pdf": ("application/pdf", "PDF"), ".ps": ("application/postscript", "PostScript"),
         ".txt": ("text/plain; charset=utf-8", "text"), ".png": ("image/png", "PNG"),
         ".jpg": ("image/jpeg", "JPEG"), ".tif": ("image/tiff", "TIFF")}
TEXT_LINES_PER_PAGE = 60


def sniff(data: bytes) -> str | None:
    """The suffix a document's bytes really are (by their signature), or None when not a type we fax."""
    if data.startswith(b"%PDF-"):
        return ".pdf"
    if data.startswith(b"%!PS"):
        return ".ps"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
            return ".txt"
        except UnicodeDecodeError:
            return None
    return None


def page_count(path: Path) -> int:
    """Pages of a document, as far as can be told without converting it (at least 1)."""
    suffix = path.suffix.lower()
    if suffix in (".png", ".jpg", ".tif"):
        return 1
    data = path.read_bytes()
    if suffix == ".pdf":
        n = len(re.findall(rb"/Type\s*/Page(?![s\w])", data))
    elif suffix == ".ps":
        n = len(re.findall(rb"^%%Page:", data, re.M))
    else:
        n = sum(max(1, -(-len(part.splitlines()) // TEXT_LINES_PER_PAGE))
                for part in data.decode("utf-8", "replace").split("\f"))
    return max(1, n)


@dataclass(frozen=True)
class Document:
    """One document of the library."""

    name: str
    path: Path
    shipped: bool          # from the flows' documents folder
    overrides: bool        # an upload that replaces a shipped document of the same name

    def info(self) -> dict:
        """What the API and panel list."""
        st = self.path.stat()
        ctype, kind = TYPES[self.path.suffix.lower()]
        return {"name": self.name, "kind": kind, "content_type": ctype, "bytes": st.st_size,
                "pages": page_count(self.path), "modified_at": st.st_mtime, "shipped": self.shipped,
                "overrides_shipped": self.overrides, "deletable": not self.shipped}


class FaxLibrary:
    """Documents by name from the shipped and uploaded folders."""

    def __init__(self, shipped_dir: Path, upload_dir: Path, generated_dir: Path | None = None):
        self.shipped_dir = shipped_dir
        self.upload_dir = upload_dir
        # documents made for one request (a knowledge-base article as it was when faxed): found by name, not listed
        self.generated_dir = generated_dir or upload_dir.parent / "generated"

    @staticmethod
    def _in(folder: Path) -> dict[str, Path]:
        out: dict[str, Path] = {}
        if folder.is_dir():
            for p in sorted(folder.iterdir()):
                if p.is_file() and p.suffix.lower() in TYPES and DOCUMENT_RE.fullmatch(p.stem) \
                        and not p.is_symlink():
                    out.setdefault(p.stem, p)
        return out

    def documents(self) -> list[Document]:
        """Every document, by name."""
        shipped, uploaded = self._in(self.shipped_dir), self._in(self.upload_dir)
        docs = {n: Document(n, p, True, False) for n, p in shipped.items()}
        docs.update({n: Document(n, p, False, n in shipped) for n, p in uploaded.items()})
        return [docs[n] for n in sorted(docs)]

    def names(self) -> set[str]:
        """Names of every document (flow validation)."""
        return set(self._in(self.shipped_dir)) | set(self._in(self.upload_dir))

    def get(self, name: str) -> Document | None:
        """A document by name (an upload wins over a shipped one); None when there is none."""
        if not isinstance(name, str) or not DOCUMENT_RE.fullmatch(name):
            return None
        up = self._in(self.upload_dir).get(name)
        if up is not None:
            return Document(name, up, False, name in self._in(self.shipped_dir))
        shipped = self._in(self.shipped_dir).get(name)
        if shipped is not None:
            return Document(name, shipped, True, False)
        made = self._in(self.generated_dir).get(name)
        return Document(name, made, False, False) if made is not None else None

    def save(self, name: str, data: bytes) -> Document:
        """Store an upload (type by its bytes, at most MAX_UPLOAD), replacing one of the same name; written to a
        temporary file and renamed, so a failed upload leaves nothing half-written."""
        if not isinstance(name, str) or not DOCUMENT_RE.fullmatch(name):
            raise FaxError(f"name: {name!r}: use 1-64 letters, digits, '.', '-' or '_' (starting with a letter "
                           "or digit)")
        if not data:
            raise FaxError("file: the document is empty")
        if len(data) > MAX_UPLOAD:
            raise FaxError(f"file: at most {MAX_UPLOAD // (1024 * 1024)} MB")
        suffix = sniff(data)
        if suffix is None:
            raise FaxError("file: not a PDF, PostScript, text (UTF-8), PNG, JPEG or TIFF document")
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=self.upload_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            for old in self.upload_dir.glob(f"{name}.*"):
                if old.stem == name and old.suffix.lower() in TYPES:
                    old.unlink()
            target = self.upload_dir / f"{name}{suffix}"
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        os.utime(target, (time.time(), time.time()))
        return self.get(name)  # type: ignore[return-value]

    def delete(self, name: str) -> Document:
        """Remove an upload (a shipped document of the same name is used again); FaxError for a shipped one."""
        doc = self.get(name)
        if doc is None:
            raise FaxError(f"no document {name!r}")
        if doc.shipped:
            raise FaxError(f"{name!r} ships with the flows and cannot be deleted (upload a document of the same "
                           "name to replace it)")
        doc.path.unlink()
        return doc


def shipped_dir(flows_dir: Path) -> Path:
    """The flows' documents folder."""
    return flows_dir / "documents"
