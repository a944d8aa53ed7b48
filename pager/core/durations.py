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
_DURATION_RE = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class DurationError(ValueError):
    """A duration or shift length that does not follow the grammar."""


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
    """Parse `30s`, `5m`, `2h` or `1d` into a timedelta (`0` allowed only when asked)."""
    raw = str(text).strip()
    if allow_zero and raw == "0":
        return timedelta(0)
    match = _DURATION_RE.match(raw)
    if not match:
        raise DurationError(
            f"bad duration {text!r}: expected a whole number and s, m, h or d (e.g. 30s, 5m, 2h)"
        )
    seconds = int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds == 0 and not allow_zero:
        raise DurationError(f"bad duration {text!r}: must be longer than zero")
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
