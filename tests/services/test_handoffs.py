"""The handoff job through the real database on a fake clock (docs/schedules.md, "Handoff messages and
shift reminders"): one message per incoming person per handoff when the job runs twice, when two jobs
race, when it runs late; stale handoffs skipped; reminders; notes used once; and delivery.

The `team` schedule of tests.services.test_engine: Chicago, weekly [alice, bob] at Monday 09:00, so at
T0 (2026-03-02 15:00Z) alice takes the primary from bob and bob the derived secondary from alice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from pager.adapters.console import ConsoleNotifier
from pager.db.session import create_db_engine, session_scope
from pager.db.tables import HandoffCursor, HandoffNote, OutboxMessage, User
from pager.services.alerting import alerts, catalog
from pager.services.calendars.handoff_notes import write_handoff_note
from pager.services.calendars.handoffs import process_handoffs, run_handoffs
from pager.services.calendars.overrides import create_override
from pager.services.errors import InvalidInput, NotFound
from pager.services.people import users
from pager.services.people.reminders import set_remind_before
from pager.services.runtime import Runtime
from pager.worker import tick
from tests import support
from tests.services.test_engine import T0, write_config

pytestmark = pytest.mark.database

NEXT = datetime(2026, 3, 9, 14, 0, tzinfo=T0.tzinfo)  # Monday 09:00 CDT: bob takes over from alice
S = timedelta(seconds=1)


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Iterator[Runtime]:
    built = support.console_runtime(engine, write_config(tmp_path / "config"))
    with session_scope(engine) as session:
        for handle, number in (("alice", 1), ("bob", 2)):
            users.add_user(
                session,
                handle=handle,
                name=handle.title(),
                now=T0,
                sms=f"+1555000000{number}",
                email=f"{handle}@example.com",
            )
        users.add_user(session, handle="dana", name="Dana", now=T0, email="dana@example.com")
        users.add_user(session, handle="erin", name="Erin", now=T0)  # no way to reach her
        catalog.sync_services(session, built.config, T0)
    yield built


def messages(runtime: Runtime) -> list[tuple[str, str, str, str]]:
    """(idempotency key, person, method, address) of every outbox row that belongs to no alert."""
    with session_scope(runtime.engine, read_only=True) as session:
        notices = select(OutboxMessage).where(col(OutboxMessage.alert_id).is_(None))
        rows = session.exec(notices.order_by(col(OutboxMessage.id)))
        return [(row.idempotency_key, row.user_handle, row.method, row.address) for row in rows]


def bodies(runtime: Runtime) -> dict[str, str]:
    with session_scope(runtime.engine, read_only=True) as session:
        rows = session.exec(select(OutboxMessage).where(col(OutboxMessage.alert_id).is_(None)))
        return {row.user_handle + ":" + row.idempotency_key.split(":")[0]: row.body for row in rows}


def key(kind: str, role: str, at: datetime, user: str) -> str:
    return f"{kind}:team:{role}:{at.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}:{user}"


AT_T0 = [
    (key("handoff", "primary", T0, "alice"), "alice", "sms", "+15550000001"),
    (key("handoff", "secondary", T0, "bob"), "bob", "sms", "+15550000002"),
]


def test_one_message_per_incoming_person_when_the_job_runs_again(runtime: Runtime) -> None:
    assert run_handoffs(runtime, T0 - 10 * S) == 0  # the first run starts the cursor
    assert run_handoffs(runtime, T0 - S) == 0
    assert run_handoffs(runtime, T0 + 2 * S) == 2
    assert run_handoffs(runtime, T0 + 7 * S) == 0
    assert run_handoffs(runtime, T0 + 2 * S) == 0  # a clock behind the cursor changes nothing
    assert messages(runtime) == AT_T0
    text = bodies(runtime)["alice:handoff"]
    assert text.startswith("You are now primary on call for team until Mon Mar 09 09:00 CDT (14:00Z).")
    assert "Taking over from bob. No open alerts." in text
    with session_scope(runtime.engine, read_only=True) as session:
        cursor = session.get(HandoffCursor, "team")
        # Moved by the run that queued; the run at T0 + 7s had nothing to do and wrote nothing.
        assert cursor is not None and cursor.checked_until == T0 + 2 * S


def test_two_jobs_racing_over_one_handoff_send_it_once(runtime: Runtime) -> None:
    run_handoffs(runtime, T0 - 10 * S)
    other_engine = create_db_engine(runtime.engine.url.render_as_string(hide_password=False))
    other = Runtime(other_engine, runtime.settings, runtime.config, runtime.notifiers)
    counts: list[int] = []
    errors: list[BaseException] = []

    def second_worker() -> None:
        try:
            counts.append(run_handoffs(other, T0 + 3 * S))
        except BaseException as exc:  # reported below
            errors.append(exc)

    racer = threading.Thread(target=second_worker)
    try:
        # The first worker has decided and queued, and not committed yet, when the second one asks.
        with session_scope(runtime.engine) as session:
            assert (
                process_handoffs(session, runtime.config, sorted(runtime.config.schedules), T0 + 2 * S) == 2
            )
            racer.start()
            racer.join(timeout=1.0)
            assert racer.is_alive(), "the second worker must wait for the first one's cursor lock"
        racer.join(timeout=30)
    finally:
        other_engine.dispose()
    assert errors == [] and counts == [0]
    assert messages(runtime) == AT_T0


def test_a_job_that_runs_late_sends_once_and_skips_handoffs_whose_shift_is_over(runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        for user, hours in (("dana", 1),):
            create_override(
                session,
                runtime.config,
                kind="add",
                schedule_id="team",
                role="primary",
                user=user,
                start=T0 + hours * timedelta(hours=1),
                end=T0 + timedelta(hours=2),
                now=T0 - timedelta(hours=1),
            )
    run_handoffs(runtime, T0 - 10 * S)
    # Down from before T0 until T0 + 3 h: alice's first hour and dana's hour are over; alice's
    # shift from T0 + 2 h is not.
    assert run_handoffs(runtime, T0 + timedelta(hours=3)) == 2
    assert run_handoffs(runtime, T0 + timedelta(hours=3, seconds=5)) == 0
    assert messages(runtime) == [
        AT_T0[1],
        (key("handoff", "primary", T0 + timedelta(hours=2), "alice"), "alice", "sms", "+15550000001"),
    ]
    assert "Taking over from dana." in bodies(runtime)["alice:handoff"]


def test_an_override_stored_with_a_start_just_past_still_tells_its_person_once(runtime: Runtime) -> None:
    run_handoffs(runtime, T0 + timedelta(minutes=9))
    run_handoffs(runtime, T0 + timedelta(minutes=10))
    with session_scope(runtime.engine) as session:  # "dana from 10:00", typed at 10:02
        create_override(
            session,
            runtime.config,
            kind="add",
            schedule_id="team",
            role="primary",
            user="dana",
            start=T0 + timedelta(minutes=10),
            end=T0 + timedelta(hours=5),
            now=T0 + timedelta(minutes=12),
        )
    assert run_handoffs(runtime, T0 + timedelta(minutes=12)) == 1
    for seconds in (5, 10, 15 * 60):
        assert run_handoffs(runtime, T0 + timedelta(minutes=12, seconds=seconds)) == 0
    assert messages(runtime) == [
        (key("handoff", "primary", T0 + timedelta(minutes=10), "dana"), "dana", "email", "dana@example.com")
    ]


def test_a_worker_down_for_days_sends_no_stale_handoffs(runtime: Runtime) -> None:
    run_handoffs(runtime, T0 - 10 * S)
    assert run_handoffs(runtime, NEXT + timedelta(days=3)) == 0
    assert messages(runtime) == []


def test_the_message_goes_to_the_first_rule_and_names_open_alerts_and_nobody_unreachable(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    alerts.trigger_alert(runtime, service_id="api", summary="Disk full", now=T0 - timedelta(hours=1))
    alerts.trigger_alert(runtime, service_id="batch", summary="not paging team", now=T0 - timedelta(hours=1))
    with session_scope(runtime.engine) as session:
        for user, role, hours in (("dana", "primary", 1), ("erin", "secondary", 1)):
            create_override(
                session,
                runtime.config,
                kind="add",
                schedule_id="team",
                role=role,
                user=user,
                start=T0 + hours * timedelta(hours=1),
                end=T0 + timedelta(days=1),
                now=T0,
            )
    run_handoffs(runtime, T0 + timedelta(minutes=59))
    with caplog.at_level(logging.WARNING, logger="pager.handoffs"):
        assert run_handoffs(runtime, T0 + timedelta(hours=1, seconds=2)) == 1  # erin has no contact method
        assert run_handoffs(runtime, T0 + timedelta(hours=1, seconds=7)) == 0
    unreachable = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert unreachable == [
        "handoff_unreachable schedule=team role=secondary user=erin shift_start=2026-03-02T16:00:00+00:00"
        " reason=no_contact_method"
    ]
    assert messages(runtime) == [
        (key("handoff", "primary", T0 + timedelta(hours=1), "dana"), "dana", "email", "dana@example.com")
    ]
    with session_scope(runtime.engine, read_only=True) as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.user_handle == "dana")).one()
    assert row.subject == "[pager] On call: team primary until Tue Mar 03 09:00 CST (15:00Z)"
    assert "1 open alert(s): #1 api: Disk full." in row.body
    assert "not paging team" not in row.body


def test_messages_are_delivered_by_the_worker(runtime: Runtime) -> None:
    run_handoffs(runtime, T0 - 10 * S)
    run_handoffs(runtime, T0 + 2 * S)
    tick(runtime, T0 + 2 * S)
    sms = runtime.notifiers["sms"]
    assert isinstance(sms, ConsoleNotifier)
    assert sorted((page.address, page.idempotency_key) for page in sms.sent) == sorted(
        (address, k) for k, _, _, address in AT_T0
    )


def test_a_reminder_goes_remind_before_ahead_once(runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        set_remind_before(session, "bob", timedelta(hours=1), T0)
        set_remind_before(session, "alice", timedelta(hours=2), T0)
        set_remind_before(session, "alice", None, T0)  # alice changed her mind
    run_handoffs(runtime, NEXT - timedelta(hours=3))
    assert run_handoffs(runtime, NEXT - timedelta(hours=1, seconds=1)) == 0
    assert run_handoffs(runtime, NEXT - timedelta(hours=1) + 3 * S) == 1
    assert run_handoffs(runtime, NEXT - timedelta(minutes=30)) == 0
    assert messages(runtime) == [(key("reminder", "primary", NEXT, "bob"), "bob", "sms", "+15550000002")]
    assert bodies(runtime)["bob:reminder"].startswith(
        "Reminder: your primary on-call shift for team starts Mon Mar 09 09:00 CDT (14:00Z)"
    )
    run_handoffs(runtime, NEXT + 2 * S)
    assert [m[0].split(":")[0] for m in messages(runtime)] == ["reminder", "handoff", "handoff"]


def test_remind_before_is_checked_and_stored(runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        with pytest.raises(NotFound):
            set_remind_before(session, "nobody", timedelta(hours=1), T0)
        for bad in (timedelta(seconds=30), timedelta(minutes=1, seconds=1), timedelta(days=8)):
            with pytest.raises(InvalidInput):
                set_remind_before(session, "bob", bad, T0)
        set_remind_before(session, "bob", timedelta(minutes=15), T0)
    with session_scope(runtime.engine, read_only=True) as session:
        bob = session.exec(select(User).where(User.handle == "bob")).one()
        assert bob.remind_before_seconds == 900


def test_a_note_goes_into_the_next_handoff_of_its_role_once(runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        write_handoff_note(session, runtime.config, "team", "first draft", T0 - timedelta(hours=2))
        write_handoff_note(
            session, runtime.config, "team", "  DB failover on Tuesday.  ", T0 - timedelta(hours=1)
        )
        write_handoff_note(
            session,
            runtime.config,
            "team",
            "secondary: pager test",
            T0 - timedelta(hours=1),
            role="secondary",
        )
    run_handoffs(runtime, T0 - 10 * S)
    run_handoffs(runtime, T0 + 2 * S)
    text = bodies(runtime)
    assert text["alice:handoff"].endswith("Note from bob: DB failover on Tuesday.")
    assert "first draft" not in text["alice:handoff"]
    assert text["bob:handoff"].endswith("Note from alice: secondary: pager test")
    with session_scope(runtime.engine, read_only=True) as session:
        assert list(session.exec(select(HandoffNote))) == []
    run_handoffs(runtime, NEXT - S)
    run_handoffs(runtime, NEXT + S)
    with session_scope(runtime.engine, read_only=True) as session:
        next_bob = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.idempotency_key == key("handoff", "primary", NEXT, "bob")
            )
        ).one()
    assert "Note from" not in next_bob.body


def test_a_note_for_an_unknown_schedule_or_role_or_empty_is_refused_and_stores_nothing(
    runtime: Runtime,
) -> None:
    with session_scope(runtime.engine) as session:
        with pytest.raises(NotFound, match="no schedule 'nope'"):
            write_handoff_note(session, runtime.config, "nope", "hello", T0)
        with pytest.raises(InvalidInput, match="role"):
            write_handoff_note(session, runtime.config, "team", "hello", T0, role="tertiary")
        with pytest.raises(InvalidInput, match="empty"):
            write_handoff_note(session, runtime.config, "team", "   ", T0)
        with pytest.raises(InvalidInput, match="at most"):
            write_handoff_note(session, runtime.config, "team", "x" * 1001, T0)
    with session_scope(runtime.engine, read_only=True) as session:
        assert list(session.exec(select(HandoffNote))) == []
