"""Every branch of the printer support line (8001), in Mandarin and English, through the real engine."""
from __future__ import annotations

import pytest

LANG = {"zh_CN": "1", "en_US": "2"}
BOTH = pytest.mark.parametrize("lang", ["zh_CN", "en_US"])


def played(run, lang):
    """Prompts played, each checked to be in the caller's language."""
    langs = {e["data"]["language"] for e in run.events if e["kind"] == "media.played"
             and e["data"]["prompt"] not in ("printer_welcome", "choose_language")}
    assert langs <= {lang}, f"prompts in {langs}, expected {lang}"
    return run.prompts


@BOTH
def test_product_info_price_and_fax_on_the_same_call(walk, path_is, lang, correlate, box_config) -> None:
    """Model 1020: name, specs and price are read; 6 then # asks for the data sheet on this call. The box (the
    shipped spandsp engine) tells the caller to press Start and calls as a fax machine; this caller has no fax
    machine, so after T.30's wait for an answer the job fails (no fax machine answered) and the caller hears that
    the fax could not be sent, never that it went."""
    run = walk("printer_support", [LANG[lang], "1", "2", "1020#", "6", "#", "9"], limit=400)
    path_is(run, ("language", {"language": lang}), ("menu.key", {"key": "1", "target": "products"}),
            ("menu.key", {"key": "2", "target": "product_model"}), ("collect", {"var": "model", "value": "1020"}),
            ("lookup", {"table": "products", "found": True}), ("say", {"value": "1099.00", "kind": "money"}),
            ("menu.key", {"key": "6", "target": "fax_back"}), ("fax", {"document": "spec-1020"}),
            ("menu.key", {"key": "9", "target": "bye"}), ("hangup", {}))
    prompts = played(run, lang)
    assert prompts[-1] == "goodbye" and "product_price" in prompts and "fax_unavailable" not in prompts
    assert prompts.index("fax_same_call_queued") < prompts.index("fax_same_call_failed"), prompts
    assert run.vars["product.name_en"] == "HL LaserPro 1020"
    fax = [e for e in run.events if e["kind"].startswith("fax.")]
    assert [e["kind"] for e in fax] == ["fax.created", "fax.sending", "fax.failed"]
    assert fax[0]["data"]["document"] == "spec-1020" and fax[0]["data"]["status"] == "queued"
    assert (fax[2]["data"]["reason"], fax[2]["data"]["pages"]) == ("not_a_fax", 0)
    waited = fax[2]["ts"] - fax[1]["ts"]
    assert waited >= 30, f"the box gave up on the caller's fax machine after {waited:.1f} s"
    assert run.ended["cause"] == "normal"
    # the caller really heard the price prompt: find its audio in what the far end received
    from hotline.daemon.calls.prompts import PromptLibrary
    lib = PromptLibrary(box_config.path_for("prompts"), lang, box_config.etc_path("prompt_manifest", "prompts/manifest.yaml"))
    import asyncio
    audio = asyncio.run(lib.get("product_price", lang))
    assert correlate(run.heard, audio[:4000]) > 0.9


@BOTH
def test_unknown_model_back_key_and_help(walk, path_is, lang) -> None:
    """An unknown model says not found; # goes back to the main menu; 9 explains the keys."""
    run = walk("printer_support", [LANG[lang], "1", "1", "999#", "#", "9", "4", "#", "9", "#"])
    path_is(run, ("lookup", {"table": "products", "value": "999", "found": False}),
            ("play", {"prompts": ["not_found"]}), ("menu.back", {"target": "menu"}),
            ("menu.key", {"key": "9", "target": "help"}), ("play", {"prompts": ["printer_help"]}),
            ("menu.key", {"key": "4", "target": "warranty"}), ("menu.key", {"key": "#", "target": "menu"}))
    assert "printer_help" in played(run, lang)


@BOTH
@pytest.mark.parametrize("area, match", [("0755", "area_code"), ("0769", "province")])
def test_dealer_by_area_code(walk, path_is, lang, area, match) -> None:
    """The nearest dealer by area code (or the province's when the city has none), with its phone number."""
    run = walk("printer_support", [LANG[lang], "2", f"{area}#", "9"])
    path_is(run, ("collect", {"var": "area", "value": area}), ("lookup", {"table": "dealers", "found": True}),
            ("tts", {}), ("say", {"kind": "phone"}), ("menu.key", {"key": "9"}))
    assert run.vars["dealer.match"] == match
    assert "dealer_is" in played(run, lang) and "phone_is" in run.prompts


def test_dealer_not_found_and_repair_center(walk, path_is) -> None:
    """No dealer for 0898; the repair center for 020 is the Guangzhou one."""
    run = walk("printer_support", ["1", "2", "0898#", "1", "3", "020#", "9"])
    path_is(run, ("lookup", {"table": "dealers", "value": "0898", "found": False}),
            ("play", {"prompts": ["not_found"]}), ("menu.key", {"key": "1", "target": "menu"}),
            ("lookup", {"table": "repair_centers", "found": True}), ("say", {"kind": "phone"}))
    assert "repair_center_is" in run.prompts


@BOTH
@pytest.mark.parametrize("number, valid", [("2024100001", True), ("2019030001", False), ("880000000001", True)])
def test_warranty_by_serial_or_card(walk, path_is, lang, number, valid) -> None:
    """The warranty end date is read as a date; an expired one says so; a card number works too."""
    run = walk("printer_support", [LANG[lang], "4", "1", f"{number}#", "9"])
    path_is(run, ("collect", {"var": "serial", "value": number}),
            ("branch", {"target": "warranty_valid" if valid else "warranty_expired"}), ("say", {"kind": "date"}))
    assert ("warranty_until" if valid else "warranty_expired") in played(run, lang)


def test_warranty_unknown_serial(walk, path_is) -> None:
    """An unknown serial number is looked up both ways, then not found."""
    run = walk("printer_support", ["1", "4", "1", "1234567#", "9"])
    path_is(run, ("lookup", {"table": "warranties", "by": "serial_no", "found": False}),
            ("lookup", {"table": "warranties", "by": "card_no", "found": False}), ("play", {"prompts": ["not_found"]}))


@BOTH
def test_faq_answer_then_fax_to_a_number(walk, path_is, lang) -> None:
    """FAQ by the model digits is read out; 6 and a fax number ask for a fax to that number: with the shipped fax
    engine (fax.sender: spandsp) the job to that number is queued and the caller is told so (without an engine the
    caller hears "not available": tests/webadmin/test_faxes.py)."""
    run = walk("printer_support", [LANG[lang], "5", "1020#", "6", "02012345678#", "9"])
    path_is(run, ("lookup", {"table": "faq", "value": "1020", "found": True}), ("tts", {}),
            ("collect", {"var": "fax_number", "value": "02012345678"}),
            ("fax", {"number": "02012345678"}))
    created = [e["data"] for e in run.events if e["kind"] == "fax.created"]
    assert [(d["number"], d["document"], d["status"], d["reason"]) for d in created] == \
        [("02012345678", "faq-1020", "queued", None)]
    assert "fax_queued" in played(run, lang) and "fax_unavailable" not in played(run, lang)


def test_agent_with_serial_nobody_free_callback_to_another_number(walk, path_is) -> None:
    """0 asks for the serial and queues; with no agent logged in the caller asks for a callback elsewhere."""
    run = walk("printer_support", ["1", "0", "2024100001#", "2", "13912345678#"])
    path_is(run, ("menu.key", {"key": "0", "target": "agent"}), ("collect", {"var": "serial", "value": "2024100001"}),
            ("queue", {"queue": "printers"}), ("queue.result", {"result": "no_agents"}),
            ("callback", {"number": "13912345678", "queue": "printers"}), ("hangup", {}))
    assert run.prompts[-3:] == ["enter_callback_number", "callback_done", "goodbye"]
    assert [e["data"]["number"] for e in run.events if e["kind"] == "callback.created"] == ["13912345678"]


def test_agent_answers(walk, path_is) -> None:
    """With agents at their desks the printers queue offers the call to one of its members, who answers."""
    run = walk("printer_support", ["1", "0", "#"], answer_after=1.0, limit=90.0)
    path_is(run, ("queue", {"queue": "printers"}))
    kinds = run.kinds()
    assert kinds.index("queue.joined") < kinds.index("queue.answered") < kinds.index("call.bridged")
    peer = next(e["data"]["peer"] for e in run.events if e["kind"] == "call.bridged")
    assert peer in ("1001", "1002")  # members without penalty first; 1004 (penalty 2) only when they are busy


def test_invalid_key_repeat_and_fallback_to_agent(walk, path_is) -> None:
    """A wrong key plays invalid_key, * repeats the menu, silence three times reaches a person."""
    run = walk("printer_support", ["1", "7", "*"], limit=200.0)
    path_is(run, ("menu.invalid", {"key": "7"}), ("menu.repeat", {}), ("menu.timeout", {}),
            ("menu.fallback", {"target": "agent"}), ("queue", {"queue": "printers"}))
    assert "invalid_key" in run.prompts and "no_input" in run.prompts


def test_after_hours_offers_a_callback(walk, path_is) -> None:
    """Monday 20:00: the after-hours announcement, then a callback on the caller's own number."""
    run = walk("printer_support", ["1"], at="2026-11-23 20:00")
    path_is(run, ("time", {"state": "closed", "target": "after_hours"}), ("callback", {"number": "13800138000"}))
    assert run.prompts[:2] == ["after_hours", "callback_offer"]


@pytest.mark.parametrize("at, state", [("2026-12-25 10:00", "holiday"), ("2026-02-14 15:00", "open"),
                                       ("2026-11-28 15:00", "closed")])
def test_holidays_and_adjusted_working_days(walk, path_is, at, state) -> None:
    """A holiday plays the holiday message; an adjusted Saturday keeps weekday hours; a normal Saturday
    afternoon is closed."""
    run = walk("printer_support", ["1", "9", "9"], at=at, limit=120.0)
    path_is(run, ("time", {"state": state}))
    if state == "holiday":
        assert run.prompts == ["holiday", "goodbye"]


def test_blocked_caller_hears_the_message_and_is_hung_up(walk, path_is) -> None:
    """A number on the block list hears why and is hung up before the menu."""
    run = walk("printer_support", [], caller="4000000000")
    path_is(run, ("blacklist", {"action": "message"}))
    assert run.prompts == ["blocked"] and run.ended["cause"] == "normal"
