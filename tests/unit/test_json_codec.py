"""The JSON codec of the database columns: orjson, with the standard library behind it."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pager.db import json_codec

documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=1_000)
@given(documents)
def test_what_is_written_reads_back_as_the_standard_library_would(document: Any) -> None:
    """Any JSON document, integers of any size included, round-trips, and the standard library
    reads the same document from the text (the same types: an integer stays an integer)."""
    text = json_codec.dumps(document)
    read = json_codec.loads(text)
    assert read == document == json.loads(text)
    # Equal is not enough: 2**70 == float(2**70). Same types, to the last digit.
    assert json.dumps(read, sort_keys=True) == json.dumps(document, sort_keys=True)


@pytest.mark.parametrize("n", [2**70 + 1, -(2**63) - 1, 2**64 + 1, -(2**64) - 3, 10**40 + 7])
def test_integers_beyond_64_bits_keep_every_digit(n: int) -> None:
    """orjson refuses to write them and would read them back as floats: the standard library
    does both, so not a digit is lost."""
    document = json_codec.loads(json_codec.dumps({"n": n, "list": [n]}))
    assert document == {"n": n, "list": [n]} and type(document["n"]) is int


def test_what_neither_encoder_takes_is_refused_as_before() -> None:
    # orjson would encode a datetime; the columns never did, so it still raises TypeError.
    with pytest.raises(TypeError):
        json_codec.dumps({"at": datetime(2026, 1, 1, tzinfo=UTC)})
    with pytest.raises(TypeError):
        json_codec.dumps({"s": {1, 2}})


def test_numbers_json_does_not_have_are_written_as_null() -> None:
    assert json_codec.loads(json_codec.dumps([float("nan"), float("inf"), 1.5])) == [None, None, 1.5]


def test_text_the_standard_library_wrote_with_nan_still_reads() -> None:
    """Rows written before orjson may hold NaN (json.dumps writes it; orjson.loads refuses it)."""
    value = json_codec.loads(json.dumps({"x": float("nan")}))
    assert math.isnan(value["x"])


def test_text_that_is_not_json_is_refused() -> None:
    with pytest.raises(ValueError):
        json_codec.loads("{not json")


@settings(max_examples=500)
@given(st.text(alphabet=st.sampled_from('0123456789١٢.-e"\ud800x')) | st.binary())
def test_the_long_integer_check_finds_exactly_19_ascii_digits_in_a_row(text: str | bytes) -> None:
    """The check that sends text to the standard library agrees with a plain scan for 19 ASCII
    digits in a row, on text, bytes, other scripts' digits and lone surrogates alike."""
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    expected = re.search(rb"[0-9]{19}", raw) is not None
    assert json_codec._has_long_digit_run(text) is expected


def test_a_long_integer_in_bytes_keeps_every_digit() -> None:
    assert json_codec.loads(b'{"n": 12345678901234567890123}') == {"n": 12345678901234567890123}
