"""GET /api/v1/openapi.json: the API's OpenAPI 3.1 description (webadmin/openapi.yaml) as JSON."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml

from .base import BaseHandler

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"  # shipped as package data of hotline.webadmin


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document, read once."""
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


@functools.cache
def document_json() -> bytes:
    """The document serialized once."""
    return json.dumps(document(), ensure_ascii=False).encode()


class OpenApiHandler(BaseHandler):
    """The OpenAPI document; any signed-in role may read it."""

    roles = ("admin", "supervisor", "agent", "qa")

    def get(self) -> None:
        """Send the document as JSON."""
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(document_json())


ROUTES = [(r"/api/v1/openapi\.json", OpenApiHandler)]
