"""The `say` app's engine: values (digits, numbers, money, dates, times, phones) as prompt tokens.

Pure functions, no I/O. Each token names a prerecorded prompt ``say/<lang>/<token>.wav``;
when a box has none, ``tokens_to_text`` gives what espeak-ng should read instead. The
rules chosen (零, 两/二, 幺, periods of the day, US-style English) are in docs/say.md.
"""
from __future__ import annotations

import datetime as dt
import enum
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from . import say_en, say_zh

MAX_INTEGER = 10**12
MAX_PHONE_DIGITS = 20


class Say(enum.Enum):
    """What a value should be read as (the `as` argument of the `say` app)."""

    DIGITS = "digits"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    TIME = "time"
    PHONE = "phone"


class Lang(enum.StrEnum):
    """The languages `say` speaks; the values are the locale names used everywhere else."""

    ZH_CN = "zh_CN"
    EN_US = "en_US"


class Currency(enum.StrEnum):
    """Currencies `say_money` names."""

    CNY = "CNY"
    USD = "USD"


class SayError(ValueError):
    """A value that cannot be read as asked; the message starts with ``say as <kind>:``."""


Number = int | Decimal | str
_DECIMAL = re.compile(r"[+-]?\d+(\.\d+)?")
_DIGITS = re.compile(r"[0-9*#+]+")
_PHONE = re.compile(r"\+?\d+")


def _choice(enum_cls: type[enum.Enum], value: Any, what: str, where: str) -> Any:
    """``value`` as a member of ``enum_cls`` or a SayError listing the choices."""
    try:
        return enum_cls(value)
    except ValueError:
        choices = ", ".join(str(m.value) for m in enum_cls)
        raise SayError(f"{where}: unknown {what} {value!r}; expected one of {choices}") from None


def _lang(lang: Lang | str, kind: Say) -> Lang:
    return _choice(Lang, lang, "language", f"say as {kind.value}")


def _decimal(value: Any, kind: Say) -> Decimal:
    """An exact Decimal from an int, Decimal, decimal string or float (by its repr); never float maths."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise SayError(f"say as {kind.value}: {value!r} is not a number")
    try:
        if isinstance(value, str):
            if not _DECIMAL.fullmatch(value.strip()):
                raise InvalidOperation
            d = Decimal(value.strip())
        else:  # repr(0.1) == '0.1': a YAML float is read as written
            d = Decimal(repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        raise SayError(f"say as {kind.value}: '{value}' is not a number") from None
    if not d.is_finite():
        raise SayError(f"say as {kind.value}: '{value}' is not a number")
    if abs(d) >= MAX_INTEGER + 1:
        raise SayError(f"say as {kind.value}: '{value}' is too large (at most {MAX_INTEGER})")
    return d


def _split(d: Decimal) -> tuple[bool, int, str]:
    """(negative, integer part, fraction digits as written) of a Decimal."""
    whole, _, fraction = format(abs(d), "f").partition(".")
    return d < 0, int(whole), fraction


def say_digits(value: str | int, lang: Lang | str) -> list[str]:
    """One token per digit (also *, # and +); Mandarin reads 1 as 幺 (yao), as in codes and numbers."""
    text = str(value).strip()
    if isinstance(value, bool) or not _DIGITS.fullmatch(text):
        raise SayError(f"say as digits: '{value}' is not a string of digits")
    if _lang(lang, Say.DIGITS) is Lang.ZH_CN:
        return say_zh.digits(text)
    return say_en.digits(text)


def say_number(n: Number, lang: Lang | str) -> list[str]:
    """A number up to 10^12 with optional decimals: 20500 两万零五百, -3.5 负三点五, one hundred two."""
    negative, whole, fraction = _split(_decimal(n, Say.NUMBER))
    if _lang(lang, Say.NUMBER) is Lang.ZH_CN:
        return say_zh.number(negative, whole, fraction)
    return say_en.number(negative, whole, fraction)


def say_money(amount: Number, lang: Lang | str, currency: Currency | str = Currency.CNY) -> list[str]:
    """An amount with at most 2 decimals: 十二元零五分, twelve dollars and five cents."""
    d = _decimal(amount, Say.MONEY)
    cur = _choice(Currency, currency, "currency", "say as money")
    if d != d.quantize(Decimal("0.01")):
        raise SayError(f"say as money: '{amount}' has more than 2 decimals")
    cents = int(abs(d) * 100)
    reader = say_zh.money if _lang(lang, Say.MONEY) is Lang.ZH_CN else say_en.money
    return reader(d < 0 and cents != 0, cents, cur.value)


def _parse(value: Any, kind: Say, types: tuple[type, ...], parse: Callable[[str], Any], form: str) -> Any:
    """A date or time object from itself or its ISO string."""
    if isinstance(value, types):
        return value
    if isinstance(value, str):
        try:
            return parse(value.strip())
        except ValueError:
            pass
    raise SayError(f"say as {kind.value}: '{value}' is not a {kind.value} ({form})")


def say_date(date: dt.date | str, lang: Lang | str, weekday: bool = True) -> list[str]:
    """A date with its weekday: 2026年12月25日 星期五, Friday, December twenty fifth, twenty twenty six."""
    d = _parse(date, Say.DATE, (dt.date,), dt.date.fromisoformat, "YYYY-MM-DD")
    d = d.date() if isinstance(d, dt.datetime) else d
    if _lang(lang, Say.DATE) is Lang.ZH_CN:
        return say_zh.date(d, weekday=weekday)
    return say_en.date(d, weekday=weekday)


def say_time(time: dt.time | dt.datetime | str, lang: Lang | str) -> list[str]:
    """A clock time, 12-hour with the part of the day: 上午十点零五分, ten oh five a.m.; seconds are not said."""
    t = _parse(time, Say.TIME, (dt.time, dt.datetime), dt.time.fromisoformat, "HH:MM")
    t = t.time() if isinstance(t, dt.datetime) else t
    if _lang(lang, Say.TIME) is Lang.ZH_CN:
        return say_zh.time(t)
    return say_en.time(t)


def phone_groups(number: str | int) -> list[str]:
    """Split a phone number as it is read: mobile 3-4-4, landline area code then 4-4 or 3-4, 400/800 3-3-4."""
    raw = str(number).strip()
    text = re.sub(r"[\s()\-]", "", raw)
    if isinstance(number, bool) or not _PHONE.fullmatch(text) or len(text) > MAX_PHONE_DIGITS:
        raise SayError(f"say as phone: '{number}' is not a phone number")
    for prefix in ("+86", "0086"):  # China's own country code: read the national number
        if text.startswith(prefix) and len(text) > len(prefix) + 6:
            rest = text[len(prefix):]
            text = rest if len(rest) == 11 and rest.startswith("1") else "0" + rest.lstrip("0")
    if text.startswith("+"):  # other countries: plus and the digits in fours
        return ["+" + text[1:5]] + [text[i:i + 4] for i in range(5, len(text), 4)]
    if len(text) == 11 and text.startswith("1"):
        return [text[:3], text[3:7], text[7:]]
    if len(text) == 10 and text[:3] in ("400", "800"):
        return [text[:3], text[3:6], text[6:]]
    if text.startswith("0") and len(text) > 4:
        area = 3 if text[1] in "12" else 4  # 010 and 02x are the three-digit area codes
        return [text[:area]] + _local(text[area:])
    return _local(text)


def _local(local: str) -> list[str]:
    """A local number: 8 digits 4-4, 7 digits 3-4, anything else (110, 95588, extensions) in one go."""
    if len(local) == 8:
        return [local[:4], local[4:]]
    if len(local) == 7:
        return [local[:3], local[3:]]
    return [local]


def say_phone(number: str | int, lang: Lang | str) -> list[str]:
    """Phone digits in groups with a pause between: 138 pause 0013 pause 8000 (幺 for 1 in Mandarin)."""
    out: list[str] = []
    for group in phone_groups(number):
        out += (["pause"] if out else []) + say_digits(group, lang)
    return out


def _vocab(lang: Lang) -> dict[str, Any]:
    return say_zh.VOCAB if lang is Lang.ZH_CN else say_en.VOCAB


def vocabulary(lang: Lang | str) -> list[str]:
    """Every token `say` can produce in ``lang``: the prompt files a box may record (``pause`` is silence)."""
    return list(_vocab(_choice(Lang, lang, "language", "vocabulary")))


def tokens_to_text(tokens: list[str], lang: Lang | str) -> str:
    """Text for espeak-ng: pinyin with tone numbers for Mandarin (cmn-latn-pinyin), words for English."""
    language = _choice(Lang, lang, "language", "tokens_to_text")
    unknown = [t for t in tokens if t not in _vocab(language)]
    if unknown:
        raise SayError(f"tokens_to_text: unknown {language} token(s) {', '.join(map(repr, unknown))}")
    words = [say_zh.VOCAB[t][1] if language is Lang.ZH_CN else say_en.VOCAB[t] for t in tokens]
    text = ""
    for word in words:  # a pause is a comma after the word before it
        text += word if word == "," else f" {word}"
    return text.strip(" ,")


def tokens_to_hanzi(tokens: list[str]) -> str:
    """Chinese characters of Mandarin tokens, for tests and screens: 十二元零五分."""
    unknown = [t for t in tokens if t not in say_zh.VOCAB]
    if unknown:
        raise SayError(f"tokens_to_hanzi: unknown zh_CN token(s) {', '.join(map(repr, unknown))}")
    return say_zh.hanzi(tokens)


_OPTIONS: dict[Say, tuple[Callable[..., list[str]], frozenset[str]]] = {
    Say.DIGITS: (say_digits, frozenset()),
    Say.NUMBER: (say_number, frozenset()),
    Say.MONEY: (say_money, frozenset({"currency"})),
    Say.DATE: (say_date, frozenset({"weekday"})),
    Say.TIME: (say_time, frozenset()),
    Say.PHONE: (say_phone, frozenset()),
}


def say(value: Any, as_: Say | str, lang: Lang | str, **kw: Any) -> list[str]:
    """Read ``value`` as ``as_`` in ``lang``; a SayError (a ValueError) says what is wrong."""
    kind = _choice(Say, as_, "kind", "say")
    reader, allowed = _OPTIONS[kind]
    extra = sorted(set(kw) - allowed)
    if extra:
        raise SayError(f"say as {kind.value}: unexpected argument {extra[0]!r}"
                       + (f"; it takes {', '.join(sorted(allowed))}" if allowed else ""))
    if value is None or value == "":
        raise SayError(f"say as {kind.value}: no value to say")
    return reader(value, lang, **kw)
