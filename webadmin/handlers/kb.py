"""Knowledge base: pages (list by category, search, article, edit, categories) and the JSON API.

Agents read and search (also from their desk through GET /api/v1/kb/articles) and fax or e-mail an article to
a caller; supervisors and admins also write. The logic lives in hotline.daemon.service.kb (no Tornado there)."""
from __future__ import annotations

import re
from typing import Any

import tornado.web

from hotline.daemon.service import kb

from ..i18n import N_
from .inputs import id_param, int_param
from .base import BaseHandler, PageHandler

READERS = ("supervisor", "agent")
WRITERS = ("supervisor",)          # and admin, who may do everything
PAGE_SIZE = 30

# The texts of hotline.daemon.service.kb.MESSAGES, marked here so the panel shows them translated (a test keeps
# both lists equal).
MESSAGES = {
    "title": N_("Title: enter 1 to 200 characters."),
    "body": N_("Text: at most 100000 characters."),
    "tags": N_("Tags: at most 10 tags of up to 32 characters each."),
    "category": N_("Category: no such category."),
    "category_name": N_("Category name: enter 1 to 64 characters."),
    "category_taken": N_("Category name: %(name)s exists already."),
    "no_article": N_("No article %(id)s."),
    "no_category": N_("No category %(id)s."),
    "fax_number": N_("Fax number: enter 5 to 20 digits."),
}
FAX_STATUS = {"queued": N_("queued"), "dialling": N_("dialling"), "sending": N_("sending"), "sent": N_("sent"),
              "failed": N_("failed")}


def may_write(handler: BaseHandler) -> bool:
    """Whether the user may change the knowledge base."""
    return handler.current_user is not None and handler.current_user.role in ("admin", *WRITERS)


def require_writer(handler: BaseHandler) -> None:
    """Agents read only."""
    if not may_write(handler):
        raise tornado.web.HTTPError(403, reason="only supervisors and admins may change the knowledge base")


def allow_only(handler: tornado.web.RequestHandler, allowed: set[str]) -> None:
    """Refuse query parameters that are not in the allow-list (400 naming the first unknown one)."""
    unknown = set(handler.request.query_arguments) - allowed
    if unknown:
        raise tornado.web.HTTPError(400, reason=f"unknown parameter {sorted(unknown)[0]!r}")


def int_arg(handler: tornado.web.RequestHandler, name: str, default: int | None, low: int = 1,
            high: int = 10**9) -> int | None:
    """An integer query parameter within bounds (400 naming it otherwise)."""
    raw = handler.get_query_argument(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise tornado.web.HTTPError(400, reason=f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise tornado.web.HTTPError(400, reason=f"{name} must be from {low} to {high}")
    return value


def search_args(handler: tornado.web.RequestHandler, extra: set[str]) -> dict[str, Any]:
    """q and category from the query string (allow-listed)."""
    allow_only(handler, {"q", "category", *extra})
    q = handler.get_query_argument("q", "").strip()
    if len(q) > 200:
        raise tornado.web.HTTPError(400, reason="q: at most 200 characters")
    return {"query": q, "category_id": int_arg(handler, "category", None)}


class KbApiBase(BaseHandler):
    """Knowledge-base API: KbError becomes a JSON error naming the field."""

    roles = READERS

    async def run(self, fn: Any, *args: Any, write: bool = False) -> Any:
        """Run a kb function in the store (reader or writer); KbError -> HTTP error with its message."""
        store = self.services["store"]
        try:
            return await (store.write(fn, *args) if write else store.read(fn, *args))
        except kb.KbError as exc:
            raise tornado.web.HTTPError(exc.status, reason=str(exc)) from None

    def article_fields(self) -> dict[str, Any]:
        """Checked article fields from the JSON body."""
        body = self.json_body()
        try:
            return kb.clean_article(body.get("title"), body.get("body"), body.get("tags"), body.get("category_id"))
        except kb.KbError as exc:
            raise tornado.web.HTTPError(400, reason=str(exc)) from None


class ArticlesApi(KbApiBase):
    """GET /api/v1/kb/articles?q=&category=&limit=&page= (search; agents use it from their desk) and POST
    (create; supervisors and admins)."""

    async def get(self) -> None:
        """Ranked hits for q (or every article by title), with a snippet each."""
        args = search_args(self, {"limit", "page"})
        limit = int_arg(self, "limit", 20, 1, 200)
        page = int_arg(self, "page", 1)
        result = await self.run(lambda: kb.search(args["query"], args["category_id"], limit, (page - 1) * limit))
        self.write_json({"total": result["total"], "highlights": result["highlights"],
                         "articles": [{k: a[k] for k in ("id", "title", "category_id", "category", "snippet",
                                                         "tags", "updated_by", "updated_at", "score")}
                                      for a in result["articles"]]})

    async def post(self) -> None:
        """Create an article."""
        require_writer(self)
        fields = self.article_fields()
        article = await self.run(kb.create_article, fields, self.actor, self.address, write=True)
        self.write_json(article, 201)


class ArticleApi(KbApiBase):
    """GET, PUT (supervisors, admins), DELETE (supervisors, admins) /api/v1/kb/articles/{id}."""

    async def get(self, article_id: str) -> None:
        """The article with its body."""
        self.write_json(await self.run(kb.get_article, id_param(article_id)))

    async def put(self, article_id: str) -> None:
        """Replace the article's title, body, tags and category."""
        require_writer(self)
        fields = self.article_fields()
        self.write_json(await self.run(kb.update_article, id_param(article_id), fields, self.actor, self.address,
                                       write=True))

    async def delete(self, article_id: str) -> None:
        """Delete the article."""
        require_writer(self)
        before = await self.run(kb.delete_article, id_param(article_id), self.actor, self.address, write=True)
        self.write_json({"deleted": before["id"], "title": before["title"]})


class ArticleFaxApi(KbApiBase):
    """POST /api/v1/kb/articles/{id}/fax {"number": "..."}: queue a fax of the article to a caller."""

    async def post(self, article_id: str) -> None:
        """Queue the fax job (the same fax_jobs queue the IVR's fax-back uses) and journal it."""
        body = self.json_body()
        number = body.get("number")
        if not isinstance(number, str):
            raise tornado.web.HTTPError(400, reason=kb.MESSAGES["fax_number"])
        library, fax = self.services.get("fax_library"), self.services.get("fax")
        job = await self.run(kb.fax_article, id_param(article_id), number, self.actor, self.address, None, None,
                             library.generated_dir if library is not None else None, write=True)
        journal = self.services.get("journal")
        if journal is not None:
            journal.emit("fax.created", None, id=job["id"], direction="out", document=job["document"],
                         number=job["number"], status=job["status"], requested_by=self.actor)
        if fax is not None:
            fax.poke()
        self.write_json(job, 201)


EMAIL = re.compile(r"[^@\s<>,;]{1,64}@[^@\s<>,;]{1,190}\.[^@\s<>,;.]{2,}")


class ArticleEmailApi(KbApiBase):
    """POST /api/v1/kb/articles/{id}/email {"to": "..."}: mail the article to a caller (the configured SMTP
    server); audited as kb.article_emailed, journaled as mail.sent / mail.failed."""

    async def post(self, article_id: str) -> None:
        """Send it now; 409 when no mail server is configured, 502 when the server refuses."""
        import asyncio
        import smtplib

        from ..mailreports import send_mail
        to = self.json_body().get("to")
        if not isinstance(to, str) or not EMAIL.fullmatch(to.strip()):
            raise tornado.web.HTTPError(400, reason="to: an e-mail address like name@example.com")
        to = to.strip()
        mail = self.services["config"]["mail"]
        if not mail["smtp_host"]:
            raise tornado.web.HTTPError(409, reason="mail is not set up on this box (mail.smtp_host in hotline.yaml)")
        a = await self.run(kb.get_article, id_param(article_id))
        subject = a["title"]
        body = f"{a['title']}\n\n{a['body']}\n"
        journal = self.services.get("journal")
        try:
            await asyncio.get_running_loop().run_in_executor(None, send_mail, mail, [to], subject, body, [])
        except (OSError, smtplib.SMTPException) as exc:
            if journal is not None:
                journal.emit("mail.failed", None, what=f"kb:{a['id']}", error=str(exc)[:200])
            raise tornado.web.HTTPError(502, reason="the mail server did not take the mail") from None
        if journal is not None:
            journal.emit("mail.sent", None, what=f"kb:{a['id']}", by=self.actor)
        await self.audit("kb.article_emailed", f"kb:{a['id']}", None, {"to": to, "title": a["title"]})
        self.write_json({"sent": True, "to": to, "article_id": a["id"]})


class CategoriesApi(KbApiBase):
    """GET /api/v1/kb/categories (with article counts) and POST {"name"} (supervisors, admins)."""

    async def get(self) -> None:
        """Every category; the last entry (id null) counts the uncategorized articles."""
        allow_only(self, set())
        self.write_json({"categories": await self.run(kb.categories)})

    async def post(self) -> None:
        """Add a category."""
        require_writer(self)
        name = self.json_body().get("name")
        self.write_json(await self.run(kb.create_category, name, self.actor, self.address, write=True), 201)


class CategoryApi(KbApiBase):
    """PUT {"name"} and DELETE /api/v1/kb/categories/{id} (supervisors, admins)."""

    async def put(self, category_id: str) -> None:
        """Rename."""
        require_writer(self)
        name = self.json_body().get("name")
        self.write_json(await self.run(kb.rename_category, id_param(category_id), name, self.actor, self.address,
                                       write=True))

    async def delete(self, category_id: str) -> None:
        """Delete; its articles become uncategorized."""
        require_writer(self)
        self.write_json(await self.run(kb.delete_category, id_param(category_id), self.actor, self.address,
                                       write=True))


# ------------------------------------------------------------------ pages

class KbPageBase(PageHandler):
    """Knowledge-base pages: KbError is shown translated."""

    roles = READERS

    def message(self, exc: kb.KbError) -> str:
        """The error in the user's language."""
        return self.locale.translate(MESSAGES[exc.code]) % exc.params

    def get_template_namespace(self) -> dict[str, Any]:
        """Time formatting and the writer flag for every kb template."""
        ns = super().get_template_namespace()
        ns.update(fmt_time=self.local_time, may_write=may_write(self), fax_status=FAX_STATUS, mark=kb.mark,
                  query_terms=kb.query_terms)
        return ns


class KbListPage(KbPageBase):
    """/kb: categories, articles of one category, or search hits with snippets."""

    title = N_("Knowledge base")

    async def get(self) -> None:
        """List or search."""
        args = search_args(self, {"page"})
        page = int_arg(self, "page", 1)
        store = self.services["store"]
        try:
            result = await store.read(lambda: kb.search(args["query"], args["category_id"], PAGE_SIZE,
                                                        (page - 1) * PAGE_SIZE))
        except kb.KbError as exc:
            raise tornado.web.HTTPError(400, reason=str(exc)) from None
        cats = await store.read(kb.categories)
        self.render("kb.html", result=result, categories=cats, q=args["query"], category_id=args["category_id"],
                    page=page, page_size=PAGE_SIZE, marks=result["highlights"])


class KbArticlePage(KbPageBase):
    """/kb/{id}: the article, its fax form and the faxes sent of it."""

    title = N_("Knowledge base")

    async def get(self, article_id: str) -> None:
        """Show one article (q: the search that led here, marked in the text)."""
        allow_only(self, {"q"})
        store = self.services["store"]
        try:
            article = await store.read(kb.get_article, id_param(article_id))
        except kb.KbError:
            raise tornado.web.HTTPError(404, reason="no such article") from None
        faxes = await store.read(kb.fax_jobs, id_param(article_id))
        self.render("kb_article.html", a=article, faxes=faxes, q=self.get_query_argument("q", "")[:200],
                    mail_ready=bool(self.services["config"]["mail"]["smtp_host"]))


class KbEditPage(KbPageBase):
    """/kb/new and /kb/{id}/edit: the article form (supervisors, admins); errors re-render it."""

    roles = WRITERS
    title = N_("Edit article")

    async def get(self, article_id: str | None = None) -> None:
        """The empty or filled form (a new article may name its category: ?category=)."""
        allow_only(self, {"category"} if article_id is None else set())
        store = self.services["store"]
        if article_id is None:
            form = {"title": "", "body": "", "tags": "", "category_id": self.get_query_argument("category", "")}
        else:
            try:
                a = await store.read(kb.get_article, id_param(article_id))
            except kb.KbError:
                raise tornado.web.HTTPError(404, reason="no such article") from None
            form = {"title": a["title"], "body": a["body"], "tags": ", ".join(a["tags"]),
                    "category_id": str(a["category_id"] or "")}
        await self.show(article_id, form, None)

    async def show(self, article_id: str | None, form: dict, error: str | None, field: str | None = None) -> None:
        """Render the form."""
        cats = await self.services["store"].read(kb.categories)
        self.render("kb_edit.html", article_id=article_id, form=form, error=error, field=field,
                    categories=[c for c in cats if c["id"] is not None])

    async def post(self, article_id: str | None = None) -> None:
        """Save, then show the article."""
        form = {k: self.get_body_argument(k, "") for k in ("title", "body", "tags", "category_id")}
        store = self.services["store"]
        try:
            fields = kb.clean_article(form["title"], form["body"], form["tags"], form["category_id"])
            if article_id is None:
                saved = await store.write(kb.create_article, fields, self.actor, self.address)
            else:
                saved = await store.write(kb.update_article, id_param(article_id), fields, self.actor, self.address)
        except kb.KbError as exc:
            if exc.status == 404:
                raise tornado.web.HTTPError(404, reason="no such article") from None
            self.set_status(400)
            return await self.show(article_id, form, self.message(exc), exc.field)
        self.redirect(f"/kb/{saved['id']}")


class KbDeletePage(KbPageBase):
    """POST /kb/{id}/delete (supervisors, admins)."""

    roles = WRITERS

    async def post(self, article_id: str) -> None:
        """Delete and go back to the list."""
        try:
            await self.services["store"].write(kb.delete_article, id_param(article_id), self.actor, self.address)
        except kb.KbError:
            raise tornado.web.HTTPError(404, reason="no such article") from None
        self.redirect("/kb")


class KbCategoriesPage(KbPageBase):
    """/kb/categories: add, rename and delete categories (supervisors, admins)."""

    roles = WRITERS
    title = N_("Categories")

    async def get(self) -> None:
        """The list with its forms."""
        allow_only(self, set())
        await self.show(None, None)

    async def show(self, error: str | None, done: str | None) -> None:
        """Render."""
        cats = await self.services["store"].read(kb.categories)
        self.render("kb_categories.html", categories=[c for c in cats if c["id"] is not None],
                    uncategorized=cats[-1]["articles"], error=error, done=done)

    async def post(self) -> None:
        """action=create (name), rename (id, name) or delete (id)."""
        action = self.get_body_argument("action", "")
        name = self.get_body_argument("name", "")
        store = self.services["store"]
        cid = int_param(self.get_body_argument("id", "0"), "id", default=0, lo=0)
        try:
            if action == "create":
                await store.write(kb.create_category, name, self.actor, self.address)
                done = N_("Category added.")
            elif action == "rename":
                await store.write(kb.rename_category, cid, name, self.actor, self.address)
                done = N_("Category renamed.")
            elif action == "delete":
                await store.write(kb.delete_category, cid, self.actor, self.address)
                done = N_("Category deleted; its articles are now uncategorized.")
            else:
                raise tornado.web.HTTPError(400, reason="action: use create, rename or delete")
        except kb.KbError as exc:
            self.set_status(404 if exc.status == 404 else 400)
            return await self.show(self.message(exc), None)
        await self.show(None, self.locale.translate(done))


PAGE_ROUTES = [
    (r"/kb", KbListPage),
    (r"/kb/new", KbEditPage),
    (r"/kb/categories", KbCategoriesPage),
    (r"/kb/([0-9]{1,12})", KbArticlePage),
    (r"/kb/([0-9]{1,12})/edit", KbEditPage),
    (r"/kb/([0-9]{1,12})/delete", KbDeletePage),
]
ROUTES = [
    (r"/api/v1/kb/articles", ArticlesApi),
    (r"/api/v1/kb/articles/([0-9]{1,12})", ArticleApi),
    (r"/api/v1/kb/articles/([0-9]{1,12})/fax", ArticleFaxApi),
    (r"/api/v1/kb/articles/([0-9]{1,12})/email", ArticleEmailApi),
    (r"/api/v1/kb/categories", CategoriesApi),
    (r"/api/v1/kb/categories/([0-9]{1,12})", CategoryApi),
]
