"""The `say` readings: Mandarin grammar (零, 两/二, 十, 万/亿, 幺), English, bad input, and real espeak-ng."""
from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import wave
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from hotline.dialplan.say import (Currency, Lang, Say, SayError, phone_groups, say, say_date, say_digits,
                                  say_money, say_number, say_phone, say_time, tokens_to_hanzi, tokens_to_text,
                                  vocabulary)

ZH, EN = "zh_CN", "en_US"


def zh(tokens: list[str]) -> tuple[str, str]:
    """(hanzi, pinyin) of Mandarin tokens."""
    return tokens_to_hanzi(tokens), tokens_to_text(tokens, ZH)


def en(tokens: list[str]) -> str:
    """English text of tokens."""
    return tokens_to_text(tokens, EN)


NUMBERS = [  # value, hanzi, pinyin, English
    (0, "零", "ling2", "zero"),
    (2, "二", "er4", "two"),
    (10, "十", "shi2", "ten"),
    (12, "十二", "shi2 er4", "twelve"),
    (20, "二十", "er4 shi2", "twenty"),
    (22, "二十二", "er4 shi2 er4", "twenty two"),
    (102, "一百零二", "yi1 bai3 ling2 er4", "one hundred two"),
    (110, "一百一十", "yi1 bai3 yi1 shi2", "one hundred ten"),
    (200, "两百", "liang3 bai3", "two hundred"),
    (222, "两百二十二", "liang3 bai3 er4 shi2 er4", "two hundred twenty two"),
    (1000, "一千", "yi1 qian1", "one thousand"),
    (1002, "一千零二", "yi1 qian1 ling2 er4", "one thousand two"),
    (1020, "一千零二十", "yi1 qian1 ling2 er4 shi2", "one thousand twenty"),
    (2000, "两千", "liang3 qian1", "two thousand"),
    (10000, "一万", "yi1 wan4", "ten thousand"),
    (10010, "一万零一十", "yi1 wan4 ling2 yi1 shi2", "ten thousand ten"),
    (20000, "两万", "liang3 wan4", "twenty thousand"),
    (20500, "两万零五百", "liang3 wan4 ling2 wu3 bai3", "twenty thousand five hundred"),
    (100000, "十万", "shi2 wan4", "one hundred thousand"),
    (120000, "十二万", "shi2 er4 wan4", "one hundred twenty thousand"),
    (1000000, "一百万", "yi1 bai3 wan4", "one million"),
    (100000000, "一亿", "yi1 yi4", "one hundred million"),
    (200000000, "两亿", "liang3 yi4", "two hundred million"),
    (100010000, "一亿零一万", "yi1 yi4 ling2 yi1 wan4", "one hundred million ten thousand"),
    (100001000, "一亿零一千", "yi1 yi4 ling2 yi1 qian1", "one hundred million one thousand"),
    (110000000, "一亿一千万", "yi1 yi4 yi1 qian1 wan4", "one hundred ten million"),
    (123456789, "一亿两千三百四十五万六千七百八十九",
     "yi1 yi4 liang3 qian1 san1 bai3 si4 shi2 wu3 wan4 liu4 qian1 qi1 bai3 ba1 shi2 jiu3",
     "one hundred twenty three million four hundred fifty six thousand seven hundred eighty nine"),
    (1200000000, "十二亿", "shi2 er4 yi4", "one billion two hundred million"),
    (10**12, "一万亿", "yi1 wan4 yi4", "one trillion"),
    (-5, "负五", "fu4 wu3", "minus five"),
    ("3.5", "三点五", "san1 dian3 wu3", "three point five"),
    (Decimal("3.05"), "三点零五", "san1 dian3 ling2 wu3", "three point zero five"),
    ("10.1", "十点一", "shi2 dian3 yi1", "ten point one"),
    ("-0.5", "负零点五", "fu4 ling2 dian3 wu3", "minus zero point five"),
    (3.5, "三点五", "san1 dian3 wu3", "three point five"),  # a YAML float, read as written
]


@pytest.mark.parametrize("value,hanzi,pinyin,english", NUMBERS, ids=[str(n[0]) for n in NUMBERS])
def test_number(value, hanzi, pinyin, english):
    assert zh(say_number(value, ZH)) == (hanzi, pinyin)
    assert en(say_number(value, EN)) == english


MONEY = [  # amount, currency, hanzi, English
    ("12.05", "CNY", "十二元零五分", "twelve yuan and five fen"),
    ("12.50", "CNY", "十二元五角", "twelve yuan and fifty fen"),
    ("0.05", "CNY", "五分", "five fen"),
    ("100", "CNY", "一百元", "one hundred yuan"),
    ("1002.30", "CNY", "一千零二元三角", "one thousand two yuan and thirty fen"),
    ("12.55", "CNY", "十二元五角五分", "twelve yuan and fifty five fen"),
    ("2", "CNY", "两元", "two yuan"),
    ("0.20", "CNY", "两角", "twenty fen"),
    ("12.02", "CNY", "十二元零二分", "twelve yuan and two fen"),
    ("0", "CNY", "零元", "zero yuan"),
    ("-3.10", "CNY", "负三元一角", "minus three yuan and ten fen"),
    (Decimal("20500.00"), "CNY", "两万零五百元", "twenty thousand five hundred yuan"),
    ("12.05", "USD", "十二美元零五美分", "twelve dollars and five cents"),
    ("1.01", "USD", "一美元零一美分", "one dollar and one cent"),
    ("0.50", "USD", "五十美分", "fifty cents"),
    (12, "USD", "十二美元", "twelve dollars"),
]


@pytest.mark.parametrize("amount,currency,hanzi,english", MONEY, ids=[f"{m[0]}{m[1]}" for m in MONEY])
def test_money(amount, currency, hanzi, english):
    assert tokens_to_hanzi(say_money(amount, ZH, currency)) == hanzi
    assert en(say_money(amount, EN, Currency(currency))) == english


def test_money_pinyin_is_what_espeak_reads():
    assert tokens_to_text(say_money("12.05", ZH), ZH) == "shi2 er4 yuan2 ling2 wu3 fen1"
    assert tokens_to_text(say_money("1002.30", ZH), ZH) == "yi1 qian1 ling2 er4 yuan2 san1 jiao3"


DATES = [  # date, hanzi, English
    ("2026-12-25", "二零二六年十二月二十五日 星期五", "friday, december twenty fifth, twenty twenty six"),
    (dt.date(2027, 2, 2), "二零二七年二月二日 星期二", "tuesday, february second, twenty twenty seven"),
    (dt.datetime(2026, 12, 27, 9, 30), "二零二六年十二月二十七日 星期日", "sunday, december twenty seventh, twenty twenty six"),
    ("2000-01-01", "二零零零年一月一日 星期六", "saturday, january first, two thousand"),
    ("2005-03-31", "二零零五年三月三十一日 星期四", "thursday, march thirty first, two thousand five"),
    ("1900-10-30", "一九零零年十月三十日 星期二", "tuesday, october thirtieth, nineteen hundred"),
    ("1905-07-04", "一九零五年七月四日 星期二", "tuesday, july fourth, nineteen oh five"),
]


@pytest.mark.parametrize("value,hanzi,english", DATES, ids=[str(d[0]) for d in DATES])
def test_date(value, hanzi, english):
    assert tokens_to_hanzi(say_date(value, ZH)) == hanzi
    assert en(say_date(value, EN)) == english


def test_date_pinyin_and_without_weekday():
    assert tokens_to_text(say_date("2026-12-25", ZH), ZH) == (
        "er4 ling2 er4 liu4 nian2 shi2 er4 yue4 er4 shi2 wu3 ri4, xing1 qi1 wu3")
    assert tokens_to_hanzi(say("2026-12-25", Say.DATE, ZH, weekday=False)) == "二零二六年十二月二十五日"
    assert en(say_date("2026-12-25", EN, weekday=False)) == "december twenty fifth, twenty twenty six"


TIMES = [  # time, hanzi, pinyin, English
    ("10:05", "上午十点零五分", "shang4 wu3 shi2 dian3 ling2 wu3 fen1", "ten oh five a.m."),
    ("10:00", "上午十点", "shang4 wu3 shi2 dian3", "ten a.m."),
    ("10:10", "上午十点十分", "shang4 wu3 shi2 dian3 shi2 fen1", "ten ten a.m."),
    ("00:00", "凌晨零点", "ling2 chen2 ling2 dian3", "twelve a.m."),
    ("02:00", "凌晨两点", "ling2 chen2 liang3 dian3", "two a.m."),
    ("12:00", "中午十二点", "zhong1 wu3 shi2 er4 dian3", "twelve p.m."),
    ("14:02", "下午两点零二分", "xia4 wu3 liang3 dian3 ling2 er4 fen1", "two oh two p.m."),
    (dt.time(15, 30, 59), "下午三点三十分", "xia4 wu3 san1 dian3 san1 shi2 fen1", "three thirty p.m."),
    ("18:45", "晚上六点四十五分", "wan3 shang4 liu4 dian3 si4 shi2 wu3 fen1", "six forty five p.m."),
    (dt.datetime(2026, 12, 25, 23, 59), "晚上十一点五十九分", "wan3 shang4 shi2 yi1 dian3 wu3 shi2 jiu3 fen1",
     "eleven fifty nine p.m."),
]


@pytest.mark.parametrize("value,hanzi,pinyin,english", TIMES, ids=[str(t[0]) for t in TIMES])
def test_time(value, hanzi, pinyin, english):
    assert zh(say_time(value, ZH)) == (hanzi, pinyin)
    assert en(say_time(value, EN)) == english


PHONES = [  # number, groups, hanzi (space = pause), English
    ("13800138000", ["138", "0013", "8000"], "幺三八 零零幺三 八零零零",
     "one three eight, zero zero one three, eight zero zero zero"),
    ("+86 138-0013-8000", ["138", "0013", "8000"], "幺三八 零零幺三 八零零零",
     "one three eight, zero zero one three, eight zero zero zero"),
    ("01012345678", ["010", "1234", "5678"], "零幺零 幺二三四 五六七八",
     "zero one zero, one two three four, five six seven eight"),
    ("+86 10 1234 5678", ["010", "1234", "5678"], "零幺零 幺二三四 五六七八",
     "zero one zero, one two three four, five six seven eight"),
    ("(0755) 8888-6666", ["0755", "8888", "6666"], "零七五五 八八八八 六六六六",
     "zero seven five five, eight eight eight eight, six six six six"),
    ("07551234567", ["0755", "123", "4567"], "零七五五 幺二三 四五六七",
     "zero seven five five, one two three, four five six seven"),
    ("4008123123", ["400", "812", "3123"], "四零零 八幺二 三幺二三", "four zero zero, eight one two, three one two three"),
    ("88886666", ["8888", "6666"], "八八八八 六六六六", "eight eight eight eight, six six six six"),
    ("95588", ["95588"], "九五五八八", "nine five five eight eight"),
    (110, ["110"], "幺幺零", "one one zero"),
    ("+44 20 7946 0958", ["+4420", "7946", "0958"], "加四四二零 七九四六 零九五八",
     "plus four four two zero, seven nine four six, zero nine five eight"),
]


@pytest.mark.parametrize("value,groups,hanzi,english", PHONES, ids=[str(p[0]) for p in PHONES])
def test_phone(value, groups, hanzi, english):
    assert phone_groups(value) == groups
    assert tokens_to_hanzi(say_phone(value, ZH)) == hanzi
    assert en(say_phone(value, EN)) == english


def test_mobile_tokens_have_pauses_and_yao():
    assert say_phone("13800138000", ZH) == ["yao", "3", "8", "pause", "0", "0", "yao", "3", "pause",
                                            "8", "0", "0", "0"]
    assert tokens_to_text(say_phone("13800138000", ZH), ZH) == (
        "yao1 san1 ba1, ling2 ling2 yao1 san1, ba1 ling2 ling2 ling2")


def test_digits():
    assert zh(say_digits("0755", ZH)) == ("零七五五", "ling2 qi1 wu3 wu3")
    assert zh(say_digits("1#", ZH)) == ("幺井号", "yao1 jing3 hao4")
    assert en(say_digits("0755*", EN)) == "zero seven five five star"
    assert say_digits("10", ZH) == ["yao", "0"]  # 幺 in digit strings, 一 in numbers
    assert say_number(10.1, ZH)[-1] == "1"


def test_dispatcher_matches_the_functions():
    assert say("20500", "number", ZH) == say_number(20500, Lang.ZH_CN)
    assert say("12.05", Say.MONEY, EN, currency="USD") == say_money("12.05", EN, Currency.USD)
    assert say("13800138000", "phone", ZH) == say_phone("13800138000", ZH)
    assert say("0755", "digits", EN) == say_digits("0755", EN)
    assert say("10:05", "time", ZH) == say_time("10:05", ZH)


BAD = [  # value, kind, keyword arguments, message
    ("12.345", "money", {}, "say as money: '12.345' has more than 2 decimals"),
    (Decimal("0.001"), "money", {}, "say as money: '0.001' has more than 2 decimals"),
    ("12.05", "money", {"currency": "EUR"}, "say as money: unknown currency 'EUR'; expected one of CNY, USD"),
    ("abc", "number", {}, "say as number: 'abc' is not a number"),
    ("1e3", "number", {}, "say as number: '1e3' is not a number"),
    (True, "number", {}, "say as number: True is not a number"),
    (float("nan"), "number", {}, "say as number: 'nan' is not a number"),
    (10**12 + 1, "number", {}, "say as number: '1000000000001' is too large (at most 1000000000000)"),
    ("12a4", "digits", {}, "say as digits: '12a4' is not a string of digits"),
    ("138-0013-800x", "phone", {}, "say as phone: '138-0013-800x' is not a phone number"),
    ("2026-13-01", "date", {}, "say as date: '2026-13-01' is not a date (YYYY-MM-DD)"),
    ("25:00", "time", {}, "say as time: '25:00' is not a time (HH:MM)"),
    ("", "number", {}, "say as number: no value to say"),
    ("5", "number", {"currency": "USD"}, "say as number: unexpected argument 'currency'"),
    ("5", "money", {"weekday": False}, "say as money: unexpected argument 'weekday'; it takes currency"),
    ("5", "words", {}, "say: unknown kind 'words'; expected one of digits, number, money, date, time, phone"),
]


@pytest.mark.parametrize("value,kind,kw,message", BAD, ids=[b[3].split(":")[0] + repr(b[0]) for b in BAD])
def test_bad_input_names_the_value(value, kind, kw, message):
    with pytest.raises(ValueError) as err:
        say(value, kind, ZH, **kw)
    assert str(err.value) == message
    assert isinstance(err.value, SayError)


def test_bad_language_and_tokens():
    with pytest.raises(SayError, match=r"^say as number: unknown language 'fr_FR'; expected one of zh_CN, en_US$"):
        say(5, "number", "fr_FR")
    with pytest.raises(SayError, match=r"^tokens_to_text: unknown en_US token\(s\) 'liang'$"):
        tokens_to_text(["two", "liang"], EN)
    with pytest.raises(SayError, match=r"^tokens_to_hanzi: unknown zh_CN token\(s\) 'hundred'$"):
        tokens_to_hanzi(["hundred"])


def test_every_reading_stays_in_the_vocabulary():
    for lang in (ZH, EN):
        vocab = set(vocabulary(lang))
        for n in [*range(0, 1200), *(n[0] for n in NUMBERS), 99999999, 999999999999]:
            assert set(say_number(n, lang)) <= vocab
            assert set(say_money(n, lang)) <= vocab
        assert set(say_digits("0123456789*#+", lang)) <= vocab
        for day in range(0, 366, 7):
            assert set(say_date(dt.date(2026, 1, 1) + dt.timedelta(days=day), lang)) <= vocab
        for minute in range(0, 24 * 60, 7):
            assert set(say_time(dt.time(minute // 60, minute % 60), lang)) <= vocab
        assert all(re.fullmatch(r"[a-z0-9_]+", t) for t in vocab)  # names of say/<lang>/<token>.wav


# ---- the text really works in espeak-ng (never skipped: the box needs it) ----

def espeak() -> str:
    """Path of espeak-ng, or a failure saying how to install it."""
    exe = shutil.which("espeak-ng")
    assert exe, "espeak-ng is not installed (apt-get install espeak-ng); the say fallback needs it"
    return exe


VOICES = {ZH: "cmn-latn-pinyin", EN: "en-us"}
TONES = {"1": "55", "2": "35", "3": "214", "4": "51"}  # espeak-ng contours, no sandhi


@pytest.mark.parametrize("lang,tokens", [
    (ZH, say_money("12.05", ZH)),
    (ZH, say_phone("13800138000", ZH)),
    (ZH, say_date("2026-12-25", ZH)),
    (EN, say_money("12.05", EN, "USD")),
    (EN, say_time("10:05", EN)),
], ids=["zh-money", "zh-phone", "zh-date", "en-money", "en-time"])
def test_espeak_renders_the_text(tmp_path: Path, lang, tokens):
    text = tokens_to_text(tokens, lang)
    out = tmp_path / "out.wav"
    subprocess.run([espeak(), "-v", VOICES[lang], "-w", str(out), text], check=True, timeout=30)
    with wave.open(str(out)) as w:
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(float)
    seconds = len(samples) / rate
    syllables = len(text.split()) if lang == ZH else len(re.findall(r"[aeiouy]+", text.replace("e ", " ")))
    pauses = text.count(",")
    assert 0.15 * syllables <= seconds <= 0.5 * syllables + 0.4 * pauses + 0.5, (text, seconds, syllables)
    assert np.sqrt(np.mean(samples ** 2)) > 300, "the WAV is (nearly) silent"


def test_espeak_reads_our_pinyin_as_mandarin_syllables_with_tones():
    """Every Mandarin token: one syllable per pinyin word, with its tone, never switched to English."""
    syllables = [s for t in vocabulary(ZH) if t != "pause" for s in tokens_to_text([t], ZH).split()]
    proc = subprocess.run([espeak(), "-v", VOICES[ZH], "-q", "-x", ", ".join(syllables)],  # commas: no sandhi
                          capture_output=True, text=True, check=True, timeout=30)
    assert "(en)" not in proc.stdout
    heard = re.findall(r"(\d{2,3})\D*?_\|", proc.stdout)
    assert heard == [TONES[s[-1]] for s in syllables], proc.stdout
