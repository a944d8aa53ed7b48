"""Notices (docs/delivery.md, "Notices"): messages that belong to no alert, through the real outbox,
pump, throttle, reconciliation and status reports, on a fake clock against the in-repo fake Twilio."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from pager.db.session import session_scope
from pager.db.tables import OutboxMessage, TimelineEntry, User
from pager.services.delivery.notices import Notice, queue_notice
from pager.services.phone.replies import record_status
from pager.services.runtime import Runtime
from pager.testing.fake_twilio import FakeTwilio, Fault
from tests.services.test_delivery import ALICE_SMS, ALICE_VOICE, T0, clock, fake, posts, run_at, runtime
from tests.support import Clock

__all__ = ["clock", "fake", "runtime"]  # the fixtures this module shares with test_delivery

pytestmark = pytest.mark.database


def notice(runtime: Runtime, key: str, method: str = "sms", address: str = ALICE_SMS) -> bool:
    with session_scope(runtime.engine) as session:
        alice = session.exec(select(User).where(User.handle == "alice")).one()
        assert alice.id is not None
        return queue_notice(
            session,
            Notice(key, alice.id, "alice", method, address, "You are on call for team from 09:00.", "x"),  # type: ignore[arg-type]
            T0,
        )


def rows(runtime: Runtime) -> list[OutboxMessage]:
    with session_scope(runtime.engine, read_only=True) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)))  # type: ignore[arg-type]


def test_a_notice_queued_twice_is_one_row_and_one_sms(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    assert notice(runtime, "handoff:team:primary:2026-03-02T15:00:00Z:alice") is True
    assert notice(runtime, "handoff:team:primary:2026-03-02T15:00:00Z:alice") is False
    run_at(runtime, clock, 0)
    run_at(runtime, clock, 5)
    assert [m["body"] for m in fake.messages] == ["You are on call for team from 09:00."]
    (row,) = rows(runtime)
    assert (row.alert_id, row.status, row.subject, row.cycle) == (None, "sent", "", 0)
    with session_scope(runtime.engine, read_only=True) as session:
        assert list(session.exec(select(TimelineEntry))) == []


def test_a_voice_notice_is_read_out_and_gathers_no_key(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    notice(runtime, "test-page:alice:1", "voice", ALICE_VOICE)
    run_at(runtime, clock, 0)
    (call,) = posts(fake, "Calls")
    assert call["Twiml"].count("You are on call for team from 09:00.") == 2
    assert "Gather" not in call["Twiml"] and "alert=" not in call["Twiml"]


def test_a_notice_is_retried_then_fails_for_good_without_an_alert_to_fall_back_in(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    fake.fail_next(Fault("server_error"))
    notice(runtime, "verify:alice:sms:1")
    run_at(runtime, clock, 0)  # 500: retried in 1 s
    assert rows(runtime)[0].status == "pending"
    run_at(runtime, clock, 1)
    assert [m["body"] for m in fake.messages] == ["You are on call for team from 09:00."]
    fake.fail_next(Fault("invalid_to"))
    notice(runtime, "verify:alice:sms:2")
    run_at(runtime, clock, 3)
    assert [row.status for row in rows(runtime)] == ["sent", "failed"]


def test_a_notice_whose_send_was_unknown_and_never_arrived_is_sent_once(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    fake.fail_next(Fault("hang", record=False, delay=None))
    notice(runtime, "handoff:team:primary:x:alice")
    run_at(runtime, clock, 0)
    assert rows(runtime)[0].status == "unknown"
    run_at(runtime, clock, 1)  # reconciled: no record, so pending again
    run_at(runtime, clock, 2)
    run_at(runtime, clock, 10)
    assert len(fake.messages) == 1
    assert rows(runtime)[0].status == "sent"


def test_a_failure_report_for_a_notice_marks_it_failed_and_nothing_else(
    runtime: Runtime, fake: FakeTwilio, clock: Clock
) -> None:
    notice(runtime, "handoff:team:primary:y:alice")
    run_at(runtime, clock, 0)
    sid = fake.messages[0]["sid"]
    update = record_status(runtime, sid, "undelivered", "30003", T0 + timedelta(seconds=2))
    assert (update.outcome, update.alert_id) == ("failed", None)
    assert rows(runtime)[0].status == "failed"
    run_at(runtime, clock, 30)  # no fallback, no resend
    assert len(fake.messages) == 1
