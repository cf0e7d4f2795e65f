"""Faxes in both directions: the list (API and page), their files, asking for a fax, and the agent's message
when a fax they asked for ends (pushed live to their desk).

Files are found by the job's id only, under the spool's fax folder (``jobs/<id>/document.pdf``,
``jobs/<id>/page-<n>.png``, written by the document conversion) or in the fax library (the job's source
document): never from a path in the request; 404 while a file does not exist (yet).
"""
from __future__ import annotations

from pathlib import Path

import tornado.web

from hotline.daemon.fax import jobs
from hotline.daemon.fax.jobs import RECEIVED_TIFF, FaxError
from hotline.daemon.mail.outbox import MailKind, mail_state
from hotline.daemon.store.models import Cdr
from hotline.daemon.store.service_models import FaxDirection, FaxJob, FaxStatus

from ..i18n import N_
from .base import PageHandler
from .inputs import id_param
from .media_pages import VIEWERS, MediaHandler, Params, inside, query_string, send_file

FAX_SORTS = {"-created_at": (FaxJob.created_at.desc(), FaxJob.id.desc()),
             "created_at": (FaxJob.created_at.asc(), FaxJob.id.asc()),
             "-finished_at": (FaxJob.finished_at.desc(nulls="LAST"), FaxJob.id.desc()),
             "status": (FaxJob.status.asc(), FaxJob.created_at.desc()),
             "direction": (FaxJob.direction.asc(), FaxJob.created_at.desc()),
             "number": (FaxJob.number.asc(nulls="LAST"), FaxJob.created_at.desc())}
FAX_PARAMS = {"direction", "status", "number", "document", "customer", "since", "until", "sort", "page", "per_page"}
MAX_PAGE_LINKS = 200
STATUS_LABELS = {"queued": N_("queued"), "dialling": N_("dialling"), "sending": N_("sending"), "sent": N_("sent"),
                 "failed": N_("failed"), "receiving": N_("receiving"), "received": N_("received")}
REASON_LABELS = {
    "no_engine": N_("no fax engine: nothing can send a fax on this box yet"),
    "no_trunk": N_("no free line that can dial out"), "busy": N_("the number was busy"),
    "no_answer": N_("no answer"), "not_a_fax": N_("no fax machine answered"),
    "transmission": N_("the transmission broke off"),
    "document_missing": N_("the document is not in the fax library"),
    "kill_time": N_("not sent before its kill time"), "attempts": N_("every attempt failed"),
    "never_sent": N_("never sent: no fax sender in this version"), "cancelled": N_("cancelled"),
    "shutdown": N_("the box stopped during the attempt"), "error": N_("internal error (see the log)"),
}


def fax_filters(handler: tornado.web.RequestHandler) -> dict:
    """Checked search parameters of the fax list."""
    p = Params(handler, FAX_PARAMS)
    page, per = p.paging()
    return {"direction": p.choice("direction", [d.value for d in FaxDirection]),
            "status": p.choice("status", [s.value for s in FaxStatus]),
            "number": p.text("number", r"\+?[0-9]{1,32}", "digits only (part of the fax number or caller id)"),
            "document": p.text("document", r"[\w.\-]{1,64}", "a document id"),
            "customer": p.text("customer", r"[0-9]{1,12}", "a customer id (the faxes received from them)"),
            "since": p.day("since"), "until": p.day("until"), "sort": p.choice("sort", FAX_SORTS, "-created_at"),
            "page": page, "per_page": per}


def fax_links(row: dict, spool: Path, library_has: bool) -> dict:
    """URLs of a job's files: the converted PDF and page images (404 until they exist), the source document."""
    folder = jobs.job_dir(spool, row["id"])
    n = min(MAX_PAGE_LINKS, row.get("pages_total") or row.get("pages") or 0)
    base = f"/api/v1/faxes/{row['id']}"
    links = {"pdf_url": f"{base}/document.pdf", "pdf_ready": (folder / "document.pdf").is_file(),
             "page_urls": [f"{base}/pages/{i}.png" for i in range(1, n + 1)],
             "document_url": f"{base}/document" if library_has else None}
    if row.get("direction") == "in":   # the fax exactly as the sender's machine sent it
        links["tiff_url"] = f"{base}/received.tif" if (folder / RECEIVED_TIFF).is_file() else None
    return links


def search_faxes(f: dict, spool: Path, library) -> dict:
    """Matching faxes of both directions, newest first by default, with their file links (DB thread)."""
    q = FaxJob.select()
    if f["direction"]:
        q = q.where(FaxJob.direction == f["direction"])
    if f["status"]:
        q = q.where(FaxJob.status == f["status"])
    if f["number"]:
        q = q.where(FaxJob.number.contains(f["number"]) | FaxJob.caller_id.contains(f["number"]))
    if f["document"]:
        q = q.where(FaxJob.document == f["document"])
    if f.get("customer"):
        q = q.where(FaxJob.customer_id == int(f["customer"]))
    if f["since"] is not None:
        q = q.where(FaxJob.created_at >= f["since"])
    if f["until"] is not None:
        q = q.where(FaxJob.created_at < f["until"] + 86400)
    total = q.count()
    rows = list(q.order_by(*FAX_SORTS[f["sort"]]).limit(f["per_page"]).offset((f["page"] - 1) * f["per_page"]))
    callers = {c.call_uuid: c.caller_id for c in Cdr.select(Cdr.call_uuid, Cdr.caller_id)
               .where(Cdr.call_uuid.in_([r.call_uuid for r in rows if r.call_uuid]))} if rows else {}
    mails = mail_state(MailKind.FAX, [r.id for r in rows if r.direction == FaxDirection.IN.value])
    out = []
    for r in rows:
        d = jobs.job_dict(r)
        d["mail"] = mails.get(r.id)
        d["caller_id"] = d["caller_id"] or (callers.get(r.call_uuid) if r.direction == "out" else None)
        d["same_call"] = r.direction == "out" and r.number is None
        has = bool(r.document) and library is not None and library.get(r.document) is not None
        d.update(fax_links(d, spool, has))
        out.append(d)
    return {"total": total, "faxes": out}


def visible_job(job_id: int) -> dict | None:
    """One job by id (DB thread)."""
    row = FaxJob.get_or_none(FaxJob.id == job_id)
    return jobs.job_dict(row) if row is not None else None


class FaxesApi(MediaHandler):
    """GET /api/v1/faxes: every fax, both directions; POST: ask for a fax of a library document to a number."""

    roles = VIEWERS

    async def get(self) -> None:
        """Filtered, sorted (allow-listed columns), paginated."""
        f = fax_filters(self)
        result = await self.read(search_faxes, f, self.services["config"].path_for("spool"),
                                 self.services.get("fax_library"))
        fax = self.services.get("fax")
        engine = fax.status() if fax is not None else {"state": "no_engine", "reason": "no fax engine"}
        self.write_json({**result, "page": f["page"], "per_page": f["per_page"], "engine": engine})

    async def post(self) -> None:
        """{"document", "number"}: a job queued for the queue to send (reason no_engine while none is plugged
        in: it is sent once an engine is); the asker gets a message when it ends. 201 with the job."""
        from hotline.daemon.fax.requests import request
        body = self.json_body()
        document, number = body.get("document"), body.get("number")
        if not isinstance(number, str) or not number.strip():
            raise tornado.web.HTTPError(400, reason="number: the fax number to send to")
        s = self.services
        try:
            row = await request(s.get("fax"), s["store"], s["journal"], s["engine"].now, document, number,
                                requested_by=self.actor, keep_if_no_engine=True)
        except FaxError as exc:
            raise tornado.web.HTTPError(400, reason=str(exc)) from None
        self.write_json(row, 201)


class FaxFileApi(MediaHandler):
    """GET /api/v1/faxes/{id}/document.pdf, /pages/{n}.png and (a received fax) /received.tif: the job's files
    (404 until made)."""

    roles = VIEWERS

    async def get(self, fax_id: str, page: str | None = None) -> None:
        """Send the file from the job's folder."""
        row = await self.read(visible_job, id_param(fax_id))
        if row is None:
            raise tornado.web.HTTPError(404, reason="no such fax")
        folder = jobs.job_dir(self.services["config"].path_for("spool"), row["id"])
        tiff = self.request.path.endswith(".tif")
        name = RECEIVED_TIFF if tiff else "document.pdf" if page is None else f"page-{int(page)}.png"
        path = inside(folder, folder / name)
        if path is None:
            raise tornado.web.HTTPError(404, reason="not there yet: the document has not been converted")
        kind = "image/tiff" if tiff else "application/pdf" if page is None else "image/png"
        await send_file(self, path, kind, f"fax-{row['id']}{'' if page is None else f'-page-{int(page)}'}{path.suffix}")


class FaxDocumentApi(MediaHandler):
    """GET /api/v1/faxes/{id}/document: the job's source document from the fax library (404 when not there)."""

    roles = VIEWERS

    async def get(self, fax_id: str) -> None:
        """Send the library's file."""
        from hotline.daemon.fax.library import TYPES
        row = await self.read(visible_job, id_param(fax_id))
        library = self.services.get("fax_library")
        doc = await self.read(library.get, row["document"]) if row and row["document"] and library else None
        path = inside(doc.path.parent, doc.path) if doc is not None else None
        if path is None:
            raise tornado.web.HTTPError(404, reason="no document file for this fax")
        await send_file(self, path, TYPES[path.suffix.lower()][0], path.name)


class FaxesPage(PageHandler):
    """Faxes, both directions: status with its reason, pages, number or caller, files."""

    roles = VIEWERS
    title = N_("Faxes")

    async def get(self) -> None:
        """The list with filters."""
        q = {k: self.get_query_argument(k, "") for k in FAX_PARAMS if k != "page"}
        error, result, f = None, {"total": 0, "faxes": []}, None
        try:
            f = fax_filters(self)
            result = await self.services["store"].read(search_faxes, f, self.services["config"].path_for("spool"),
                                                       self.services.get("fax_library"))
        except tornado.web.HTTPError as exc:
            error = exc.reason
            self.set_status(400)
        fax = self.services.get("fax")
        engine = fax.status() if fax is not None else {"state": "no_engine"}
        self.render("faxes.html", result=result, q=q, page=f["page"] if f else 1, per_page=f["per_page"] if f else 25,
                    error=error, fmt_time=lambda ts: self.local_time(ts, "second") if ts else "—",
                    statuses=[s.value for s in FaxStatus], status_labels=STATUS_LABELS, reason_labels=REASON_LABELS,
                    query=query_string, sort=(f or {}).get("sort") or "-created_at", engine=engine)


def setup_hub(hub, services: dict) -> None:
    """A fax someone asked for ended: their open panels get the message at once (it also waits in their inbox)."""
    def forward(event: dict) -> None:
        data = event.get("data") or {}
        if event["kind"] in ("fax.sent", "fax.failed") and data.get("message") and data.get("requested_by"):
            hub.send_to_user(data["requested_by"], {"type": "message", "message": data["message"]})
    hub.journal_listeners.append(forward)


PAGE_ROUTES = [(r"/faxes", FaxesPage)]
ROUTES = [
    (r"/api/v1/faxes", FaxesApi),
    (r"/api/v1/faxes/([0-9]{1,12})/document", FaxDocumentApi),
    (r"/api/v1/faxes/([0-9]{1,12})/document\.pdf", FaxFileApi),
    (r"/api/v1/faxes/([0-9]{1,12})/pages/([0-9]{1,4})\.png", FaxFileApi),
    (r"/api/v1/faxes/([0-9]{1,12})/received\.tif", FaxFileApi),
]
