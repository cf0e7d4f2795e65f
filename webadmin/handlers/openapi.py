"""GET /api/v1/openapi.json: the API's OpenAPI 3.1 description (webadmin/openapi.yaml) as JSON."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from hotline.dialplan import safe_yaml

from .base import BaseHandler

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.yaml"  # shipped as package data of hotline.webadmin
PARTS_DIR = SPEC_PATH.parent / "openapi.d"  # one file per panel area: paths, components.schemas, tags


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document, read once: openapi.yaml plus every openapi.d/*.yaml merged in (a path or schema
    defined twice is an error naming both files)."""
    with open(SPEC_PATH, encoding="utf-8") as f:
        doc = safe_yaml.load(f.read())
    owner: dict[str, str] = {}
    for part in sorted(PARTS_DIR.glob("*.yaml")):
        with open(part, encoding="utf-8") as f:
            extra = safe_yaml.load(f.read()) or {}
        for path, item in (extra.get("paths") or {}).items():
            if path in doc["paths"]:
                raise ValueError(f"{part.name}: path {path} is already described in {owner.get(path, SPEC_PATH.name)}")
            doc["paths"][path], owner[path] = item, part.name
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in ((extra.get("components") or {}).get("schemas") or {}).items():
            if name in schemas:
                raise ValueError(f"{part.name}: schema {name} is already defined")
            schemas[name] = schema
        known = {t["name"] for t in doc.get("tags", [])}
        doc.setdefault("tags", []).extend(t for t in extra.get("tags", []) if t["name"] not in known)
    return doc


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
