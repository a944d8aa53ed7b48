"""Postmortem rules (docs/incidents.md, "Postmortems"): the facts a postmortem is written from, its
status moves, and the incident's own MTTA and MTTR. Pure: plain values in, plain values out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pager.core.incident_model import POSTMORTEM_STATUSES, PostmortemStatus

# draft -> in_review -> published; back from in_review to draft; published is final.
POSTMORTEM_MOVES: Mapping[str, tuple[str, ...]] = {
    "draft": ("in_review",),
    "in_review": ("draft", "published"),
    "published": (),
}


class PostmortemMoveRefused(ValueError):
    """A status move the flow does not allow (the message says which are)."""


def check_postmortem_move(current: str, target: str) -> PostmortemStatus:
    """`target` when the postmortem may move there from `current`; PostmortemMoveRefused otherwise."""
    if target not in POSTMORTEM_STATUSES:
        raise PostmortemMoveRefused(
            f"unknown postmortem status {target!r}: use one of {', '.join(POSTMORTEM_STATUSES)}"
        )
    allowed = POSTMORTEM_MOVES.get(current, ())
    if target == current:
        raise PostmortemMoveRefused(f"the postmortem is already {current}")
    if target not in allowed:
        if not allowed:
            raise PostmortemMoveRefused(f"the postmortem is {current}: that is final")
        raise PostmortemMoveRefused(
            f"a {current} postmortem cannot move to {target}; it may move to {' or '.join(allowed)}"
        )
    return target  # type: ignore[return-value]


@dataclass(frozen=True)
class RoleSpell:
    """One person holding one role of the incident, from `started_at` until `ended_at` (None: still)."""

    role: str
    handle: str
    started_at: datetime
    ended_at: datetime | None
    assigned_by: str
    reason: str = ""


@dataclass(frozen=True)
class LinkedAlert:
    """An alert linked to the incident, as the postmortem shows it."""

    id: int
    service_id: str
    summary: str
    triggered_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class PageSent:
    """A page or notice sent for the incident (its alerts' pages, role pages, reminders)."""

    at: datetime
    handle: str
    method: str
    status: str
    cause: str  # `alert 12`, or the notice's cause key


@dataclass(frozen=True)
class TimelineLine:
    """One line of the merged timeline (incident events and the linked alerts' entries)."""

    at: datetime
    kind: str
    actor: str
    text: str


@dataclass(frozen=True)
class ActionItemLine:
    """An action item as the postmortem lists it."""

    id: int
    title: str
    owner: str
    due_on: date
    status: str
    link: str | None = None


@dataclass(frozen=True)
class PostmortemFacts:
    """Everything the postmortem template is filled with, read once by the service."""

    number: int
    title: str
    severity: str
    status: str
    drill: bool
    customer_impact: bool
    declared_by: str
    services: tuple[str, ...]
    milestones: Mapping[str, datetime | None]
    roles: tuple[RoleSpell, ...] = ()
    alerts: tuple[LinkedAlert, ...] = ()
    pages: tuple[PageSent, ...] = ()
    timeline: tuple[TimelineLine, ...] = ()
    action_items: tuple[ActionItemLine, ...] = ()


@dataclass(frozen=True)
class Metric:
    """A measured span and what it was measured between (None: not measurable yet)."""

    span: timedelta | None
    basis: str


def time_to_acknowledge(facts: PostmortemFacts) -> Metric:
    """MTTA of this incident: declared -> acknowledged; without that milestone, the first linked
    alert's trigger -> its first acknowledgement."""
    declared = facts.milestones.get("declared")
    acknowledged = facts.milestones.get("acknowledged")
    if declared is not None and acknowledged is not None:
        return Metric(acknowledged - declared, "declared → acknowledged")
    if facts.alerts:
        first = min(facts.alerts, key=lambda alert: (alert.triggered_at, alert.id))
        if first.acknowledged_at is not None:
            return Metric(
                first.acknowledged_at - first.triggered_at,
                f"alert {first.id} triggered → acknowledged",
            )
    return Metric(None, "not acknowledged")


def time_to_resolve(facts: PostmortemFacts) -> Metric:
    """MTTR of this incident: impact start (or, without one, the declaration) -> resolved."""
    resolved = facts.milestones.get("resolved")
    started = facts.milestones.get("impact_started")
    basis = "impact started → resolved"
    if started is None:
        started = facts.milestones.get("declared")
        basis = "declared → resolved"
    if resolved is None or started is None:
        return Metric(None, "not resolved")
    return Metric(resolved - started, basis)


def format_span(span: timedelta | None) -> str:
    """`45s`, `4m 30s`, `1h 05m`, `2d 03h 10m`; `—` for none."""
    if span is None:
        return "—"
    seconds = int(span.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"
