"""Request input checked in one place for every route: JSON bodies (nesting depth, Unicode, number range) and
typed parameters (ids, pages, bounded integers); anything wrong is a 400 whose message names the field."""
from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable

import tornado.web

MAX_DEPTH = 32                      # objects and arrays nested deeper than this are refused
INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1   # what every database column can hold
MAX_PAGE = 1_000_000
_BAD_TEXT = re.compile(r"[\ud800-\udfff\x00]")


class BadInput(tornado.web.HTTPError):
    """A client error that names what is wrong (``field: message``); always a 4xx, never logged as a bug."""

    def __init__(self, field: str, message: str, status: int = 400):
        field = field if len(field) <= 80 else field[:77] + "..."
        self.field, self.message = field, f"{field}: {message}" if field else message
        self._args = (field, message, status)
        super().__init__(status, reason=self.message)

    def __reduce__(self) -> tuple:
        return (type(self), self._args)  # raised in a worker process (a big body), raised again here


def input_errors() -> tuple[type[BaseException], ...]:
    """The daemon's exception families that mean "the request's data is wrong" (never a bug): a handler
    should translate them itself; when one forgets, the last-resort error writer answers 4xx, not 500."""
    from hotline.daemon.box.backup import BackupError
    from hotline.daemon.service.crm_fields import CrmError
    from hotline.daemon.errors import ConfigError
    from hotline.daemon.service.kb import KbError
    from hotline.daemon.service.lookups import ServiceDataError
    from hotline.daemon.media.wavio import WavError
    from hotline.daemon.calls.simctl import SimError
    from hotline.daemon.box.procwork import WorkFailed
    from hotline.daemon.stats.reports import ReportError
    from hotline.daemon.service.workorders import WorkOrderError
    return (BackupError, ConfigError, CrmError, KbError, ReportError, ServiceDataError, SimError, WavError,
            WorkFailed, WorkOrderError)


def input_error_status(exc: BaseException | None) -> int | None:
    """The 4xx status for an exception that is a validation error (BadInput or a daemon input error), None
    for anything else: those stay 500s, to be fixed where they happen."""
    if isinstance(exc, BadInput):
        return exc.status_code
    if exc is None or isinstance(exc, tornado.web.HTTPError) or not isinstance(exc, input_errors()):
        return None
    status = getattr(exc, "status", 400)
    return status if isinstance(status, int) and 400 <= status < 500 else 400


def text_problem(value: str) -> str | None:
    """Why a text cannot be stored (a lone UTF-16 surrogate or a NUL character), or None when it is fine."""
    m = _BAD_TEXT.search(value)
    if m is None:
        return None
    if m.group() == "\x00":
        return "text contains a NUL character"
    return f"text contains invalid Unicode (a lone surrogate U+{ord(m.group()):04X} at character {m.start()})"


def check_text(value: str, field: str) -> str:
    """``value`` unchanged, or a 400 naming ``field`` when it holds text no database or log can store."""
    problem = text_problem(value)
    if problem:
        raise BadInput(field, problem)
    return value


def _where(path: str, key: Any) -> str:
    """The JSON path of a member, as shown in messages (``items[2].name``)."""
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))


def check_tree(data: Any, max_depth: int = MAX_DEPTH) -> Any:
    """Walk a parsed JSON document without recursion: nesting, text and numbers a handler can rely on."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= max_depth:
                top = re.match(r"[^.\[]*", path).group()   # the member the nesting hangs from
                raise BadInput(top or "body", f"nested deeper than {max_depth} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in items:
                where = _where(path, key)
                if isinstance(key, str):  # named by where it sits: the key itself may be the bad text
                    check_text(key, f"{path or 'body'} (a key)")
                stack.append((child, where, depth + 1))
        elif isinstance(value, str):
            check_text(value, path or "body")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not INT_MIN <= value <= INT_MAX:
                raise BadInput(path or "body", "number out of range")
        elif isinstance(value, float) and not math.isfinite(value):
            raise BadInput(path or "body", "number out of range")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes | str, what: str = "body", max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON from a request and check it (see check_tree); a 400 naming ``what`` if it is not usable."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        data = json.loads(text, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise BadInput(what, f"is not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise BadInput(what, f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise BadInput(what, f"is not valid JSON: {exc}") from None
    return check_tree(data, max_depth)


def parse_json_object(raw: bytes | None, what: str = "body") -> dict:
    """A JSON object body (an empty body is ``{}``), checked; a 400 otherwise."""
    data = parse_json(raw or b"{}", what)
    if not isinstance(data, dict):
        raise BadInput(what, "must be a JSON object")
    return data


def int_param(raw: Any, field: str, default: int | None = None, lo: int = INT_MIN, hi: int = INT_MAX) -> int:
    """An integer from a query, form or path parameter (or a JSON number), within [lo, hi]; a 400 naming
    ``field`` otherwise (``1e23``, ``abc``, a list, an out-of-range number)."""
    if raw is None or raw == "":
        if default is None:
            raise BadInput(field, "is required")
        return default
    if isinstance(raw, bool):
        raise BadInput(field, "must be an integer")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and re.fullmatch(r"\s*[+-]?[0-9]{1,100}\s*", raw):
        value = int(raw)
    else:
        raise BadInput(field, "must be an integer")
    if not lo <= value <= hi:
        raise BadInput(field, f"must be between {lo} and {hi}")
    return value


def id_param(raw: Any, field: str = "id") -> int:
    """A row id from a path or body: a positive integer a database can hold."""
    return int_param(raw, field, lo=1)


def page_param(raw: Any, field: str = "page") -> int:
    """A page number (1 when absent)."""
    return int_param(raw, field, default=1, lo=1, hi=MAX_PAGE)


def text_field(body: dict, key: str, required: bool = False, max_len: int = 10_000,
               default: str | None = None) -> str | None:
    """A text member of a JSON body: a string (not a list, object or number) of at most ``max_len``
    characters."""
    value = body.get(key)
    if value is None:
        if required:
            raise BadInput(key, "is required")
        return default
    if not isinstance(value, str):
        raise BadInput(key, "must be text")
    if len(value) > max_len:
        raise BadInput(key, f"at most {max_len} characters")
    return check_text(value, key)


def choice_field(body: dict, key: str, choices: Iterable[str], required: bool = True,
                 default: str | None = None) -> str | None:
    """A member of a JSON body that must be one of ``choices`` (a list or object is refused, not hashed)."""
    options = list(choices)
    value = body.get(key)
    if value is None and not required:
        return default
    if not isinstance(value, str) or value not in options:
        raise BadInput(key, "must be one of " + ", ".join(options))
    return value
