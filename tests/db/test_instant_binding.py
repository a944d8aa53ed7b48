"""An instant is written to SQLite as the same text SQLAlchemy's own chain makes (UTCDateTime's
conversion, then SQLite's DATETIME format), now that pager formats it in one step
(pager.db.columns.UTCDateTime.bind_processor); refusals stay the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.sqlite.base import DATETIME

from pager.db.columns import UTCDateTime

DIALECT = sqlite.dialect()
OURS = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
SQLALCHEMYS = DATETIME().bind_processor(DIALECT)


class Subclassed(datetime):
    """A datetime subclass, as freezegun's FakeDatetime is."""


def sqlalchemys(value: Any) -> Any:
    assert SQLALCHEMYS is not None
    return SQLALCHEMYS(UTCDateTime().process_bind_param(value, DIALECT))


ZONES = st.sampled_from(
    [
        UTC,
        ZoneInfo("UTC"),
        ZoneInfo("Europe/Berlin"),
        ZoneInfo("America/St_Johns"),
        ZoneInfo("Asia/Kathmandu"),
    ]
) | st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@given(
    local=st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 12, 30)),
    zone=ZONES,
    subclassed=st.booleans(),
)
def test_an_instant_is_written_as_sqlalchemys_chain_writes_it(
    local: datetime, zone: Any, subclassed: bool
) -> None:
    value = local.replace(tzinfo=zone)
    if subclassed:
        value = Subclassed(*value.timetuple()[:6], value.microsecond, tzinfo=zone, fold=value.fold)
    assert OURS is not None
    assert OURS(value) == sqlalchemys(value)


def test_whole_seconds_keep_their_microseconds_and_none_stays_none() -> None:
    assert OURS is not None
    assert OURS(datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == "2026-03-29 01:00:00.000000"
    assert OURS(None) is None


@pytest.mark.parametrize(
    ("value", "error"),
    [(datetime(2026, 1, 1, 9, 0), ValueError), ("2026-01-01 09:00", TypeError), (1.5, TypeError)],
)
def test_what_is_not_an_aware_datetime_is_refused_as_before(value: Any, error: type[Exception]) -> None:
    assert OURS is not None
    with pytest.raises(error):
        OURS(value)
    with pytest.raises(error):
        sqlalchemys(value)
