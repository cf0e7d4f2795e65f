"""Text entering the box: invalid Unicode is refused (requests) or replaced (data from lines), never stored raw."""
from __future__ import annotations

from typing import Any

MAX_DEPTH = 64


def invalid_at(text: str) -> int | None:
    """Index of the first character that cannot be stored as UTF-8 (a lone surrogate), or None."""
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as exc:
        return exc.start


def check_text(value: Any, field: str) -> Any:
    """``value`` unchanged when it holds no invalid Unicode; ValueError naming ``field`` otherwise."""
    if isinstance(value, str):
        at = invalid_at(value)
        if at is not None:
            raise ValueError(f"{field}: invalid Unicode at character {at} "
                             f"(lone surrogate U+{ord(value[at]):04X}); send UTF-8 text")
    return value


def find_invalid(value: Any, field: str = "", depth: int = 0) -> str | None:
    """The problem of the first string (key or value) in a JSON document holding invalid Unicode, or None."""
    if depth > MAX_DEPTH:
        return None  # nesting depth is the JSON validator's business; stop walking
    try:
        if isinstance(value, str):
            check_text(value, field or "body")
        elif isinstance(value, dict):
            for key, item in value.items():
                check_text(key, f"{field or 'body'} (a key)")
                name = f"{field}.{key}" if field else str(key)
                problem = find_invalid(item, name, depth + 1)
                if problem:
                    return problem
        elif isinstance(value, list):
            for i, item in enumerate(value):
                problem = find_invalid(item, f"{field}[{i}]", depth + 1)
                if problem:
                    return problem
    except ValueError as exc:
        return str(exc)
    return None


def clean_text(value: Any) -> str:
    """Text from a line (caller ID, names, reasons) made storable: invalid characters become U+FFFD."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if invalid_at(text) is None:
        return text
    # a pair split in two code points is joined again; a lone surrogate becomes U+FFFD
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def escape_text(text: str) -> str:
    """Invalid characters written as visible escapes (``\\ud800``): what the journal stores for a bad event."""
    return text if invalid_at(text) is None else text.encode("utf-8", "backslashreplace").decode("utf-8")
