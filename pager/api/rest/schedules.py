"""/api/v1/schedules: the loaded schedules, who is on call at an instant, and shifts in a window."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from pager.api.deps import NowDep, RuntimeDep, ViewerDep
from pager.api.rest.pages import PageDep, slice_page
from pager.api.rest.schemas import (
    LayerOut,
    NamePath,
    OnCallOut,
    Paginated,
    RoleName,
    ScheduleOut,
    ShiftOut,
    ShiftsOut,
    error_responses,
    in_range,
)
from pager.core.localtime import parse_instant
from pager.core.model import ROLES, RotationLayer, Schedule
from pager.services.calendars.shifts import on_call_at, require_schedule, schedule_shifts
from pager.services.errors import InvalidInput
from pager.services.transactions import read_only

router = APIRouter(prefix="/schedules", tags=["schedules"])

# An unencoded `+01:00` offset reaches us as ` 01:00` (a `+` in a query string means a space).
_DECODED_PLUS = re.compile(r"^(.*\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)$")


@router.get("", summary="List schedules", responses=error_responses(401, 422))
def list_all(
    request: Request, response: Response, runtime: RuntimeDep, page: PageDep, _token: ViewerDep
) -> Paginated[ScheduleOut]:
    """Every loaded schedule (from schedules/*.yaml) by id. Needs a viewer token."""
    schedules = runtime.config.schedules
    return slice_page(request, response, page, [schedule_out(schedules[sid]) for sid in sorted(schedules)])


@router.get("/{schedule_id}", summary="One schedule and its layers", responses=error_responses(401, 404))
def show(schedule_id: NamePath, runtime: RuntimeDep, _token: ViewerDep) -> ScheduleOut:
    """The schedule with this id. Needs a viewer token."""
    return schedule_out(require_schedule(runtime.config, schedule_id))


@router.get(
    "/{schedule_id}/on-call",
    summary="Who is on call at an instant",
    responses=error_responses(401, 404, 422),
)
def on_call(
    schedule_id: NamePath,
    runtime: RuntimeDep,
    now: NowDep,
    _token: ViewerDep,
    at: Annotated[
        str | None,
        Query(
            description="The instant, ISO 8601 with a UTC offset (default: now); a naive time is refused.",
            examples=["2026-03-08T08:30:00+00:00"],
        ),
    ] = None,
) -> OnCallOut:
    """Primary and secondary at `at` (default now), overrides included. Needs a viewer token."""
    instant = query_instant(at) if at is not None else now
    found = read_only(
        runtime.engine, lambda session: on_call_at(session, runtime.config, schedule_id, instant)
    )
    return OnCallOut(
        schedule=found.schedule,
        at=found.at,
        primary=found.primary,
        secondary=found.secondary,
        primary_source=found.primary_source,
        secondary_source=found.secondary_source,
    )


@router.get(
    "/{schedule_id}/shifts",
    summary="Final shifts in a window",
    responses=error_responses(401, 404, 422),
)
def shifts(
    schedule_id: NamePath,
    runtime: RuntimeDep,
    _token: ViewerDep,
    start: Annotated[
        str,
        Query(
            alias="from",
            description="Window start, ISO 8601 with offset.",
            examples=["2026-03-01T00:00:00+00:00"],
        ),
    ],
    end: Annotated[
        str,
        Query(
            alias="to",
            description="Window end (exclusive), ISO 8601 with offset.",
            examples=["2026-03-15T00:00:00+00:00"],
        ),
    ],
    role: Annotated[RoleName | None, Query(description="Only this role (default: both).")] = None,
) -> ShiftsOut:
    """Final shifts in [from, to) (at most 400 days): merged per person, clipped, overrides applied.

    Needs a viewer token.
    """
    window_start, window_end = query_instant(start), query_instant(end)
    roles = [role] if role else list(ROLES)
    found = read_only(
        runtime.engine,
        lambda session: schedule_shifts(
            session, runtime.config, schedule_id, window_start, window_end, roles
        ),
    )
    return ShiftsOut(
        schedule=schedule_id,
        start=window_start,
        end=window_end,
        items=[ShiftOut(role=s.role, user=s.user, start=s.start, end=s.end) for s in found],
    )


def query_instant(text: str) -> datetime:
    """An instant from a query parameter; `2026-03-08T08:30:00 00:00` is read as the `+00:00` it was."""
    try:
        parsed = parse_instant(_DECODED_PLUS.sub(r"\1+\2", text.strip()))
    except OverflowError:
        raise InvalidInput(f"{text!r} is out of range") from None
    return in_range(parsed)


def schedule_out(schedule: Schedule) -> ScheduleOut:
    """A schedule as the API shows it."""
    layers = []
    for layer in schedule.layers:
        if isinstance(layer, RotationLayer):
            layers.append(
                LayerOut(
                    name=layer.name,
                    kind="rotation",
                    role=layer.role,
                    members=list(layer.members),
                    shift=str(layer.shift) if layer.shift else None,
                    handoff=layer.handoff_rrule,
                )
            )
        else:
            layers.append(
                LayerOut(name=layer.name, kind="ical", role=layer.role, members=[], shift=None, handoff=None)
            )
    return ScheduleOut(id=schedule.id, name=schedule.name, time_zone=schedule.time_zone, layers=layers)
