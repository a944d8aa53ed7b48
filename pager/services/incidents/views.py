"""Reading incidents (docs/incidents.md, "Show and list"): the JSON document of one incident with
its one merged timeline, and the list's summaries. Drills are left out of lists unless asked for.

The timeline merges the incident's own lines with every linked alert's lines by instant (an alert's
line first when both share an instant: the cause before what it caused); each has `at`, `kind`,
`actor` and `text`, and every text of a drill starts with "[DRILL]".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from pager.core.incident_lifecycle import missing_roles
from pager.core.incident_model import INCIDENT_ROLES, SINGLE_HOLDER_ROLES, IncidentRules
from pager.core.localtime import format_instant
from pager.db.incident_roles import role_history
from pager.db.incident_tables import Incident, IncidentRoleAssignment
from pager.db.incident_timeline import incident_events_of
from pager.db.incidents import (
    alert_ids_of,
    find_incident,
    newest_incidents,
    services_of,
    timeline_of_alerts,
)
from pager.db.tables import TimelineEntry
from pager.services.errors import NotFound
from pager.services.incidents.records import milestones_of
from pager.services.people.direct_pages import DRILL_MARK

MAX_LIST = 500
# The engine's words for an alert acted on by someone: "acknowledged by ann", "snoozed by ann for 30m".
_ACTED_BY = re.compile(r"^(?:acknowledged|resolved|escalated|snoozed) by (\S+)")


def show_incident(session: Session, rules: IncidentRules, incident_id: int) -> dict[str, Any]:
    """The incident as `pager incident show ID --json` prints it (docs/incidents.md)."""
    incident = find_incident(session, incident_id)
    if incident is None:
        raise NotFound(f"no incident {incident_id}")
    assert incident.id is not None
    alert_ids = alert_ids_of(session, [incident.id]).get(incident.id, [])
    history = role_history(session, [incident.id], current_only=False).get(incident.id, [])
    document = _summary(
        incident, services_of(session, [incident.id]).get(incident.id, []), alert_ids, history, rules
    )
    document["milestones"] = {
        name: format_instant(at) if at is not None else None for name, at in milestones_of(incident).items()
    }
    document["role_history"] = [_assignment(a, handle) for a, handle in history]
    document["timeline"] = merged_timeline(session, incident, alert_ids)
    return document


def list_incidents(
    session: Session,
    rules: IncidentRules,
    *,
    open_only: bool = False,
    drills: bool = False,
    limit: int = MAX_LIST,
) -> list[dict[str, Any]]:
    """Incidents newest first, each as its summary (roles, missing roles, next update due);
    drills only when `drills`."""
    incidents = newest_incidents(session, open_only=open_only, drills=drills, limit=min(limit, MAX_LIST))
    ids = [i.id for i in incidents if i.id is not None]
    services = services_of(session, ids)
    alerts = alert_ids_of(session, ids)
    held = role_history(session, ids, current_only=True)
    return [
        _summary(i, services.get(i.id or 0, []), alerts.get(i.id or 0, []), held.get(i.id or 0, []), rules)
        for i in incidents
    ]


def _summary(
    incident: Incident,
    services: list[str],
    alert_ids: list[int],
    history: Sequence[tuple[IncidentRoleAssignment, str]],
    rules: IncidentRules,
) -> dict[str, Any]:
    roles: dict[str, Any] = {role: None for role in SINGLE_HOLDER_ROLES}
    roles["sme"] = []
    for assignment, handle in history:
        if assignment.ended_at is not None:
            continue
        if assignment.role == "sme":
            roles["sme"].append(handle)
        else:
            roles[assignment.role] = handle
    filled = {role for role in INCIDENT_ROLES if roles.get(role)}
    due = incident.next_update_due_at
    return {
        "id": incident.id,
        "number": incident.number,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "drill": incident.drill,
        "customer_impact": incident.customer_impact,
        "declared_by": incident.declared_by,
        "declared_at": format_instant(incident.declared_at),
        "services": services,
        "alerts": alert_ids,
        "roles": roles,
        "missing_roles": list(missing_roles(incident.severity, filled, rules)),
        "next_update_due": format_instant(due) if due is not None else None,
    }


def _assignment(assignment: IncidentRoleAssignment, handle: str) -> dict[str, Any]:
    return {
        "role": assignment.role,
        "user": handle,
        "started_at": format_instant(assignment.started_at),
        "ended_at": format_instant(assignment.ended_at) if assignment.ended_at else None,
        "assigned_by": assignment.assigned_by,
        "reason": assignment.reason,
        "ended_by": assignment.ended_by,
        "end_reason": assignment.end_reason,
    }


def merged_timeline(session: Session, incident: Incident, alert_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The incident's lines and its alerts' lines, one list ordered by instant."""
    assert incident.id is not None
    rows: list[tuple[datetime, int, int, dict[str, Any]]] = []
    for entry in timeline_of_alerts(session, alert_ids):
        line = _alert_line(entry)
        rows.append((entry.at, 0, entry.id or 0, line))
    for event in incident_events_of(session, incident.id):
        line = {"at": event.at, "kind": event.kind, "actor": event.actor, "text": event.message}
        rows.append((event.at, 1, event.id or 0, line))
    rows.sort(key=lambda row: row[:3])
    mark = f"{DRILL_MARK} " if incident.drill else ""
    return [{**line, "at": format_instant(line["at"]), "text": mark + line["text"]} for *_, line in rows]


def _alert_line(entry: TimelineEntry) -> dict[str, Any]:
    """An alert's line: who acted is in its words ("acknowledged by ann"), else the system did."""
    acted = _ACTED_BY.match(entry.message)
    actor = acted.group(1) if acted and acted.group(1) != "integration" else "system"
    text = f"alert {entry.alert_id}: {entry.message}"
    return {"at": entry.at, "kind": f"alert.{entry.kind}", "actor": actor, "text": text}
