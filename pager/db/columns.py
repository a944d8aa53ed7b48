"""Column types and field builders shared by the tables (pager/db/tables.py).

Every instant is aware UTC (`UTCDateTime`); constraint names follow NAMING_CONVENTION, so migrations
can name what they create and later drop.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ColumnElement, Dialect, String, and_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import DateTime, TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel

# Deterministic constraint names, so migrations can name what they create and later drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: refuses naive datetimes, stores UTC, always reads back aware UTC.

    Postgres keeps `timestamptz`; SQLite has no zone support, so the value is stored as naive UTC
    text in one fixed format, which also keeps SQLite's text comparisons in time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: instants must carry an offset")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, `process_bind_param` and SQLite's DATETIME text (SQLAlchemy's fixed
        `YYYY-MM-DD HH:MM:SS.ffffff`) in one step, formatted by `datetime.isoformat`: SQLAlchemy's
        own formatting took half the cost of writing a new alert's instants (tests/db/
        test_instant_binding.py holds the two to the same text). Elsewhere, SQLAlchemy's chain."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        convert = self.process_bind_param

        def process(value: Any) -> str | None:
            if value.__class__ is datetime and value.tzinfo is UTC:  # the usual instant: no conversion
                return value.replace(tzinfo=None).isoformat(" ", "microseconds")
            utc = convert(value, dialect)  # None, or refused as it refuses, or naive UTC
            return None if utc is None else utc.isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_document() -> TypeEngine[Any]:
    """JSON column type: JSONB on Postgres, JSON text elsewhere. Reassign, don't mutate in place."""
    return JSON().with_variant(JSONB(), "postgresql")


def bytewise_key(length: int) -> TypeEngine[str]:
    """A key column compared byte by byte on both backends: SQLite's default (BINARY), and on
    Postgres COLLATE "C" instead of the database's default collation, which may be a linguistic
    one (en_US, ICU) that orders `verify:7:…` after `verify;` (punctuation weighs less than
    letters). Keys are identifiers, and `key_starts_with` relies on that order."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def key_starts_with(column: Any, prefix: str) -> ColumnElement[bool]:
    """`column` starts with `prefix`, as a range of its index: `prefix <= column < successor`, the
    successor being `prefix` with its last character incremented (`verify:` .. `verify;`). Exact on a
    `bytewise_key` column; a LIKE prefix cannot use an index on Postgres (unless under "C") and
    ignores case on SQLite, so each one read the whole outbox."""
    if not prefix or ord(prefix[-1]) >= 0x10FFFF:
        raise ValueError(f"no key range for the prefix {prefix!r}")
    successor = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < successor)


def utc_now() -> datetime:
    """Default for created_at/updated_at when the caller did not pass its own `now`."""
    return datetime.now(UTC)


def in_list(column: str, values: tuple[str, ...]) -> str:
    """SQL text: `column` is one of `values`, written inline (`status IN ('a', 'b')`)."""
    allowed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({allowed})"


def one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    """CHECK that `column` holds one of `values` (named `ck_<table>_<column>`)."""
    return CheckConstraint(in_list(column, values), name=column)


def instant_field(*, index: bool = False) -> Any:
    """A required instant column."""
    return Field(sa_type=UTCDateTime(), index=index)


def optional_instant_field(*, index: bool = False) -> Any:
    """An instant column that may be NULL."""
    return Field(default=None, sa_type=UTCDateTime(), index=index)


def created_field() -> Any:
    """`created_at`: now, unless the caller passes its own."""
    return Field(default_factory=utc_now, sa_type=UTCDateTime())


def updated_field() -> Any:
    """`updated_at`: now, and now again on every ORM update."""
    return Field(default_factory=utc_now, sa_type=UTCDateTime(), sa_column_kwargs={"onupdate": utc_now})
