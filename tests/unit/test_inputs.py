"""webadmin/handlers/inputs.py: the one parser of request bodies and parameters (issue 11, finding 10)."""
from __future__ import annotations

import pytest

from hotline.webadmin.handlers.inputs import (MAX_DEPTH, BadInput, choice_field, id_param, int_param, page_param,
                                             parse_json, parse_json_object, text_field)


def message(fn, *args, **kwargs) -> str:
    """The message of the BadInput the call raises (and it is a 400)."""
    with pytest.raises(BadInput) as info:
        fn(*args, **kwargs)
    assert info.value.status_code == 400
    return info.value.message


def test_nesting_is_limited_without_recursion() -> None:
    assert parse_json(b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1))
    assert message(parse_json, b'{"a": ' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}") == \
        f"a: nested deeper than {MAX_DEPTH} levels"
    assert message(parse_json, b"[" * 100_000 + b"]" * 100_000).endswith(f"nested deeper than {MAX_DEPTH} levels")


def test_text_with_surrogates_or_nul_is_refused_naming_the_member() -> None:
    assert message(parse_json, b'{"items": [{"name": "\\ud800"}]}') == \
        "items[0].name: text contains invalid Unicode (a lone surrogate U+D800 at character 0)"
    assert message(parse_json, b'{"x": "a\\u0000"}') == "x: text contains a NUL character"
    assert message(parse_json, b'{"\\udfff": 1}').startswith("body (a key): text contains invalid Unicode")
    assert parse_json('{"name": "王五 😀"}'.encode()) == {"name": "王五 😀"}   # a real pair is fine


def test_numbers_a_database_cannot_hold() -> None:
    assert message(parse_json, b'{"n": 100000000000000000000}') == "n: number out of range"
    assert message(parse_json, b'{"n": 1e999}') == "n: number out of range"
    assert message(parse_json, b'{"n": NaN}').startswith("body: is not valid JSON")
    assert message(parse_json, b"9" * 5000).startswith("body: is not valid JSON")
    assert parse_json(b'{"n": 9223372036854775807, "f": 1e23}') == {"n": 2 ** 63 - 1, "f": 1e23}


def test_bodies_that_are_not_objects() -> None:
    assert parse_json_object(b"") == {} and parse_json_object(None) == {}
    assert message(parse_json_object, b"[]") == "body: must be a JSON object"
    assert message(parse_json_object, b"\xff") == "body: is not UTF-8 (byte 0)"


def test_parameters() -> None:
    assert page_param(None) == 1 and page_param("3") == 3
    assert message(page_param, "1e23") == "page: must be an integer"
    assert message(page_param, "1" * 30) == "page: must be between 1 and 1000000"
    assert message(page_param, "0") == "page: must be between 1 and 1000000"
    assert id_param("12") == 12 and message(id_param, "1" * 40, "id").startswith("id: must be between 1 and")
    assert message(int_param, True, "n") == "n: must be an integer"
    assert message(int_param, [1], "n") == "n: must be an integer"


def test_fields() -> None:
    assert text_field({"a": "x"}, "a") == "x" and text_field({}, "a", default="d") == "d"
    assert message(text_field, {"a": ["x"]}, "a") == "a: must be text"
    assert message(text_field, {"a": "x" * 11}, "a", max_len=10) == "a: at most 10 characters"
    assert message(text_field, {}, "a", required=True) == "a: is required"
    assert choice_field({"m": "day"}, "m", ("day", "night")) == "day"
    assert message(choice_field, {"m": ["day"]}, "m", ("day", "night")) == "m: must be one of day, night"
    assert message(choice_field, {"m": {"$gt": ""}}, "m", {"day": 1}) == "m: must be one of day"
