"""/api/v1/incidents/{id}/postmortem: show, edit and move an incident's postmortem
(docs/incidents.md, "Postmortems"). Viewers read; responders edit and move. The actor on the
timeline is the person a token is tied to, else `token:<name>`.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlmodel import Session

from pager.api.deps import NowDep, ResponderDep, RuntimeDep, ViewerDep
from pager.api.rest.schemas import IdPath, error_responses
from pager.core.incident_model import PostmortemStatus
from pager.services.incidents.postmortems import (
    MAX_BODY_CHARS,
    edit_postmortem,
    move_postmortem,
    postmortem_document,
)
from pager.services.incidents.records import actor_of_token
from pager.services.transactions import read_only, read_write

router = APIRouter(prefix="/incidents", tags=["postmortems"])


class PostmortemOut(BaseModel):
    id: int = Field(examples=[2])
    incident_id: int = Field(examples=[5])
    incident_number: int = Field(examples=[5])
    title: str = Field(examples=["Checkout errors"])
    drill: bool = Field(examples=[False])
    status: PostmortemStatus = Field(examples=["draft"], description="draft, in_review or published.")
    due_at: str = Field(examples=["2026-03-09T16:30:00+00:00"])
    published_at: str | None = Field(examples=[None])
    created_at: str = Field(examples=["2026-03-04T16:30:00+00:00"])
    updated_at: str = Field(examples=["2026-03-04T16:30:00+00:00"])
    mtta_seconds: int | None = Field(examples=[180], description="This incident's time to acknowledge.")
    mttr_seconds: int | None = Field(examples=[6000], description="This incident's time to resolve.")
    body: str = Field(examples=["# Postmortem: incident 5 — Checkout errors\n..."])


class PostmortemEdit(BaseModel):
    body: str = Field(min_length=1, max_length=MAX_BODY_CHARS, description="The whole Markdown body.")


class PostmortemMove(BaseModel):
    status: PostmortemStatus = Field(
        examples=["in_review"], description="draft -> in_review -> published; in_review -> draft."
    )


@router.get(
    "/{incident_id}/postmortem", summary="Show an incident's postmortem", responses=error_responses(401, 404)
)
def show(incident_id: IdPath, runtime: RuntimeDep, _token: ViewerDep) -> PostmortemOut:
    """The postmortem (opened as a draft when the incident is resolved): its state, this incident's
    MTTA and MTTR and its Markdown body. 404 when the incident has none yet. Needs a viewer token."""
    return PostmortemOut.model_validate(
        read_only(runtime.engine, lambda s: postmortem_document(s, incident_id))
    )


@router.put(
    "/{incident_id}/postmortem",
    summary="Replace a postmortem's body",
    responses=error_responses(401, 403, 404, 409),
)
def edit(
    incident_id: IdPath, body: PostmortemEdit, runtime: RuntimeDep, now: NowDep, token: ResponderDep
) -> PostmortemOut:
    """Replace the Markdown body; 409 once published. Needs a responder token."""

    def run(session: Session) -> PostmortemOut:
        actor = actor_of_token(session, token.user_id, token.name)
        edit_postmortem(session, incident_id, body.body, by=actor, now=now)
        return PostmortemOut.model_validate(postmortem_document(session, incident_id))

    return read_write(runtime.engine, run)


@router.post(
    "/{incident_id}/postmortem/status",
    summary="Move a postmortem along draft, in_review, published",
    responses=error_responses(401, 403, 404, 409),
)
def move(
    incident_id: IdPath, body: PostmortemMove, runtime: RuntimeDep, now: NowDep, token: ResponderDep
) -> PostmortemOut:
    """draft -> in_review -> published, or back from in_review to draft; any other move is 409 and
    changes nothing. Publishing is final and ends the commander's reminder. Needs a responder token."""

    def run(session: Session) -> PostmortemOut:
        actor = actor_of_token(session, token.user_id, token.name)
        move_postmortem(session, incident_id, body.status, by=actor, now=now)
        return PostmortemOut.model_validate(postmortem_document(session, incident_id))

    return read_write(runtime.engine, run)
