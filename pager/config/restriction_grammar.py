"""The restriction grammar shared by schedule layers and maintenance windows: `time_zone`, and
windows of `days`, `from` and `to` (docs/schedules.md, "Restrictions"), each problem recorded as
`path:line: message`."""

from __future__ import annotations

import difflib
import re
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfoNotFoundError, available_timezones

from pager.config.errors import ConfigError
from pager.config.yaml_source import LocatedReader, YamlMapping, YamlSequence, YamlValue, kind_of
from pager.core.localtime import zone
from pager.core.model import WEEKDAYS, Restriction

RESTRICTION_KEYS = ("days", "from", "to")

_CLOCK_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


def restriction_reader(path: Path, errors: list[ConfigError]) -> RestrictionGrammar:
    """A reader of the grammar recording its problems in `errors` (shared, not copied): the policy
    files' recurring maintenance windows use the same grammar as layer restrictions."""
    reader = RestrictionGrammar(path, [])
    reader.errors = errors
    return reader


class RestrictionGrammar(LocatedReader):
    """Reads time zones and restriction windows out of located YAML."""

    def time_zone(self, document: YamlMapping) -> str | None:
        entry = document.get("time_zone")
        if entry is None:
            self.error(document.line, "missing time_zone: give an IANA zone such as America/Chicago")
            return None
        value = self.scalar_text(entry.value, "time_zone")
        if value is None:
            return None
        try:
            zone(value)
        except (ZoneInfoNotFoundError, ValueError):
            self.error(entry.value.line, f"unknown time zone {value!r}{_zone_hint(value)}")
            return None
        return value

    def restrictions(self, item: YamlMapping) -> tuple[Restriction, ...] | None:
        entry = item.get("restrictions")
        if entry is None:
            return ()
        if not isinstance(entry.value, YamlSequence) or not entry.value.items:
            self.error(
                entry.line,
                'restrictions must be a non-empty list like [{days: [mon, fri], from: "09:00", to: "17:00"}]',
            )
            return None
        found: list[Restriction] = []
        ok = True
        for window in entry.value.items:
            restriction = self.restriction(window)
            if restriction is None:
                ok = False
            else:
                found.append(restriction)
        return tuple(found) if ok else None

    def restriction(self, window: YamlValue) -> Restriction | None:
        if not isinstance(window, YamlMapping):
            self.error(
                window.line, f"a restriction must be a mapping with days, from and to, not {kind_of(window)}"
            )
            return None
        self.unknown_keys(window, RESTRICTION_KEYS, "restriction")
        days = self.days(window)
        start = self.clock(window, "from")
        end = self.clock(window, "to")
        if days is None or start is None or end is None:
            return None
        return Restriction(days=days, start=start, end=end)

    def days(self, window: YamlMapping) -> frozenset[int] | None:
        entry = window.get("days")
        if entry is None:
            self.error(window.line, "restriction has no days: list them, e.g. [mon, tue, wed, thu, fri]")
            return None
        if not isinstance(entry.value, YamlSequence) or not entry.value.items:
            self.error(
                entry.line, "restriction days must be a non-empty list of mon, tue, wed, thu, fri, sat, sun"
            )
            return None
        numbers: set[int] = set()
        ok = True
        for day in entry.value.items:
            text = self.scalar_text(day, "day")
            if text is None:
                ok = False
            elif text.lower() in WEEKDAYS:
                numbers.add(WEEKDAYS.index(text.lower()))
            else:
                self.error(day.line, f"unknown day {text!r}: use mon, tue, wed, thu, fri, sat or sun")
                ok = False
        return frozenset(numbers) if ok else None

    def clock(self, window: YamlMapping, key: str) -> time | None:
        entry = window.get(key)
        if entry is None:
            self.error(window.line, f'restriction has no {key}: give a local time as "HH:MM"')
            return None
        text = self.scalar_text(entry.value, key)
        if text is None:
            return None
        match = _CLOCK_RE.match(text.strip())
        if match:
            hour, minute = int(match.group(1)), int(match.group(2))
            if key == "to" and (hour, minute) == (24, 0):
                return time(0, 0)  # end of day; `to <= from` already means "runs past midnight"
            if hour < 24 and minute < 60:
                return time(hour, minute)
        allowed = "00:00 to 24:00" if key == "to" else "00:00 to 23:59"
        message = f'bad restriction time {text!r} for {key}: expected "HH:MM" from {allowed}'
        self.error(entry.value.line, message)
        return None


def _zone_hint(name: str) -> str:
    close = difflib.get_close_matches(name, sorted(available_timezones()), n=1, cutoff=0.75)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return ": use an IANA zone name such as America/Chicago, Europe/Berlin or UTC"
