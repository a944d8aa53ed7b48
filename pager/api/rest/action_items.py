"""/api/v1/action-items: add, list and complete incidents' action items (docs/incidents.md,
"Action items"). Viewers read; responders add and complete."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from pager.api.deps import MAX_ID, NowDep, ResponderDep, RuntimeDep, ViewerDep
from pager.api.rest.pages import PageDep, slice_page
from pager.api.rest.schemas import PLAIN_TEXT, IdPath, Name, Paginated, error_responses
from pager.services.errors import InvalidInput, NotFound
from pager.services.incidents.action_items import (
    MAX_LINK,
    MAX_TITLE,
    ActionItemView,
    add_action_item,
    complete_action_item,
    list_action_items,
)
from pager.services.incidents.records import actor_of_token
from pager.services.transactions import read_only, read_write

router = APIRouter(prefix="/action-items", tags=["action items"])


class ActionItemIn(BaseModel):
    incident: int = Field(ge=1, le=MAX_ID, examples=[5], description="The incident's id.")
    title: str = Field(min_length=1, max_length=MAX_TITLE, pattern=PLAIN_TEXT, examples=["Add a canary"])
    owner: Name = Field(examples=["bob"], description="Who does it (a handle).")
    due: date = Field(examples=["2026-03-09"], description="Due date in the owner's zone.")
    link: str | None = Field(
        default=None, max_length=MAX_LINK, examples=["https://tickets.example.com/OPS-1"]
    )


class ActionItemOut(BaseModel):
    id: int = Field(examples=[4])
    incident_id: int = Field(examples=[5])
    incident_number: int = Field(examples=[5])
    title: str = Field(examples=["Add a canary"])
    owner: str = Field(examples=["bob"])
    due_on: str = Field(examples=["2026-03-09"])
    status: str = Field(examples=["open"], description="open or done.")
    overdue: bool = Field(examples=[False], description="Open and due before today in the owner's zone.")
    drill: bool = Field(examples=[False])
    link: str | None = Field(examples=["https://tickets.example.com/OPS-1"])
    created_by: str = Field(examples=["alice"])
    created_at: str = Field(examples=["2026-03-04T16:30:00+00:00"])
    done_at: str | None = Field(examples=[None])


def item_out(item: ActionItemView) -> ActionItemOut:
    return ActionItemOut.model_validate(item.document())


@router.get("", summary="List action items by due date", responses=error_responses(401, 404))
def list_all(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    now: NowDep,
    page: PageDep,
    _token: ViewerDep,
    overdue: Annotated[
        bool, Query(description="Only open items due before today in their owner's zone.")
    ] = False,
    include_done: Annotated[bool, Query(alias="all", description="Done items too.")] = False,
    drill: Annotated[bool, Query(description="Include drills' items (left out otherwise).")] = False,
    incident: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this incident's.")] = None,
) -> Paginated[ActionItemOut]:
    """Open action items (with `all`, done ones too), by due date. Needs a viewer token."""
    items = read_only(
        runtime.engine,
        lambda s: list_action_items(
            s, now, overdue=overdue, include_done=include_done, drill=drill, incident_id=incident
        ),
    )
    return slice_page(request, response, page, [item_out(item) for item in items])


@router.post("", status_code=201, summary="Add an action item", responses=error_responses(401, 403, 409, 422))
def create(body: ActionItemIn, runtime: RuntimeDep, now: NowDep, token: ResponderDep) -> ActionItemOut:
    """Add an open action item to an incident: 422 for an unknown incident or owner or a bad link,
    409 when the incident has an item of that title. Needs a responder token."""

    def run(session: Session) -> ActionItemView:
        return add_action_item(
            session,
            body.incident,
            title=body.title,
            owner=body.owner,
            due=body.due,
            link=body.link,
            by=actor_of_token(session, token.user_id, token.name),
            now=now,
        )

    try:
        return item_out(read_write(runtime.engine, run))
    except NotFound as exc:  # the incident is a field of the body
        raise InvalidInput(str(exc)) from None


@router.post("/{item_id}/done", summary="Mark an action item done", responses=error_responses(401, 403, 404))
def done(item_id: IdPath, runtime: RuntimeDep, now: NowDep, token: ResponderDep) -> ActionItemOut:
    """Mark it done (done again changes nothing). Needs a responder token."""

    def run(session: Session) -> ActionItemView:
        actor = actor_of_token(session, token.user_id, token.name)
        return complete_action_item(session, item_id, by=actor, now=now)

    return item_out(read_write(runtime.engine, run))
