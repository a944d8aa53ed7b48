"""/incidents (open ones first, then the recent closed ones; the declare form) and /incidents/{id}
with its updates, roles, milestones, timeline, postmortem and action items, and the forms that post
an update, change status or severity and assign a role. Every read and write is the REST API's own
service call (pager.services.incidents); a refused change re-renders the page with the service's
words and the status the API would answer (pager.api.errors.domain_status), nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import Response
from sqlmodel import Session

from pager.api.console.web import CsrfDep, LoggedInDep, Page, require, templates
from pager.api.deps import MAX_ID
from pager.api.errors import domain_status
from pager.core.incident_model import (
    INCIDENT_ROLES,
    INCIDENT_SEVERITIES,
    INCIDENT_STATUSES,
    MILESTONES,
    OPEN_STATUSES,
)
from pager.services.errors import DomainError, NotFound
from pager.services.incidents.action_items import ActionItemView, list_action_items
from pager.services.incidents.changes import change_severity, change_status
from pager.services.incidents.declaring import declare
from pager.services.incidents.postmortems import postmortem_document
from pager.services.incidents.roles import ROLE_WORDS, assign_role
from pager.services.incidents.updates import post_update_on, updates_of
from pager.services.incidents.views import list_incidents, show_incident
from pager.services.people.direct_pages import DRILL_MARK
from pager.services.transactions import read_only, read_write

router = APIRouter(include_in_schema=False)

RECENT_CLOSED = 50
MAX_SERVICES = 50  # as IncidentCreate.services in the REST API
StatusFilter = Annotated[Literal["all", "open", "closed"], Query()]
SeverityFilter = Annotated[Literal["", "SEV0", "SEV1", "SEV2"], Query()]
IncidentId = Annotated[int, Path(ge=1, le=MAX_ID)]
# Form fields arrive as text and are checked by the services (their words are shown on the page);
# the body limit caps their size before anything reads them.
Text = Annotated[str, Form()]
Checkbox = Annotated[bool, Form()]

# The services give instants as ISO text; shown as the console shows every instant.
templates.env.filters["iso_instant"] = lambda text: (
    templates.env.filters["instant"](datetime.fromisoformat(text)) if text else "-"
)


@dataclass(frozen=True)
class IncidentPageData:
    incident: dict[str, Any]
    updates: list[Any]
    postmortem: dict[str, Any] | None
    action_items: list[ActionItemView]


def _incidents(page: Page, status: str, severity: str) -> list[dict[str, Any]]:
    """Open incidents (newest first), then up to RECENT_CLOSED resolved or closed ones; drills too."""
    rules = page.runtime.config.incidents

    def read(session: Session) -> list[dict[str, Any]]:
        open_ones = list_incidents(session, rules, open_only=True, drills=True)
        closed: list[dict[str, Any]] = []
        if status in ("all", "closed"):  # the newest, past the open ones among them
            recent = list_incidents(session, rules, drills=True, limit=RECENT_CLOSED + len(open_ones))
            closed = [i for i in recent if i["status"] not in OPEN_STATUSES][:RECENT_CLOSED]
        shown = (open_ones if status in ("all", "open") else []) + closed
        return [i for i in shown if not severity or i["severity"] == severity]

    return read_only(page.runtime.engine, read)


def _list_page(
    page: Page, status: str = "all", severity: str = "", status_code: int = 200, **extra: Any
) -> Response:
    return page.render(
        "incidents.html",
        status_code=status_code,
        incidents=_incidents(page, status, severity),
        status=status,
        severity=severity,
        severities=INCIDENT_SEVERITIES,
        drill_mark=DRILL_MARK,
        **extra,
    )


@router.get("/incidents")
def incidents_page(
    page: LoggedInDep, status: StatusFilter = "all", severity: SeverityFilter = ""
) -> Response:
    """Open incidents first, then the recent closed ones, filtered by status and severity."""
    return _list_page(page, status, severity)


@router.post("/incidents")
def declare_incident(
    page: CsrfDep,
    title: Text = "",
    severity: Text = "",
    services: Text = "",
    customer_impact: Checkbox = False,
    drill: Checkbox = False,
) -> Response:
    """Declare an incident (responders, as in the API) and go to its page."""
    visitor = require(page, "responder")
    rules = page.runtime.config.incidents
    chosen = [name.strip() for name in services.split(",") if name.strip()]
    entered = {"title": title, "severity": severity, "services": services, "impact": customer_impact}
    if len(chosen) > MAX_SERVICES:  # as the API's body allows; checked before any transaction
        error = f"at most {MAX_SERVICES} services, not {len(chosen)}"
        return _list_page(page, status_code=422, error=error, entered=entered)
    try:
        incident_id = read_write(
            page.runtime.engine,
            lambda session: (
                declare(
                    session,
                    rules,
                    title=title,
                    severity=severity,
                    services=chosen,
                    customer_impact=customer_impact,
                    drill=drill,
                    actor=visitor.actor,
                    now=page.now,
                ).id
            ),
        )
    except DomainError as exc:
        return _list_page(page, status_code=domain_status(exc)[0], error=str(exc), entered=entered)
    return page.redirect(f"/incidents/{incident_id}")


def _read_incident(page: Page, incident_id: int) -> IncidentPageData:
    rules = page.runtime.config.incidents

    def read(session: Session) -> IncidentPageData:
        incident = show_incident(session, rules, incident_id)
        try:
            postmortem: dict[str, Any] | None = postmortem_document(session, incident_id)
        except NotFound:  # the incident is there (shown above): it has no postmortem yet
            postmortem = None
        items = list_action_items(session, page.now, include_done=True, drill=True, incident_id=incident_id)
        return IncidentPageData(incident, updates_of(session, incident_id)[::-1], postmortem, items)

    return read_only(page.runtime.engine, read)


def _incident_page(page: Page, incident_id: int, status_code: int = 200, **extra: Any) -> Response:
    data = _read_incident(page, incident_id)
    return page.render(
        "incident.html",
        status_code=status_code,
        incident=data.incident,
        updates=data.updates,
        postmortem=data.postmortem,
        action_items=data.action_items,
        drill_mark=DRILL_MARK,
        milestones=MILESTONES,
        roles=INCIDENT_ROLES,
        role_words=ROLE_WORDS,
        statuses=INCIDENT_STATUSES,
        severities=INCIDENT_SEVERITIES,
        is_open=data.incident["status"] in OPEN_STATUSES,
        entered=extra.pop("entered", {}),
        **extra,
    )


@router.get("/incidents/{incident_id}")
def incident_page(page: LoggedInDep, incident_id: IncidentId) -> Response:
    """One incident: its state, updates (newest first), roles, milestones, postmortem, action items
    and timeline, and for responders the forms that change it."""
    return _incident_page(page, incident_id)


def _change(
    page: Page, incident_id: int, work: Callable[[Session, str], object], entered: dict[str, Any]
) -> Response:
    """Run `work(session, actor)` in one transaction, then back to the incident (POST/redirect/GET);
    a domain error re-renders the page with its message and status (an unknown incident stays 404)."""
    visitor = require(page, "responder")
    try:
        read_write(page.runtime.engine, lambda session: work(session, visitor.actor))
    except NotFound:
        raise
    except DomainError as exc:
        return _incident_page(page, incident_id, domain_status(exc)[0], error=str(exc), entered=entered)
    return page.redirect(f"/incidents/{incident_id}")


@router.post("/incidents/{incident_id}/updates")
def post_status_update_form(
    page: CsrfDep, incident_id: IncidentId, text: Text = "", public: Checkbox = False, status: Text = ""
) -> Response:
    """A status update, public or internal, maybe moving the incident to `status`."""
    rules = page.runtime.config.incidents
    return _change(
        page,
        incident_id,
        lambda session, actor: post_update_on(
            session, incident_id, text, public, status or None, actor, page.now, rules
        ),
        {"update_text": text, "update_public": public},
    )


@router.post("/incidents/{incident_id}/status")
def change_incident_status(
    page: CsrfDep, incident_id: IncidentId, status: Text = "", message: Text = ""
) -> Response:
    rules = page.runtime.config.incidents
    return _change(
        page,
        incident_id,
        lambda session, actor: change_status(
            session, rules, incident_id, status, message=message, actor=actor, now=page.now
        ),
        {"status_message": message},
    )


@router.post("/incidents/{incident_id}/severity")
def set_severity(page: CsrfDep, incident_id: IncidentId, severity: Text = "", reason: Text = "") -> Response:
    rules = page.runtime.config.incidents
    return _change(
        page,
        incident_id,
        lambda session, actor: change_severity(
            session, rules, incident_id, severity, reason=reason, actor=actor, now=page.now
        ),
        {"severity_reason": reason},
    )


@router.post("/incidents/{incident_id}/roles")
def give_role(
    page: CsrfDep,
    incident_id: IncidentId,
    role: Text = "",
    user: Text = "",
    reason: Text = "",
    notify: Checkbox = False,
) -> Response:
    """Assign or hand over a role; `notify` pages the person through their own rules."""
    return _change(
        page,
        incident_id,
        lambda session, actor: assign_role(
            session, incident_id, role, user.strip(), reason=reason, page=notify, actor=actor, now=page.now
        ),
        {"role": role, "role_user": user, "role_reason": reason},
    )
