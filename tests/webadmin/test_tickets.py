"""Service tickets through the API and the pages on a real daemon: create, edit with history and audit,
allow-listed filters and sort, bad input, roles, and escalation memos that reach a supervisor's open panel."""
from __future__ import annotations

import asyncio
import json
import re
import subprocess

import tornado.httpclient
import tornado.websocket


def add_user(box, hotline_bin: str, name: str, role: str, password: str) -> None:
    subprocess.run([hotline_bin, "-c", str(box.config), "user", "add", name, "--role", role, "--password-stdin"],
                   input=password + "\n", env=box.env, capture_output=True, text=True, check=True, timeout=60)


def ws_connect(box, panel):
    """The panel's live channel as that logged-in browser (same origin, its cookies)."""
    cookie = "; ".join(f"{c.name}={c.value}" for c in panel.jar)
    req = tornado.httpclient.HTTPRequest(box.url.replace("http://", "ws://") + "/ws", request_timeout=10,
                                         headers={"Cookie": cookie, "Origin": box.url})
    return tornado.websocket.websocket_connect(req)


async def next_of(conn, kind: str, timeout: float = 10) -> dict:
    """The next hub message of a type (others are skipped)."""
    while True:
        raw = await asyncio.wait_for(conn.read_message(), timeout)
        assert raw is not None, "the live channel closed"
        msg = json.loads(raw)
        if msg.get("type") == kind:
            return msg


def test_create_edit_with_history_and_audit_then_filter_and_sort(panel_box, client) -> None:
    agent = client(panel_box.url)
    agent.login("agent1")
    r = agent.api("POST", "/tickets", {"type": "repair", "priority": "high", "caller_number": "13800138000",
                                        "summary": "Printer jams on every page", "queue": "printers"})
    assert r.status == 201, r.text
    t = r.json()
    assert re.fullmatch(r"T\d{8}-\d{4}", t["ticket_no"]) and t["status"] == "open" and t["priority"] == "high"
    assert t["caller_number"] == "13800138000" and t["due_at"] - t["created_at"] == 24 * 3600   # high: one day
    low = agent.api("POST", "/tickets", {"type": "billing", "priority": "low", "caller_number": "13900000002"}).json()

    # edit through the API: status, owner, due time, a note -> one history line each, audited before -> after
    r = agent.api("PUT", f"/tickets/{t['id']}", {"status": "in_progress", "owner": "sup", "due_at": "2031-05-06 14:30",
                                                  "note": "Called the customer back"})
    assert r.status == 200, r.text
    detail = r.json()
    assert detail["status"] == "in_progress" and detail["owner"] == "sup"
    notes = [(h["action"], h["note"]) for h in detail["history"]]
    assert notes[0][0] == "opened"
    changed = next(n for a, n in notes if a == "changed")
    assert "status: open → in_progress" in changed and "owner: - → sup" in changed and "2031-05-06 14:30" in changed
    assert ("noted", "Called the customer back") in notes
    assert all(h["actor"] == "agent1" for h in detail["history"][1:])

    # edit through the page form, as a person does (the agent works in Chinese)
    assert agent.post("/language", {"language": "zh_CN", "back": "/tickets"}).status == 302
    page = agent.get(f"/tickets/{t['id']}")
    assert page.status == 200 and t["ticket_no"] in page.text and "Called the customer back" in page.text
    form = {"type": "repair", "status": "resolved", "priority": "urgent", "owner": "sup", "due_at": "2031-05-06T14:30",
            "summary": "Printer jams on every page", "result": "Replaced the pickup roller", "note": ""}
    r = agent.post(f"/tickets/{t['id']}", form)
    assert r.status == 302 and r.headers["Location"] == f"/tickets/{t['id']}?saved=1"
    page = agent.get(f"/tickets/{t['id']}?saved=1").text
    assert "已保存" in page and "Replaced the pickup roller" in page and "已解决" in page

    admin = client(panel_box.url)
    admin.login("admin")
    entries = admin.api("GET", f"/audit?action=ticket.&target={t['ticket_no']}").json()["entries"]
    by_action = {e["action"]: e for e in reversed(entries)}
    assert by_action["ticket.created"]["user"] == "agent1" and by_action["ticket.created"]["after"]["type"] == "repair"
    updates = [e for e in entries if e["action"] == "ticket.updated"]
    assert len(updates) == 2
    assert updates[0]["changes"]["status"] == ["in_progress", "resolved"]        # newest first
    assert updates[0]["changes"]["priority"] == ["high", "urgent"]
    assert updates[1]["before"]["status"] == "open" and updates[1]["after"]["note"] == "Called the customer back"

    # filters and sort are allow-listed; the list shows what matches
    got = agent.api("GET", "/tickets?status=resolved").json()
    assert [x["ticket_no"] for x in got["tickets"]] == [t["ticket_no"]]
    got = agent.api("GET", "/tickets?sort=-priority").json()["tickets"]
    assert [x["ticket_no"] for x in got[:2]] == [t["ticket_no"], low["ticket_no"]]
    got = agent.api("GET", "/tickets?sort=priority&customer=0000002").json()["tickets"]
    assert [x["ticket_no"] for x in got] == [low["ticket_no"]]
    assert agent.api("GET", "/tickets?owner=-&type=billing").json()["total"] == 1
    html = agent.get("/tickets?status=active").text
    assert low["ticket_no"] in html and t["ticket_no"] not in html
    for bad, field in (("sort=password", "sort"), ("order=created", "order"), ("status=lost", "status"),
                       ("priority=1", "priority"), ("page=x", "page")):
        r = agent.api("GET", f"/tickets?{bad}")
        assert r.status == 400 and field in r.json()["error"], (bad, r.text)
    assert agent.get("/tickets?sort=password").status == 400


def test_bad_input_is_refused_naming_the_field_and_roles_are_checked(panel_box, client) -> None:
    agent = client(panel_box.url)
    agent.login("agent1")
    for body, field in (({"type": "bogus"}, "type"), ({"type": "repair", "priority": "soon"}, "priority"),
                        ({"type": "repair", "colour": "red"}, "colour"), ({"priority": "low"}, "type"),
                        ({"type": "repair", "owner": "nobody"}, "owner"),
                        ({"type": "repair", "caller_number": "call me"}, "caller_number"),
                        ({"type": "repair", "customer_id": 999999}, "customer_id"),
                        ({"type": "repair", "due_at": "tomorrow"}, "due_at"),
                        ({"type": "repair", "summary": "x" * 2001}, "summary")):
        r = agent.api("POST", "/tickets", body)
        assert r.status == 400 and field in r.json()["error"], (body, r.text)
    t = agent.api("POST", "/tickets", {"type": "leak"}).json()
    for body, field in (({"status": "done"}, "status"), ({"due_at": "31/12/2030"}, "due_at"),
                        ({"ticket_no": "T1"}, "ticket_no"), ({"owner": "qa1"}, "owner")):
        r = agent.api("PUT", f"/tickets/{t['id']}", body)
        assert r.status == 400 and field in r.json()["error"], (body, r.text)
    assert agent.api("GET", "/tickets/999999").status == 404
    assert agent.api("PUT", "/tickets/999999", {"status": "closed"}).status == 404
    assert agent.api("POST", "/tickets", {"type": "leak"}, xsrf=False).status == 403

    # a bad form field re-renders the form with the message in the user's language, nothing saved
    assert agent.post("/language", {"language": "zh_CN", "back": "/tickets"}).status == 302
    r = agent.post(f"/tickets/{t['id']}", {"type": "leak", "status": "open", "priority": "normal", "owner": "",
                                           "due_at": "next week", "summary": "", "result": "", "note": "lost"})
    assert r.status == 400 and "截止时间：请使用 YYYY-MM-DD HH:MM 格式" in r.text and 'name="due_at"' in r.text
    assert [h["action"] for h in agent.api("GET", f"/tickets/{t['id']}").json()["history"]] == ["opened"]
    r = agent.post("/tickets/new", {"type": "leak", "priority": "normal", "owner": "", "caller_number": "abc",
                                    "summary": "Leak in the street", "due_at": ""})
    assert r.status == 400 and "来电号码：只能是数字" in r.text and "Leak in the street" in r.text
    r = agent.post("/tickets/new", {"type": "leak", "priority": "urgent", "owner": "agent1",
                                    "caller_number": "010-6234 5678", "summary": "Leak in the street", "due_at": ""})
    assert r.status == 302 and re.fullmatch(r"/tickets/\d+", r.headers["Location"])
    made = agent.api("GET", r.headers["Location"]).json()
    assert made["caller_number"] == "01062345678" and made["owner"] == "agent1" and made["priority"] == "urgent"

    for name, status in (("qa1", 403), ("sup", 200), ("admin", 200)):
        p = client(panel_box.url)
        p.login(name)
        assert p.api("GET", "/tickets").status == status, name
        assert p.get("/tickets").status == status, name
        assert p.get(f"/tickets/{t['id']}").status == status, name
        assert p.api("POST", "/tickets", {"type": "other"}).status == (403 if status == 403 else 201), name


def test_escalation_memo_pops_up_on_a_connected_supervisor_and_waits_for_the_others(panel_box, client, hotline_bin,
                                                                                  password) -> None:
    add_user(panel_box, hotline_bin, "sup2", "supervisor", password)
    agent, sup, sup2 = client(panel_box.url), client(panel_box.url), client(panel_box.url)
    for p, name in ((agent, "agent1"), (sup, "sup"), (sup2, "sup2")):
        p.login(name)
    t = agent.api("POST", "/tickets", {"type": "complaint", "caller_number": "13700137000",
                                        "summary": "Technician did not come"}).json()
    bad = agent.api("POST", f"/tickets/{t['id']}/escalate", {"memo": ""})
    assert bad.status == 400 and "memo" in bad.json()["error"]
    bad = agent.api("POST", f"/tickets/{t['id']}/escalate", {"memo": "please", "to": "agent1"})
    assert bad.status == 400 and "to" in bad.json()["error"]

    async def scenario() -> tuple[dict, dict]:
        conn = await ws_connect(panel_box, sup)                        # sup has the panel open; sup2 does not
        r = await asyncio.to_thread(agent.api, "POST", f"/tickets/{t['id']}/escalate",
                                    {"memo": "Customer is angry, please call back today"})
        assert r.status == 200, r.text
        memo = await next_of(conn, "memo")
        conn.close()
        return r.json(), memo
    result, memo = asyncio.run(scenario())
    assert result["delivered"] == 1 and sorted(m["to"] for m in result["memos"]) == ["sup", "sup2"]
    assert memo["topic"] == "user:sup" and memo["message"]["text"] == "Customer is angry, please call back today"
    assert memo["message"]["from"] == "agent1" and memo["message"]["ticket"]["ticket_no"] == t["ticket_no"]
    assert result["ticket"]["status"] == "escalated"
    assert result["ticket"]["history"][-1]["action"] == "escalated"

    # sup2 was not connected: the memo waits for their next page load (inbox.js shows GET /messages' unread)
    waiting = sup2.api("GET", "/messages").json()["unread"]
    assert [m["text"] for m in waiting] == ["Customer is angry, please call back today"]
    assert '/static/js/inbox.js' in sup2.get("/").text
    # one supervisor acknowledges: the memo is done for everybody, and the ticket page says who took it
    mine = sup.api("GET", "/messages").json()["unread"][0]
    assert agent.api("POST", f"/messages/{mine['id']}/ack", {}).status == 404     # not the agent's to acknowledge
    r = sup.api("POST", f"/messages/{mine['id']}/ack", {})
    assert r.status == 200 and r.json()["acked_by"] == "sup"
    assert sup.api("GET", "/messages").json()["unread"] == []
    assert sup2.api("GET", "/messages").json()["unread"] == []
    page = agent.get(f"/tickets/{t['id']}").text
    assert "Acknowledged by sup" in page and "Escalated" in page
    admin = client(panel_box.url)
    admin.login("admin")
    actions = [e["action"] for e in admin.api("GET", "/audit?action=").json()["entries"]]
    assert "ticket.escalated" in actions and "message.acknowledged" in actions

    # escalating from the page to one chosen supervisor
    r = agent.post(f"/tickets/{t['id']}/escalate", {"memo": "Second reminder", "to": "sup2"})
    assert r.status == 302 and r.headers["Location"].endswith("?escalated=1")
    assert [m["text"] for m in sup2.api("GET", "/messages").json()["unread"]] == ["Second reminder"]
    assert sup.api("GET", "/messages").json()["unread"] == []
    r = agent.post(f"/tickets/{t['id']}/escalate", {"memo": "", "to": ""})
    assert r.status == 400 and "Memo: say what the supervisor should do" in r.text
