"""A real daemon with a modem device: the scripted modem is served on a loopback socket and opened through
pyserial's own ``socket://`` URL handler; the panel's lines page and /healthz show the identified modem, and a
modem that is gone leaves the device down with a reason instead of stopping the box."""
from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.parse
import urllib.request

PASSWORD = "correct-horse-9"


def admin_session(base: str) -> urllib.request.OpenerDirector:
    """A logged-in administrator's cookie-keeping client."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(base + "/login", timeout=10).read()
    xsrf = urllib.parse.unquote(next(c.value for c in jar if c.name == "_xsrf"))
    body = urllib.parse.urlencode({"name": "admin", "password": PASSWORD, "_xsrf": xsrf}).encode()
    opener.open(urllib.request.Request(base + "/login", data=body, method="POST"), timeout=10).read()
    return opener


def devices_config(url: str) -> dict:
    return {"devices": [{"name": "sim0", "driver": "sim", "trunks": 1, "stations": ["1001"]},
                        {"name": "modem0", "driver": "modem", "port": url, "number": "8001", "profile": "auto"}]}


def test_panel_and_healthz_show_the_identified_modem(prepared_box, served_modem) -> None:
    served = served_modem("conexant")
    box = prepared_box(people={"admin": "admin"}, config=devices_config(served.url))
    web = admin_session(box.url)
    deadline = time.monotonic() + 20
    while True:
        health = json.loads(web.open(box.url + "/healthz", timeout=10).read())
        modem0 = health["components"]["devices"]["devices"]["modem0"]
        if modem0["state"] == "up" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert modem0["state"] == "up" and modem0["lines"] == 1, modem0
    assert modem0["modem"]["model"] == "CX93001-EIS_V0.2002-V92" and modem0["modem"]["profile"] == "conexant"
    assert modem0["modem"]["format"] == "UNSIGNED PCM (1) at 8000 Hz"
    assert "ATI3" in served.modem.commands and "AT+VCID=1" in served.modem.commands
    page = web.open(box.url + "/config/lines", timeout=10).read().decode()
    row = re.search(r'<tr data-device="modem0">.*?</tr>', page, re.S)
    assert row and "CX93001-EIS_V0.2002-V92" in row.group(0) and "conexant" in row.group(0), page[:2000]


def test_a_modem_that_is_not_there_leaves_the_device_down_with_the_reason(prepared_box, served_modem) -> None:
    served = served_modem("conexant")
    served.close()  # nothing listens: the port cannot be opened
    box = prepared_box(people={"admin": "admin"}, config=devices_config(served.url))
    web = admin_session(box.url)
    health = json.loads(web.open(box.url + "/healthz", timeout=10).read())
    modem0 = health["components"]["devices"]["devices"]["modem0"]
    assert modem0["state"] != "up" and f"cannot open {served.url}" in modem0["reason"], modem0
    assert health["components"]["devices"]["devices"]["sim0"]["state"] == "up"  # the box serves on


def test_an_echoing_modem_is_reported_on_the_panel(prepared_box, served_modem) -> None:
    served = served_modem("conexant")
    served.modem.echo = True  # commands come back after ATE0: a wrong or damaged modem
    box = prepared_box(people={"admin": "admin"}, config=devices_config(served.url))
    web = admin_session(box.url)
    deadline = time.monotonic() + 20
    while True:
        page = web.open(box.url + "/config/lines", timeout=10).read().decode()
        row = re.search(r'<tr data-device="modem0">.*?</tr>', page, re.S)
        if row and "modem fault: echo" in row.group(0) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert row and "modem fault: echo" in row.group(0), row.group(0) if row else page[:2000]
    health = json.loads(web.open(box.url + "/healthz", timeout=10).read())
    assert health["components"]["devices"]["devices"]["modem0"]["faults"] == ["echo"]
