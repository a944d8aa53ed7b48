"""The board's now-and-next (services/calendars/on_call_board): the next 35 days' overrides first,
the whole reach only for a role that keeps its holder that long, the same answers as next_handoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from pager.core.durations import ShiftLength
from pager.core.model import ROLES, Handoff, Override, RotationLayer, Schedule
from pager.core.schedule import next_handoff
from pager.db.overrides import add_override
from pager.db.session import session_scope
from pager.services.calendars.on_call_board import on_call_board

pytestmark = pytest.mark.database

NOW = datetime(2026, 6, 3, 12, tzinfo=UTC)
DAY = timedelta(days=1)
WEEKLY = ShiftLength(1, "w")
SCHEDULES = {
    # alice alone: nobody hands over by the layers, so only an override far ahead is a handoff.
    "solo": Schedule(
        "solo", "Solo", "UTC", (RotationLayer("one", ("alice",), datetime(2026, 1, 5, 9), WEEKLY),)
    ),
    "pair": Schedule(
        "pair", "Pair", "UTC", (RotationLayer("two", ("bob", "carol"), datetime(2026, 1, 5, 9), WEEKLY),)
    ),
}
STORED = [
    Override("solo", "primary", NOW + 100 * DAY, NOW + 100 * DAY + timedelta(hours=2), "dave"),
    Override("pair", "primary", NOW + DAY, NOW + DAY + timedelta(hours=2), "dave"),
]


def test_a_handoff_beyond_the_near_window_comes_from_the_overrides_stored_that_far(engine: Engine) -> None:
    with session_scope(engine) as session:
        for override in STORED:
            add_override(session, override, now=NOW)
    board = {row.schedule_id: row for row in on_call_board(engine, SCHEDULES, NOW)}
    assert board["solo"].on_call.primary == "alice"
    assert board["solo"].next["primary"] == Handoff("primary", NOW + 100 * DAY, "alice", "dave")
    assert board["solo"].next["secondary"] is None  # nobody holds it, all year
    assert board["pair"].next["primary"] == Handoff("primary", NOW + DAY, "carol", "dave")
    for schedule_id, schedule in SCHEDULES.items():
        for role in ROLES:  # the calculator given every stored override of the whole reach
            assert board[schedule_id].next[role] == next_handoff(schedule, NOW, role, STORED)
