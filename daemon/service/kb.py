"""The knowledge base: categories, articles, and a search that works for Chinese as well as English.

SQLite's FTS5 (and PostgreSQL's text search) split text at spaces, and Chinese has none. So every article's
title, tags and body are cut into terms here, in Python, and kept in ``kb_terms`` (one row per article and
term, with a weight), rewritten in the same transaction as every change of the article:

* a run of CJK characters gives each character and each pair of neighbouring characters ("打印机卡纸" ->
  打, 印, ..., 打印, 印机, 机卡, 卡纸);
* any other run of letters and digits is one word, case-folded ("Paper", "E02");
* weight = 5 x occurrences in the title + 3 x in the tags + 1 x in the body.

A query is cut the same way, except that a CJK run of two or more characters gives only its pairs (so 卡纸
does not match an article that merely has 卡 and 纸 somewhere) and a word of three or more letters also
matches words starting with it ("jam" finds "jammed"). An article is a hit when it has at least 60 % of
the query's terms; hits are ranked by the number of query terms they have, then by the summed weight. The
lookup is one standard SQL query over ``kb_terms`` (``term IN (...) OR term LIKE 'x%'``), the same on
SQLite and PostgreSQL.

Every function runs inside a database thread (``store.read`` / ``store.write``); the write helpers also
write the audit entry in the same transaction.
"""
from __future__ import annotations

import hashlib
import math
import re
import time
from pathlib import Path
import unicodedata
from collections import Counter
from typing import Any

import peewee

from ..box import audit
from ..errors import HotlineError
from ..store.service_models import FaxJob, KbArticle, KbCategory, KbTerm
from ..box import audit, localtime
from ..errors import HotlineError
from ..store.service_models import FaxJob, KbArticle, KbCategory, KbTerm

TITLE_MAX, BODY_MAX, TAG_MAX, TAGS_MAX, CATEGORY_MAX = 200, 100_000, 32, 10, 64
TERM_MAX = 32              # the column's width
QUERY_TERMS_MAX = 32       # longer queries are cut (the first terms count)
MATCH_SHARE = 0.6          # share of the query's terms an article must have
FAX_DOCUMENT = "kb-{id}"   # the document id a fax job carries (the IVR's fax-back uses "faq-<code>")

_CJK = ("\u3040-\u30ff"            # kana
        "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"   # CJK ideographs (extension A, unified, compatibility)
        "\uac00-\ud7af"            # hangul
        "\U00020000-\U0002ffff")   # CJK extensions B and later
_RUNS = re.compile(rf"([{_CJK}]+)|((?:(?![{_CJK}])[^\W_])+)")


class KbError(HotlineError):
    """A knowledge-base request that cannot be carried out; ``field`` names the input at fault (if any)."""

    def __init__(self, code: str, field: str | None = None, status: int = 400, **params: Any):
        self.code, self.field, self.status, self.params = code, field, status, params
        super().__init__(MESSAGES[code] % params)


# English messages (the panel shows them translated: webadmin/handlers/kb.py lists the same texts).
MESSAGES = {
    "title": "Title: enter 1 to 200 characters.",
    "body": "Text: at most 100000 characters.",
    "tags": "Tags: at most 10 tags of up to 32 characters each.",
    "category": "Category: no such category.",
    "category_name": "Category name: enter 1 to 64 characters.",
    "category_taken": "Category name: %(name)s exists already.",
    "no_article": "No article %(id)s.",
    "no_category": "No category %(id)s.",
    "fax_number": "Fax number: enter 5 to 20 digits.",
}


# ------------------------------------------------------------------ terms

def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold()


def _runs(text: str) -> list[tuple[bool, str]]:
    """(is CJK, run) for each run of CJK characters or of other letters and digits."""
    return [(bool(m.group(1)), m.group(0)) for m in _RUNS.finditer(_norm(text))]


def terms(text: str) -> Counter:
    """The index terms of a text with their counts: CJK characters and character pairs, words."""
    out: Counter = Counter()
    for cjk, run in _runs(text):
        if cjk:
            out.update(run)
            out.update(run[i:i + 2] for i in range(len(run) - 1))
        else:
            out[run[:TERM_MAX]] += 1
    return out


def query_terms(query: str) -> list[tuple[str, bool]]:
    """(term, match as prefix) for a query, in order, without repeats, at most QUERY_TERMS_MAX."""
    out: list[tuple[str, bool]] = []
    for cjk, run in _runs(query):
        if cjk:
            parts = [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]
            out.extend((p, False) for p in parts)
        else:
            word = run[:TERM_MAX]
            out.append((word, len(word) >= 3 and len(run) <= TERM_MAX))
    seen: set[str] = set()
    unique = [(t, p) for t, p in out if not (t in seen or seen.add(t))]
    return unique[:QUERY_TERMS_MAX]


def weights(title: str, tags: str, body: str) -> dict[str, int]:
    """Each term of an article with its weight (title 5, tags 3, body 1 per occurrence)."""
    w: Counter = Counter()
    for factor, text in ((5, title), (3, tags.replace(",", " ")), (1, body)):
        for term, n in terms(text).items():
            w[term] += factor * n
    return {t: min(n, 1_000_000) for t, n in w.items()}


def reindex(article: KbArticle) -> int:
    """Rewrite the article's search terms (inside the caller's transaction); how many terms."""
    KbTerm.delete().where(KbTerm.article == article.id).execute()
    rows = [{"article": article.id, "term": t, "weight": n}
            for t, n in weights(article.title, article.tags, article.body).items()]
    for i in range(0, len(rows), 500):
        KbTerm.insert_many(rows[i:i + 500]).execute()
    return len(rows)


# ------------------------------------------------------------------ validation

def clean_tags(value: Any) -> str:
    """Tags from a list or a comma-separated string, trimmed, without repeats, as "a,b,c"."""
    if value is None:
        return ""
    items = value if isinstance(value, list) else str(value).replace("，", ",").split(",")
    tags: list[str] = []
    for item in items:
        tag = " ".join(str(item).split())
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise KbError("tags", "tags")
        if tag.casefold() not in (t.casefold() for t in tags):
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise KbError("tags", "tags")
    return ",".join(tags)


def clean_article(title: Any, body: Any, tags: Any, category_id: Any) -> dict[str, Any]:
    """Checked article fields (raises KbError naming the field)."""
    title = " ".join(str(title or "").split())
    if not 1 <= len(title) <= TITLE_MAX:
        raise KbError("title", "title")
    body = str(body or "").replace("\r\n", "\n").strip()
    if len(body) > BODY_MAX:
        raise KbError("body", "body")
    if category_id in (None, "", 0, "0"):
        category = None
    else:
        try:
            category = int(category_id)
        except (TypeError, ValueError):
            raise KbError("category", "category_id") from None
    return {"title": title, "body": body, "tags": clean_tags(tags), "category_id": category}


def _category_name(name: Any) -> str:
    name = " ".join(str(name or "").split())
    if not 1 <= len(name) <= CATEGORY_MAX:
        raise KbError("category_name", "name")
    return name


# ------------------------------------------------------------------ reading

def _iso(ts: float | None) -> str | None:
    return None if ts is None else localtime.fmt(ts, localtime.current(), "second")


def article_dict(a: KbArticle, with_body: bool = True) -> dict[str, Any]:
    """The exposed fields of an article."""
    cat = a.category if a.category_id else None
    out = {"id": a.id, "title": a.title, "category_id": a.category_id, "category": cat.name if cat else None,
           "tags": [t for t in a.tags.split(",") if t], "created_by": a.created_by, "created_at": a.created_at,
           "updated_by": a.updated_by, "updated_at": a.updated_at}
    if with_body:
        out["body"] = a.body
    return out


def get_article(article_id: int) -> dict[str, Any]:
    """One article with its body (KbError 404 when missing)."""
    a = KbArticle.get_or_none(KbArticle.id == article_id)
    if a is None:
        raise KbError("no_article", status=404, id=article_id)
    return article_dict(a)


def categories() -> list[dict[str, Any]]:
    """Every category with its number of articles, by name; then the uncategorized count (id None)."""
    counts = dict(KbArticle.select(KbArticle.category, peewee.fn.COUNT(KbArticle.id))
                  .group_by(KbArticle.category).tuples())
    out = [{"id": c.id, "name": c.name, "articles": counts.get(c.id, 0)}
           for c in KbCategory.select().order_by(KbCategory.name)]
    return out + [{"id": None, "name": None, "articles": counts.get(None, 0)}]


def snippet(body: str, needles: list[str], width: int = 120) -> str:
    """About ``width`` characters of the body around the first needle found (else its beginning)."""
    flat = " ".join(body.split())
    low = flat.lower()
    pos = min((p for p in (low.find(n.lower()) for n in needles if n) if p >= 0), default=-1)
    start = 0 if pos < 0 else max(0, pos - width // 4)
    if 0 < start:  # do not cut an English word in half
        space = flat.rfind(" ", max(0, start - 12), start)
        start = space + 1 if space >= 0 else start
    end = min(len(flat), start + width)
    return ("…" if start > 0 else "") + flat[start:end] + ("…" if end < len(flat) else "")


def highlights(query: str) -> list[str]:
    """What a page marks in titles and snippets: the query's words and its CJK characters or pairs."""
    return [t for t, _ in query_terms(query)]


def mark(text: str, marks: list[str]) -> list[tuple[str, bool]]:
    """Cut a text into (piece, is a hit) for highlighting: every occurrence of every mark, overlapping ones
    too (打印 and 印机 mark 打印机 whole), without regard to case."""
    marks = [m.lower() for m in marks if m]
    if not marks or not text:
        return [(text, False)]
    low = text.lower()
    if len(low) != len(text):        # a case mapping changed the length: mark nothing rather than misplace
        return [(text, False)]
    hit = [False] * len(text)
    for m in set(marks):
        pos = low.find(m)
        while pos >= 0:
            hit[pos:pos + len(m)] = [True] * len(m)
            pos = low.find(m, pos + 1)
    out: list[tuple[str, bool]] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or hit[i] != hit[start]:
            out.append((text[start:i], hit[start]))
            start = i
    return out


def search(query: str = "", category_id: int | None = None, limit: int = 20, offset: int = 0) -> dict[str, Any]:
    """Articles matching a query (ranked) or, without one, every article (of a category) by title.
    Returns {"total", "articles": [{id, title, category_id, category, snippet, score, ...}], "highlights"}."""
    limit = max(1, min(int(limit), 200))
    qterms = query_terms(query or "")
    marks = highlights(query or "")
    if category_id is not None and KbCategory.get_or_none(KbCategory.id == category_id) is None:
        raise KbError("category", "category")
    if not qterms:
        q = KbArticle.select()
        if category_id is not None:
            q = q.where(KbArticle.category == category_id)
        total = q.count()
        rows = list(q.order_by(KbArticle.title, KbArticle.id).limit(limit).offset(offset))
        return {"total": total, "highlights": [],
                "articles": [{**article_dict(a, False), "snippet": snippet(a.body, []), "score": None}
                             for a in rows]}
    exact = [t for t, prefix in qterms if not prefix]
    cond = KbTerm.term.in_(exact) if exact else None
    for t, prefix in qterms:
        if prefix:
            like = KbTerm.term.startswith(t)   # peewee escapes % and _ in the pattern
            cond = like if cond is None else (cond | like)
    q = KbTerm.select(KbTerm.article, KbTerm.term, KbTerm.weight).where(cond)
    if category_id is not None:
        q = q.join(KbArticle).where(KbArticle.category == category_id)
    matched: dict[int, set[int]] = {}
    score: Counter = Counter()
    index = {t: i for i, (t, _) in enumerate(qterms)}
    prefixes = [(i, t) for i, (t, p) in enumerate(qterms) if p]
    for article_id, term, weight in q.tuples().iterator():
        hits = {index[term]} if term in index else set()
        hits.update(i for i, t in prefixes if term.startswith(t))
        if hits:
            matched.setdefault(article_id, set()).update(hits)
            score[article_id] += weight
    need = max(1, math.ceil(MATCH_SHARE * len(qterms)))
    ranked = sorted((a for a, m in matched.items() if len(m) >= need),
                    key=lambda a: (-len(matched[a]), -score[a], a))
    page = ranked[offset:offset + limit]
    rows = {a.id: a for a in KbArticle.select().where(KbArticle.id.in_(page))} if page else {}
    articles = [{**article_dict(rows[a], False), "snippet": snippet(rows[a].body, marks),
                 "score": score[a], "matched": len(matched[a]), "terms": len(qterms)} for a in page if a in rows]
    return {"total": len(ranked), "articles": articles, "highlights": marks}


def fax_jobs(article_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The article's fax jobs, newest first."""
    rows = (FaxJob.select().where(FaxJob.document == FAX_DOCUMENT.format(id=article_id))
            .order_by(FaxJob.created_at.desc(), FaxJob.id.desc()).limit(limit))
    return [{"id": f.id, "number": f.number, "status": f.status, "created_at": f.created_at,
             "updated_at": f.updated_at, "detail": f.detail} for f in rows]


# ------------------------------------------------------------------ writing (each with its audit entry)

def _audit_view(a: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of an article: every field, the body cut at 1000 characters plus its hash
    (so a change further down still shows)."""
    body = a.get("body") or ""
    return {"title": a["title"], "category": a.get("category"), "tags": ",".join(a.get("tags") or []),
            "body": body[:1000] + ("…" if len(body) > 1000 else ""), "body_chars": len(body),
            "body_sha1": hashlib.sha1(body.encode()).hexdigest()[:12]}


def _check_category(category_id: int | None) -> None:
    if category_id is not None and KbCategory.get_or_none(KbCategory.id == category_id) is None:
        raise KbError("category", "category_id")


def create_article(fields: dict[str, Any], actor: str, address: str = "", now: float | None = None) -> dict:
    """Add an article (fields from clean_article); indexed and audited."""
    now = time.time() if now is None else now
    _check_category(fields["category_id"])
    a = KbArticle.create(category=fields["category_id"], title=fields["title"], body=fields["body"],
                         tags=fields["tags"], created_by=actor, created_at=now, updated_by=actor, updated_at=now)
    reindex(a)
    after = article_dict(KbArticle.get_by_id(a.id))
    audit.record(actor, address, "kb.article_created", f"kb:{a.id}", None, _audit_view(after))
    return after


def update_article(article_id: int, fields: dict[str, Any], actor: str, address: str = "",
                   now: float | None = None) -> dict:
    """Change an article (fields from clean_article); re-indexed and audited (before -> after)."""
    now = time.time() if now is None else now
    before = get_article(article_id)
    _check_category(fields["category_id"])
    KbArticle.update(category=fields["category_id"], title=fields["title"], body=fields["body"],
                     tags=fields["tags"], updated_by=actor, updated_at=now).where(KbArticle.id == article_id).execute()
    a = KbArticle.get_by_id(article_id)
    reindex(a)
    after = article_dict(a)
    audit.record(actor, address, "kb.article_updated", f"kb:{article_id}", _audit_view(before), _audit_view(after))
    return after


def delete_article(article_id: int, actor: str, address: str = "") -> dict:
    """Delete an article and its terms; audited with what it was. Its fax jobs stay (they name its id)."""
    before = get_article(article_id)
    KbArticle.delete().where(KbArticle.id == article_id).execute()
    audit.record(actor, address, "kb.article_deleted", f"kb:{article_id}", _audit_view(before), None)
    return before


def create_category(name: Any, actor: str, address: str = "", now: float | None = None) -> dict:
    """Add a category (names are unique, compared without case)."""
    name = _category_name(name)
    taken = KbCategory.select().where(peewee.fn.LOWER(KbCategory.name) == name.lower()).first()
    if taken is not None:
        raise KbError("category_taken", "name", 409, name=taken.name)
    c = KbCategory.create(name=name, created_at=time.time() if now is None else now)
    audit.record(actor, address, "kb.category_created", f"kb-category:{c.id}", None, {"name": name})
    return {"id": c.id, "name": name, "articles": 0}


def rename_category(category_id: int, name: Any, actor: str, address: str = "") -> dict:
    """Rename a category."""
    c = KbCategory.get_or_none(KbCategory.id == category_id)
    if c is None:
        raise KbError("no_category", status=404, id=category_id)
    name = _category_name(name)
    taken = KbCategory.select().where(peewee.fn.LOWER(KbCategory.name) == name.lower(),
                                      KbCategory.id != category_id).first()
    if taken is not None:
        raise KbError("category_taken", "name", 409, name=taken.name)
    KbCategory.update(name=name).where(KbCategory.id == category_id).execute()
    audit.record(actor, address, "kb.category_renamed", f"kb-category:{category_id}", {"name": c.name},
                 {"name": name})
    return {"id": category_id, "name": name,
            "articles": KbArticle.select().where(KbArticle.category == category_id).count()}


def delete_category(category_id: int, actor: str, address: str = "") -> dict:
    """Delete a category; its articles stay, uncategorized."""
    c = KbCategory.get_or_none(KbCategory.id == category_id)
    if c is None:
        raise KbError("no_category", status=404, id=category_id)
    n = KbArticle.update(category=None).where(KbArticle.category == category_id).execute()
    c.delete_instance()
    audit.record(actor, address, "kb.category_deleted", f"kb-category:{category_id}",
                 {"name": c.name, "articles": n}, None)
    return {"id": category_id, "name": c.name, "articles_uncategorized": n}


def fax_article(article_id: int, number: Any, actor: str, address: str = "", call_uuid: str | None = None,
                now: float | None = None, snapshot_dir: Path | None = None) -> dict:
    """Queue a fax of the article to a number, the way the IVR's fax-back does (a fax_jobs row, status
    queued, document "kb-<id>", requested_by the actor, who gets a message when it ends); the detail names the
    article's title and version and who asked. With ``snapshot_dir`` the article as it is now is written there
    as the text document kb-<id>.txt the fax queue sends."""
    from .lookups import create_fax_job, normalize_number
    a = KbArticle.get_or_none(KbArticle.id == article_id)
    if a is None:
        raise KbError("no_article", status=404, id=article_id)
    key = normalize_number(str(number or "")) or ""
    if not (5 <= len(key) <= 20 and key.isdigit()):
        raise KbError("fax_number", "number")
    now = time.time() if now is None else now
    if snapshot_dir is not None:
        snapshot_dir.mkdir(parents=True, exist_ok=True)
        text = f"{a.title}\n\n{a.body}\n"
        tmp = snapshot_dir / f".kb-{article_id}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(snapshot_dir / f"{FAX_DOCUMENT.format(id=article_id)}.txt")
    job = create_fax_job(FAX_DOCUMENT.format(id=article_id), key, call_uuid=call_uuid, now=now,
                         requested_by=actor)
    detail = f"knowledge base article {article_id} \"{a.title}\" as of {_iso(a.updated_at)}, requested by {actor}"
    FaxJob.update(detail=detail).where(FaxJob.id == job["id"]).execute()
    job["detail"] = detail
    audit.record(actor, address, "kb.article_faxed", f"kb:{article_id}", None,
                 {"fax_job": job["id"], "number": key, "document": job["document"]})
    return {"id": job["id"], "document": job["document"], "number": key, "status": job["status"],
            "created_at": job["created_at"], "detail": detail, "article_id": article_id}
