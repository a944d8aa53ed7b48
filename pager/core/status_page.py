"""The public status page's rules (docs/status-page.md): what each component's state is, and what of
an incident may be shown to anyone at all.

Pure: the caller passes the incidents, their public updates and `now`. Only public updates of
incidents that are not drills ever reach a `StatusPage`; the rules below drop anything else even if
a caller passed it, so a mistake in a query cannot publish an internal update or a drill.

State of a component: the worst effect of the open incidents that affect it. An incident's impact
comes from its severity and customer impact (SEV0 critical, SEV1 major, SEV2 minor; no customer
impact: none); its effect on a component is the component state of that impact, at most
`degraded_performance` while the incident is being monitored (its fix is in).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, cast, get_args

from pager.core.incident_model import OPEN_STATUSES

ComponentState = Literal["operational", "degraded_performance", "partial_outage", "major_outage"]
IncidentImpact = Literal["none", "minor", "major", "critical"]
# The status a customer reads: an incident's own open status, or `resolved` once it is not open
# (resolved and closed are the same thing to a customer).
PublicStatus = Literal["investigating", "identified", "monitoring", "resolved"]

COMPONENT_STATES: tuple[str, ...] = get_args(ComponentState)  # best first
HISTORY_DAYS = 90

_IMPACT_OF_SEVERITY: Mapping[str, IncidentImpact] = {"SEV0": "critical", "SEV1": "major", "SEV2": "minor"}
_STATE_OF_IMPACT: Mapping[IncidentImpact, ComponentState] = {
    "none": "operational",
    "minor": "degraded_performance",
    "major": "partial_outage",
    "critical": "major_outage",
}
STATE_LABELS: Mapping[str, str] = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
}
OVERALL_LABELS: Mapping[str, str] = {
    "operational": "All systems operational",
    "degraded_performance": "Some systems have degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
}


@dataclass(frozen=True)
class ComponentRef:
    """A service as the page names it: its id and display name (from the policy files)."""

    id: str
    name: str


@dataclass(frozen=True)
class UpdateFacts:
    """One status update as loaded: `public` False ones are never shown."""

    id: int
    incident_id: int
    at: datetime
    message: str
    public: bool
    status: str | None


@dataclass(frozen=True)
class IncidentFacts:
    """One incident as loaded, with the ids of the services it affects."""

    id: int
    number: int
    severity: str
    status: str
    drill: bool
    customer_impact: bool
    declared_at: datetime
    resolved_at: datetime | None
    service_ids: tuple[str, ...]


@dataclass(frozen=True)
class PublicUpdate:
    """A public update as shown: no author, only the text, the instant and the status it set."""

    id: int
    at: datetime
    message: str
    status: str | None


@dataclass(frozen=True)
class PublicIncident:
    """An incident as shown: never its title, severity, people, notes or timeline."""

    number: int
    status: PublicStatus
    impact: IncidentImpact
    started_at: datetime
    resolved_at: datetime | None
    components: tuple[ComponentRef, ...]
    updates: tuple[PublicUpdate, ...]  # newest first
    more_updates: bool  # older public updates exist that were not loaded

    @property
    def headline(self) -> str:
        """What the incident is called on the page: the impact and the components, no title."""
        names = ", ".join(c.name for c in self.components) or "our services"
        if self.impact == "none":
            return f"Incident affecting {names}"
        return f"{STATE_LABELS[_STATE_OF_IMPACT[self.impact]]}: {names}"


@dataclass(frozen=True)
class Component:
    """A component and its current state."""

    id: str
    name: str
    state: ComponentState

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass(frozen=True)
class HistoryDay:
    """The incidents that started on one UTC day, newest first."""

    day: date
    incidents: tuple[PublicIncident, ...]


@dataclass(frozen=True)
class StatusPage:
    """Everything the status page, its feed and its JSON show, as of `generated_at`."""

    generated_at: datetime
    state: ComponentState  # the worst component state
    components: tuple[Component, ...]
    open_incidents: tuple[PublicIncident, ...]  # newest first
    history: tuple[HistoryDay, ...]  # newest day first
    history_since: datetime

    @property
    def label(self) -> str:
        return OVERALL_LABELS[self.state]

    def public_updates(self) -> list[tuple[PublicIncident, PublicUpdate]]:
        """Every shown update with its incident, newest first (the feed's entries)."""
        incidents = [*self.open_incidents, *(i for day in self.history for i in day.incidents)]
        pairs = [(incident, update) for incident in incidents for update in incident.updates]
        return sorted(pairs, key=lambda pair: (pair[1].at, pair[1].id), reverse=True)


def impact_of(severity: str, customer_impact: bool) -> IncidentImpact:
    """An incident's impact: none without customer impact, else by severity (unknown: minor)."""
    if not customer_impact:
        return "none"
    return _IMPACT_OF_SEVERITY.get(severity, "minor")


def effect_on_components(severity: str, status: str, customer_impact: bool) -> ComponentState:
    """The state an open incident puts its components in: by impact, at most degraded while it is
    monitored; a resolved or closed incident puts them in none."""
    if status not in OPEN_STATUSES:
        return "operational"
    state = _STATE_OF_IMPACT[impact_of(severity, customer_impact)]
    if status == "monitoring":
        return min(state, "degraded_performance", key=COMPONENT_STATES.index)
    return state


def worst(states: Iterable[str]) -> ComponentState:
    """The worst of `states` (operational when there are none)."""
    return cast(ComponentState, max(states, key=COMPONENT_STATES.index, default="operational"))


def history_since(now: datetime) -> datetime:
    """The first instant the history shows: incidents declared from then on."""
    return now - timedelta(days=HISTORY_DAYS)


def is_shown(incident: IncidentFacts, has_public_update: bool) -> bool:
    """Whether an incident appears at all: never a drill; otherwise when it affects customers or
    someone posted a public update on it."""
    return not incident.drill and (incident.customer_impact or has_public_update)


def build_status_page(
    now: datetime,
    components: Sequence[ComponentRef],
    incidents: Iterable[IncidentFacts],
    updates: Iterable[UpdateFacts],
    updates_per_incident: int,
) -> StatusPage:
    """The page as of `now`: `components` with their states, the open incidents and the history of
    the last HISTORY_DAYS days. `updates` may hold up to `updates_per_incident + 1` public updates
    per incident (the extra one only says that there are more)."""
    by_incident: dict[int, list[UpdateFacts]] = {}
    for update in updates:
        if update.public:
            by_incident.setdefault(update.incident_id, []).append(update)
    known = {c.id: c for c in components}
    states: dict[str, list[ComponentState]] = {c.id: [] for c in components}
    open_incidents: list[PublicIncident] = []
    past: list[PublicIncident] = []
    since = history_since(now)
    for incident in incidents:
        shown_updates = sorted(by_incident.get(incident.id, []), key=lambda u: (u.at, u.id), reverse=True)
        if not is_shown(incident, bool(shown_updates)):
            continue
        is_open = incident.status in OPEN_STATUSES
        if not is_open and incident.declared_at < since:
            continue
        public = PublicIncident(
            number=incident.number,
            status=cast(PublicStatus, incident.status if is_open else "resolved"),
            impact=impact_of(incident.severity, incident.customer_impact),
            started_at=incident.declared_at,
            resolved_at=None if is_open else incident.resolved_at,
            components=tuple(known[s] for s in sorted(incident.service_ids) if s in known),
            updates=tuple(
                PublicUpdate(u.id, u.at, u.message, u.status) for u in shown_updates[:updates_per_incident]
            ),
            more_updates=len(shown_updates) > updates_per_incident,
        )
        if is_open:
            open_incidents.append(public)
            effect = effect_on_components(incident.severity, incident.status, incident.customer_impact)
            for service_id in incident.service_ids:
                if service_id in states:
                    states[service_id].append(effect)
        else:
            past.append(public)
    shown = tuple(Component(c.id, c.name, worst(states[c.id])) for c in components)
    return StatusPage(
        generated_at=now,
        state=worst(c.state for c in shown),
        components=shown,
        open_incidents=tuple(sorted(open_incidents, key=_newest_first)),
        history=_by_day(past),
        history_since=since,
    )


def _newest_first(incident: PublicIncident) -> tuple[float, int]:
    return (-incident.started_at.timestamp(), -incident.number)


def _by_day(incidents: Iterable[PublicIncident]) -> tuple[HistoryDay, ...]:
    days: dict[date, list[PublicIncident]] = {}
    for incident in incidents:
        days.setdefault(incident.started_at.astimezone(UTC).date(), []).append(incident)
    return tuple(
        HistoryDay(day, tuple(sorted(found, key=_newest_first)))
        for day, found in sorted(days.items(), reverse=True)
    )
