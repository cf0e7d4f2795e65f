"""Knowledge base: Chinese and English search (on SQLite and PostgreSQL), CRUD with roles and audit, categories,
faxing an article to a caller (a fax job appears in the fax queue), pages in both languages."""
from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
from typing import Iterator

import pytest

from hotline.daemon.service import kb
from hotline.daemon.store import migrations
from hotline.daemon.store.db import Store
from hotline.daemon.store.models import Event
from hotline.daemon.store.service_models import FaxJob, KbTerm
from hotline.webadmin.handlers import kb as kb_handlers

JAM = {"title": "打印机卡纸怎么办", "tags": "卡纸, E02",
       "body": "先关闭电源，打开前盖，慢慢取出卡住的纸张。\n如果经常卡纸，请清洁搓纸轮，或更换搓纸轮（备件 9020）。"}
WATER = {"title": "水表不走字", "body": "请先确认家中阀门已经打开，再查看水表的指针。仍然不动请报修。", "tags": ""}
DRIVER = {"title": "Installing the printer driver", "tags": "driver",
          "body": "The driver is on the disc in the box. Network printers: run the setup and choose the printer's "
                  "IP address. 驱动程序也可以请经销商拷贝。"}
LASER = {"title": "Paper jam in the LaserPro 1020", "tags": "1020",
         "body": "Turn the printer off, open the front cover and pull the jammed sheet out slowly. Error E02 "
                 "clears when the cover closes."}


# ---------------------------------------------------------------- the search itself, on both backends

def test_terms_cut_chinese_into_characters_and_pairs_and_english_into_words() -> None:
    t = kb.terms("打印机卡纸 Paper-jam E02")
    assert {"打印", "印机", "机卡", "卡纸", "卡", "纸", "paper", "jam", "e02"} <= set(t)
    assert "打印机卡纸" not in t and "paper-jam" not in t
    # a query of two or more characters uses only the pairs: 卡纸 must not match 卡...纸 far apart
    assert kb.query_terms("卡纸") == [("卡纸", False)]
    assert kb.query_terms("纸") == [("纸", False)]
    assert kb.query_terms("Paper JAM e02") == [("paper", True), ("jam", True), ("e02", True)]
    assert kb.query_terms("打印机 卡纸") == [("打印", False), ("印机", False), ("卡纸", False)]
    assert kb.query_terms("ｐａｐｅｒ") == [("paper", True)]          # full-width letters fold (NFKC)


@contextlib.contextmanager
def _store(url: str) -> Iterator[Store]:
    """A migrated store on an empty database."""
    store = Store(url)
    store.open()
    try:
        store.write_sync(migrations.upgrade, store.db)
        yield store
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_search_finds_chinese_and_english_and_follows_every_change(backend, database_for) -> None:
    with database_for(backend, "kb") as url, _store(url) as store:
        def add(a: dict) -> int:
            return store.write_sync(kb.create_article, kb.clean_article(a["title"], a["body"], a["tags"], None),
                                    "sup")["id"]
        jam, water, driver, laser = add(JAM), add(WATER), add(DRIVER), add(LASER)

        def hits(q: str) -> list[int]:
            return [a["id"] for a in store.write_sync(kb.search, q)["articles"]]
        assert hits("卡纸") == [jam]                        # the article about 打印机卡纸
        assert hits("打印机卡纸") == [jam]
        assert hits("水表") == [water]
        assert hits("网络设置") == [] and hits("退款") == []   # unrelated queries find nothing
        assert hits("纸卡") == []                            # the pair must be in that order
        assert hits("驱动") == [driver]                      # Chinese inside an English article
        assert hits("paper jam") == [laser]
        assert hits("jammed") == [laser] and hits("JAM") == [laser]   # prefix and case
        assert set(hits("printer")) == {driver, laser}
        assert hits("E02")[:2] and set(hits("E02")) == {jam, laser}
        assert hits("1020") == [laser]
        # the title weighs more than the text: "driver" is in the driver article's title, in the other's text
        assert hits("driver")[0] == driver
        result = store.write_sync(kb.search, "卡纸")
        assert "卡纸" in result["articles"][0]["snippet"] and result["highlights"] == ["卡纸"]

        # editing re-indexes at once: the old words are gone, the new ones are found
        store.write_sync(kb.update_article, water, kb.clean_article("水压低怎么办", "检查减压阀，联系物业。", "", None),
                         "sup")
        assert hits("水表") == [] and hits("水压") == [water] and hits("减压阀") == [water]
        # deleting removes the article's terms with it
        store.write_sync(kb.delete_article, jam, "sup")
        assert hits("卡纸") == []
        assert store.write_sync(lambda: KbTerm.select().where(KbTerm.article == jam).count()) == 0

        # categories filter the search; deleting a category keeps its articles
        cat = store.write_sync(kb.create_category, "驱动与网络", "sup")
        store.write_sync(kb.update_article, driver,
                         kb.clean_article(DRIVER["title"], DRIVER["body"], DRIVER["tags"], cat["id"]), "sup")
        assert [a["id"] for a in store.write_sync(kb.search, "printer", cat["id"])["articles"]] == [driver]
        assert [a["id"] for a in store.write_sync(kb.search, "", cat["id"])["articles"]] == [driver]
        store.write_sync(kb.delete_category, cat["id"], "sup")
        assert store.write_sync(kb.get_article, driver)["category_id"] is None


def test_panel_messages_are_the_logic_messages() -> None:
    """The page shows kb errors translated: the handler marks the very same texts the logic raises."""
    assert kb_handlers.MESSAGES == kb.MESSAGES


# ---------------------------------------------------------------- the API and pages on a real daemon

def _api_ok(r, status: int = 200):
    assert r.status == status, (r.status, r.text[:300])
    return r.json()


def test_crud_with_roles_audit_and_allow_listed_parameters(panel_box, client) -> None:
    sup, agent, admin = client(panel_box.url), client(panel_box.url), client(panel_box.url)
    sup.login("sup")
    agent.login("agent1")
    admin.login("admin")
    # agents read only
    assert agent.api("POST", "/kb/articles", JAM).status == 403
    assert agent.api("POST", "/kb/categories", {"name": "打印机"}).status == 403
    cat = _api_ok(sup.api("POST", "/kb/categories", {"name": "打印机"}), 201)
    assert sup.api("POST", "/kb/categories", {"name": "打印机"}).status == 409
    art = _api_ok(sup.api("POST", "/kb/articles", {**JAM, "category_id": cat["id"]}), 201)
    assert art["category"] == "打印机" and art["tags"] == ["卡纸", "E02"] and art["updated_by"] == "sup"
    _api_ok(admin.api("POST", "/kb/articles", WATER), 201)
    # agents search from their desk: id, title, category, snippet
    found = _api_ok(agent.api("GET", "/kb/articles?q=" + urllib.parse.quote("卡纸")))
    assert found["total"] == 1
    hit = found["articles"][0]
    assert (hit["id"], hit["title"], hit["category"]) == (art["id"], "打印机卡纸怎么办", "打印机")
    assert "卡纸" in hit["snippet"]
    assert _api_ok(agent.api("GET", "/kb/articles?q=" + urllib.parse.quote("退款")))["total"] == 0
    assert _api_ok(agent.api("GET", f"/kb/articles/{art['id']}"))["body"].startswith("先关闭电源")
    # bad input names the field; unknown parameters are refused
    bad = sup.api("POST", "/kb/articles", {"title": "", "body": "x"})
    assert bad.status == 400 and bad.json()["error"].startswith("Title")
    bad = sup.api("PUT", f"/kb/articles/{art['id']}", {**JAM, "category_id": 999})
    assert bad.status == 400 and bad.json()["error"].startswith("Category")
    assert sup.api("POST", "/kb/articles", {**JAM, "tags": ["x" * 40]}).json()["error"].startswith("Tags")
    assert agent.api("GET", "/kb/articles?order=title").status == 400
    assert agent.api("GET", "/kb/articles?category=abc").status == 400
    assert agent.api("GET", "/kb/articles?limit=100000").status == 400
    assert agent.api("GET", "/kb/articles/424242").status == 404
    # change: agents may not; supervisors may, and the audit log keeps before -> after
    assert agent.api("PUT", f"/kb/articles/{art['id']}", {**JAM, "title": "x"}).status == 403
    changed = _api_ok(sup.api("PUT", f"/kb/articles/{art['id']}", {**JAM, "title": "激光打印机卡纸", "category_id": None}))
    assert changed["title"] == "激光打印机卡纸" and changed["category"] is None
    entry = _api_ok(admin.api("GET", "/audit?action=kb.article_updated"))["entries"][0]
    assert entry["user"] == "sup" and entry["target"] == f"kb:{art['id']}"
    assert entry["changes"]["title"] == ["打印机卡纸怎么办", "激光打印机卡纸"]
    assert entry["changes"]["category"] == ["打印机", None]
    # delete: agents may not; afterwards the article and its search hits are gone
    assert agent.api("DELETE", f"/kb/articles/{art['id']}").status == 403
    _api_ok(sup.api("DELETE", f"/kb/articles/{art['id']}"))
    assert agent.api("GET", f"/kb/articles/{art['id']}").status == 404
    assert _api_ok(agent.api("GET", "/kb/articles?q=" + urllib.parse.quote("卡纸")))["total"] == 0
    actions = [e["action"] for e in _api_ok(admin.api("GET", "/audit?action=kb."))["entries"]]
    assert {"kb.category_created", "kb.article_created", "kb.article_updated", "kb.article_deleted"} <= set(actions)
    # XSRF applies to browser sessions
    assert sup.api("POST", "/kb/articles", JAM, xsrf=False).status == 403


def test_pages_list_search_edit_and_categories(panel_box, client) -> None:
    sup, agent = client(panel_box.url), client(panel_box.url)
    sup.login("sup")
    agent.login("agent1")
    assert agent.post("/language", {"language": "zh_CN", "back": "/kb"}).status == 302   # this agent works in Chinese
    # a supervisor adds a category and an article through the forms
    r = sup.post("/kb/categories", {"action": "create", "name": "Printers"})
    assert r.status == 200 and "Category added." in r.text
    dup = sup.post("/kb/categories", {"action": "create", "name": "printers"})
    assert dup.status == 400 and "Category name: Printers exists already." in dup.text
    cat_id = _api_ok(sup.api("GET", "/kb/categories"))["categories"][0]["id"]
    empty = sup.post("/kb/new", {"title": "  ", "body": "text", "tags": "", "category_id": str(cat_id)})
    assert empty.status == 400 and "Title: enter 1 to 200 characters." in empty.text and "text</textarea>" in empty.text
    made = sup.post("/kb/new", {**JAM, "category_id": str(cat_id)})
    assert made.status == 302
    article_url = made.headers["Location"]
    page = sup.get(article_url)
    assert page.status == 200 and "打印机卡纸怎么办" in page.text and "Printers" in page.text and "Fax to a caller" in page.text
    # an agent (Chinese panel) searches and opens it; no edit buttons, no edit pages
    hits = agent.get("/kb?q=" + urllib.parse.quote("卡纸"))
    assert hits.status == 200 and "知识库" in hits.text and "<mark>卡纸</mark>" in hits.text
    assert "匹配：1 篇" in hits.text and "新建文章" not in hits.text
    none = agent.get("/kb?q=" + urllib.parse.quote("水表"))
    assert "没有匹配的文章" in none.text and "打印机卡纸怎么办" not in none.text
    assert agent.get(f"/kb?category={cat_id}").text.count("kb-hit\"") == 1
    assert agent.get(article_url).status == 200 and f'href="{article_url}/edit"' not in agent.get(article_url).text
    assert agent.get("/kb/new").status == 403 and agent.get(article_url + "/edit").status == 403
    assert agent.post(article_url + "/delete", {}).status == 403
    assert agent.get("/kb?sort=title").status == 400 and agent.get("/kb?category=x").status == 400
    # the supervisor edits through the form, then deletes; the Chinese error message on a Chinese panel
    sup.post("/language", {"language": "zh_CN", "back": "/kb"})
    bad = sup.post(article_url + "/edit", {**JAM, "tags": ",".join(f"t{i}" for i in range(12)), "category_id": ""})
    assert bad.status == 400 and "标签：最多 10 个" in bad.text
    assert sup.post(article_url + "/edit", {**JAM, "title": "卡纸处理", "category_id": ""}).status == 302
    assert "卡纸处理" in sup.get(article_url).text
    assert sup.post(article_url + "/delete", {}).headers["Location"] == "/kb"
    assert sup.get(article_url).status == 404
    # categories page: rename and delete
    assert "分类已改名" in sup.post("/kb/categories", {"action": "rename", "id": str(cat_id), "name": "打印机"}).text
    assert "分类已删除" in sup.post("/kb/categories", {"action": "delete", "id": str(cat_id)}).text
    assert sup.post("/kb/categories", {"action": "delete", "id": str(cat_id)}).status == 404


def _daemon_store(daemon) -> Store:
    """The daemon's own database (SQLite in its state directory), opened beside it."""
    store = Store(f"sqlite:///{daemon.state / 'hotline.db'}")
    store.open()
    return store


def test_an_agent_faxes_an_article_and_a_fax_job_appears(panel_box, client) -> None:
    sup, agent = client(panel_box.url), client(panel_box.url)
    sup.login("sup")
    agent.login("agent1")
    art = _api_ok(sup.api("POST", "/kb/articles", DRIVER), 201)
    bad = agent.api("POST", f"/kb/articles/{art['id']}/fax", {"number": "12"})
    assert bad.status == 400 and bad.json()["error"].startswith("Fax number")
    assert agent.api("POST", f"/kb/articles/{art['id']}/fax", {}).status == 400
    assert agent.api("POST", "/kb/articles/99999/fax", {"number": "01062345678"}).status == 404
    job = _api_ok(agent.api("POST", f"/kb/articles/{art['id']}/fax", {"number": "+86 10 6234-5678"}), 201)
    assert job["number"] == "01062345678" and job["status"] == "queued" and job["document"] == f"kb-{art['id']}"
    # the job is in the fax queue the IVR's fax-back uses, saying what and who
    store = _daemon_store(panel_box)
    try:
        row = store.write_sync(lambda: FaxJob.get_by_id(job["id"]))
        assert (row.document, row.number, row.status) == (f"kb-{art['id']}", "01062345678", "queued")
        assert "Installing the printer driver" in row.detail and "agent1" in row.detail
    finally:
        store.close()
    # the article page lists it; the audit log and the journal have it
    page = agent.get(f"/kb/{art['id']}")
    assert "01062345678" in page.text and "queued" in page.text
    admin = client(panel_box.url)
    admin.login("admin")
    entry = _api_ok(admin.api("GET", "/audit?action=kb.article_faxed"))["entries"][0]
    assert entry["user"] == "agent1" and entry["after"]["number"] == "01062345678"
    store = _daemon_store(panel_box)
    try:
        deadline = time.monotonic() + 5
        while True:
            events = store.write_sync(lambda: [json.loads(e.data) for e in Event.select().where(Event.kind == "fax.created")])
            if events or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert events and events[-1]["id"] == job["id"] and events[-1]["requested_by"] == "agent1"
    finally:
        store.close()
