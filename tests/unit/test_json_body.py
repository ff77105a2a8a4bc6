"""`parse_json_body`: the one parser of JSON request bodies refuses hostile JSON with a 400."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest

from signalway.gateway.errors import BadRequest
from signalway.gateway.routing import MAX_JSON_DEPTH, MAX_JSON_NUMBER_CHARS, parse_json_body


def nested(depth: int, leaf: str = "1") -> bytes:
    """`depth` levels of alternating arrays and objects around `leaf`."""
    text = leaf
    for level in range(depth):
        text = f"[{text}]" if level % 2 else f'{{"k":{text}}}'
    return text.encode()


def refused(body: bytes) -> str:
    with pytest.raises(BadRequest) as caught:
        parse_json_body(body)
    assert caught.value.status == 400 and caught.value.code == "invalid_request"
    return caught.value.detail or ""


@pytest.mark.parametrize(
    "value",
    [{"signal_name": "go", "input": {"n": 3, "x": 0.5, "ok": True, "tags": ["a"], "none": None}},
     [], {}, "text", 0, -1.5e-300, 1.7976931348623157e308, 2**64, "\U0001f600 é [{\"}]"],
)
def test_ordinary_json_parses_as_json_loads_would(value: Any) -> None:
    body = json.dumps(value).encode()
    assert parse_json_body(body) == json.loads(body)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    assert parse_json_body(nested(MAX_JSON_DEPTH)) == json.loads(nested(MAX_JSON_DEPTH))


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_deeper_nesting_is_refused_naming_the_limit(depth: int) -> None:
    assert f"deeper than {MAX_JSON_DEPTH}" in refused(nested(depth))


def test_brackets_inside_strings_are_not_nesting() -> None:
    body = json.dumps({"text": "[" * 1000 + "{" * 1000, "escaped": '\\"[[[[' * 100}).encode()
    assert parse_json_body(body) == json.loads(body)


def test_unbalanced_or_unterminated_brackets_are_refused() -> None:
    refused(b"[" * 1000)
    refused(b"]" * 1000)
    refused(b'["' + b'\\"[' * 1000)


def test_a_number_at_the_length_limit_is_accepted() -> None:
    assert parse_json_body(b"9" * MAX_JSON_NUMBER_CHARS) == int("9" * MAX_JSON_NUMBER_CHARS)


@pytest.mark.parametrize(
    "body",
    [b"1" * 5_000, b"-" + b"9" * MAX_JSON_NUMBER_CHARS, b'{"n":' + b"1" * (MAX_JSON_NUMBER_CHARS + 1) + b"}",
     b"0." + b"1" * MAX_JSON_NUMBER_CHARS, b"1e" + b"0" * MAX_JSON_NUMBER_CHARS + b"1"],
)
def test_long_number_literals_are_refused_naming_the_limit(body: bytes) -> None:
    assert f"longer than {MAX_JSON_NUMBER_CHARS} characters" in refused(body)


@pytest.mark.parametrize("body", [b"1e999", b"-1e999", b"[1.0e400]", b'{"x":{"y":2e308}}'])
def test_floats_that_overflow_to_infinity_are_refused(body: bytes) -> None:
    assert "out of range" in refused(body)


@pytest.mark.parametrize("body", [b"NaN", b"Infinity", b"-Infinity", b'{"x":[1,NaN]}', b'{"a":-Infinity}'])
def test_nan_and_infinity_are_not_json(body: bytes) -> None:
    assert "is not a JSON value" in refused(body)


@pytest.mark.parametrize("body", [b'"\\ud800"', b'{"\\udfff":1}', b'["\\ude00\\ud83d"]', b'"\xed\xa0\x80"'])
def test_unpaired_surrogates_are_refused(body: bytes) -> None:
    refused(body)


def test_paired_surrogates_and_escaped_backslashes_are_text() -> None:
    assert parse_json_body(b'["\\ud83d\\ude00", "\\\\ud800"]') == ["\U0001f600", "\\ud800"]


@pytest.mark.parametrize("body", [b"{", b"[1,]", b"'x'", b"\xff", b"1 2", b'{"a" 1}', b"\x00"])
def test_malformed_json_is_refused(body: bytes) -> None:
    assert refused(body).startswith("Malformed JSON body")


def test_utf16_bodies_are_read_as_json_loads_reads_them() -> None:
    assert parse_json_body('{"a": "é"}'.encode("utf-16")) == {"a": "é"}


def test_whatever_parses_encodes_back_to_strict_json() -> None:
    value = parse_json_body(b'{"a":[1.5e308,-0.0,1e-400,123456789012345678901234567890]}')
    assert all(math.isfinite(x) for x in value["a"])
    json.dumps(value, allow_nan=False)


def test_a_megabyte_of_hostile_brackets_is_refused_quickly() -> None:
    # The depth check must stay linear: no recursion, no regex backtracking per escaped quote.
    for body in (b"[" * 1_000_000, b"[]" * 500_000 + b"[" * 65, b"[" * 65 + b'"' + b'\\"' * 500_000):
        started = time.perf_counter()
        refused(body)
        assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("body", [
    b"18446744073709551616", b"-9223372036854775809", b'{"id": 123456789012345678901234567890}',
    b"-0", b"-0.0", b"2.5e-400", b"0.1", b"1E2", b'{"a": 1, "a": 2}', b'"\\ud83d\\ude00"', b" [1, 2] ",
    b"\xef\xbb\xbf{}", "{\"k\": \"\u00e9\"}".encode("utf-16"),
])
def test_the_fast_parser_answers_exactly_as_json_loads(body: bytes) -> None:
    # Same value and same type: an integer past 64 bits stays an int, never a float.
    value, expected = parse_json_body(body), json.loads(body)
    assert value == expected and type(value) is type(expected)
    assert json.dumps(value) == json.dumps(expected)
