"""Paging a person through their own rules for a cause that is not an alert (incident roles, overdue
status updates, reminders): one notice per rule step, sent once, ended by cancelling the cause."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.people import users
from pager.services.people.direct_pages import cancel_direct_pages, page_person
from pager.services.runtime import Runtime
from pager.testing.fake_twilio import FakeTwilio
from tests.services.test_delivery import ALICE_SMS, T0, clock, fake, posts, run_at, runtime
from tests.support import Clock

__all__ = ["clock", "fake", "runtime"]

pytestmark = pytest.mark.database


def rows(runtime: Runtime) -> list[OutboxMessage]:
    with session_scope(runtime.engine, read_only=True) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))  # type: ignore[arg-type]


def page(runtime: Runtime, handle: str, key: str, **options: object) -> int:
    with session_scope(runtime.engine) as session:
        return len(page_person(session, handle, key, "Status update overdue on incident 4", T0, **options))  # type: ignore[arg-type]


def test_each_rule_step_is_queued_once_at_its_delay(runtime: Runtime) -> None:
    with session_scope(runtime.engine, read_only=True) as session:
        steps = users.person(session, "alice").steps
    assert len(steps) >= 2  # sms and voice
    assert page(runtime, "alice", "incident-update:4:1") == len(steps)
    assert page(runtime, "alice", "incident-update:4:1") == 0  # decided twice: sent once
    queued = rows(runtime)
    assert [r.idempotency_key for r in queued] == [f"incident-update:4:1:{i}" for i in range(len(steps))]
    assert [(r.method, r.address, r.due_at) for r in queued] == [
        (s.rule.method, s.address, T0 + s.rule.delay) for s in steps
    ]
    assert {r.alert_id for r in queued} == {None}


def test_a_drill_marks_every_message(runtime: Runtime, fake: FakeTwilio, clock: Clock) -> None:
    page(runtime, "alice", "role:9:commander", drill=True)
    run_at(runtime, clock, 0)
    (sms,) = posts(fake, "Messages")
    assert (sms["To"], sms["Body"]) == (ALICE_SMS, "[DRILL] Status update overdue on incident 4")


def test_low_urgency_sends_email_first_and_delays_the_phone(runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        users.add_user(
            session, handle="erin", name="Erin", now=T0, sms="+15550000009", email="erin@example.com"
        )
    page(runtime, "erin", "postmortem:3:due", low_urgency=timedelta(hours=1))
    due = {r.method: r.due_at - T0 for r in rows(runtime)}
    assert due["email"] == timedelta(0)
    assert due["sms"] >= timedelta(hours=1)


def test_cancelling_the_cause_stops_only_its_pending_pages(runtime: Runtime) -> None:
    page(runtime, "alice", "incident-update:4:1")
    page(runtime, "alice", "incident-update:40:1")  # another incident whose key shares a prefix
    with session_scope(runtime.engine) as session:
        cancelled = cancel_direct_pages(session, "incident-update:4:1", T0)
    statuses = {r.idempotency_key: r.status for r in rows(runtime)}
    assert cancelled == len(statuses) // 2
    assert {s for k, s in statuses.items() if k.startswith("incident-update:4:1:")} == {"cancelled"}
    assert {s for k, s in statuses.items() if k.startswith("incident-update:40:")} == {"pending"}


def test_unknown_or_deactivated_people_get_nothing(runtime: Runtime) -> None:
    assert page(runtime, "nobody", "role:1:scribe") == 0
    assert rows(runtime) == []
