"""The board (`/`: who is on call now and next, per schedule) and a schedule's page with its timeline
and the override form. Overrides go through the API's own service (calendars.overrides)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import Response

from pager.api.console.web import CsrfDep, LoggedInDep, require
from pager.core.localtime import localize, zone
from pager.core.model import Handoff, OnCall, Role
from pager.core.timeline import schedule_timeline
from pager.services.calendars.on_call_board import on_call_board
from pager.services.calendars.overrides import create_override, list_overrides, overrides_of
from pager.services.calendars.shifts import require_schedule
from pager.services.errors import DomainError, NotFound
from pager.services.transactions import read_only, read_write

router = APIRouter(include_in_schema=False)

TIMELINE_DAYS = (14, 21, 28)


@dataclass(frozen=True)
class BoardRow:
    schedule_id: str
    name: str
    time_zone: str
    on_call: OnCall
    next: dict[Role, Handoff | None]


@router.get("/")
def board(page: LoggedInDep) -> Response:
    """Every schedule: primary and secondary now (stored overrides applied) and each role's next handoff."""
    schedules = page.runtime.config.schedules
    now = page.now.replace(microsecond=0)
    rows = [
        BoardRow(
            row.schedule_id,
            schedules[row.schedule_id].name,
            schedules[row.schedule_id].time_zone,
            row.on_call,
            row.next,
        )
        for row in on_call_board(page.runtime.engine, schedules, now)
    ]
    return page.render("board.html", rows=rows, now=now)


def _schedule_page(
    page: LoggedInDep, schedule_id: str, days: int, status_code: int = 200, **extra: object
) -> Response:
    schedule = require_schedule(page.runtime.config, schedule_id)
    start = page.now.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(days=days)
    overrides = overrides_of(page.runtime.engine, [schedule_id], start, end)
    timeline = schedule_timeline(schedule, overrides, start, end)
    stored = read_only(
        page.runtime.engine, lambda session: list_overrides(session, schedule_id, ending_after=page.now)
    )
    members = sorted({m for layer in schedule.layers for m in getattr(layer, "members", ())})
    return page.render(
        "schedule.html",
        status_code=status_code,
        schedule=schedule,
        timeline=timeline,
        stored=stored,
        members=members,
        days=days,
        day_choices=TIMELINE_DAYS,
        **extra,
    )


@router.get("/schedules/{schedule_id}")
def schedule_page(
    page: LoggedInDep, schedule_id: str, days: Annotated[int, Query(ge=14, le=28)] = 14
) -> Response:
    """The timeline of the coming weeks (layers, overrides, gaps in red) and the override form."""
    return _schedule_page(page, schedule_id, days)


@router.post("/schedules/{schedule_id}/overrides")
def add_override(
    page: CsrfDep,
    schedule_id: str,
    role: Annotated[str, Form(max_length=16)],
    kind: Annotated[str, Form(max_length=16)],
    user: Annotated[str, Form(max_length=64)],
    start: Annotated[str, Form(max_length=40)],
    end: Annotated[str, Form(max_length=40)],
    instead_of: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Create an override through the API's service; its errors are shown above the form (422)."""
    visitor = require(page, "responder")
    schedule = require_schedule(page.runtime.config, schedule_id)
    try:
        starts, ends = _local(start, schedule.time_zone), _local(end, schedule.time_zone)
        read_write(
            page.runtime.engine,
            lambda session: create_override(
                session,
                page.runtime.config,
                kind=kind,
                schedule_id=schedule_id,
                role=role,
                user=user.strip(),
                instead_of=instead_of.strip() or None,
                start=starts,
                end=ends,
                now=page.now,
                created_by=visitor.actor,
            ),
        )
    except (DomainError, ValueError) as exc:
        if isinstance(exc, NotFound) and "schedule" in str(exc):
            raise
        return _schedule_page(page, schedule_id, TIMELINE_DAYS[0], status_code=422, error=str(exc))
    return page.redirect(f"/schedules/{schedule_id}")


def _local(text: str, time_zone: str) -> datetime:
    """A `datetime-local` field's value (naive wall time) in the schedule's zone, as an instant."""
    try:
        wall = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    if wall.tzinfo is not None:
        return wall
    return localize(wall, zone(time_zone))
