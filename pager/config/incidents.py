"""Read the optional `incidents.yaml` of a config directory into IncidentRules (docs/incidents.md).

Every problem is a `path:line: message`; a file with any problem yields the defaults and its errors,
so `load_config` reports it and a live reload keeps the last good config. Services and policies are
checked against what the policy files declare.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path
from typing import get_args

from pager.config.errors import ConfigError
from pager.config.yaml_source import (
    LocatedReader,
    YamlMapping,
    YamlScalar,
    YamlSequence,
    YamlValue,
    kind_of,
    parse_yaml,
    read_text,
)
from pager.core.alert import AlertSeverity
from pager.core.durations import DurationError, parse_duration
from pager.core.incident_model import (
    INCIDENT_ROLES,
    INCIDENT_SEVERITIES,
    DeclareRule,
    IncidentRole,
    IncidentRules,
    IncidentSeverity,
    PostmortemDue,
    SeverityRules,
)

INCIDENTS_FILE = "incidents.yaml"
TOP_KEYS = ("severities", "overdue_update_policy", "postmortem_due", "declare")
SEVERITY_KEYS = ("update_every", "require")
DECLARE_KEYS = ("service", "alert_severity", "severity")
ALERT_SEVERITIES: tuple[str, ...] = get_args(AlertSeverity)
_BUSINESS_DAYS = re.compile(r"^(\d+)\s+business\s+days?$")
MAX_BUSINESS_DAYS = 60


def load_incident_rules(
    config_dir: Path, service_ids: Collection[str], policy_ids: Collection[str]
) -> tuple[IncidentRules, list[ConfigError]]:
    """`config_dir/incidents.yaml` as IncidentRules (the defaults without the file) and its problems."""
    path = config_dir / INCIDENTS_FILE
    stray = config_dir / "incidents.yml"
    errors: list[ConfigError] = []
    if stray.is_file():
        errors.append(ConfigError(stray, 1, f"the incident settings file is {INCIDENTS_FILE}; rename it"))
    if not path.is_file():
        return IncidentRules(), errors
    reader = _IncidentsReader(path, service_ids, policy_ids)
    text, read_errors = read_text(path)
    reader.errors.extend(read_errors)
    rules = None
    if text is not None:
        document, parse_errors = parse_yaml(text, path)
        reader.errors.extend(parse_errors)
        if not parse_errors:
            rules = reader.rules(document)
    errors.extend(reader.errors)
    if rules is None or reader.errors:
        return IncidentRules(), errors
    return rules, errors


def parse_postmortem_due(text: str) -> PostmortemDue:
    """`3 business days`, `1 business day` or a duration (`48h`); DurationError otherwise."""
    match = _BUSINESS_DAYS.match(" ".join(text.split()))
    if match:
        days = int(match.group(1))
        if not 1 <= days <= MAX_BUSINESS_DAYS:
            raise DurationError(f"bad postmortem_due {text!r}: from 1 to {MAX_BUSINESS_DAYS} business days")
        return PostmortemDue(business_days=days, duration=None)
    try:
        length = parse_duration(text)
    except DurationError:
        raise DurationError(
            f"bad postmortem_due {text!r}: expected business days or a duration (e.g. 3 business days, 48h)"
        ) from None
    return PostmortemDue(business_days=None, duration=length)


class _IncidentsReader(LocatedReader):
    """Turns the located YAML of incidents.yaml into IncidentRules, recording every problem."""

    def __init__(self, path: Path, service_ids: Collection[str], policy_ids: Collection[str]) -> None:
        super().__init__(path, [])
        self.service_ids = service_ids
        self.policy_ids = policy_ids

    def rules(self, document: YamlValue | None) -> IncidentRules | None:
        if document is None:
            return IncidentRules()  # an empty file: the defaults
        if not isinstance(document, YamlMapping):
            self.error(
                document.line, f"incidents.yaml must be a mapping of settings, not {kind_of(document)}"
            )
            return None
        self.unknown_keys(document, TOP_KEYS, "incidents.yaml")
        defaults = IncidentRules()
        severities = self.severities(document, defaults)
        policy = self.policy(document)
        postmortem_due = self.postmortem_due(document, defaults.postmortem_due)
        declare = self.declare_rules(document)
        if self.errors:
            return None
        return IncidentRules(
            severities=severities,
            overdue_update_policy=policy,
            postmortem_due=postmortem_due,
            declare=declare,
        )

    def severities(self, document: YamlMapping, defaults: IncidentRules) -> dict[str, SeverityRules]:
        chosen = dict(defaults.severities)
        entry = document.get("severities")
        if entry is None:
            return chosen
        if not isinstance(entry.value, YamlMapping):
            self.error(
                entry.line,
                "severities must be a mapping like {SEV1: {update_every: 30m, require: [commander]}}",
            )
            return chosen
        for item in entry.value:
            if item.key not in INCIDENT_SEVERITIES:
                self.error(
                    item.line, f"unknown severity {item.key!r}; severities: {', '.join(INCIDENT_SEVERITIES)}"
                )
                continue
            if not isinstance(item.value, YamlMapping):
                self.error(
                    item.line,
                    f"{item.key} must be a mapping like {{update_every: 30m, require: [commander]}}",
                )
                continue
            chosen[item.key] = self.severity(item.key, item.value, chosen[item.key])
        return chosen

    def severity(self, name: str, mapping: YamlMapping, default: SeverityRules) -> SeverityRules:
        self.unknown_keys(mapping, SEVERITY_KEYS, f"severity {name}")
        update_every = default.update_every
        every = mapping.get("update_every")
        if every is not None:
            if isinstance(every.value, YamlScalar) and every.value.is_null:
                update_every = None  # no cadence for this severity
            else:
                text = self.scalar_text(every.value, "update_every")
                update_every = self.duration(text, every.value.line, "update_every") if text else None
        # A severity written in the file lists every role it requires: none without `require`.
        listed = mapping.get("require")
        require = self.roles(listed.value) if listed is not None else ()
        return SeverityRules(update_every=update_every, require=require)

    def duration(self, text: str, line: int, key: str) -> timedelta | None:
        try:
            return parse_duration(text)
        except DurationError as exc:
            self.error(line, f"{key}: {exc}")
            return None

    def roles(self, value: YamlValue) -> tuple[IncidentRole, ...]:
        if isinstance(value, YamlScalar) and value.is_null:
            return ()
        if not isinstance(value, YamlSequence):
            self.error(
                value.line, f"require must be a list of roles like [commander, scribe], not {kind_of(value)}"
            )
            return ()
        roles: list[IncidentRole] = []
        for item in value.items:
            text = self.scalar_text(item, "a role")
            if text is None:
                continue
            if text not in INCIDENT_ROLES:
                self.error(item.line, f"unknown role {text!r} in require; roles: {', '.join(INCIDENT_ROLES)}")
                continue
            if text not in roles:
                roles.append(text)  # type: ignore[arg-type]
        return tuple(roles)

    def policy(self, document: YamlMapping) -> str | None:
        entry = document.get("overdue_update_policy")
        if entry is None or (isinstance(entry.value, YamlScalar) and entry.value.is_null):
            return None
        text = self.scalar_text(entry.value, "overdue_update_policy")
        if text is not None and text not in self.policy_ids:
            known = ", ".join(sorted(self.policy_ids)) or "none"
            self.error(
                entry.value.line,
                f"unknown escalation policy {text!r} in overdue_update_policy; policies: {known}",
            )
            return None
        return text

    def postmortem_due(self, document: YamlMapping, default: PostmortemDue) -> PostmortemDue:
        entry = document.get("postmortem_due")
        if entry is None:
            return default
        text = self.scalar_text(entry.value, "postmortem_due")
        if text is None:
            return default
        try:
            return parse_postmortem_due(text)
        except DurationError as exc:
            self.error(entry.value.line, str(exc))
            return default

    def declare_rules(self, document: YamlMapping) -> tuple[DeclareRule, ...]:
        entry = document.get("declare")
        if entry is None or (isinstance(entry.value, YamlScalar) and entry.value.is_null):
            return ()
        if not isinstance(entry.value, YamlSequence):
            self.error(
                entry.line,
                "declare must be a list like "
                "[{service: checkout-api, alert_severity: critical, severity: SEV1}]",
            )
            return ()
        rules = [self.declare_rule(item) for item in entry.value.items]
        return tuple(rule for rule in rules if rule is not None)

    def declare_rule(self, item: YamlValue) -> DeclareRule | None:
        if not isinstance(item, YamlMapping):
            self.error(
                item.line,
                "a declare rule must be a mapping with service, alert_severity and severity, "
                f"not {kind_of(item)}",
            )
            return None
        self.unknown_keys(item, DECLARE_KEYS, "declare rule")
        values: dict[str, str] = {}
        for key in DECLARE_KEYS:
            found = item.get(key)
            if found is None:
                self.error(item.line, f"declare rule has no {key}")
                continue
            text = self.scalar_text(found.value, key)
            if text is None:
                continue
            problem = self.declare_value(key, text)
            if problem:
                self.error(found.value.line, problem)
                continue
            values[key] = text
        if len(values) != len(DECLARE_KEYS):
            return None
        severity: IncidentSeverity = values["severity"]  # type: ignore[assignment]
        return DeclareRule(
            service=values["service"], alert_severity=values["alert_severity"], severity=severity
        )

    def declare_value(self, key: str, text: str) -> str | None:
        if key == "service" and text not in self.service_ids:
            known = ", ".join(sorted(self.service_ids)) or "none"
            return f"unknown service {text!r} in declare rule; services: {known}"
        if key == "alert_severity" and text not in ALERT_SEVERITIES:
            return f"unknown alert severity {text!r}; alert severities: {', '.join(ALERT_SEVERITIES)}"
        if key == "severity" and text not in INCIDENT_SEVERITIES:
            return f"unknown severity {text!r}; severities: {', '.join(INCIDENT_SEVERITIES)}"
        return None
