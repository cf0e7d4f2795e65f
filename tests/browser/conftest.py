"""Browser fixtures: Debian's Chromium driven by Playwright (nothing downloaded), a real daemon, screenshots.

Screenshots of each main page go to test-artifacts/screenshots/ (kept by CI as artifacts; look at them)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/lib/chromium/chromium"   # the real binary; /usr/bin/chromium is a slow shell wrapper
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "correct-horse-9"


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium per test module (a fresh context per test). Not per session: Playwright runs an
    event loop in this thread while it is open, which would break asyncio.run() in the tests after it."""
    from playwright.sync_api import sync_playwright
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium package")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


def open_page(chromium, bypass_csp: bool):
    """A new context and page; JavaScript errors, and with the policy enforced anything it blocks, are kept."""
    context = chromium.new_context(viewport={"width": 1440, "height": 900}, locale="en-US", bypass_csp=bypass_csp)
    context.set_default_timeout(15000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    if not bypass_csp:
        page.on("console", lambda msg: errors.append(msg.text)
                if msg.type == "error" and "Content Security Policy" in msg.text else None)
    return context, page, errors


@pytest.fixture
def browser_page(chromium):
    """A new browser context and page (1440x900, English unless the test switches); closed afterwards.
    Any JavaScript error on the page fails the test. The Content-Security-Policy is bypassed here because
    Playwright's wait_for_function evaluates strings; tests/browser/test_csp.py drives the pages with it."""
    context, page, errors = open_page(chromium, bypass_csp=True)
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def strict_page(chromium):
    """Like browser_page, with the Content-Security-Policy enforced: anything it blocks fails the test."""
    context, page, errors = open_page(chromium, bypass_csp=False)
    yield page
    context.close()
    assert not errors, f"JavaScript errors or Content-Security-Policy violations: {errors}"


@pytest.fixture
def shot():
    """shot(page, "name"): save a full-page screenshot as a test artifact; returns its path."""
    SHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take


@pytest.fixture
def web_box(prepared_box):
    """A running daemon with users admin, sup (supervisor), agent1 (agent), qa1 (qa), password PASSWORD."""
    return prepared_box()


@pytest.fixture
def login():
    """login(page, base_url, name): log in through the form, like a person."""
    def do(page, base: str, name: str, password: str = PASSWORD) -> None:
        page.goto(base + "/login")
        page.fill("input[name=name]", name)
        page.fill("input[name=password]", password)
        page.click("button[type=submit].btn-primary")
        page.wait_for_load_state("domcontentloaded")
        assert "/login" not in page.url and "/setup" not in page.url, \
            f"login as {name} failed at {page.url}: {page.inner_text('main')[:200]}"
    return do


@pytest.fixture(scope="session")
def tts_cache(tmp_path_factory) -> Path:
    """Speech made by espeak-ng once per run (each box links its prompts/cache here)."""
    return tmp_path_factory.mktemp("tts-cache")


@pytest.fixture
def prompt_box(prepared_box, tmp_path, tts_cache):
    """The shipped flows and prompt texts, a fresh prompts directory (its TTS cache shared by the run); the
    user admin (English). ``.prompts`` is the prompts directory."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "cache").symlink_to(tts_cache, target_is_directory=True)
    d = prepared_box(people={"admin": "admin"}, config={"paths": {"prompts": str(prompts)}})
    d.prompts = prompts
    return d
