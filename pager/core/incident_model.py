"""The words of an incident record (docs/incidents.md): severities, statuses, roles, milestones.

Plain values shared by the pure incident logic, the tables (their CHECK constraints are built from
these tuples) and the API shapes. An incident is the humans' record of a problem; alerts are the
machines'. One incident links many alerts.
"""

from __future__ import annotations

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
