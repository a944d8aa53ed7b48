"""Wall-clock <-> instant conversion by RFC 5545 §3.3.5 rules (DESIGN §2)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class NaiveInstantError(ValueError):
    """An instant without a UTC offset where one is required."""


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`; raises ZoneInfoNotFoundError (a KeyError) for an unknown one."""
    if not name or name != name.strip():
        raise ZoneInfoNotFoundError(f"No time zone found with key {name!r}")
    return ZoneInfo(name)


def localize(wall: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of naive local time `wall` in `tz`.

    A wall time skipped by spring-forward is read with the offset before the transition; an
    ambiguous one (fall-back) is its first occurrence. Both are what PEP 495's fold=0 means.
    """
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def to_wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall time that `instant` shows in `tz`."""
    return require_aware(instant).astimezone(tz).replace(tzinfo=None, fold=0)


def require_aware(instant: datetime) -> datetime:
    """Return `instant` in UTC; refuse a naive datetime."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise NaiveInstantError(f"{instant.isoformat()} has no UTC offset; give one, e.g. +00:00 or Z")
    return instant.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """Parse ISO 8601 with an offset (`Z` accepted) into UTC; a naive or malformed text is an error."""
    raw = text.strip()
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise NaiveInstantError(f"{text!r} is not an ISO 8601 instant (e.g. 2026-03-08T08:30:00+00:00)") from None
    if parsed.tzinfo is None:
        raise NaiveInstantError(
            f"{text!r} has no UTC offset; add one (e.g. {raw}+00:00 or {raw}Z) so the instant is unambiguous"
        )
    return parsed.astimezone(UTC)


def format_instant(instant: datetime) -> str:
    """UTC ISO 8601 with offset, seconds precision: `2026-03-08T08:30:00+00:00`."""
    return require_aware(instant).replace(microsecond=0).isoformat()
