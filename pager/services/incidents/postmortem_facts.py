"""Reading an incident's postmortem facts (core.postmortems.PostmortemFacts) in the caller's
transaction: milestones, services, roles with history, linked alerts, the pages sent for the
incident, the merged timeline (the one `pager incident show` prints) and the action items."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from pager.core.postmortems import (
    ActionItemLine,
    LinkedAlert,
    PageSent,
    PostmortemFacts,
    RoleSpell,
    TimelineLine,
)
from pager.db.action_items import action_items_with_owners
from pager.db.incident_roles import current_holders, role_history
from pager.db.incident_tables import Incident
from pager.db.incidents import alert_ids_of, alerts_by_id, services_of
from pager.db.postmortems import pages_for, postmortem_of_incident
from pager.db.tables import User
from pager.db.users import find_user_by_handle
from pager.services.incidents.records import milestones_of
from pager.services.incidents.views import merged_timeline


def cause_of_page(alert_id: int | None, key: str) -> str:
    """What a page was for: `alert 12`, or its notice's cause key without the rule step."""
    if alert_id is not None:
        return f"alert {alert_id}"
    return key.rsplit(":", 1)[0]


def incident_cause_prefixes(session: Session, incident: Incident, assignment_ids: list[int]) -> list[str]:
    """The cause keys of the notices sent for this incident (docs/incidents.md): its role pages,
    overdue-update pages and postmortem reminders."""
    prefixes = [f"incident-role:{assignment_id}:" for assignment_id in assignment_ids]
    prefixes.append(f"incident-update:{incident.id}:")
    postmortem = postmortem_of_incident(session, incident.id or 0)
    if postmortem is not None:
        prefixes.append(f"postmortem:{postmortem.id}:")
    return prefixes


def current_commander(session: Session, incident_id: int) -> User | None:
    """Who holds the commander role of the incident now (None: nobody)."""
    held = current_holders(session, incident_id, "commander")
    return find_user_by_handle(session, held[-1][1]) if held else None


def load_postmortem_facts(session: Session, incident: Incident) -> PostmortemFacts:
    """Everything the postmortem template shows of `incident`, read now."""
    assert incident.id is not None
    history = role_history(session, [incident.id], current_only=False).get(incident.id, [])
    alert_ids = alert_ids_of(session, [incident.id]).get(incident.id, [])
    prefixes = incident_cause_prefixes(session, incident, [a.id for a, _ in history if a.id is not None])
    return PostmortemFacts(
        number=incident.number,
        title=incident.title,
        severity=incident.severity,
        status=incident.status,
        drill=incident.drill,
        customer_impact=incident.customer_impact,
        declared_by=incident.declared_by,
        services=tuple(services_of(session, [incident.id]).get(incident.id, [])),
        milestones=milestones_of(incident),
        roles=tuple(
            RoleSpell(a.role, handle, a.started_at, a.ended_at, a.assigned_by, a.reason)
            for a, handle in history
        ),
        alerts=tuple(
            LinkedAlert(
                alert.id or 0,
                alert.service_id,
                alert.summary,
                alert.created_at,
                alert.acknowledged_at,
                alert.acknowledged_by,
                alert.resolved_at,
            )
            for alert in alerts_by_id(session, alert_ids)
        ),
        pages=tuple(
            PageSent(
                page.last_attempt_at or page.due_at,
                page.user_handle,
                page.method,
                page.status,
                cause_of_page(page.alert_id, page.idempotency_key),
            )
            for page in pages_for(session, alert_ids, prefixes)
        ),
        timeline=tuple(
            TimelineLine(datetime.fromisoformat(line["at"]), line["kind"], line["actor"], line["text"])
            for line in merged_timeline(session, incident, alert_ids)
        ),
        action_items=tuple(action_item_lines(session, incident.id)),
    )


def action_item_lines(session: Session, incident_id: int) -> list[ActionItemLine]:
    """The incident's action items (done ones too) as the postmortem lists them."""
    rows = action_items_with_owners(session, open_only=False, include_drills=True, incident_id=incident_id)
    return [
        ActionItemLine(item.id or 0, item.title, user.handle, item.due_on, item.status, item.link)
        for item, user, _ in rows
    ]
