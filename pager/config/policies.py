"""Load and validate `escalation_policies/<id>.yaml` into core EscalationPolicy values.

The rules are in docs/escalation.md, "The policy file".

Like the schedule loader, every problem of a file is collected as `path:line: message` and a file
with any problem yields no policy. Cross-file rules (a target naming an unknown schedule, a service id
used by two policies) are checked against everything loaded.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path

from pager.config.errors import ConfigError
from pager.config.restriction_grammar import restriction_reader
from pager.config.yaml_source import (
    ID_RE,
    LocatedReader,
    YamlMapping,
    YamlScalar,
    YamlSequence,
    YamlValue,
    kind_of,
    parse_yaml,
    read_text,
)
from pager.core.durations import DurationError, parse_duration
from pager.core.heartbeat_monitors import MAX_NAME, SLUG_RE, HeartbeatSpec
from pager.core.localtime import zone
from pager.core.maintenance import RecurringWindow
from pager.core.model import Restriction
from pager.core.policy import (
    MAX_REPEAT,
    EscalationPolicy,
    Level,
    PolicyError,
    ServiceRef,
    Target,
    parse_target,
)

POLICY_KEYS = ("name", "repeat", "ack_timeout", "auto_resolve", "levels", "services")
LEVEL_KEYS = ("notify", "escalate_after")
HEARTBEAT_KEYS = ("name", "every", "grace")
SERVICE_KEYS = ("id", "name", "runbook", "heartbeats", "maintenance")
MAINTENANCE_KEYS = ("days", "from", "to", "time_zone")
MAINTENANCE_SHAPE = (
    'maintenance must be a list like [{days: [sun], from: "02:00", to: "04:00", time_zone: UTC}]'
)
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def policy_files(config_dir: Path) -> list[Path]:
    """The policy files under `config_dir/escalation_policies`, in sorted order."""
    return sorted((config_dir / "escalation_policies").glob("*.yaml"))


def load_policies(
    config_dir: Path, schedule_ids: Collection[str]
) -> tuple[dict[str, EscalationPolicy], list[ConfigError]]:
    """Every valid policy by id (file stem) and every problem, checking targets against `schedule_ids`."""
    policies: dict[str, EscalationPolicy] = {}
    errors: list[ConfigError] = []
    service_owner: dict[str, tuple[Path, int]] = {}
    folder = config_dir / "escalation_policies"
    for stray in sorted(folder.glob("*.yml")):
        errors.append(ConfigError(stray, 1, "policy files end in .yaml; rename it so it is loaded"))
    for path in policy_files(config_dir):
        reader = _PolicyReader(path, [], schedule_ids, service_owner)
        text, read_errors = read_text(path)
        reader.errors.extend(read_errors)
        policy = None
        if text is not None:
            document, parse_errors = parse_yaml(text, path)
            reader.errors.extend(parse_errors)
            policy = reader.policy(document)
        errors.extend(reader.errors)
        if policy is not None and not reader.errors:
            policies[policy.id] = policy
    return policies, errors


class _PolicyReader(LocatedReader):
    """Turns one file's located YAML into an EscalationPolicy, recording every problem."""

    def __init__(
        self,
        path: Path,
        errors: list[ConfigError],
        schedule_ids: Collection[str],
        service_owner: dict[str, tuple[Path, int]],
    ) -> None:
        super().__init__(path, errors)
        self.schedule_ids = schedule_ids
        self.service_owner = service_owner

    def policy(self, document: YamlValue | None) -> EscalationPolicy | None:
        policy_id = self.file_id("policy")
        if document is None:
            if not self.errors:
                self.error(1, "empty file: a policy needs levels")
            return None
        if not isinstance(document, YamlMapping):
            self.error(document.line, f"a policy file must be a mapping with levels, not {kind_of(document)}")
            return None
        self.unknown_keys(document, POLICY_KEYS, "policy")
        name = self.optional_text(document, "name") or policy_id
        repeat = self.repeat(document)
        ack_timeout = self.duration(document, "ack_timeout", allow_zero=True, default=timedelta(0))
        auto_resolve = self.duration(document, "auto_resolve", allow_zero=False, default=None)
        levels = self.levels(document)
        services = self.services(document)
        if self.errors or repeat is None or levels is None or services is None:
            return None
        try:
            return EscalationPolicy(
                id=policy_id,
                name=name,
                levels=tuple(levels),
                repeat=repeat,
                ack_timeout=ack_timeout or timedelta(0),
                auto_resolve=auto_resolve,
                services=tuple(services),
            )
        except PolicyError as exc:
            self.error(document.line, str(exc))
            return None

    def repeat(self, document: YamlMapping) -> int | None:
        entry = document.get("repeat")
        if entry is None:
            return 0
        text = self.scalar_text(entry.value, "repeat")
        if text is None:
            return None
        if not text.isdigit() or not 0 <= int(text) <= MAX_REPEAT:
            self.error(
                entry.value.line, f"repeat must be a whole number from 0 to {MAX_REPEAT}, not {text!r}"
            )
            return None
        return int(text)

    def duration(
        self, mapping: YamlMapping, key: str, *, allow_zero: bool, default: timedelta | None
    ) -> timedelta | None:
        entry = mapping.get(key)
        if entry is None:
            return default
        text = self.scalar_text(entry.value, key)
        if text is None:
            return default
        try:
            return parse_duration(text, allow_zero=allow_zero)
        except DurationError as exc:
            self.error(entry.value.line, f"{key}: {exc}")
            return default

    def levels(self, document: YamlMapping) -> list[Level] | None:
        items = self.required_list(
            document,
            "levels",
            "missing levels: a policy needs at least one level",
            "levels must be a non-empty list of {notify: [...], escalate_after: 5m}",
        )
        if items is None:
            return None
        levels = [self.level(item) for item in items.items]
        return None if any(level is None for level in levels) else [lv for lv in levels if lv is not None]

    def level(self, item: YamlValue) -> Level | None:
        if not isinstance(item, YamlMapping):
            self.error(
                item.line, f"a level must be a mapping with notify and escalate_after, not {kind_of(item)}"
            )
            return None
        self.unknown_keys(item, LEVEL_KEYS, "level")
        targets = self.targets(item)
        escalate_after = self.duration(item, "escalate_after", allow_zero=False, default=None)
        if item.get("escalate_after") is None:
            self.error(item.line, "level has no escalate_after: how long to wait for an ack, e.g. 5m")
        if targets is None or escalate_after is None:
            return None
        return Level(targets=tuple(targets), escalate_after=escalate_after)

    def targets(self, item: YamlMapping) -> list[Target] | None:
        entry = item.get("notify")
        if entry is None:
            self.error(item.line, "level has no notify: list targets such as schedule:checkout or user:dana")
            return None
        values: tuple[YamlValue, ...]
        if isinstance(entry.value, YamlScalar) and not entry.value.is_null:
            values = (entry.value,)
        elif isinstance(entry.value, YamlSequence) and entry.value.items:
            values = entry.value.items
        else:
            self.error(entry.line, "notify must list at least one target, e.g. [schedule:checkout]")
            return None
        targets: list[Target] = []
        for value in values:
            text = self.scalar_text(value, "notify target")
            if text is None:
                continue
            try:
                target = parse_target(text)
            except PolicyError as exc:
                self.error(value.line, str(exc))
                continue
            if target.kind == "schedule" and target.ref not in self.schedule_ids:
                known = ", ".join(sorted(self.schedule_ids)) or "none"
                self.error(value.line, f"unknown schedule {target.ref!r} in {text!r}; schedules: {known}")
                continue
            targets.append(target)
        return targets if len(targets) == len(values) else None

    def services(self, document: YamlMapping) -> list[ServiceRef] | None:
        entry = document.get("services")
        if entry is None:
            return []
        if not isinstance(entry.value, YamlSequence):
            self.error(entry.line, "services must be a list of {id, name, runbook}")
            return None
        services: list[ServiceRef] = []
        for item in entry.value.items:
            if not isinstance(item, YamlMapping):
                self.error(item.line, f"a service must be a mapping with id and name, not {kind_of(item)}")
                continue
            self.unknown_keys(item, SERVICE_KEYS, "service")
            service_id = self.optional_text(item, "id")
            if service_id is None:
                if item.get("id") is None:
                    self.error(item.line, "service has no id")
                continue
            if not ID_RE.match(service_id):
                self.error(item.line, f"service id {service_id!r}: use letters, digits, - and _")
                continue
            if service_id in self.service_owner:
                path, line = self.service_owner[service_id]
                self.error(item.line, f"duplicate service id {service_id!r} (already in {path.name}:{line})")
                continue
            self.service_owner[service_id] = (self.path, item.line)
            name = self.optional_text(item, "name") or service_id
            heartbeats, maintenance = self.heartbeats(item, service_id), self.maintenance(item)
            if heartbeats is None or maintenance is None:
                continue
            runbook = self.optional_text(item, "runbook")
            services.append(ServiceRef(service_id, name, runbook, heartbeats, maintenance))
        return services if len(services) == len(entry.value.items) else None

    def heartbeats(self, service: YamlMapping, service_id: str) -> tuple[HeartbeatSpec, ...] | None:
        """The service's `heartbeats: [{name, every, grace}]` (empty when absent; None on a problem)."""
        entry = service.get("heartbeats")
        if entry is None:
            return ()
        if not isinstance(entry.value, YamlSequence):
            self.error(
                entry.line, "heartbeats must be a list of {name: nightly-backup, every: 24h, grace: 30m}"
            )
            return None
        specs: list[HeartbeatSpec] = []
        seen: dict[str, int] = {}
        for item in entry.value.items:
            spec = self.heartbeat(item, service_id)
            if spec is None:
                continue
            if spec.name in seen:
                self.error(
                    item.line,
                    f"duplicate heartbeat {spec.name!r} on service {service_id!r} "
                    f"(already on line {seen[spec.name]})",
                )
                continue
            seen[spec.name] = item.line
            specs.append(spec)
        return tuple(specs) if len(specs) == len(entry.value.items) else None

    def heartbeat(self, item: YamlValue, service_id: str) -> HeartbeatSpec | None:
        if not isinstance(item, YamlMapping):
            self.error(item.line, f"a heartbeat must be a mapping with name and every, not {kind_of(item)}")
            return None
        self.unknown_keys(item, HEARTBEAT_KEYS, "heartbeat")
        name = self.optional_text(item, "name")
        if name is None:
            if item.get("name") is None:
                self.error(item.line, f"heartbeat on service {service_id!r} has no name")
            return None
        if not SLUG_RE.match(name) or len(name) > MAX_NAME:
            self.error(
                item.line,
                f"heartbeat name {name!r} is not a slug: use lower-case letters, digits and single "
                f"hyphens, at most {MAX_NAME} characters (e.g. nightly-backup)",
            )
            return None
        if item.get("every") is None:
            self.error(
                item.line, f"heartbeat {name!r} has no every: how often the job beats, e.g. every: 24h"
            )
            return None
        every = self.duration(item, "every", allow_zero=False, default=None)
        grace = self.duration(item, "grace", allow_zero=True, default=None)
        if every is None or (item.get("grace") is not None and grace is None):
            return None
        return HeartbeatSpec(name, every, grace or timedelta(0))

    def maintenance(self, service: YamlMapping) -> tuple[RecurringWindow, ...] | None:
        """A service's recurring maintenance windows (the restriction grammar, plus a time_zone each).

        Unlike a layer restriction, a window must not run past midnight: `to` is after `from` on the
        same day ("24:00" is the end of the day), so an inverted or empty window is an error.
        """
        entry = service.get("maintenance")
        if entry is None:
            return ()
        if not isinstance(entry.value, YamlSequence) or not entry.value.items:
            self.error(entry.line, MAINTENANCE_SHAPE)
            return None
        grammar = restriction_reader(self.path, self.errors)
        windows: list[RecurringWindow] = []
        for item in entry.value.items:
            if not isinstance(item, YamlMapping):
                self.error(item.line, f"a maintenance window must be a mapping, not {kind_of(item)}")
                continue
            self.unknown_keys(item, MAINTENANCE_KEYS, "maintenance window")
            days, start, end = grammar.days(item), grammar.clock(item, "from"), grammar.clock(item, "to")
            zone_name = grammar.time_zone(item)
            forwards = start is not None and end is not None and self.forwards(item)
            if days is None or start is None or end is None or zone_name is None or not forwards:
                continue
            windows.append(RecurringWindow(Restriction(days, start, end), zone(zone_name)))
        return tuple(windows) if len(windows) == len(entry.value.items) else None

    def forwards(self, window: YamlMapping) -> bool:
        """Whether `to` is after `from` (both already checked as clock times)."""
        minutes = []
        for key in ("from", "to"):
            entry = window.get(key)
            text = self.scalar_text(entry.value, key) if entry is not None else None
            match = _CLOCK.match(text.strip()) if text is not None else None
            if match is None:
                return False
            minutes.append(int(match.group(1)) * 60 + int(match.group(2)))
        start, end = minutes
        if end == start:
            self.error(window.line, f"empty maintenance window: from and to are both {_clock(start)}")
            return False
        if end < start:
            message = (
                f"inverted maintenance window: to {_clock(end)} is before from {_clock(start)}; "
                'a window past midnight is two windows (to "24:00", then from "00:00" the next day)'
            )
            self.error(window.line, message)
            return False
        return True


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
