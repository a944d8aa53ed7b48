"""The duration grammar of policy and settings files: single units, compounds as `format_duration`
writes them, and a bound that names the line instead of overflowing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pager.core.durations import MAX_DURATION, DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("1h30m", 5400),
        ("1d4h", 100800),
        (" 5 m ", 300),
    ],
)
def test_single_and_compound_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    ["", "m", "5", "5 minutes", "30m1h", "1h1h", "-5m", "1.5h", "1w", "0s", "99999999999999999999d", "367d"],
)
def test_bad_durations_are_refused_with_the_text(text: str) -> None:
    with pytest.raises(DurationError, match="bad duration"):
        parse_duration(text)


def test_zero_only_when_asked() -> None:
    assert parse_duration("0", allow_zero=True) == timedelta(0)
    assert parse_duration("0m", allow_zero=True) == timedelta(0)
    with pytest.raises(DurationError):
        parse_duration("0")


@given(st.integers(min_value=1, max_value=int(MAX_DURATION.total_seconds())))
def test_what_format_duration_writes_reads_back(seconds: int) -> None:
    length = timedelta(seconds=seconds)
    assert parse_duration(format_duration(length)) == length
