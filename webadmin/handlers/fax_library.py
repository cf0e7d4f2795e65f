"""The fax document library in the panel and the API: list, preview, upload (bounded, type checked by the
file's bytes), delete; the names are what flows (``fax: {document: ...}``) and agents fax."""
from __future__ import annotations

import asyncio
from typing import Any

import tornado.web

from hotline.daemon.fax.jobs import DOCUMENT_RE, FaxError
from hotline.daemon.fax.library import MAX_UPLOAD, TYPES

from ..i18n import N_
from ..limits import upload
from .base import BaseHandler, PageHandler
from .media_pages import inside, send_file

READERS = ("supervisor", "agent")
WRITERS = ("supervisor",)


async def off_loop(fn: Any, *args: Any) -> Any:
    """File work in a thread."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def listing(library: Any) -> list[dict]:
    """Every document with its facts (thread)."""
    return [d.info() for d in library.documents()]


class LibraryMixin:
    """The library service, and a name from the URL checked."""

    @property
    def library(self) -> Any:
        """The fax library."""
        lib = self.services.get("fax_library")  # type: ignore[attr-defined]
        if lib is None:
            raise tornado.web.HTTPError(503, reason="the fax library is not available")
        return lib

    @staticmethod
    def checked(name: str) -> str:
        """404 for a name no document can have."""
        if not DOCUMENT_RE.fullmatch(name or ""):
            raise tornado.web.HTTPError(404, reason="no such document")
        return name


class FaxDocumentsApi(LibraryMixin, BaseHandler):
    """GET /api/v1/fax-documents: every document of the library (name, kind, pages, shipped)."""

    roles = READERS

    async def get(self) -> None:
        """The list, by name."""
        self.write_json({"documents": await off_loop(listing, self.library)})


@upload(MAX_UPLOAD + 64 * 1024)
class FaxDocumentApi(LibraryMixin, BaseHandler):
    """GET (the file, for preview), PUT (the body is the document; replaces one of the same name) and DELETE
    /api/v1/fax-documents/{name}."""

    roles = READERS

    async def get(self, name: str) -> None:
        """The document's file, shown inline."""
        doc = await off_loop(self.library.get, self.checked(name))
        path = inside(doc.path.parent, doc.path) if doc is not None else None
        if path is None:
            raise tornado.web.HTTPError(404, reason="no such document")
        self.set_header("Content-Disposition", f'inline; filename="{path.name}"')
        await send_file(self, path, TYPES[path.suffix.lower()][0], path.name)
        
    async def put(self, name: str) -> None:
        """Store an upload (supervisors and admins); audited."""
        if self.current_user.role not in WRITERS and self.current_user.role != "admin":
            raise tornado.web.HTTPError(403, reason="only supervisors and admins change the fax library")
        doc = await self.save(self.checked(name), self.request.body)
        self.write_json(doc, 201)

    async def save(self, name: str, data: bytes) -> dict:
        """Check and store; 413 when too big, 400 for a type we do not fax."""
        if len(data) > MAX_UPLOAD:
            raise tornado.web.HTTPError(413, reason=f"file: at most {MAX_UPLOAD // (1024 * 1024)} MB")
        try:
            doc = await off_loop(self.library.save, name, data)
        except FaxError as exc:
            raise tornado.web.HTTPError(400, reason=str(exc)) from None
        info = await off_loop(doc.info)
        await self.audit("fax_document.uploaded", name, None, {k: info[k] for k in ("kind", "bytes", "pages")})
        return info

    async def delete(self, name: str) -> None:
        """Remove an upload (shipped documents stay: 409); audited."""
        if self.current_user.role not in WRITERS and self.current_user.role != "admin":
            raise tornado.web.HTTPError(403, reason="only supervisors and admins change the fax library")
        try:
            doc = await off_loop(self.library.delete, self.checked(name))
        except FaxError as exc:
            raise tornado.web.HTTPError(404 if "no document" in str(exc) else 409, reason=str(exc)) from None
        await self.audit("fax_document.deleted", name, {"file": doc.path.name}, None)
        self.write_json({"name": name, "deleted": True})


@upload(MAX_UPLOAD + 64 * 1024)
class FaxDocumentsPage(LibraryMixin, PageHandler):
    """/fax-documents: the library; supervisors upload (a form with name and file) and delete."""

    roles = READERS
    title = N_("Fax documents")

    async def get(self, error: str | None = None, done: str | None = None) -> None:
        """The list, previews and the upload form."""
        docs = await off_loop(listing, self.library)
        role = self.current_user.role
        self.render("fax_documents.html", docs=docs, error=error, done=done,
                    may_write=role in WRITERS or role == "admin",
                    fmt_time=lambda ts: self.local_time(ts, "second"))

    async def post(self) -> None:
        """Upload (action=upload) or delete (action=delete) from the page's forms."""
        if self.current_user.role not in WRITERS and self.current_user.role != "admin":
            raise tornado.web.HTTPError(403)
        action, name = self.get_body_argument("action", ""), self.get_body_argument("name", "").strip()
        try:
            if action == "delete":
                doc = await off_loop(self.library.delete, name)
                await self.audit("fax_document.deleted", name, {"file": doc.path.name}, None)
                return await self.get(done=self.locale.translate("Deleted"))
            files = self.request.files.get("file") or []
            if not files:
                raise FaxError("file: choose a document to upload")
            await FaxDocumentApi.save(self, name, files[0]["body"])  # type: ignore[arg-type]
            return await self.get(done=self.locale.translate("Uploaded"))
        except FaxError as exc:
            self.set_status(400)
            return await self.get(error=str(exc))
        except tornado.web.HTTPError as exc:
            self.set_status(exc.status_code)
            return await self.get(error=exc.reason)


PAGE_ROUTES = [(r"/fax-documents", FaxDocumentsPage)]
ROUTES = [
    (r"/api/v1/fax-documents", FaxDocumentsApi),
    (r"/api/v1/fax-documents/([A-Za-z0-9][\w.\-]{0,63})", FaxDocumentApi),
]
