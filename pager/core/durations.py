"""Duration and shift-length grammar shared by schedules and escalation policies.

See docs/schedules.md, "Time rules", and docs/escalation.md, "The policy file".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

ShiftUnit = Literal["h", "d", "w", "mo"]

_SHIFT_RE = re.compile(r"^\s*(\d+)\s*(h|d|w|mo)\s*$")
_DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DURATION_UNITS = (86400, 3600, 60, 1)  # d, h, m, s: the order a compound duration is written in
# Longer than any sane delay, cadence or window: a bigger figure is a typo (and past this, timedelta
# itself overflows, which would crash a config load instead of naming the line).
MAX_DURATION = timedelta(days=366)


class DurationError(ValueError):
    """A duration or shift length that does not follow the grammar."""


class DurationTooLong(DurationError):
    """A well-formed duration over MAX_DURATION (a caller with a tighter limit names its own)."""


@dataclass(frozen=True)
class ShiftLength:
    """A rotation shift: `N` hours, days or weeks of naive local time, or `N` calendar months."""

    amount: int
    unit: ShiftUnit

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_shift(text: str) -> ShiftLength:
    """Parse `8h`, `1d`, `2w` or `1mo`; the amount must be at least 1."""
    match = _SHIFT_RE.match(str(text))
    if not match:
        raise DurationError(
            f"bad shift {text!r}: expected a whole number and h, d, w or mo (e.g. 1w, 12h, 1mo)"
        )
    amount = int(match.group(1))
    if amount < 1:
        raise DurationError(f"bad shift {text!r}: must be at least 1")
    unit: ShiftUnit = match.group(2)  # type: ignore[assignment]
    return ShiftLength(amount, unit)


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """Parse `30s`, `5m`, `2h`, `1d` or a compound such as `1h30m` or `1d4h` (largest unit first,
    each once; what `format_duration` writes) into a timedelta of at most a year and a day (`0`
    allowed only when asked)."""
    raw = "".join(str(text).split())
    if allow_zero and raw == "0":
        return timedelta(0)
    match = _DURATION_RE.match(raw) if raw else None
    if not match or not any(match.groups()):
        raise DurationError(
            f"bad duration {text!r}: expected a whole number and s, m, h or d (e.g. 30s, 5m, 2h, 1h30m)"
        )
    seconds = sum(
        int(amount) * size for amount, size in zip(match.groups(), _DURATION_UNITS, strict=True) if amount
    )
    if seconds == 0 and not allow_zero:
        raise DurationError(f"bad duration {text!r}: must be longer than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise DurationTooLong(f"bad duration {text!r}: longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


def format_duration(length: timedelta | None) -> str:
    """A duration the way policies write it: `90s` -> `1m30s`, `2h`, `1d4h`."""
    seconds = int(length.total_seconds()) if length is not None else 0
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts) or "0s"
