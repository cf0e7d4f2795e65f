"""English (en_US) reading of numbers, money, dates and times as prompt tokens."""
from __future__ import annotations

import datetime as dt

ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (10**3, "thousand"))
ORDINALS = ("", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
            "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
            "eighteenth", "nineteenth", "twentieth")
MONTHS = ("", "january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
WEEKDAYS = ("", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

# token -> text espeak-ng reads; every other token is read as itself.
_SPECIAL = {"am": "a.m.", "pm": "p.m.", "pause": ","}
_SYMBOLS = {"+": "plus", "*": "star", "#": "pound"}
VOCAB: dict[str, str] = {t: _SPECIAL.get(t, t) for t in (
    *ONES, *TENS[2:], "hundred", *(s for _, s in SCALES), *ORDINALS[1:], "thirtieth",
    *MONTHS[1:], *WEEKDAYS[1:], "minus", "point", "oh", "and", "am", "pm",
    "dollar", "dollars", "cent", "cents", "yuan", "fen", *_SYMBOLS.values(), "pause")}


def digits(text: str) -> list[str]:
    """One word per character: zero..nine, plus, star, pound."""
    return [_SYMBOLS.get(ch) or ONES[int(ch)] for ch in text]


def _below_thousand(n: int) -> list[str]:
    """Read 1..999, US style without "and": one hundred two."""
    out: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        out += [ONES[hundreds], "hundred"]
    if rest >= 20:
        out.append(TENS[rest // 10])
        rest %= 10
    if rest:
        out.append(ONES[rest])
    return out


def integer(n: int) -> list[str]:
    """Read 0..10^12 with thousand/million/billion/trillion."""
    if n == 0:
        return ["zero"]
    out: list[str] = []
    for size, word in SCALES:
        if n >= size:
            high, n = divmod(n, size)
            out += _below_thousand(high) + [word]
    return out + (_below_thousand(n) if n else [])


def number(negative: bool, whole: int, fraction: str) -> list[str]:
    """Read a signed decimal: minus three point zero five."""
    out = ["minus"] if negative else []
    out += integer(whole)
    if fraction:
        out += ["point"] + digits(fraction)
    return out


def money(negative: bool, cents: int, currency: str) -> list[str]:
    """Read an amount in cents: twelve dollars and five cents; CNY as yuan and fen."""
    major, minor = divmod(cents, 100)
    if currency == "USD":
        units = (("dollar", "dollars"), ("cent", "cents"))
    else:
        units = (("yuan", "yuan"), ("fen", "fen"))
    out = ["minus"] if negative else []
    if major or not minor:
        out += integer(major) + [units[0][major != 1]]
    if minor:
        out += (["and"] if major else []) + integer(minor) + [units[1][minor != 1]]
    return out


def ordinal(n: int) -> list[str]:
    """Read 1..31 as an ordinal: twenty fifth."""
    if n <= 20:
        return [ORDINALS[n]]
    tens, ones = divmod(n, 10)
    return [TENS[tens], ORDINALS[ones]] if ones else ["thirtieth"]


def year(y: int) -> list[str]:
    """Read a year the US way: twenty twenty six, two thousand five, nineteen hundred, nineteen oh five."""
    high, low = divmod(y, 100)
    if y < 1000 or (2000 <= y < 2010) or y % 1000 == 0:
        return integer(y)
    if low == 0:
        return integer(high) + ["hundred"]
    return integer(high) + (["oh", ONES[low]] if low < 10 else integer(low))


def date(d: dt.date, *, weekday: bool = True) -> list[str]:
    """Read Friday, December twenty fifth, twenty twenty six."""
    out = [WEEKDAYS[d.isoweekday()], "pause"] if weekday else []
    return out + [MONTHS[d.month]] + ordinal(d.day) + ["pause"] + year(d.year)


def time(t: dt.time) -> list[str]:
    """Read ten oh five a.m.; on the hour just ten a.m.; midnight is twelve a.m., noon twelve p.m."""
    hour = t.hour % 12 or 12
    out = integer(hour)
    if t.minute:
        out += ["oh", ONES[t.minute]] if t.minute < 10 else integer(t.minute)
    return out + ["am" if t.hour < 12 else "pm"]

