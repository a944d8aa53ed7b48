"""Who is on call now and when each role next changes hands, per schedule (the console's board).

Reads no more stored overrides than that needs: those of the next NEAR days, where nearly every
rotation hands over; only a role that keeps its holder all that time has its schedule's overrides
read again, up to HANDOFF_REACH (the whole window next_handoff may look at).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from pager.core.model import ROLES, Handoff, OnCall, Role, Schedule
from pager.core.schedule import HANDOFF_REACH, next_handoff, resolve_on_call
from pager.services.calendars.overrides import overrides_of

NEAR = timedelta(days=35)


@dataclass(frozen=True)
class OnCallNow:
    schedule_id: str
    on_call: OnCall
    next: dict[Role, Handoff | None]  # per role; None: no handoff within HANDOFF_REACH


def on_call_board(engine: Engine, schedules: Mapping[str, Schedule], now: datetime) -> list[OnCallNow]:
    """Every schedule (by id) at `now`: primary and secondary (stored overrides applied) and each
    role's next handoff."""
    ids = sorted(schedules)
    near = overrides_of(engine, ids, now, now + NEAR)
    board = []
    for schedule_id in ids:
        schedule = schedules[schedule_id]
        handoffs: dict[Role, Handoff | None] = {
            role: next_handoff(schedule, now, role, near, within=NEAR) for role in ROLES
        }
        if None in handoffs.values():
            reach = overrides_of(engine, [schedule_id], now, now + HANDOFF_REACH)
            handoffs = {
                role: handoff or next_handoff(schedule, now, role, reach)
                for role, handoff in handoffs.items()
            }
        board.append(OnCallNow(schedule_id, resolve_on_call(schedule, now, near), handoffs))
    return board
