"""The words of an incident record (docs/incidents.md): severities, statuses, roles, milestones.

Plain values shared by the pure incident logic, the tables (their CHECK constraints are built from
these tuples) and the API shapes. An incident is the humans' record of a problem; alerts are the
machines'. One incident links many alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, get_args

IncidentSeverity = Literal["SEV0", "SEV1", "SEV2"]  # SEV0 critical, SEV1 major, SEV2 minor
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved", "closed"]
IncidentRole = Literal["commander", "scribe", "comms_lead", "executive_sponsor", "sme"]
Milestone = Literal[
    "impact_started",
    "detected",
    "declared",
    "acknowledged",
    "identified",
    "mitigated",
    "resolved",
    "closed",
]
PostmortemStatus = Literal["draft", "in_review", "published"]
ActionItemStatus = Literal["open", "done"]

INCIDENT_SEVERITIES: tuple[str, ...] = get_args(IncidentSeverity)
INCIDENT_STATUSES: tuple[str, ...] = get_args(IncidentStatus)
INCIDENT_ROLES: tuple[str, ...] = get_args(IncidentRole)
MILESTONES: tuple[str, ...] = get_args(Milestone)  # in the order they must keep
POSTMORTEM_STATUSES: tuple[str, ...] = get_args(PostmortemStatus)
ACTION_ITEM_STATUSES: tuple[str, ...] = get_args(ActionItemStatus)

# Roles one person holds at a time; `sme` (subject-matter expert) may be held by many at once.
SINGLE_HOLDER_ROLES: tuple[str, ...] = ("commander", "scribe", "comms_lead", "executive_sponsor")
# Open: the incident still runs (updates fall due, roles matter); resolved and closed are not open.
OPEN_STATUSES: tuple[str, ...] = ("investigating", "identified", "monitoring")


@dataclass(frozen=True)
class SeverityRules:
    """What a severity asks for: a status update at least every `update_every` while customers are
    affected (None: no cadence), and the roles that must be filled (shown as missing until they are)."""

    update_every: timedelta | None
    require: tuple[IncidentRole, ...] = ()


@dataclass(frozen=True)
class DeclareRule:
    """Declare an incident of `severity` when an alert of `alert_severity` triggers on `service`."""

    service: str
    alert_severity: str
    severity: IncidentSeverity


@dataclass(frozen=True)
class PostmortemDue:
    """How long after resolve a postmortem should be published: business days (Monday to Friday in
    the commander's zone) or a plain duration."""

    business_days: int | None = 3
    duration: timedelta | None = None


@dataclass(frozen=True)
class IncidentRules:
    """The incident settings of a config directory (`incidents.yaml`; these defaults without one)."""

    severities: Mapping[str, SeverityRules] = field(
        default_factory=lambda: {
            "SEV0": SeverityRules(
                timedelta(minutes=15), ("commander", "scribe", "comms_lead", "executive_sponsor")
            ),
            "SEV1": SeverityRules(timedelta(minutes=30), ("commander", "scribe")),
            "SEV2": SeverityRules(timedelta(minutes=60), ("commander",)),
        }
    )
    overdue_update_policy: str | None = None  # an escalation policy id, paged last
    postmortem_due: PostmortemDue = PostmortemDue()
    declare: tuple[DeclareRule, ...] = ()
