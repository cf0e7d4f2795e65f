"""Mandarin (zh_CN) reading of numbers, money, dates and times as prompt tokens."""
from __future__ import annotations

import datetime as dt

# token -> (hanzi, pinyin with tone numbers); pinyin is what espeak-ng's cmn-latn-pinyin voice reads.
# Tone sandhi (yi1 -> yi2/yi4, bu4 -> bu2, 3-3) is left to the listener, as the brief allows.
VOCAB: dict[str, tuple[str, str]] = {
    "0": ("零", "ling2"), "1": ("一", "yi1"), "2": ("二", "er4"), "3": ("三", "san1"),
    "4": ("四", "si4"), "5": ("五", "wu3"), "6": ("六", "liu4"), "7": ("七", "qi1"),
    "8": ("八", "ba1"), "9": ("九", "jiu3"),
    "yao": ("幺", "yao1"), "liang": ("两", "liang3"),
    "shi": ("十", "shi2"), "bai": ("百", "bai3"), "qian": ("千", "qian1"),
    "wan": ("万", "wan4"), "yi_hundred_million": ("亿", "yi4"),
    "fu": ("负", "fu4"), "dian": ("点", "dian3"),
    "yuan": ("元", "yuan2"), "jiao": ("角", "jiao3"), "fen": ("分", "fen1"),
    "meiyuan": ("美元", "mei3 yuan2"), "meifen": ("美分", "mei3 fen1"),
    "nian": ("年", "nian2"), "yue": ("月", "yue4"), "ri": ("日", "ri4"), "xingqi": ("星期", "xing1 qi1"),
    "lingchen": ("凌晨", "ling2 chen2"), "shangwu": ("上午", "shang4 wu3"), "zhongwu": ("中午", "zhong1 wu3"),
    "xiawu": ("下午", "xia4 wu3"), "wanshang": ("晚上", "wan3 shang4"),
    "jia": ("加", "jia1"), "xinghao": ("星号", "xing1 hao4"), "jinghao": ("井号", "jing3 hao4"),
    "pause": (" ", ","),
}

_SYMBOLS = {"+": "jia", "*": "xinghao", "#": "jinghao"}
_UNITS = ("qian", "bai", "shi", "")


def digits(text: str, *, phone_one: bool = True) -> list[str]:
    """One token per character; 1 is 幺 (yao1) when ``phone_one``, as in phone numbers and codes."""
    out = []
    for ch in text:
        if ch in _SYMBOLS:
            out.append(_SYMBOLS[ch])
        else:
            out.append("yao" if ch == "1" and phone_one else ch)
    return out


def _group(n: int, *, leading: bool, two_alone_liang: bool) -> list[str]:
    """Read 1..9999 with 零 for inner gaps, 两 before 百/千, 十 for a leading 一十."""
    out: list[str] = []
    zero_pending = False
    for digit, unit in zip(f"{n:04d}", _UNITS):
        if digit == "0":
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append("0")
            zero_pending = False
        if unit == "shi" and digit == "1" and leading and not out:
            out.append("shi")
            continue
        if digit == "2" and (unit in ("qian", "bai") or (not unit and not out and two_alone_liang)):
            out.append("liang")
        else:
            out.append(digit)
        if unit:
            out.append(unit)
    return out


def integer(n: int, *, leading: bool = True, quantity: bool = False) -> list[str]:
    """Read 0..10^12; ``quantity`` makes a lone 2 两 (before a measure word: 两元, 两点)."""
    if n == 0:
        return ["0"]
    if n >= 10**8:
        hi, lo = divmod(n, 10**8)
        out = integer(hi, leading=leading, quantity=True) + ["yi_hundred_million"]
        if lo:
            out += (["0"] if lo < 10**7 else []) + integer(lo, leading=False)
        return out
    if n >= 10**4:
        hi, lo = divmod(n, 10**4)
        out = _group(hi, leading=leading, two_alone_liang=True) + ["wan"]
        if lo:
            out += (["0"] if lo < 1000 else []) + _group(lo, leading=False, two_alone_liang=False)
        return out
    return _group(n, leading=leading, two_alone_liang=quantity)


def number(negative: bool, whole: int, fraction: str) -> list[str]:
    """Read a signed decimal: 负 + integer part + 点 + fraction digits (1 read as 一)."""
    out = ["fu"] if negative else []
    out += integer(whole)
    if fraction:
        out += ["dian"] + digits(fraction, phone_one=False)
    return out


def money(negative: bool, cents: int, currency: str) -> list[str]:
    """Read an amount in cents: 十二元零五分, 十二元五角, 五分; USD as 美元/美分."""
    major, minor = divmod(cents, 100)
    if currency == "USD":
        parts = [(major, "meiyuan"), (minor, "meifen")]
    else:
        parts = [(major, "yuan"), (minor // 10, "jiao"), (minor % 10, "fen")]
    if not cents:
        return ["0", parts[0][1]]
    out: list[str] = []
    gap = False
    for amount, unit in parts:
        if not amount:
            gap = bool(out)
            continue
        if gap or (out and amount < 10 and unit == "meifen"):
            out.append("0")  # 十二元零五分: 零 stands for the missing 角 (or the cents' tens)
        # 两 only for the first figure (两元, 两角, 两分); later ones stay 二 (十二元零二分, 两元二角).
        out += integer(amount, quantity=not out) + [unit]
        gap = False
    return (["fu"] if negative else []) + out


def date(d: dt.date, *, weekday: bool = True) -> list[str]:
    """Read 2026年12月25日 星期五: the year digit by digit, month and day as numbers, 星期日 for Sunday."""
    out = digits(str(d.year), phone_one=False) + ["nian"]
    out += integer(d.month) + ["yue"] + integer(d.day) + ["ri"]
    if weekday:
        iso = d.isoweekday()
        out += ["pause", "xingqi", "ri" if iso == 7 else str(iso)]
    return out


def _period(hour: int) -> str:
    """The part of the day a Mandarin speaker names before a 12-hour clock time."""
    if hour < 6:
        return "lingchen"
    if hour < 12:
        return "shangwu"
    if hour < 13:
        return "zhongwu"
    if hour < 18:
        return "xiawu"
    return "wanshang"


def time(t: dt.time) -> list[str]:
    """Read 上午十点零五分: period, 12-hour clock (0 点 for midnight, 两点), minutes with 零 below 10."""
    hour = t.hour if t.hour <= 12 else t.hour - 12
    out = [_period(t.hour)] + integer(hour, quantity=True) + ["dian"]
    if t.minute:
        out += (["0", str(t.minute)] if t.minute < 10 else integer(t.minute)) + ["fen"]
    return out


def hanzi(tokens: list[str]) -> str:
    """Characters for display: 十二元零五分."""
    return "".join(VOCAB[t][0] for t in tokens).strip()

