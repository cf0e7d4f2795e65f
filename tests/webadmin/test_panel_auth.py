"""First run, log-in, sessions, lockout, log-out, language, audit: the panel's front door."""
from __future__ import annotations

import time



def test_first_run_creates_the_admin_and_there_is_no_default_password(daemon_factory, client, password) -> None:
    Panel, PASSWORD = client, password
    d = daemon_factory()
    p = Panel(d.url, accept_language=None)
    r = p.get("/")
    assert r.status == 302 and r.headers["Location"] == "/setup"
    assert p.get("/login").status == 302  # every page leads to setup while there is no admin
    form = {"name": "boss", "password": PASSWORD, "password2": PASSWORD, "language": "en_US",
            "timezone": "Asia/Shanghai", "code": (d.state / "setup-code").read_text().strip()}
    page = p.get("/setup")
    assert page.status == 200 and "没有默认密码" in page.text      # the box's language (zh_CN) until one is chosen
    assert p.post("/language", {"language": "en_US", "back": "/setup"}).headers["Location"] == "/setup"
    page = p.get("/setup")
    assert page.status == 200 and "no default password" in page.text
    assert p.post("/setup", form, xsrf=False).status == 403           # XSRF on every form
    bad = p.post("/setup", {**form, "password2": "something-else"})
    assert bad.status == 400 and "The two passwords differ." in bad.text
    short = p.post("/setup", {**form, "password": "short", "password2": "short"})
    assert short.status == 400 and "at least 8 characters" in short.text
    ok = p.post("/setup", form)
    assert ok.status == 302 and ok.headers["Location"] == "/"
    cookie = next(c for c in ok.headers.get_all("Set-Cookie") if c.startswith("hotline_session="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "expires" not in cookie.lower()
    home = p.get("/")
    assert home.status == 200 and "boss" in home.text and "Overview" in home.text
    # setup is gone for everyone now, and the admin's creation is in the audit log
    assert Panel(d.url).get("/setup").status == 404
    audit = p.api("GET", "/audit?action=setup.")
    assert audit.status == 200
    entry = audit.json()["entries"][0]
    assert entry["user"] == "boss" and entry["after"]["timezone"] == "Asia/Shanghai" and entry["address"]


def test_login_lockout_grows_and_logout_kills_the_session(panel_box, client, password) -> None:
    Panel, PASSWORD = client, password
    p = Panel(panel_box.url)
    r = p.get("/audit")
    assert r.status == 302 and r.headers["Location"].startswith("/login?next=/audit")
    for _ in range(3):
        assert p.post("/login", {"name": "admin", "password": "wrong-password"}).status == 401
    locked = p.post("/login", {"name": "admin", "password": PASSWORD})   # right password, still waits
    assert locked.status == 429 and int(locked.headers["Retry-After"]) >= 2
    assert "Too many failed attempts" in locked.text
    time.sleep(2.2)
    assert p.post("/login", {"name": "admin", "password": PASSWORD, "next": "/audit"}).headers["Location"] == "/audit"
    page = p.get("/audit")
    assert page.status == 200 and page.text.count("login.failed") >= 3
    # an open redirect is not followed
    q = Panel(panel_box.url)
    assert q.post("/login", {"name": "sup", "password": PASSWORD, "next": "//evil.example/"}).headers["Location"] == "/"
    # log out: the old cookie stops working at once (the session is gone on the server)
    stolen = p.cookie("hotline_session")
    assert p.post("/logout", {}).status == 302
    thief = Panel(panel_box.url)
    thief.jar.set_cookie(next(c for c in p.jar if c.name == "_xsrf"))
    import http.cookiejar
    thief.jar.set_cookie(http.cookiejar.Cookie(0, "hotline_session", stolen, None, False, "127.0.0.1", False, False,
                                               "/", True, False, None, False, None, None, {}))
    assert thief.get("/audit").status == 302


def test_roles_see_their_pages_only(panel_box, client) -> None:
    Panel = client
    for name, audit_status in (("admin", 200), ("sup", 403), ("agent1", 403), ("qa1", 403)):
        p = Panel(panel_box.url)
        p.login(name)
        assert p.get("/").status == 200
        assert p.get("/audit").status == audit_status, name
        assert p.api("GET", "/audit").status == audit_status, name
        assert p.get("/no/such/page").status == 404


def test_language_switch_is_kept_with_the_user(panel_box, client) -> None:
    Panel = client
    p = Panel(panel_box.url)
    p.login("sup")
    assert "Log out" in p.get("/").text
    assert p.post("/language", {"language": "zh_CN", "back": "/"}).status == 302
    page = p.get("/").text
    assert "退出登录" in page and "概览" in page
    again = Panel(panel_box.url, accept_language="en-US")   # a new browser: the user's choice comes with the login
    again.login("sup")
    assert "退出登录" in again.get("/").text
    assert p.post("/language", {"language": "xx_XX"}).status == 400


def test_audit_filters_are_allow_listed(panel_box, client) -> None:
    Panel = client
    p = Panel(panel_box.url)
    p.login("admin")
    assert p.api("GET", "/audit?order=password").status == 400
    assert p.api("GET", "/audit?since=yesterday").status == 400
    r = p.api("GET", "/audit?action=login&user=admin")
    assert r.status == 200 and all(e["user"] == "admin" and e["action"].startswith("login")
                                   for e in r.json()["entries"])
