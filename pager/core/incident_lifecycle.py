"""The rules of an incident's life (docs/incidents.md, "Lifecycle", "Milestones", "Roles").

Pure functions over plain values: which status moves are allowed and which milestones each one sets
or clears, whether a set of milestone instants keeps its order, and which required roles are still
missing. The services load an incident, ask these, and write the answer in one transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from pager.core.incident_model import (
    INCIDENT_ROLES,
    INCIDENT_STATUSES,
    MILESTONES,
    OPEN_STATUSES,
    IncidentRules,
)

# The milestone a status sets when the incident moves to it.
STATUS_MILESTONE: Mapping[str, str] = {
    "identified": "identified",
    "monitoring": "mitigated",
    "resolved": "resolved",
    "closed": "closed",
}
# Roles a severity needs whatever incidents.yaml says (every SEV0 has an executive sponsor).
ALWAYS_REQUIRED: Mapping[str, tuple[str, ...]] = {"SEV0": ("executive_sponsor",)}

Milestones = Mapping[str, datetime | None]


class LifecycleError(ValueError):
    """A move or a milestone the rules refuse; the message says why, for the person who asked."""


class IncidentClosed(LifecycleError):
    """The incident is closed: nothing about it changes any more."""


def check_status_move(current: str, target: str) -> None:
    """Refuse a move the lifecycle does not allow (LifecycleError / IncidentClosed).

    Open statuses (investigating, identified, monitoring) move freely among themselves, forward or
    back, and to resolved; a resolved incident is reopened (to investigating) or closed; closed is
    final.
    """
    if target not in INCIDENT_STATUSES:
        raise LifecycleError(f"unknown status {target!r}; use one of {', '.join(INCIDENT_STATUSES)}")
    if current == "closed":
        raise IncidentClosed("the incident is closed; a closed incident does not change")
    if target == current:
        raise LifecycleError(f"the incident is already {current}")
    if current in OPEN_STATUSES and target == "closed":
        raise LifecycleError("resolve the incident before closing it")
    if current == "resolved" and target not in ("investigating", "closed"):
        raise LifecycleError(
            f"a resolved incident is reopened to investigating or closed, not moved to {target}"
        )


def status_milestones(
    current: str, target: str, milestones: Milestones, now: datetime
) -> dict[str, datetime | None]:
    """The milestone columns a (checked) move from `current` to `target` at `now` changes.

    Reopening a resolved incident clears `resolved`. Resolving and closing stamp `now`. Identified
    and monitoring (mitigated) stamp `now` only when their milestone is unset and no later one is
    set, so a move back and forth never breaks the milestones' order.
    """
    changes: dict[str, datetime | None] = {}
    if current == "resolved" and target == "investigating":
        changes["resolved"] = None
    name = STATUS_MILESTONE.get(target)
    if name is None:
        return changes
    if target in ("resolved", "closed"):
        changes[name] = now
        return changes
    merged = {**milestones, **changes}
    if may_fill(merged, name):
        changes[name] = now
    return changes


def may_fill(milestones: Milestones, name: str) -> bool:
    """True when milestone `name` is unset and no milestone after it in the order is set."""
    if milestones.get(name) is not None:
        return False
    later = MILESTONES[MILESTONES.index(name) + 1 :]
    return all(milestones.get(other) is None for other in later)


def check_milestones(milestones: Milestones, now: datetime) -> None:
    """Refuse milestones out of order or in the future (LifecycleError naming the pair).

    Every set milestone is at or after each set milestone before it in MILESTONES order; so impact
    may start before the incident was detected or declared (backdated), never after.
    """
    for name in milestones:
        if name not in MILESTONES:
            raise LifecycleError(f"unknown milestone {name!r}; use one of {', '.join(MILESTONES)}")
    latest: tuple[str, datetime] | None = None
    for name in MILESTONES:
        at = milestones.get(name)
        if at is None:
            continue
        if at > now:
            raise LifecycleError(f"milestone {name} at {_iso(at)} is in the future (now {_iso(now)})")
        if latest is not None and at < latest[1]:
            raise LifecycleError(
                f"milestone {name} at {_iso(at)} is earlier than {latest[0]} at {_iso(latest[1])}: "
                f"milestones keep the order {', '.join(MILESTONES)}"
            )
        if latest is None or at >= latest[1]:
            latest = (name, at)


def required_roles(severity: str, rules: IncidentRules) -> tuple[str, ...]:
    """The roles an incident of `severity` must have filled, in INCIDENT_ROLES order."""
    settings = rules.severities.get(severity)
    wanted = set(settings.require if settings is not None else ()) | set(ALWAYS_REQUIRED.get(severity, ()))
    return tuple(role for role in INCIDENT_ROLES if role in wanted)


def missing_roles(severity: str, filled: Collection[str], rules: IncidentRules) -> tuple[str, ...]:
    """The required roles of `severity` nobody holds now (`filled`: the roles someone holds)."""
    return tuple(role for role in required_roles(severity, rules) if role not in filled)


def _iso(at: datetime) -> str:
    return at.isoformat()
