"""/api/v1/overrides: add, remove, replace or swap who holds a schedule's role for a while."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from pager.api.deps import NowDep, ResponderDep, RuntimeDep, ViewerDep
from pager.api.rest.pages import PageDep, page_of
from pager.api.rest.schedules import query_instant
from pager.api.rest.schemas import (
    NAME_PATTERN,
    IdPath,
    OverrideIn,
    OverrideOut,
    Paginated,
    SwapIn,
    error_responses,
)
from pager.db.tables import OverrideRow
from pager.services.calendars.overrides import create_override, delete_override, list_overrides, swap_shifts
from pager.services.errors import InvalidInput, NotFound
from pager.services.transactions import read_only, read_write

router = APIRouter(prefix="/overrides", tags=["overrides"])


@router.get("", summary="List overrides", responses=error_responses(401, 422))
def list_all(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    page: PageDep,
    _token: ViewerDep,
    schedule: Annotated[
        str | None, Query(pattern=NAME_PATTERN, max_length=100, description="Only this schedule's overrides.")
    ] = None,
    ending_after: Annotated[
        str | None,
        Query(
            description="Only overrides ending after this instant (in force or to come then), ISO 8601 "
            "with a UTC offset.",
            examples=["2026-03-08T08:30:00+00:00"],
        ),
    ] = None,
) -> Paginated[OverrideOut]:
    """Stored overrides, oldest first (where two overlap, the later one wins). Needs a viewer token."""
    after = query_instant(ending_after) if ending_after is not None else None
    rows = read_only(
        runtime.engine,
        lambda s: list_overrides(s, schedule, ending_after=after, limit=page.limit + 1, offset=page.offset),
    )
    return page_of(request, response, page, [override_out(row) for row in rows])


@router.post(
    "",
    status_code=201,
    summary="Create an override",
    responses=error_responses(401, 403, 422),
)
def create(body: OverrideIn, runtime: RuntimeDep, now: NowDep, token: ResponderDep) -> OverrideOut:
    """Change who holds `role` of `schedule` in [start, end). Needs a responder token.

    `kind` add (default): `user` holds the role, beating every layer; remove: `user` does not (the
    next member of their rotation stands in, else the layers below decide); replace: `user` holds it
    wherever `instead_of` would. 422 when the end is not after the start, the role or kind is
    unknown, the schedule or a user is unknown, `instead_of` is missing (replace) or given (other
    kinds), or the person removed or replaced does not hold the role in the window.
    """
    try:
        row = read_write(
            runtime.engine,
            lambda session: create_override(
                session,
                runtime.config,
                kind=body.kind,
                schedule_id=body.schedule,
                role=body.role,
                user=body.user,
                instead_of=body.instead_of,
                start=body.start,
                end=body.end,
                now=now,
                created_by=f"api:{token.name}",
            ),
        )
    except NotFound as exc:
        # The schedule and user are fields of the body: naming an unknown one is invalid input.
        raise InvalidInput(str(exc)) from None
    return override_out(row)


@router.post(
    "/swap",
    status_code=201,
    summary="Swap two shifts",
    responses=error_responses(401, 403, 422),
)
def swap(body: SwapIn, runtime: RuntimeDep, now: NowDep, token: ResponderDep) -> list[OverrideOut]:
    """`user`'s shift containing `at` goes to `with_user`, and `with_user`'s containing `with_at` to
    `user`. Stored as two `replace` overrides, returned in that order. Needs a responder token.

    422 when the schedule or a user is unknown, the two are one person, or an instant is not in the
    named person's shift.
    """
    try:
        rows = read_write(
            runtime.engine,
            lambda session: swap_shifts(
                session,
                runtime.config,
                schedule_id=body.schedule,
                role=body.role,
                user=body.user,
                user_at=body.at,
                other=body.with_user,
                other_at=body.with_at,
                now=now,
                created_by=f"api:{token.name}",
            ),
        )
    except NotFound as exc:
        raise InvalidInput(str(exc)) from None
    return [override_out(row) for row in rows]


@router.delete(
    "/{override_id}",
    status_code=204,
    summary="Delete an override",
    responses=error_responses(401, 403, 404, 422),
)
def delete(override_id: IdPath, runtime: RuntimeDep, _token: ResponderDep) -> Response:
    """Remove the override; the layers decide again for its span. Needs a responder token."""
    read_write(runtime.engine, lambda session: delete_override(session, override_id))
    return Response(status_code=204)


def override_out(row: OverrideRow) -> OverrideOut:
    """An override as the API shows it (same keys as `pager override list --json`)."""
    return OverrideOut(
        id=row.id or 0,
        schedule=row.schedule_id,
        kind=row.kind,
        role=row.role,
        user=row.user_handle,
        instead_of=row.instead_of,
        start=row.start,
        end=row.end,
        created_by=row.created_by,
        created_at=row.created_at,
    )
