"""Languages of the panel: Tornado's CSV translations (webadmin/locale/zh_CN.csv; English is the source text).
Strings in templates are wrapped in the underscore function, in Python marked with N_ (marked, translated when shown); a test
fails when any of them lacks a Chinese translation."""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import tornado.locale

from .nav import NAV

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"zh_CN": "中文", "en_US": "English"}


def N_(text: str) -> str:  # noqa: N802 - the gettext convention
    """Mark a string for translation where it is defined; it is translated where it is shown."""
    return text


# Strings the browser scripts show (sent to the page as a JSON map in the user's language).
JS_STRINGS = [
    N_("Connected"), N_("Reconnecting..."), N_("Saved"), N_("Failed"), N_("Are you sure?"), N_("Loading..."),
    N_("Nothing here yet"), N_("Close"), N_("Error"), N_("seconds"), N_("minutes"),
]

# Values shown through _(value): roles, component and line states, line kinds.
DYNAMIC = [
    N_("admin"), N_("supervisor"), N_("agent"), N_("qa"),
    N_("serving"), N_("starting"), N_("draining"), N_("stopping"), N_("up"), N_("down"), N_("unknown"),
    N_("degraded"), N_("trunk"), N_("station"), N_("idle"), N_("busy"),
]

tornado.locale.load_translations(str(LOCALE_DIR))
tornado.locale.set_default_locale("en_US")


def js_strings(locale: tornado.locale.Locale) -> dict[str, str]:
    """The scripts' strings in one language."""
    return {s: locale.translate(s) for s in JS_STRINGS}


def nav_for(role: str | None) -> list[dict[str, Any]]:
    """Navigation groups with the entries this role may open (admin sees everything)."""
    if role is None:
        return []
    groups: list[dict[str, Any]] = []
    for group, entries in NAV:
        allowed = [e for e in entries if role == "admin" or role in e["roles"]]
        if allowed:
            groups.append({"label": group, "entries": allowed})
    return groups


_MARKED = re.compile(r"""(?<![A-Za-z0-9])(?:_|N_|translate)\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*[,)%]""")


def extract_strings(root: Path | None = None) -> dict[str, list[str]]:
    """Every marked string in the panel's templates, scripts' list and Python files -> where it appears."""
    root = root or Path(__file__).parent
    found: dict[str, list[str]] = {}
    files = [*sorted((root / "templates").rglob("*.html")), *sorted(root.rglob("*.py"))]
    for path in files:
        text = path.read_text(encoding="utf-8")
        for m in _MARKED.finditer(text):
            s = m.group(1) if m.group(1) is not None else m.group(2)
            s = s.encode().decode("unicode_escape") if "\\" in s else s
            line = text.count("\n", 0, m.start()) + 1
            found.setdefault(s, []).append(f"{path.relative_to(root)}:{line}")
    return found


def missing(language: str = "zh_CN") -> dict[str, list[str]]:
    """Marked strings without a translation in a language (English is the source: none missing)."""
    if language == "en_US":
        return {}
    table = _read_csv(LOCALE_DIR / f"{language}.csv")
    return {s: where for s, where in extract_strings().items() if s not in table}


def _read_csv(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8", newline="") as f:
        return {row[0]: row[1] for row in csv.reader(f) if len(row) >= 2 and row[1]}


def main() -> int:
    """scripts/i18n-missing: print untranslated strings with where they are used."""
    gaps = missing()
    for s, where in sorted(gaps.items()):
        print(f'"{s}",""    # {", ".join(where[:3])}')
    return 1 if gaps else 0
