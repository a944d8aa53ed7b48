"""Handoff messages end to end: a real `pager worker` process, the fake Twilio server, kill -9.

Schedule `team` (tests/e2e/conftest.py): ann alone, weekly. An override makes cat primary from a few
seconds ahead. The worker is killed (-9) before that instant and started again after it: the handoff
job's cursor, committed in the database, says the instant was never processed, so the new worker
sends cat's handoff message late, once, and no run after that sends it again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pager.db.session import session_scope
from pager.db.tables import HandoffCursor
from pager.services.calendars.handoffs import HANDOFF_CHECK_EVERY
from pager.services.calendars.overrides import create_override
from tests.e2e.conftest import CAT, PagingSetup, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.database]

AHEAD = timedelta(seconds=6)


def messages_to_cat(paging: PagingSetup) -> list[dict[str, Any]]:
    return [m for m in paging.twilio.messages() if m["to"] == CAT["sms"]]


def cursor_of_team(paging: PagingSetup) -> datetime | None:
    with session_scope(paging.runtime.engine, read_only=True) as session:
        row = session.get(HandoffCursor, "team")
        return None if row is None else row.checked_until


def test_the_incoming_primary_gets_one_message_across_a_kill_9_over_the_handoff(paging: PagingSetup) -> None:
    first = paging.start_worker()
    paging.wait_ready(first)
    wait_until("the handoff job's first run", lambda: cursor_of_team(paging), 10.0)

    handoff_at = datetime.now(UTC) + AHEAD
    with session_scope(paging.runtime.engine) as session:
        create_override(
            session,
            paging.runtime.config,
            kind="add",
            schedule_id="team",
            role="primary",
            user=CAT["handle"],
            start=handoff_at,
            end=handoff_at + timedelta(hours=1),
            now=datetime.now(UTC),
        )
    assert first.process.poll() is None, f"worker ended by itself{paging.logs()}"
    first.kill9()
    checked = cursor_of_team(paging)
    assert checked is not None and checked < handoff_at, paging.logs()
    wait_until("the handoff instant", lambda: datetime.now(UTC) >= handoff_at + timedelta(seconds=1), 10.0)
    assert messages_to_cat(paging) == [], paging.logs()

    paging.wait_ready(paging.start_worker())
    got = wait_until("cat's handoff message", lambda: messages_to_cat(paging), 15.0, interval=0.1)
    # Two more runs of the job: nothing more for cat.
    settled = datetime.now(UTC) + 2 * HANDOFF_CHECK_EVERY + timedelta(seconds=1)
    wait_until("two more handoff runs", lambda: datetime.now(UTC) >= settled, 15.0)
    got = messages_to_cat(paging)
    why = f"\nmessages to cat: {got}\n{paging.logs()}"
    assert len(got) == 1, why
    assert got[0]["body"].startswith("You are now primary on call for Team (team) until "), why
    assert "Taking over from ann." in got[0]["body"], why
    assert "handoff_queued schedule=team role=primary user=cat" in paging.logs(), why
