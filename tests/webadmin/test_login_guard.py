"""Log-in backoff that cannot be raced or turned against users, trusted proxies, password changes ending
sessions, the one-time first-run code, and redirect targets: a real daemon, real HTTP, the real CLI."""
from __future__ import annotations

import concurrent.futures
import os
import re
import sqlite3
import stat
import subprocess
import time


PROXY = {"web": {"trusted_proxies": ["127.0.0.1"]}}


def from_address(client, base: str, address: str):
    """A browser whose requests reach the box through the trusted proxy from ``address``."""
    p = client(base)
    real = p.request

    def request(method, path, data=None, headers=None):
        return real(method, path, data, {**(headers or {}), "X-Forwarded-For": address})
    p.request = request
    return p


def failed_logins(state) -> int:
    with sqlite3.connect(state / "hotline.db") as db:
        return db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'login.failed'").fetchone()[0]


def test_fifty_concurrent_wrong_passwords_are_not_all_checked(panel_box, client) -> None:
    """Finding 6: every try is charged before its password is checked, in the one writer: of 50 wrong
    passwords sent at once, only the 3 free tries are checked; the rest wait (429 with Retry-After)."""
    p = client(panel_box.url)
    p.xsrf()
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(lambda i: p.post("/login", {"name": "admin", "password": f"guess-{i}"}).status,
                                 range(50)))
    assert statuses.count(401) == 3, statuses
    assert statuses.count(429) == 47, statuses
    assert failed_logins(panel_box.state) == 3


def test_attackers_cannot_lock_the_right_password_out(prepared_box, client, password) -> None:
    """Finding 6: backoff is per (account, address) and per address; failures elsewhere never refuse a right
    password from an address with no failures. Behind the trusted proxy every client has its own address."""
    d = prepared_box(config=PROXY)
    attacker = from_address(client, d.url, "198.51.100.66")
    for _ in range(3):
        assert attacker.post("/login", {"name": "admin", "password": "wrong-password"}).status == 401
    refused = attacker.post("/login", {"name": "admin", "password": password})
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 2   # the guesser learns nothing
    # the administrator at the office logs in at once
    assert from_address(client, d.url, "192.0.2.10").post(
        "/login", {"name": "admin", "password": password}).status == 302

    # a guesser spread over many addresses: once the account has 10 failures, each new address is slowed
    # after its first failure -- and still a clean address gets in with the right password
    for i in range(10):
        assert from_address(client, d.url, f"203.0.113.{i + 1}").post(
            "/login", {"name": "sup", "password": "wrong-password"}).status == 401
    spread = from_address(client, d.url, "203.0.113.99")
    assert spread.post("/login", {"name": "sup", "password": "wrong-password"}).status == 401
    assert spread.post("/login", {"name": "sup", "password": "wrong-password"}).status == 429
    assert from_address(client, d.url, "192.0.2.11").post(
        "/login", {"name": "sup", "password": password}).status == 302

    # one address trying many names is slowed on every name after 10 failures
    sprayer = from_address(client, d.url, "198.51.100.77")
    for i in range(10):
        assert sprayer.post("/login", {"name": f"user{i}", "password": "wrong-password"}).status == 401
    assert sprayer.post("/login", {"name": "agent1", "password": password}).status == 429
    assert from_address(client, d.url, "192.0.2.12").post(
        "/login", {"name": "agent1", "password": password}).status == 302

    # the audit log names the real client, not the proxy
    with sqlite3.connect(d.state / "hotline.db") as db:
        addresses = {r[0] for r in db.execute("SELECT address FROM audit_log WHERE action = 'login.failed'")}
    assert "198.51.100.66" in addresses and "127.0.0.1" not in addresses


def test_forwarded_for_from_an_untrusted_peer_is_ignored(panel_box, client, password) -> None:
    """Without web.trusted_proxies a client cannot dodge the backoff by claiming another address."""
    for i in range(3):
        assert from_address(client, panel_box.url, f"192.0.2.{i + 1}").post(
            "/login", {"name": "admin", "password": "wrong-password"}).status == 401
    assert from_address(client, panel_box.url, "192.0.2.200").post(
        "/login", {"name": "admin", "password": password}).status == 429
    with sqlite3.connect(panel_box.state / "hotline.db") as db:
        assert {r[0] for r in db.execute("SELECT address FROM audit_log WHERE action = 'login.failed'")} == {
            "127.0.0.1"}


def test_backoff_survives_a_restart(panel_box, client, password) -> None:
    """The counters live in the database: after a restart the count goes on where it was (the 4th failure
    makes the next try wait 4 s) instead of giving a guesser 3 fresh free tries."""
    p = client(panel_box.url)
    for _ in range(3):
        assert p.post("/login", {"name": "admin", "password": "wrong-password"}).status == 401
    last = time.monotonic()
    panel_box.stop()
    panel_box.start()
    time.sleep(max(0.0, last + 2.2 - time.monotonic()))          # the 2 s after the 3rd failure are over
    q = client(panel_box.url)
    assert q.post("/login", {"name": "admin", "password": "wrong-password"}).status == 401
    refused = q.post("/login", {"name": "admin", "password": password})
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 3


def test_password_changes_end_the_users_other_sessions(panel_box, client, password, hotline_bin) -> None:
    """Finding 11 and 'password changes from any path': the panel's API, an administrator changing their own
    (keeps the session they use), and `hotline user passwd` on the console."""
    sup_a, sup_b = client(panel_box.url), client(panel_box.url)
    sup_a.login("sup")
    sup_b.login("sup")
    admin, admin_elsewhere = client(panel_box.url), client(panel_box.url)
    admin.login("admin")
    admin_elsewhere.login("admin")
    assert admin.api("POST", "/config/users/sup/password", {"password": "new-password-1"}).status == 200
    assert sup_a.get("/").status == 302 and sup_b.get("/").status == 302
    client(panel_box.url).login("sup", "new-password-1")

    assert admin.api("POST", "/config/users/admin/password", {"password": "new-password-2"}).status == 200
    assert admin.get("/audit").status == 200                    # the session that changed it goes on
    assert admin_elsewhere.get("/audit").status == 302          # any other one (a stolen cookie) is out

    agent = client(panel_box.url)
    agent.login("agent1")
    assert agent.get("/").status == 200
    proc = subprocess.run([hotline_bin, "-c", str(panel_box.config), "user", "passwd", "agent1",
                           "--password-stdin"], input="new-password-3\n", capture_output=True, text=True,
                          env={**os.environ, "HOTLINE_STATE_DIR": str(panel_box.state)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "password of agent1 changed; 1 open session(s) ended"
    assert agent.get("/").status == 302
    client(panel_box.url).login("agent1", "new-password-3")


def setup_form(code: str, password: str) -> dict:
    return {"code": code, "name": "boss", "password": password, "password2": password, "language": "en_US",
            "timezone": "Asia/Shanghai"}


def test_first_run_needs_the_one_time_code_from_the_state_directory(daemon_factory, client, password) -> None:
    """Finding 7: /setup asks for a code the box wrote to <state>/setup-code (0600) and printed in its log;
    without it nobody takes the box over; the code is spent once the administrator exists."""
    d = daemon_factory()
    code_file = d.state / "setup-code"
    assert stat.S_IMODE(code_file.stat().st_mode) == 0o600
    code = code_file.read_text().strip()
    assert re.search(rf"event=first_run .*setup_code={re.escape(code)} ", d.output())
    p = client(d.url)
    assert p.get("/").headers["Location"] == "/setup"
    page = p.get("/setup")
    assert page.status == 200 and "Setup code" in page.text and code not in page.text
    for wrong in ("", "000000-000000-000000"):
        r = p.post("/setup", setup_form(wrong, password))
        assert r.status == 403 and "The setup code is wrong" in r.text
    ok = p.post("/setup", setup_form(code.upper().replace("-", " "), password))   # as someone may type it
    assert ok.status == 302 and ok.headers["Location"] == "/"
    assert not code_file.exists()
    assert client(d.url).get("/setup").status == 404
    assert client(d.url).post("/setup", setup_form(code, password)).status == 404
    with sqlite3.connect(d.state / "hotline.db") as db:
        refused = db.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'setup.code_refused'").fetchone()[0]
    assert refused == 2


def test_wrong_setup_codes_back_off(daemon_factory, client, password) -> None:
    """Guessing the code meets the same backoff as guessing a password."""
    d = daemon_factory()
    p = client(d.url)
    assert p.get("/setup").status == 200
    for _ in range(3):
        assert p.post("/setup", setup_form("guess", password)).status == 403
    right = p.post("/setup", setup_form((d.state / "setup-code").read_text().strip(), password))
    assert right.status == 429 and "Retry-After" in right.headers


def test_a_token_only_administrator_closes_first_run(daemon_factory, client, password, hotline_bin,
                                                     tmp_path) -> None:
    """Finding 7 exactly: after `hotline user add X --role admin --token` there is an administrator, so
    anonymous /setup is gone (before, it created a second admin and logged them in)."""
    state = tmp_path / "state"
    state.mkdir()
    d = daemon_factory(state=state, start=False)
    env = {**os.environ, "HOTLINE_STATE_DIR": str(state)}
    proc = subprocess.run([hotline_bin, "-c", str(d.config), "user", "add", "robot", "--role", "admin", "--token"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    d.start()
    p = client(d.url)
    assert p.get("/setup").status == 404
    assert p.post("/setup", setup_form("anything", password)).status == 404
    assert p.get("/").headers["Location"].startswith("/login")
    assert not (state / "setup-code").exists()
    with sqlite3.connect(state / "hotline.db") as db:
        assert db.execute("SELECT name FROM users").fetchall() == [("robot",)]


HOSTILE_TARGETS = ["/\t/evil.example/phish", "//evil.example/", "/\x0b/evil.example", "/\\evil.example",
                   "/%2F/evil.example", "https://evil.example/", " //evil.example", "/\r\n/evil.example"]


def test_redirect_parameters_only_lead_home(panel_box, client, password) -> None:
    """Finding 8: /login?next=, POST /login next, /language back: anything but a local path goes to / (every hostile
    target on one box, each with a fresh session)."""
    import urllib.parse
    for target in HOSTILE_TARGETS:
        p = client(panel_box.url)
        form = p.get("/login?next=" + urllib.parse.quote(target, safe=""))
        assert form.status == 200 and 'name="next" value="/"' in form.text, repr(target)
        r = p.post("/login", {"name": "admin", "password": password, "next": target})
        assert r.status == 302 and r.headers["Location"] == "/", repr(target)
        again = p.get("/login?next=" + urllib.parse.quote(target, safe=""))      # logged in: straight on
        assert again.status == 302 and again.headers["Location"] == "/", repr(target)
        back = p.post("/language", {"language": "en_US", "back": target})
        assert back.status == 302 and back.headers["Location"] == "/", repr(target)


def test_the_reported_open_redirect_and_a_good_target(panel_box, client, password) -> None:
    """The exact request of the report, then a local target that is kept."""
    p = client(panel_box.url)
    p.login("admin")
    r = p.get("/login?next=%2F%09%2Fevil.example%2Fphish")
    assert r.status == 302 and r.headers["Location"] == "/"
    assert p.get("/login?next=%2Faudit%3Faction%3Dlogin").headers["Location"] == "/audit?action=login"
    assert p.post("/language", {"language": "en_US", "back": "/audit"}).headers["Location"] == "/audit"
