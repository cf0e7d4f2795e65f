"""DLE codec: table tests of V.253 streams and hypothesis fuzzing (round trip, arbitrary bytes, any chunking)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.drivers.modem.dle import CODES, DTMF_DIGITS, DleDecoder, DleEvent, DleKind, dle, dtmf_report, shield

D = DleKind


def _ev(kind: DleKind, code: str | int, digit: str | None = None) -> DleEvent:
    return DleEvent(kind, ord(code) if isinstance(code, str) else code, digit)


@pytest.mark.parametrize(("stream", "expected"), [
    (b"abc", [b"abc"]),
    (b"a\x10\x10b", [b"a\x10b"]),
    (b"a\x10\x1ab", [b"a\x10\x10b"]),                        # DLE SUB = two data DLEs
    (b"\x10/\x104\x10~", [_ev(D.DTMF, "4", "4"), _ev(D.DTMF_END, "~", "4")]),
    (b"\x10/\x104\x104\x104\x10~", [_ev(D.DTMF, "4", "4"), _ev(D.DTMF_END, "~", "4")]),  # repeats collapse
    (b"\x105\x105", [_ev(D.DTMF, "5", "5"), _ev(D.DTMF, "5", "5")]),                     # plain: each one counts
    (b"xx\x10#yy", [b"xx", _ev(D.DTMF, "#", "#"), b"yy"]),
    (b"\x10b", [_ev(D.BUSY, "b")]),
    (b"\x10c", [_ev(D.FAX_CNG, "c")]),
    (b"\x10e", [_ev(D.DATA_CALLING_TONE, "e")]),
    (b"\x10a", [_ev(D.ANSWER_TONE, "a")]),
    (b"\x10d", [_ev(D.DIAL_TONE, "d")]),
    (b"\x10s", [_ev(D.SILENCE, "s")]),
    (b"\x10q", [_ev(D.QUIET, "q")]),
    (b"\x10l", [_ev(D.LOOP_BREAK, "l")]),
    (b"data\x10\x03", [b"data", _ev(D.END_OF_STREAM, 0x03)]),
    (b"\x10!", [_ev(D.ABORT, "!")]),
    (b"\x10^", [_ev(D.ABORT, "^")]),
    (b"\x10\x18", [_ev(D.CLEAR_BUFFER, 0x18)]),
    (b"\x10Z\x10\xff", [_ev(D.UNKNOWN, "Z"), _ev(D.UNKNOWN, 0xFF)]),
    (b"\x10~", [_ev(D.DTMF_END, "~", None)]),                # a stray end bracket names no digit
])
def test_table(stream: bytes, expected: list) -> None:
    """Each V.253 sequence decodes to the audio and events a driver acts on."""
    assert DleDecoder().feed(stream) == expected


def test_dle_split_across_chunks() -> None:
    """A DLE that ends one read is completed by the next read, for data and for events."""
    dec = DleDecoder()
    assert dec.feed(b"ab\x10") == [b"ab"]
    assert dec.feed(b"\x10cd\x10") == [b"\x10cd"]
    assert dec.feed(b"/") == []
    assert dec.feed(b"\x109\x10") == [_ev(D.DTMF, "9", "9")]
    assert dec.feed(b"~") == [_ev(D.DTMF_END, "~", "9")]
    assert dec.feed(b"") == []


def test_reset_forgets_half_code() -> None:
    """After reset() a byte that would have completed a DLE pair is plain audio again."""
    dec = DleDecoder()
    dec.feed(b"\x10")
    dec.reset()
    assert dec.feed(b"b") == [b"b"]


def test_shield_and_helpers() -> None:
    """shield doubles DLE only; dle() and dtmf_report() build the two-byte codes."""
    assert shield(b"\x00\x10\x10\x03") == b"\x00\x10\x10\x10\x10\x03"
    assert dle("b") == b"\x10b" and dle(3) == b"\x10\x03"
    assert dtmf_report("4") == b"\x10/\x104\x10~"
    with pytest.raises(ValueError, match="dtmf_report"):
        dtmf_report("x")


def test_every_named_code_has_a_meaning() -> None:
    """The letters vgetty's IS_101 handler knows all map to a named kind, never UNKNOWN."""
    for letter in "abcdefhHlLJ$wvVoquRrsTYEK!^":
        assert CODES[ord(letter)] is not DleKind.UNKNOWN, letter


_SIMPLE = sorted(c for c in CODES)  # event codes without bracket state
_item = st.one_of(st.binary(max_size=40), st.sampled_from(_SIMPLE), st.sampled_from(list(DTMF_DIGITS)))


def _encode(items: list) -> bytes:
    out = bytearray()
    for item in items:
        if isinstance(item, bytes):
            out += shield(item)
        else:
            out += dle(item)
    return bytes(out)


def _expected(items: list) -> list:
    out: list = []
    for item in items:
        if isinstance(item, bytes):
            if not item:
                continue
            if out and isinstance(out[-1], bytes):
                out[-1] += item
            else:
                out.append(item)
        elif isinstance(item, str):
            out.append(DleEvent(DleKind.DTMF, ord(item), item))
        else:
            out.append(DleEvent(CODES[item], item))
    return out


def _merge(parts: list) -> list:
    out: list = []
    for part in parts:
        if isinstance(part, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += part
        else:
            out.append(part)
    return out


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points + [len(data)]:
        pieces.append(data[last:p])
        last = p
    return pieces


@settings(max_examples=300, deadline=None)
@given(st.lists(_item, max_size=30), st.lists(st.integers(min_value=0, max_value=2000), max_size=8))
def test_round_trip_any_chunking(items: list, cuts: list[int]) -> None:
    """Shielded audio plus events, cut anywhere, decode back to the same audio and events in order."""
    data = _encode(items)
    dec = DleDecoder()
    parts: list = []
    for piece in _chunks(data, cuts):
        parts += dec.feed(piece)
    assert _merge(parts) == _expected(items)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=400), max_size=6))
def test_arbitrary_bytes_never_raise(data: bytes, cuts: list[int]) -> None:
    """Garbage never raises and decodes the same whatever the chunking; audio never exceeds the input."""
    whole = _merge(DleDecoder().feed(data))
    dec = DleDecoder()
    parts: list = []
    for piece in _chunks(data, cuts):
        parts += dec.feed(piece)
    assert _merge(parts) == whole
    assert sum(len(p) for p in whole if isinstance(p, bytes)) <= len(data) * 2
    assert all(isinstance(p, (bytes, DleEvent)) for p in whole)
