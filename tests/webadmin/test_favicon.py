"""Every page's icon is served by the box itself: /favicon.ico (asked for by browsers on every page) and the icon
the pages link to answer an image, to anyone, with nothing fetched from the internet."""
from __future__ import annotations

import re


def test_favicon_is_served_on_every_page(panel_box, client) -> None:
    anonymous = client(panel_box.url)
    r = anonymous.get("/favicon.ico")
    assert r.status == 200, f"/favicon.ico -> {r.status}"
    assert r.headers["Content-Type"].startswith("image/"), r.headers["Content-Type"]
    assert "<svg" in r.text and "</svg>" in r.text
    page = anonymous.get("/login")
    links = re.findall(r'<link rel="icon" href="([^"]+)"', page.text)
    assert links, "the login page names no icon"
    for href in links:
        assert href.startswith("/"), f"icon from elsewhere: {href}"
        icon = anonymous.get(href)
        assert icon.status == 200 and icon.headers["Content-Type"].startswith("image/"), (href, icon.status)
    anonymous.login("admin")
    assert re.search(r'<link rel="icon" href="/static/favicon.svg"', anonymous.get("/").text)
