"""Load and validate `schedules/<id>.yaml` (and their .ics layers) into core Schedule values.

The rules are in docs/schedules.md, "Keys" and "Validation: `pager check`".

Every problem of a file is collected, each located as `path:line: message`; a file with any problem
yields no schedule. Unknown keys are errors: a typo such as `shfit:` must not be silently ignored.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from pager.config.errors import ConfigError
from pager.config.restriction_grammar import RestrictionGrammar
from pager.config.yaml_source import (
    YamlMapping,
    YamlScalar,
    YamlSequence,
    YamlValue,
    kind_of,
    parse_yaml,
    read_text,
)
from pager.core.durations import DurationError, ShiftLength, parse_shift
from pager.core.ical_layer import parse_ics
from pager.core.model import ROLES, IcalLayer, Layer, Role, RotationLayer, Schedule
from pager.core.rotation import parse_handoff_rule

SCHEDULE_KEYS = ("name", "time_zone", "layers")
ROTATION_KEYS = ("name", "role", "members", "start", "shift", "handoff", "restrictions")
ICAL_KEYS = ("name", "role", "ical")

_DATE_ONLY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Only used to check an RRULE's grammar when the layer's own `start` is itself broken.
_PLACEHOLDER_START = datetime(2026, 1, 5, 9, 0)


def schedule_files(config_dir: Path) -> list[Path]:
    """The schedule files under `config_dir/schedules`, in sorted order."""
    return sorted((config_dir / "schedules").glob("*.yaml"))


def load_schedules(config_dir: Path) -> tuple[dict[str, Schedule], list[ConfigError]]:
    """Every valid schedule under `config_dir/schedules` by id (the file stem), and every problem found."""
    schedules: dict[str, Schedule] = {}
    errors: list[ConfigError] = []
    folder = config_dir / "schedules"
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        if path.suffix == ".yml":  # would otherwise be silently skipped
            errors.append(
                ConfigError(path, 1, f"not read: schedule files end in .yaml (rename it {path.stem}.yaml)")
            )
            continue
        schedule, file_errors = load_schedule_file(path)
        errors.extend(file_errors)
        if schedule is not None:
            schedules[schedule.id] = schedule
    return schedules, errors


def load_schedule_file(path: Path) -> tuple[Schedule | None, list[ConfigError]]:
    """One schedule file: the Schedule, or None and every problem in it (and in its .ics layers)."""
    text, errors = read_text(path)
    if text is None:
        return None, errors
    document, errors = parse_yaml(text, path)
    reader = _ScheduleReader(path, errors)
    schedule = reader.schedule(document)
    if reader.errors:
        # Top to bottom within the file; problems inside its .ics files come after.
        return None, sorted(reader.errors, key=lambda e: (e.path != path, e.line))
    return schedule, []


class _ScheduleReader(RestrictionGrammar):
    """Turns one file's located YAML into a Schedule, recording problems instead of stopping at the first."""

    def schedule(self, document: YamlValue | None) -> Schedule | None:
        schedule_id = self.file_id("schedule")
        if document is None:
            if not self.errors:
                self.error(1, "empty file: a schedule needs time_zone and layers")
            return None
        if not isinstance(document, YamlMapping):
            self.error(
                document.line,
                f"a schedule file must be a mapping with time_zone and layers, not {kind_of(document)}",
            )
            return None
        self.unknown_keys(document, SCHEDULE_KEYS, "schedule")
        name = self.optional_text(document, "name") or schedule_id
        zone_name = self.time_zone(document)
        layers = self.layers(document)
        if zone_name is None or layers is None:
            return None
        return Schedule(id=schedule_id, name=name, time_zone=zone_name, layers=tuple(layers))

    # -- top level -----------------------------------------------------------------------------------

    def layers(self, document: YamlMapping) -> list[Layer] | None:
        items = self.required_list(
            document,
            "layers",
            "missing layers: a schedule needs at least one layer",
            "layers must be a non-empty list of layers",
        )
        if items is None:
            return None
        layers: list[Layer] = []
        first_line: dict[str, int] = {}
        for item in items.items:
            if not isinstance(item, YamlMapping):
                self.error(
                    item.line,
                    f"a layer must be a mapping (name, members, start, shift ...), not {kind_of(item)}",
                )
                continue
            layer = self.layer(item)
            if layer is None:
                continue
            if layer.name in first_line:
                self.error(
                    item.line, f"duplicate layer name {layer.name!r} (first on line {first_line[layer.name]})"
                )
                continue
            first_line[layer.name] = item.line
            layers.append(layer)
        return layers

    # -- layers --------------------------------------------------------------------------------------

    def layer(self, item: YamlMapping) -> Layer | None:
        name_entry = item.get("name")
        name = None
        if name_entry is None:
            self.error(item.line, "layer has no name")
        else:
            name = self.scalar_text(name_entry.value, "layer name")
        role = self.role(item)
        if item.get("ical") is not None:
            self.unknown_keys(item, ICAL_KEYS, "an iCal layer", wrong_kind=ROTATION_KEYS)
            ics_text, source = self.ical(item)
            if name is None or role is None or ics_text is None:
                return None
            return IcalLayer(name=name, ics_text=ics_text, role=role, source=source)
        self.unknown_keys(item, ROTATION_KEYS, "layer")
        members = self.members(item)
        start = self.start(item)
        shift, rrule = self.handoffs(item, start)
        restrictions = self.restrictions(item)
        if name is None or role is None or members is None or start is None or restrictions is None:
            return None
        if shift is None and rrule is None:
            return None
        return RotationLayer(
            name=name,
            members=members,
            start=start,
            shift=shift,
            handoff_rrule=rrule,
            restrictions=restrictions,
            role=role,
        )

    def role(self, item: YamlMapping) -> Role | None:
        entry = item.get("role")
        if entry is None:
            return "primary"
        value = self.scalar_text(entry.value, "role")
        for role in ROLES:
            if value == role:
                return role
        if value is not None:
            self.error(entry.value.line, f"unknown role {value!r}: use primary or secondary")
        return None

    def members(self, item: YamlMapping) -> tuple[str, ...] | None:
        entry = item.get("members")
        if entry is None:
            self.error(
                item.line, "layer has no members: list the user handles who take turns, e.g. [alice, bob]"
            )
            return None
        value = entry.value
        if isinstance(value, YamlScalar) and value.is_null:
            self.error(entry.line, "members is empty: list at least one user handle")
            return None
        if not isinstance(value, YamlSequence):
            self.error(
                value.line, f"members must be a list of user handles, e.g. [alice, bob], not {kind_of(value)}"
            )
            return None
        if not value.items:
            self.error(value.line, "members is empty: list at least one user handle")
            return None
        handles: list[str] = []
        for member in value.items:
            handle = self.scalar_text(member, "member")
            if handle is None:
                continue
            if any(ch.isspace() for ch in handle):
                self.error(member.line, f"member {handle!r} is not a user handle (no spaces allowed)")
                continue
            handles.append(handle)
        return tuple(handles) if len(handles) == len(value.items) else None

    def start(self, item: YamlMapping) -> datetime | None:
        entry = item.get("start")
        if entry is None:
            self.error(
                item.line,
                "layer has no start: give the local wall time of the first handoff, e.g. 2026-01-05T09:00",
            )
            return None
        raw = self.scalar_text(entry.value, "start")
        if raw is None:
            return None
        line = entry.value.line
        example = "e.g. 2026-01-05T09:00"
        if _DATE_ONLY_RE.match(raw):
            self.error(
                line, f"start {raw!r} has no time of day: write local wall time in time_zone, {example}"
            )
            return None
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            self.error(
                line, f"start {raw!r} is not a date and time: write local wall time in time_zone, {example}"
            )
            return None
        if parsed.tzinfo is not None:
            self.error(
                line,
                f"start {raw!r} has a UTC offset: start is local wall time in time_zone, "
                f"so drop the offset ({parsed.replace(tzinfo=None).isoformat(timespec='minutes')})",
            )
            return None
        return parsed

    def handoffs(self, item: YamlMapping, start: datetime | None) -> tuple[ShiftLength | None, str | None]:
        shift_entry = item.get("shift")
        rule_entry = item.get("handoff")
        if shift_entry is not None and rule_entry is not None:
            self.error(rule_entry.line, "give either shift or handoff, not both")
            return None, None
        if shift_entry is None and rule_entry is None:
            self.error(item.line, "layer needs shift (e.g. 1w, 1d, 12h, 1mo) or handoff (an RRULE)")
            return None, None
        if shift_entry is not None:
            text = self.scalar_text(shift_entry.value, "shift")
            if text is None:
                return None, None
            try:
                return parse_shift(text), None
            except DurationError as exc:
                self.error(shift_entry.value.line, str(exc))
                return None, None
        assert rule_entry is not None
        rule = self.scalar_text(rule_entry.value, "handoff")
        if rule is None:
            return None, None
        try:
            parse_handoff_rule(rule, start or _PLACEHOLDER_START)
        except ValueError as exc:
            self.error(rule_entry.value.line, str(exc))
            return None, None
        return None, rule

    def ical(self, item: YamlMapping) -> tuple[str | None, str]:
        entry = item.get("ical")
        assert entry is not None
        name = self.scalar_text(entry.value, "ical")
        if name is None:
            return None, ""
        ics_path = self.path.parent / name
        if not ics_path.is_file():
            self.error(
                entry.value.line, f"cannot read iCal file {name!r}: no such file next to {self.path.name}"
            )
            return None, name
        text, errors = read_text(ics_path)
        self.errors.extend(errors)
        if text is None:
            return None, name
        try:
            parse_ics(text)
        except ValueError as exc:
            line = getattr(exc, "line", None)
            message = str(exc) if str(exc).startswith("invalid") else f"invalid .ics: {exc}"
            self.error(line if isinstance(line, int) and line > 0 else 1, message, ics_path)
            return None, name
        return text, name
