"""/api/v1/incidents: declare, list, show and change incidents (docs/incidents.md, docs/api.md).

Viewers read; responders and admins declare and change. The actor on the timeline is the person a
token is tied to, else `token:<name>`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from pager.api.deps import NowDep, ResponderDep, RuntimeDep, ViewerDep
from pager.api.rest.pages import PageDep, slice_page
from pager.api.rest.schemas import PLAIN_TEXT, BodyInstant, IdPath, Name, Paginated, error_responses
from pager.core.incident_model import IncidentRole, IncidentSeverity, IncidentStatus, Milestone
from pager.services.incidents.changes import (
    add_note,
    change_severity,
    change_status,
    set_customer_impact,
    set_milestone,
)
from pager.services.incidents.declaring import declare
from pager.services.incidents.records import actor_of_token
from pager.services.incidents.roles import assign_role
from pager.services.incidents.views import list_incidents, show_incident
from pager.services.people.tokens import Bearer
from pager.services.runtime import Runtime
from pager.services.transactions import read_only, read_write

router = APIRouter(prefix="/incidents", tags=["incidents"])

Reason = Annotated[
    str, Field(default="", max_length=5000, pattern=PLAIN_TEXT, examples=["customers affected"])
]


class IncidentBase(BaseModel):
    title: str = Field(min_length=1, max_length=200, pattern=PLAIN_TEXT, examples=["Checkout errors"])
    severity: IncidentSeverity = Field(
        examples=["SEV1"], description="SEV0 critical, SEV1 major, SEV2 minor."
    )
    customer_impact: bool = Field(default=False, description="Customers are affected: updates fall due.")
    drill: bool = Field(default=False, description="A practice incident: pages say [DRILL].")


class IncidentCreate(IncidentBase):
    services: list[Name] = Field(default_factory=list, max_length=50, examples=[["api"]])
    alerts: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(default_factory=list, max_length=200)
    commander: Name | None = Field(
        default=None, description="A handle; by default whoever acknowledged the first linked alert."
    )


class TimelineLineOut(BaseModel):
    at: str = Field(examples=["2026-03-04T15:20:00+00:00"])
    kind: str = Field(examples=["declared"])
    actor: str = Field(examples=["alice"])
    text: str = Field(examples=["SEV1 incident declared by alice: Checkout errors"])


class RoleAssignmentOut(BaseModel):
    role: IncidentRole
    user: str
    started_at: str
    ended_at: str | None
    assigned_by: str
    reason: str
    ended_by: str | None
    end_reason: str | None


class IncidentSummary(IncidentBase):
    id: int = Field(examples=[3])
    number: int = Field(examples=[3])
    status: IncidentStatus = Field(examples=["investigating"])
    declared_by: str = Field(examples=["alice"])
    declared_at: str = Field(examples=["2026-03-04T15:20:00+00:00"])
    services: list[str] = Field(examples=[["api"]])
    alerts: list[int] = Field(examples=[[12]])
    roles: dict[str, Any] = Field(
        examples=[
            {"commander": "alice", "scribe": None, "comms_lead": None, "executive_sponsor": None, "sme": []}
        ],
        description="The holder of each one-holder role (null when nobody), and the list of SMEs.",
    )
    missing_roles: list[IncidentRole] = Field(examples=[["scribe"]])
    next_update_due: str | None = Field(examples=["2026-03-04T15:50:00+00:00"])


class IncidentPublic(IncidentSummary):
    milestones: dict[Milestone, str | None]
    role_history: list[RoleAssignmentOut]
    timeline: list[TimelineLineOut]


class StatusChange(BaseModel):
    status: IncidentStatus = Field(examples=["identified"])
    message: Reason


class SeverityChange(BaseModel):
    severity: IncidentSeverity = Field(examples=["SEV0"])
    reason: Reason


class ImpactChange(BaseModel):
    customer_impact: bool = Field(examples=[True])
    reason: Reason


class RoleAssignment(BaseModel):
    role: IncidentRole = Field(examples=["commander"])
    user: Name = Field(examples=["bob"])
    reason: Reason
    page: bool = Field(default=False, description="Page the person through their own rules.")


class NoteCreate(BaseModel):
    text: str = Field(min_length=1, max_length=5000, examples=["rolled back deploy 412"])


class MilestoneChange(BaseModel):
    name: Milestone = Field(examples=["impact_started"])
    at: BodyInstant


def _acting(
    runtime: Runtime, token: Bearer, incident_id: int, work: Callable[[Session, str], object]
) -> IncidentPublic:
    """Run `work(session, actor)` in one transaction, then show the incident."""

    def run(session: Session) -> dict[str, Any]:
        work(session, actor_of_token(session, token.user_id, token.name))
        return show_incident(session, runtime.config.incidents, incident_id)

    return IncidentPublic.model_validate(read_write(runtime.engine, run))


@router.get("", summary="List incidents, newest first", responses=error_responses(401, 422))
def list_all(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    page: PageDep,
    _token: ViewerDep,
    open_only: Annotated[bool, Query(alias="open", description="Only open incidents.")] = False,
    drill: Annotated[bool, Query(description="Include drills (left out otherwise).")] = False,
) -> Paginated[IncidentSummary]:
    """Incidents with their roles, missing roles and next update due. Needs a viewer token."""
    rows = read_only(
        runtime.engine,
        lambda s: list_incidents(s, runtime.config.incidents, open_only=open_only, drills=drill),
    )
    return slice_page(request, response, page, [IncidentSummary.model_validate(r) for r in rows])


@router.post(
    "", status_code=201, summary="Declare an incident", responses=error_responses(401, 403, 409, 422)
)
def create(body: IncidentCreate, runtime: RuntimeDep, now: NowDep, token: ResponderDep) -> IncidentPublic:
    """Declare an incident, linking services and alerts (an alert already in an open incident is 409).
    Needs a responder token."""

    def run(session: Session) -> dict[str, Any]:
        incident = declare(
            session,
            runtime.config.incidents,
            title=body.title,
            severity=body.severity,
            services=body.services,
            alerts=body.alerts,
            commander=body.commander,
            customer_impact=body.customer_impact,
            drill=body.drill,
            actor=actor_of_token(session, token.user_id, token.name),
            now=now,
        )
        assert incident.id is not None
        return show_incident(session, runtime.config.incidents, incident.id)

    return IncidentPublic.model_validate(read_write(runtime.engine, run))


@router.get("/{incident_id}", summary="Show an incident", responses=error_responses(401, 404))
def show(incident_id: IdPath, runtime: RuntimeDep, _token: ViewerDep) -> IncidentPublic:
    """The incident with its milestones, roles (missing ones listed) and one merged timeline."""
    document = read_only(runtime.engine, lambda s: show_incident(s, runtime.config.incidents, incident_id))
    return IncidentPublic.model_validate(document)


ChangeErrors = error_responses(401, 403, 404, 409, 422)


@router.post("/{incident_id}/status", summary="Change an incident's status", responses=ChangeErrors)
def status(
    incident_id: IdPath, body: StatusChange, runtime: RuntimeDep, now: NowDep, token: ResponderDep
) -> IncidentPublic:
    """Move along the lifecycle (investigating, identified, monitoring, resolved, closed); a move the
    lifecycle refuses is 422, a closed incident 409. Needs a responder token."""
    rules = runtime.config.incidents
    return _acting(
        runtime,
        token,
        incident_id,
        lambda s, actor: change_status(
            s, rules, incident_id, body.status, message=body.message, actor=actor, now=now
        ),
    )


@router.post("/{incident_id}/severity", summary="Change an incident's severity", responses=ChangeErrors)
def severity(
    incident_id: IdPath, body: SeverityChange, runtime: RuntimeDep, now: NowDep, token: ResponderDep
) -> IncidentPublic:
    """Set the severity, with a reason; the update cadence follows. Needs a responder token."""
    rules = runtime.config.incidents
    return _acting(
        runtime,
        token,
        incident_id,
        lambda s, actor: change_severity(
            s, rules, incident_id, body.severity, reason=body.reason, actor=actor, now=now
        ),
    )


@router.post("/{incident_id}/impact", summary="Set whether customers are affected", responses=ChangeErrors)
def impact(
    incident_id: IdPath, body: ImpactChange, runtime: RuntimeDep, now: NowDep, token: ResponderDep
) -> IncidentPublic:
    """Customers affected or not: with impact, status updates fall due on the severity's cadence
    (and an overdue one pages); without, none is due. Needs a responder token."""
    rules = runtime.config.incidents
    return _acting(
        runtime,
        token,
        incident_id,
        lambda s, actor: set_customer_impact(
            s, rules, incident_id, body.customer_impact, reason=body.reason, actor=actor, now=now
        ),
    )


@router.post("/{incident_id}/roles", summary="Assign or hand over a role", responses=ChangeErrors)
def roles(
    incident_id: IdPath, body: RoleAssignment, runtime: RuntimeDep, now: NowDep, token: ResponderDep
) -> IncidentPublic:
    """Give a role to a person (the previous holder's assignment ends, with who and why); `page`
    pages them through their own rules. Needs a responder token."""
    return _acting(
        runtime,
        token,
        incident_id,
        lambda s, actor: assign_role(
            s, incident_id, body.role, body.user, reason=body.reason, page=body.page, actor=actor, now=now
        ),
    )


@router.post("/{incident_id}/notes", summary="Add a note to the timeline", responses=ChangeErrors)
def notes(
    incident_id: IdPath, body: NoteCreate, runtime: RuntimeDep, now: NowDep, token: ResponderDep
) -> IncidentPublic:
    """A scribe's note on the incident's timeline. Needs a responder token."""
    return _acting(
        runtime,
        token,
        incident_id,
        lambda s, actor: add_note(s, incident_id, body.text, actor=actor, now=now),
    )


@router.post("/{incident_id}/milestones", summary="Set or move a milestone", responses=ChangeErrors)
def milestones(
    incident_id: IdPath, body: MilestoneChange, runtime: RuntimeDep, now: NowDep, token: ResponderDep
) -> IncidentPublic:
    """Set a milestone's instant (impact start may be backdated); out of order or in the future is
    422. Needs a responder token."""
    rules = runtime.config.incidents
    return _acting(
        runtime,
        token,
        incident_id,
        lambda s, actor: set_milestone(s, rules, incident_id, body.name, body.at, actor=actor, now=now),
    )
