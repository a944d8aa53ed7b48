"""Wall-clock <-> instant conversion by RFC 5545 §3.3.5 rules (docs/schedules.md, "Time rules")."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import TZPATH, ZoneInfo, ZoneInfoNotFoundError

from dateutil.tz import tzfile

# No real zone's offsets are further apart than this; the fallback when tz data can't be read.
_WIDEST_SPAN = timedelta(hours=32)


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


@lru_cache(maxsize=512)
def offset_span(tz: ZoneInfo) -> timedelta:
    """Largest difference between any two UTC offsets `tz` has ever used (LMT included).

    Reads the same TZif data zoneinfo uses (system TZPATH, then the tzdata package), like
    ZoneInfo itself does when it is constructed.
    """
    key = tz.key
    try:
        data = _tzif_bytes(key)
        parsed: Any = tzfile(io.BytesIO(data))
        offsets = [info.offset for info in parsed._ttinfo_list]  # all local time types in the file
    except Exception:
        return _WIDEST_SPAN
    if not offsets:
        return timedelta(0)
    return timedelta(seconds=max(offsets) - min(offsets))


def _tzif_bytes(key: str) -> bytes:
    for root in TZPATH:
        candidate = Path(root) / key
        if candidate.is_file():
            return candidate.read_bytes()
    package, _, name = f"tzdata.zoneinfo.{key}".replace("/", ".").rpartition(".")
    return resources.files(package).joinpath(name).read_bytes()


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
        raise NaiveInstantError(
            f"{text!r} is not an ISO 8601 instant (e.g. 2026-03-08T08:30:00+00:00)"
        ) from None
    if parsed.tzinfo is None:
        raise NaiveInstantError(
            f"{text!r} has no UTC offset; add one (e.g. {raw}+00:00 or {raw}Z) so the instant is unambiguous"
        )
    return parsed.astimezone(UTC)


def format_instant(instant: datetime) -> str:
    """UTC ISO 8601 with offset, seconds precision: `2026-03-08T08:30:00+00:00`."""
    return require_aware(instant).replace(microsecond=0).isoformat()
