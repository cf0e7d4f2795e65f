"""Every branch of the water utility line (8002) and the sales desk (8003), in Mandarin and English."""
from __future__ import annotations

import pytest

BOTH = pytest.mark.parametrize("lang", ["zh_CN", "en_US"])
WATER_CALLER = "13900139000"    # 李娜, account 10000001, district 朝阳
MEMBER_CALLER = "13700137000"   # 王芳, member 86012345, PIN 2345


def in_language(run, lang):
    """Every prompt played in the caller's language."""
    langs = {e["data"]["language"] for e in run.events if e["kind"] == "media.played"}
    assert langs == {lang}, f"prompts in {langs}, expected {lang}"


# ---- water utility ------------------------------------------------------------------------------

@BOTH
def test_known_caller_hears_the_bill_as_money(walk, path_is, lang) -> None:
    """Recognised by caller id; 3 reads the last bill and the balance as money amounts."""
    run = walk("water_utility", ["3", "9"], caller=WATER_CALLER, language=lang)
    path_is(run, ("lookup", {"table": "water_accounts", "by": "phone", "found": True}),
            ("menu.key", {"key": "3", "target": "bill"}), ("say", {"value": "123.05", "kind": "money"}),
            ("say", {"value": "-123.05", "kind": "money"}), ("hangup", {}))
    assert run.prompts[:2] == ["water_welcome", "water_welcome_known"]
    in_language(run, lang)


@BOTH
@pytest.mark.parametrize("key, kind", [("1", "no_water"), ("2", "low_pressure"), ("3", "leak"),
                                       ("4", "water_quality"), ("5", "meter")])
def test_unknown_caller_gives_account_and_reports_a_fault(walk, path_is, lang, key, kind) -> None:
    """An unknown number keys the account number; a fault category creates a ticket for the account's district,
    and the ticket number is read back."""
    run = walk("water_utility", ["10000001#", "1", key, "9"], caller="02099990000", language=lang)
    path_is(run, ("lookup", {"table": "water_accounts", "by": "account_no", "found": True}),
            ("menu.key", {"key": "1", "target": "fault"}), ("menu.key", {"key": key, "target": kind}),
            ("ticket", {"type": kind}), ("tts", {}), ("hangup", {}))
    created = [e["data"] for e in run.events if e["kind"] == "ticket.created"]
    assert len(created) == 1 and created[0]["type"] == kind and created[0]["district"]
    assert run.vars["ticket.ticket_no"].startswith("T")
    assert "ticket_created" in run.prompts and "your_ticket_number" in run.prompts
    in_language(run, lang)


def test_ticket_status_of_the_latest_ticket(walk, path_is) -> None:
    """2 finds the caller's latest ticket and says its status."""
    run = walk("water_utility", ["2", "9"], caller=WATER_CALLER)
    path_is(run, ("lookup", {"table": "tickets", "by": "caller_number", "found": True}),
            ("play", {"prompts": ["ticket_status_is"]}))
    assert f"ticket_status_{run.vars['t.status']}" in run.prompts


def test_no_ticket_and_unknown_account_retry(walk, path_is) -> None:
    """A wrong account number is said to be unknown and asked again; a number without tickets hears so."""
    run = walk("water_utility", ["99999999#", "10000001#", "2", "9"], caller="02099990001")
    path_is(run, ("lookup", {"table": "water_accounts", "by": "account_no", "value": "99999999", "found": False}),
            ("play", {"prompts": ["water_account_not_found"]}),
            ("lookup", {"table": "water_accounts", "value": "10000001", "found": True}),
            ("lookup", {"table": "tickets", "found": False}), ("play", {"prompts": ["no_ticket"]}))


def test_agent_busy_leaves_a_voicemail(walk, path_is) -> None:
    """0 rings the agents; nobody answers, so the caller leaves a message (ends after silence)."""
    run = walk("water_utility", ["0"], caller=WATER_CALLER)
    path_is(run, ("queue", {"queue": "water"}), ("queue.result", {"result": "no_agents"}),
            ("voicemail", {"mailbox": "water"}), ("hangup", {}))
    assert [e["data"]["mailbox"] for e in run.events if e["kind"] == "voicemail.created"] == ["water"]
    assert run.prompts[-3:] == ["voicemail_greeting", "voicemail_saved", "goodbye"]


# ---- sales desk ---------------------------------------------------------------------------------

@BOTH
@pytest.mark.parametrize("order, status", [("20260001", "received"), ("20260002", "paid"), ("20260003", "shipped"),
                                           ("20260004", "delivered"), ("20260005", "cancelled")])
def test_member_login_order_status_and_survey(walk, path_is, lang, order, status) -> None:
    """Member number + PIN, then an order's status and amount; leaving with 9 asks for a rating."""
    run = walk("sales_desk", ["86012345#", "2345#", "1", f"{order}#", "9", "5"], caller=MEMBER_CALLER,
               language=lang)
    path_is(run, ("collect", {"var": "member_no", "value": "86012345"}),
            ("collect", {"var": "pin", "value": "***"}), ("verify_pin", {"ok": True}),
            ("lookup", {"table": "orders", "found": True}), ("say", {"kind": "money"}),
            ("survey", {"score": 5}), ("hangup", {}))
    assert f"order_status_{status}" in run.prompts
    assert [e["data"]["score"] for e in run.events if e["kind"] == "survey.answered"] == [5]
    leaked = [e for e in run.events for v in e["data"].values() if v == "2345"]
    assert not leaked and run.vars.get("pin") == "", f"the PIN reached the journal or stayed in a variable: {leaked}"
    in_language(run, lang)


def test_wrong_pin_three_times_locks_and_goes_to_a_person(walk, path_is) -> None:
    """Each wrong PIN says so and asks again; the third one goes to an agent."""
    presses = ["86012345#", "1111#"] * 3
    run = walk("sales_desk", presses, caller=MEMBER_CALLER)
    path_is(run, ("verify_pin", {"ok": False, "failures": 1}), ("verify_pin", {"ok": False, "failures": 2}),
            ("verify_pin", {"ok": False, "failures": 3}), ("play", {"prompts": ["pin_locked"]}),
            ("queue", {"queue": "sales", "vip": False}))
    assert run.prompts.count("pin_incorrect") == 2


def test_unknown_order_and_last_adviser(walk, path_is) -> None:
    """An unknown order number is not found; 2 tries the adviser who served the caller last, then everyone."""
    run = walk("sales_desk", ["86012345#", "2345#", "1", "1234#", "1", "2"], caller=MEMBER_CALLER)
    path_is(run, ("lookup", {"table": "orders", "value": "1234", "found": False}),
            ("menu.key", {"key": "2", "target": "last_adviser"}), ("queue", {"queue": "sales", "vip": True}),
            ("queue.result", {"result": "no_agents"}), ("callback", {"number": MEMBER_CALLER}))
