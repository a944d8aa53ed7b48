"""/api/v1 tokens: API bearer tokens and calendar feed tokens. Every route needs an admin token.

API tokens are not tied to a person, so "a person's own calendar token" cannot be told apart from
anyone else's: calendar tokens are admin business too (a responder or viewer asks an admin, or
uses `pager calendar-token create HANDLE`). Plaintext tokens appear once, in the create response.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from pager.api.deps import AdminDep, NowDep, RuntimeDep
from pager.api.rest.pages import PageDep, slice_page
from pager.api.rest.schemas import (
    ApiTokenCreatedOut,
    ApiTokenIn,
    ApiTokenOut,
    CalendarTokenCreatedOut,
    CalendarTokenOut,
    IdPath,
    NamePath,
    Page,
    error_responses,
)
from pager.db.tables import ApiToken, CalendarToken
from pager.services import calendars
from pager.services.tokens import create_api_token, list_api_tokens, revoke_api_token
from pager.services.transactions import read_only, read_write

router = APIRouter(tags=["tokens"])

_READ_ERRORS = error_responses(401, 403, 404, 422)
_WRITE_ERRORS = error_responses(401, 403, 404, 422)


# --- API tokens ----------------------------------------------------------------------------------


@router.get("/tokens", summary="List API tokens", responses=error_responses(401, 403, 422))
def list_tokens(
    request: Request, response: Response, runtime: RuntimeDep, page: PageDep, _token: AdminDep
) -> Page[ApiTokenOut]:
    """Every API token, revoked ones included (never the token itself). Needs an admin token."""
    return slice_page(
        request, response, page, [api_token_out(row) for row in read_only(runtime.engine, list_api_tokens)]
    )


@router.post(
    "/tokens", status_code=201, summary="Create an API token", responses=error_responses(401, 403, 422)
)
def create_token(body: ApiTokenIn, runtime: RuntimeDep, now: NowDep, _token: AdminDep) -> ApiTokenCreatedOut:
    """A new bearer token with `role`; the response is the only place it is ever shown. Needs admin."""
    row, plaintext = read_write(
        runtime.engine, lambda s: create_api_token(s, role=body.role, name=body.name, now=now)
    )
    return ApiTokenCreatedOut(**api_token_out(row).model_dump(), token=plaintext)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token", responses=_WRITE_ERRORS)
def revoke_token(token_id: IdPath, runtime: RuntimeDep, now: NowDep, _token: AdminDep) -> Response:
    """The token stops working at once (its row stays, with `revoked_at`). Needs an admin token."""
    read_write(runtime.engine, lambda s: revoke_api_token(s, token_id, now))
    return Response(status_code=204)


# --- calendar tokens -----------------------------------------------------------------------------


@router.get(
    "/users/{handle}/calendar-tokens", summary="List a person's calendar tokens", responses=_READ_ERRORS
)
def list_user_calendar_tokens(
    handle: NamePath,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    page: PageDep,
    _token: AdminDep,
) -> Page[CalendarTokenOut]:
    """Tokens of the person's feed, revoked ones included. Needs an admin token."""
    found = read_only(runtime.engine, lambda s: calendars.user_feed_tokens(s, handle))
    rows = [calendar_token_out(row, "user", handle) for row in found]
    return slice_page(request, response, page, rows)


@router.post(
    "/users/{handle}/calendar-tokens",
    status_code=201,
    summary="Create a token for a person's calendar feed",
    responses=_WRITE_ERRORS,
)
def create_user_calendar_token(
    handle: NamePath, runtime: RuntimeDep, now: NowDep, _token: AdminDep
) -> CalendarTokenCreatedOut:
    """A new feed token and the full feed URL; shown only in this response. Needs an admin token."""
    row, plaintext = read_write(runtime.engine, lambda s: calendars.create_user_feed_token(s, handle, now))
    url = calendars.user_feed_url(runtime.settings.public_url, handle, plaintext)
    return CalendarTokenCreatedOut(
        **calendar_token_out(row, "user", handle).model_dump(), token=plaintext, url=url
    )


@router.delete(
    "/users/{handle}/calendar-tokens/{token_id}",
    status_code=204,
    summary="Revoke a person's calendar token",
    responses=_WRITE_ERRORS,
)
def revoke_user_calendar_token(
    handle: NamePath, token_id: IdPath, runtime: RuntimeDep, now: NowDep, _token: AdminDep
) -> Response:
    """The feed URL with that token answers 404 from now on. Needs an admin token."""
    read_write(runtime.engine, lambda s: calendars.revoke_user_feed_token(s, handle, token_id, now))
    return Response(status_code=204)


@router.get(
    "/schedules/{schedule_id}/calendar-tokens",
    summary="List a schedule's calendar tokens",
    responses=_READ_ERRORS,
)
def list_schedule_calendar_tokens(
    schedule_id: NamePath,
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    page: PageDep,
    _token: AdminDep,
) -> Page[CalendarTokenOut]:
    """Tokens of the schedule's feed, revoked ones included. Needs an admin token."""
    rows = [
        calendar_token_out(row, "schedule", schedule_id)
        for row in read_only(runtime.engine, lambda s: calendars.schedule_feed_tokens(s, schedule_id))
    ]
    return slice_page(request, response, page, rows)


@router.post(
    "/schedules/{schedule_id}/calendar-tokens",
    status_code=201,
    summary="Create a token for a schedule's calendar feed",
    responses=_WRITE_ERRORS,
)
def create_schedule_calendar_token(
    schedule_id: NamePath, runtime: RuntimeDep, now: NowDep, _token: AdminDep
) -> CalendarTokenCreatedOut:
    """A new feed token and the full feed URL; shown only in this response. Needs an admin token."""
    row, plaintext = read_write(
        runtime.engine,
        lambda s: calendars.create_schedule_feed_token(s, runtime.config, schedule_id, now),
    )
    url = calendars.schedule_feed_url(runtime.settings.public_url, schedule_id, plaintext)
    return CalendarTokenCreatedOut(
        **calendar_token_out(row, "schedule", schedule_id).model_dump(), token=plaintext, url=url
    )


@router.delete(
    "/schedules/{schedule_id}/calendar-tokens/{token_id}",
    status_code=204,
    summary="Revoke a schedule's calendar token",
    responses=_WRITE_ERRORS,
)
def revoke_schedule_calendar_token(
    schedule_id: NamePath, token_id: IdPath, runtime: RuntimeDep, now: NowDep, _token: AdminDep
) -> Response:
    """The feed URL with that token answers 404 from now on. Needs an admin token."""
    read_write(runtime.engine, lambda s: calendars.revoke_schedule_feed_token(s, schedule_id, token_id, now))
    return Response(status_code=204)


def api_token_out(row: ApiToken) -> ApiTokenOut:
    return ApiTokenOut(
        id=row.id or 0,
        role=row.role,
        name=row.name,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def calendar_token_out(row: CalendarToken, feed: str, target: str) -> CalendarTokenOut:
    return CalendarTokenOut(
        id=row.id or 0,
        feed="schedule" if feed == "schedule" else "user",
        target=target,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
