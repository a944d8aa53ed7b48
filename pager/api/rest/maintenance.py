"""/api/v1/maintenance: start, end early and list maintenance windows (new alerts page nobody)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from pager.api.deps import NowDep, ResponderDep, RuntimeDep, ViewerDep
from pager.api.rest.pages import PageDep, slice_page
from pager.api.rest.schemas import PLAIN_TEXT, IdPath, Instant, Name, Paginated, error_responses
from pager.db.tables import MaintenanceWindowRow
from pager.services.alerting.maintenance import (
    end_window_now,
    list_windows,
    start_window,
    window_length,
    window_state,
)
from pager.services.errors import InvalidInput, NotFound
from pager.services.transactions import read_only, read_write

router = APIRouter(prefix="/maintenance", tags=["maintenance"])


class MaintenanceIn(BaseModel):
    service: Name = Field(examples=["checkout-api"])
    for_: str = Field(
        alias="for",
        max_length=20,
        examples=["2h"],
        description="How long from now: 30m, 2h, 1d (at most 30d).",
    )
    reason: str = Field(default="", max_length=500, pattern=PLAIN_TEXT, examples=["database upgrade"])


class MaintenanceOut(BaseModel):
    id: int = Field(examples=[3])
    service: str = Field(examples=["checkout-api"])
    start: Instant
    end: Instant
    reason: str = Field(examples=["database upgrade"])
    state: str = Field(
        examples=["active"], description="scheduled, active or ended (at the request's instant)."
    )
    created_by: str | None = Field(examples=["api:ops-bot"])
    ended_by: str | None = Field(examples=[None], description="Who ended it early, if anyone did.")


class MaintenanceEndOut(BaseModel):
    window: MaintenanceOut
    released: int = Field(examples=[1], description="How many held alerts were released and paged.")


@router.get("", summary="List maintenance windows, newest first", responses=error_responses(401, 422))
def list_all(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    now: NowDep,
    page: PageDep,
    _token: ViewerDep,
    current: Annotated[bool, Query(description="Only windows not over yet.")] = False,
) -> Paginated[MaintenanceOut]:
    """Ad-hoc windows, newest first (recurring ones are in the policy files). Needs a viewer token."""
    rows = read_only(runtime.engine, lambda s: list_windows(s, now=now, current_only=current, limit=500))
    return slice_page(request, response, page, [window_out(row, now) for row in rows])


@router.post(
    "", status_code=201, summary="Start a maintenance window", responses=error_responses(401, 403, 409, 422)
)
def start(body: MaintenanceIn, runtime: RuntimeDep, now: NowDep, token: ResponderDep) -> MaintenanceOut:
    """Hold `service` from now for `for`: alerts it opens meanwhile are stored as `suppressed` and page
    nobody until the window ends. 409 when another window of the service covers any of that time,
    422 for an unknown service or a bad length. Needs a responder token.
    """
    length = window_length(body.for_)
    try:
        row = read_write(
            runtime.engine,
            lambda session: start_window(
                session, body.service, length, reason=body.reason, by=f"api:{token.name}", now=now
            ),
        )
    except NotFound as exc:  # the service is a field of the body
        raise InvalidInput(str(exc)) from None
    return window_out(row, now)


@router.post(
    "/{window_id}/end",
    summary="End a maintenance window now",
    responses=error_responses(401, 403, 404, 409, 422),
)
def end(window_id: IdPath, runtime: RuntimeDep, now: NowDep, token: ResponderDep) -> MaintenanceEndOut:
    """End the window now: alerts it held are paged from level 1 at once (unless another window still
    holds them). 409 when it has already ended. Needs a responder token."""
    row, released = end_window_now(runtime, window_id, by=f"api:{token.name}", now=now)
    return MaintenanceEndOut(window=window_out(row, now), released=released)


def window_out(row: MaintenanceWindowRow, now: datetime) -> MaintenanceOut:
    """A window as the API shows it."""
    assert row.id is not None
    return MaintenanceOut(
        id=row.id,
        service=row.service_id,
        start=row.start_at,
        end=row.end_at,
        reason=row.reason,
        state=window_state(row, now),
        created_by=row.created_by,
        ended_by=row.ended_by,
    )
