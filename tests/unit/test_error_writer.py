"""The last-resort error writer of the panel's handlers: a validation error that escaped its handler is its
own 4xx with a JSON message and no traceback; any other exception stays a logged 500 (a bug is not masked)."""
from __future__ import annotations

import asyncio
import json
import logging

import tornado.httpclient
import tornado.httpserver
import tornado.netutil
import tornado.web

from hotline.daemon.service.crm_fields import CrmError
from hotline.webadmin.handlers.base import BaseHandler
from hotline.webadmin.handlers.inputs import BadInput


class Raiser(BaseHandler):
    """GET raises what the route says."""

    public = True

    def get(self, what: str) -> None:
        if what == "crm":
            raise CrmError("phones", "must be a phone number", 409)
        if what == "badinput":
            raise BadInput("items[2].name", "at most 64 characters")
        if what == "keyerror":
            raise KeyError("a real bug")
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")


def fetch_all(paths: list[str]) -> list[tuple[int, dict]]:
    """Serve the Raiser on a free loopback port and GET each path."""
    async def main() -> list[tuple[int, dict]]:
        app = tornado.web.Application([(r"/(\w+)", Raiser, {"services": {}})])
        server = tornado.httpserver.HTTPServer(app)
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        client = tornado.httpclient.AsyncHTTPClient()
        out = []
        for path in paths:
            r = await client.fetch(f"http://127.0.0.1:{port}{path}", raise_error=False)
            out.append((r.code, json.loads(r.body)))
        server.stop()
        return out
    return asyncio.run(main())


def test_validation_errors_are_4xx_and_bugs_stay_500(caplog) -> None:
    caplog.set_level(logging.INFO)
    (crm, crm_doc), (bad, bad_doc), (bug, bug_doc), (enc, _) = fetch_all(["/crm", "/badinput", "/keyerror",
                                                                          "/encode"])
    assert (crm, crm_doc["status"]) == (409, 409) and "must be a phone number" in crm_doc["error"]
    assert (bad, bad_doc) == (400, {"error": "items[2].name: at most 64 characters", "status": 400})
    assert (bug, bug_doc) == (500, {"error": "Internal Server Error", "status": 500})
    assert enc == 500                       # invalid Unicode reaching the store is a bug, not bad input
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 2 and {r.exc_info[0] for r in tracebacks} == {KeyError, UnicodeEncodeError}
    assert any("event=bad_input" in r.getMessage() and "CrmError" in r.getMessage() for r in caplog.records)
