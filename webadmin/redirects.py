"""Redirect targets taken from requests (``next``, ``back``): local paths only, anything else goes home."""
from __future__ import annotations

import re
import urllib.parse

# C0 controls, DEL and the C1 range, plus Unicode line/paragraph separators: browsers strip or reinterpret them
# (``/\t/evil.example`` is ``//evil.example`` to Chromium), and Tornado refuses them in a Location header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _decoded_forms(target: str) -> list[str]:
    """The target and its percent-decodings (up to three rounds: ``%252F`` is still a slash to someone)."""
    forms = [target]
    for _ in range(3):
        nxt = urllib.parse.unquote(forms[-1])
        if nxt == forms[-1]:
            break
        forms.append(nxt)
    return forms


def _is_local_path(text: str) -> bool:
    """True for ``/something`` that no browser reads as another host or scheme."""
    if not text.startswith("/") or text.startswith("//"):
        return False
    parts = urllib.parse.urlsplit(text)
    return not parts.scheme and not parts.netloc


def safe_target(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this box (checked raw and after decoding, with control characters and
    backslashes refused); otherwise ``default``."""
    if not target or len(target) > 2048:
        return default
    for form in _decoded_forms(target):
        if "\\" in form or _CONTROL.search(form):
            return default
        stripped = form.strip()
        if not _is_local_path(stripped) or stripped != form:
            return default
    return target
