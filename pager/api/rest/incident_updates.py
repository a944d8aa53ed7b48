"""/api/v1/incidents/{id}/updates: post a status update (it ends an overdue ladder) and list them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from pager.api.deps import NowDep, ResponderDep, RuntimeDep, ViewerDep
from pager.api.rest.pages import PageDep, slice_page
from pager.api.rest.schemas import IdPath, Instant, Paginated, error_responses
from pager.core.incident_model import IncidentStatus
from pager.db.incident_tables import StatusUpdate
from pager.services.incidents.records import actor_of_token
from pager.services.incidents.updates import MAX_UPDATE_LENGTH, post_update_on, updates_of
from pager.services.transactions import read_only, read_write

router = APIRouter(prefix="/incidents", tags=["incidents"])

# Text as stored: line breaks and tabs allowed, no other control characters (Postgres refuses NUL).
UPDATE_TEXT = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"


class UpdateIn(BaseModel):
    text: Annotated[str, Field(min_length=1, max_length=MAX_UPDATE_LENGTH, pattern=UPDATE_TEXT)] = Field(
        examples=["Rolled back the 14:02 deploy; error rate back to normal. Next update 15:30 UTC."]
    )
    public: bool = Field(default=False, description="Shown to customers (status page) or internal.")
    status: IncidentStatus | None = Field(
        default=None, examples=["monitoring"], description="Move the incident to this status too."
    )


class UpdateOut(BaseModel):
    id: int = Field(examples=[4])
    incident_id: int = Field(examples=[12])
    at: Instant
    author: str = Field(examples=["alice"], description="A handle, or `token:<name>` for a token.")
    text: str = Field(examples=["Rolled back the 14:02 deploy; error rate back to normal."])
    public: bool = Field(examples=[True])
    status: str | None = Field(examples=["monitoring"], description="The status it moved the incident to.")


@router.post(
    "/{incident_id}/updates",
    status_code=201,
    summary="Post a status update",
    responses=error_responses(401, 403, 404, 409, 422),
)
def post(
    incident_id: IdPath, body: UpdateIn, runtime: RuntimeDep, now: NowDep, token: ResponderDep
) -> UpdateOut:
    """Post a status update on an open incident: the next one falls due `update_every` after it, and
    the pages of an overdue update still pending are cancelled (docs/incidents.md, "Status
    updates"). With `status`, the incident moves to it too. 404 for an unknown incident, 409 once it
    is resolved or closed, 422 for empty text or an unknown status. Needs a responder token."""
    rules = runtime.config.incidents
    row = read_write(
        runtime.engine,
        lambda session: post_update_on(
            session,
            incident_id,
            body.text,
            body.public,
            body.status,
            actor_of_token(session, token.user_id, token.name),
            now,
            rules,
        ),
    )
    return update_out(row)


@router.get(
    "/{incident_id}/updates",
    summary="List an incident's status updates, oldest first",
    responses=error_responses(401, 404),
)
def list_all(
    incident_id: IdPath,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    page: PageDep,
    _token: ViewerDep,
) -> Paginated[UpdateOut]:
    """The incident's status updates, oldest first. 404 for an unknown incident. Needs a viewer token."""
    rows = read_only(runtime.engine, lambda session: updates_of(session, incident_id))
    return slice_page(request, response, page, [update_out(row) for row in rows])


def update_out(row: StatusUpdate) -> UpdateOut:
    """A status update as the API shows it."""
    assert row.id is not None
    return UpdateOut(
        id=row.id,
        incident_id=row.incident_id,
        at=row.at,
        author=row.author,
        text=row.message,
        public=row.public,
        status=row.status,
    )
