"""/api/v1 tokens: API bearer tokens and calendar feed tokens. Every route needs an admin token.

API tokens are not tied to a person, so "a person's own calendar token" cannot be told apart from
anyone else's: calendar tokens are admin business too (a responder or viewer asks an admin, or
uses `pager calendar-token create HANDLE`). Plaintext tokens appear once, in the create response.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from pager.api.deps import AdminDep, NowDep, RuntimeDep
from pager.api.rest.pages import PageDep, slice_page
from pager.api.rest.schemas import (
    NAME_PATTERN,
    ApiTokenCreatedOut,
    ApiTokenIn,
    ApiTokenOut,
    CalendarTokenCreatedOut,
    CalendarTokenOut,
    IdPath,
    Paginated,
    error_responses,
)
from pager.db.tables import ApiToken, CalendarToken
from pager.services.calendars import shifts as calendars
from pager.services.calendars.shifts import FeedKind, FeedTarget
from pager.services.people.tokens import api_tokens_with_owners, create_api_token, revoke_api_token
from pager.services.transactions import read_only, read_write

router = APIRouter(tags=["tokens"])

_READ_ERRORS = error_responses(401, 403, 404, 422)
_WRITE_ERRORS = error_responses(401, 403, 404, 422)
_SHOWN_ONCE = "A new feed token and the full feed URL; shown only in this response. Needs an admin token."


# --- API tokens ----------------------------------------------------------------------------------


@router.get("/tokens", summary="List API tokens", responses=error_responses(401, 403, 422))
def list_tokens(
    request: Request, response: Response, runtime: RuntimeDep, page: PageDep, _token: AdminDep
) -> Paginated[ApiTokenOut]:
    """Every API token, revoked ones included (never the token itself). Needs an admin token."""
    owned = read_only(runtime.engine, api_tokens_with_owners)
    return slice_page(request, response, page, [api_token_out(row, user) for row, user in owned])


@router.post(
    "/tokens", status_code=201, summary="Create an API token", responses=error_responses(401, 403, 404, 422)
)
def create_token(body: ApiTokenIn, runtime: RuntimeDep, now: NowDep, _token: AdminDep) -> ApiTokenCreatedOut:
    """A new bearer token with `role`; the response is the only place it is ever shown. Needs admin."""
    row, plaintext = read_write(
        runtime.engine,
        lambda s: create_api_token(s, role=body.role, name=body.name, now=now, user=body.user),
    )
    return ApiTokenCreatedOut(**api_token_out(row, body.user).model_dump(), token=plaintext)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token", responses=_WRITE_ERRORS)
def revoke_token(token_id: IdPath, runtime: RuntimeDep, now: NowDep, _token: AdminDep) -> Response:
    """The token stops working at once (its row stays, with `revoked_at`). Needs an admin token."""
    read_write(runtime.engine, lambda s: revoke_api_token(s, token_id, now))
    return Response(status_code=204)


# --- calendar tokens -----------------------------------------------------------------------------


def _add_calendar_token_routes(kind: FeedKind, folder: str, param: str, owner: str) -> None:
    """List, create and revoke tokens of one kind of feed, under `/{folder}/{param}/calendar-tokens`.

    `owner` says whose feed it is in the summaries ("a person's"); the path parameter keeps the name
    `param` (`handle`, `schedule_id`) in the URL, the OpenAPI document and validation errors.
    """
    path = f"/{folder}/{{{param}}}/calendar-tokens"
    the_owner = owner.replace("a ", "the ", 1)
    # A local alias: this module has no `from __future__ import annotations`, so FastAPI sees it.
    TargetPath = Annotated[
        str, Path(alias=param, pattern=NAME_PATTERN, max_length=100, description="An id or handle.")
    ]

    def list_feed_tokens(
        target_id: TargetPath,
        request: Request,
        response: Response,
        runtime: RuntimeDep,
        page: PageDep,
        _token: AdminDep,
    ) -> Paginated[CalendarTokenOut]:
        target = FeedTarget(kind, target_id)
        found = read_only(runtime.engine, lambda s: calendars.feed_tokens(s, target))
        return slice_page(request, response, page, [calendar_token_out(row, target) for row in found])

    def create_feed_token(
        target_id: TargetPath, runtime: RuntimeDep, now: NowDep, _token: AdminDep
    ) -> CalendarTokenCreatedOut:
        target = FeedTarget(kind, target_id)
        row, plaintext = read_write(
            runtime.engine, lambda s: calendars.create_feed_token(s, target, now, runtime.config)
        )
        url = calendars.feed_url(runtime.settings.public_url, target, plaintext)
        return CalendarTokenCreatedOut(
            **calendar_token_out(row, target).model_dump(), token=plaintext, url=url
        )

    def revoke_feed_token(
        target_id: TargetPath, token_id: IdPath, runtime: RuntimeDep, now: NowDep, _token: AdminDep
    ) -> Response:
        target = FeedTarget(kind, target_id)
        read_write(runtime.engine, lambda s: calendars.revoke_feed_token(s, target, token_id, now))
        return Response(status_code=204)

    router.add_api_route(
        path,
        list_feed_tokens,
        methods=["GET"],
        name=f"list_{kind}_calendar_tokens",
        summary=f"List {owner} calendar tokens",
        description=f"Tokens of {the_owner} feed, revoked ones included. Needs an admin token.",
        responses=_READ_ERRORS,
    )
    router.add_api_route(
        path,
        create_feed_token,
        methods=["POST"],
        name=f"create_{kind}_calendar_token",
        status_code=201,
        summary=f"Create a token for {owner} calendar feed",
        description=_SHOWN_ONCE,
        responses=_WRITE_ERRORS,
    )
    router.add_api_route(
        f"{path}/{{token_id}}",
        revoke_feed_token,
        methods=["DELETE"],
        name=f"revoke_{kind}_calendar_token",
        status_code=204,
        summary=f"Revoke {owner} calendar token",
        description="The feed URL with that token answers 404 from now on. Needs an admin token.",
        responses=_WRITE_ERRORS,
    )


_add_calendar_token_routes("user", "users", "handle", "a person's")
_add_calendar_token_routes("schedule", "schedules", "schedule_id", "a schedule's")


def api_token_out(row: ApiToken, user: str | None = None) -> ApiTokenOut:
    return ApiTokenOut(
        id=row.id or 0,
        role=row.role,
        name=row.name,
        user=user,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def calendar_token_out(row: CalendarToken, target: FeedTarget) -> CalendarTokenOut:
    return CalendarTokenOut(
        id=row.id or 0,
        feed=target.kind,
        target=target.id,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
