"""What CRM fields accept and how they are stored (phone numbers normalized, models upper-case, area codes with
their leading 0, provinces and regions by short Chinese name), and the error every check raises."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import HotlineError
from .lookups import PROVINCES, REGIONS, _area_code, _code, _district, _province, _region, normalize_number
from ..store.service_models import ProductCategory


class CrmError(HotlineError):
    """Bad input: ``field`` names the field or parameter, ``message`` is an English template (translated by
    the panel) filled with ``params``; ``status`` is the HTTP status it maps to (400, 404 or 409)."""

    def __init__(self, field: str | None, message: str, status: int = 400, **params: Any):
        self.field, self.message, self.params, self.status = field, message, params, status
        text = message % params if params else message
        super().__init__(f"{field}: {text}" if field else text)


# Every message template CrmError uses (the panel marks the same strings for translation; a test checks it).
MESSAGES = (
    "is required", "is too long (at most %(max)d characters)", "must be a whole number",
    "must be 0 or more", "must be at most %(max)d", "must be an amount like 12.50", "must be yes or no",
    "must be one of: %(choices)s", "must be an area code like 0755", "must be a phone number",
    "must be 3 to 20 digits", "must be an e-mail address", "use letters and digits only",
    "use letters, digits, '-' and '.'", "unknown province", "unknown region", "must be zh_CN or en_US",
    "no product with model %(model)s", "is already used by %(other)s", "unknown parameter",
    "unknown value %(value)s (allowed: %(allowed)s)", "must be a page number", "no such record (id %(id)s)",
    "give the name in Chinese or in English", "must be a list of numbers", "unknown kind %(value)s",
    "listed twice", "extension digits only (1 to 16)", "must be a JSON object", "at most %(max)d numbers",
    # the customer import
    "unknown column", "also in row %(row)d", "is larger than %(max)d MB",
    "is an Excel workbook, not CSV: save it as CSV (UTF-8) first", "is not a CSV text file", "is empty",
    "has more than %(max)d rows", "has more cells than the header", "has no customer rows",
    "%(n)d rows have errors; nothing was imported", "has expired: upload it again",
)

PHONE_KINDS = ("mobile", "landline", "fax", "work")
LANGUAGES = ("zh_CN", "en_US")
CATEGORIES = tuple(c.value for c in ProductCategory)
MAX_PER_PAGE = 200


# ------------------------------------------------------------------ field cleaners (value -> stored form)

def _text(value: Any, f: "Field") -> Any:
    text = str(value).strip() if value is not None else ""
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    if len(text) > f.max_len:
        raise CrmError(f.name, "is too long (at most %(max)d characters)", max=f.max_len)
    return text


def _int(value: Any, f: "Field") -> int:
    if isinstance(value, bool):
        raise CrmError(f.name, "must be a whole number")
    if isinstance(value, int):
        n = value
    else:
        text = str(value).strip().replace(",", "")
        if not re.fullmatch(r"-?\d{1,12}", text):
            raise CrmError(f.name, "must be a whole number")
        n = int(text)
    if n < 0:
        raise CrmError(f.name, "must be 0 or more")
    if n > 1_000_000_000:
        raise CrmError(f.name, "must be at most %(max)d", max=1_000_000_000)
    return n


def parse_money(value: Any, name: str = "price") -> int:
    """'1,099.50', '¥1099.5', 1099.5 or 1099 -> cents (never negative, at most two decimals)."""
    if isinstance(value, bool):
        raise CrmError(name, "must be an amount like 12.50")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.2f}" if round(value, 2) == value else str(value)
    else:
        text = re.sub(r"^(¥|￥|RMB|CNY)\s*", "", str(value).strip(), flags=re.I).replace(",", "")
    if text.startswith("-"):
        raise CrmError(name, "must be 0 or more")
    m = re.fullmatch(r"(\d{1,10})(?:\.(\d{1,2}))?", text)
    if not m:
        raise CrmError(name, "must be an amount like 12.50")
    return int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))


TRUE = {"1", "true", "yes", "y", "on", "是", "vip", "t"}
FALSE = {"0", "false", "no", "n", "off", "否", "", "f"}


def _bool(value: Any, f: "Field") -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().casefold() if value is not None else ""
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise CrmError(f.name, "must be yes or no")


def _choice(value: Any, f: "Field") -> str:
    text = str(value).strip() if value is not None else ""
    if text not in f.choices:
        raise CrmError(f.name, "must be one of: %(choices)s", choices=", ".join(f.choices))
    return text


def _area(value: Any, f: "Field") -> str | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    code = _area_code(text)
    if not code or not re.fullmatch(r"0\d{2,3}", code):
        raise CrmError(f.name, "must be an area code like 0755")
    return code


def _phone(value: Any, f: "Field") -> str | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    if re.search(r"[^\d\s+()\-.]", text):
        raise CrmError(f.name, "must be a phone number")
    number = normalize_number(text)
    if not number or not 3 <= len(number) <= 20:
        raise CrmError(f.name, "must be 3 to 20 digits")
    return number


def _phone_text(value: Any, f: "Field") -> str | None:
    text = _text(value, f)
    if not text:
        return None
    if not re.fullmatch(r"[\d\s+()\-./]+(\s*(ext|转|x)\.?\s*\d{1,6})?", text, flags=re.I) \
            or len(re.sub(r"\D", "", text)) < 3:
        raise CrmError(f.name, "must be a phone number")
    return re.sub(r"\s+", " ", text)


def _email(value: Any, f: "Field") -> str | None:
    text = _text(value, f)
    if not text:
        return None
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text):
        raise CrmError(f.name, "must be an e-mail address")
    return text


def _model_code(value: Any, f: "Field") -> str | None:
    text = _text(value, f)
    code = _code(text) if text else None
    if code and not re.fullmatch(r"[0-9A-Z]+", code):
        raise CrmError(f.name, "use letters and digits only")
    return code


def _part_no(value: Any, f: "Field") -> str | None:
    text = re.sub(r"\s", "", _text(value, f)).upper()
    if text and not re.fullmatch(r"[0-9A-Z][0-9A-Z.\-]*", text):
        raise CrmError(f.name, "use letters, digits, '-' and '.'")
    return text or None


def _prov(value: Any, f: "Field") -> str | None:
    text = _text(value, f)
    if not text:
        return None
    name = _province(text)
    if name not in PROVINCES:
        raise CrmError(f.name, "unknown province")
    return name


def _reg(value: Any, f: "Field") -> str | None:
    text = _text(value, f)
    if not text:
        return None
    name = _region(text)
    if name not in REGIONS:
        raise CrmError(f.name, "unknown region")
    return name


def _dist(value: Any, f: "Field") -> str | None:
    text = _text(value, f)
    return _district(text) if text else None


def _lang(value: Any, f: "Field") -> str:
    text = str(value).strip() if value is not None else ""
    if text not in LANGUAGES:
        raise CrmError(f.name, "must be zh_CN or en_US")
    return text


def _extension(value: Any, f: "Field") -> str | None:
    text = str(value).strip() if value is not None else ""
    if text and not re.fullmatch(r"\d{1,16}", text):
        raise CrmError(f.name, "extension digits only (1 to 16)")
    return text or None


def _models(value: Any, f: "Field") -> list[str]:
    items = value if isinstance(value, list) else re.split(r"[,;，；、\s]+", str(value or ""))
    out: list[str] = []
    for item in items:
        if not isinstance(item, (str, int)) or isinstance(item, bool):
            raise CrmError(f.name, "use letters and digits only")
        code = _code(str(item))
        if not code:
            continue
        if not re.fullmatch(r"[0-9A-Z]{1,32}", code):
            raise CrmError(f.name, "use letters and digits only")
        if code not in out:
            out.append(code)
    return out


CLEANERS: dict[str, Callable[[Any, "Field"], Any]] = {
    "text": _text, "int": _int, "bool": _bool, "choice": _choice, "area_code": _area,
    "phone": _phone, "phone_text": _phone_text, "email": _email, "model": _model_code, "part_no": _part_no, "province": _prov,
    "region": _reg, "district": _dist, "language": _lang, "extension": _extension, "models": _models}


@dataclass(frozen=True)
class Field:
    """One editable field: how its input is cleaned, whether it is required, its default."""

    name: str
    kind: str = "text"
    required: bool = False
    max_len: int = 128
    choices: tuple[str, ...] = ()
    default: Any = None

    def clean(self, value: Any) -> Any:
        """The stored form of an input value (CrmError when it is not acceptable)."""
        out = CLEANERS[self.kind](value, self)
        if self.required and out in (None, "", []):
            raise CrmError(self.name, "is required")
        return out
