"""Repositories against a real, migrated database (SQLite file, or Postgres in CI's second pass)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlmodel import Session, col, select

from pager.core.model import Override
from pager.db.alerts import (
    add_timeline_entry,
    claim_due_alerts,
    find_open_alert,
    insert_timeline_entries,
    timeline_of,
)
from pager.db.migrate import upgrade_schema
from pager.db.outbox import cancel_pending_outbox, requeue_unsent, upsert_outbox
from pager.db.overrides import add_override, override_rows_oldest_first, overrides_overlapping
from pager.db.row_updates import update_rows
from pager.db.session import create_db_engine, session_scope
from pager.db.tables import Alert, CalendarToken, OutboxMessage, Service, User
from pager.db.users import (
    add_contact_method,
    add_notification_rule,
    contact_methods_of,
    create_user,
    find_user_by_handle,
    notification_rules_of,
)
from tests.db.conftest import backend_of
from tests.support import claim_due_outbox

NOW = datetime(2026, 3, 8, 8, 30, tzinfo=UTC)


def add_service(session: Session, service_id: str = "checkout-api") -> Service:
    service = Service(
        id=service_id, name=service_id.title(), policy_id="checkout", integration_key=f"key-{service_id}"
    )
    session.add(service)
    session.flush()
    return service


def add_alert(session: Session, dedup_key: str, *, next_action_at: datetime | None = None) -> Alert:
    alert = Alert(
        service_id="checkout-api",
        dedup_key=dedup_key,
        summary=f"{dedup_key} broke",
        next_action_at=next_action_at,
    )
    session.add(alert)
    session.flush()
    return alert


def page(key: str, *, due_at: datetime = NOW, next_attempt_at: datetime | None = None) -> OutboxMessage:
    return OutboxMessage(
        idempotency_key=key,
        method="sms",
        address="+15550100",
        body=f"ALERT {key}",
        user_handle="ann",
        cycle=1,
        loop=0,
        level=1,
        step=0,
        due_at=due_at,
        next_attempt_at=next_attempt_at,
    )


def insert_pages(session: Session, *messages: OutboxMessage) -> list[int]:
    """Queue pages as the engine does (upsert_outbox); the rows' ids, in the order given."""
    upsert_outbox(session, [message.model_dump(exclude={"id"}) for message in messages])
    keys = [message.idempotency_key for message in messages]
    query = select(OutboxMessage.idempotency_key, OutboxMessage.id).where(
        col(OutboxMessage.idempotency_key).in_(keys)
    )
    ids = {key: row_id for key, row_id in session.exec(query)}
    return [ids[key] or 0 for key in keys]


def claimed_ids(engine: Engine, now: datetime, limit: int) -> list[int]:
    with session_scope(engine) as session:
        return [m.id for m in claim_due_outbox(session, now, limit=limit) if m.id is not None]


# --- users, contact methods, rules ------------------------------------------------------------------


@pytest.mark.database
def test_users_are_found_by_handle_and_handles_are_unique(engine: Engine) -> None:
    with session_scope(engine) as session:
        dana = create_user(session, handle="dana", name="Dana Scully", now=NOW, time_zone="America/Chicago")
    with session_scope(engine, read_only=True) as session:
        found = find_user_by_handle(session, "dana")
        assert found is not None and found.id == dana.id and found.time_zone == "America/Chicago"
        assert find_user_by_handle(session, "erin") is None
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        create_user(session, handle="dana", name="Another Dana", now=NOW)


@pytest.mark.database
def test_contact_methods_are_unique_per_user_and_checked(engine: Engine) -> None:
    with session_scope(engine) as session:
        dana = create_user(session, handle="dana", name="Dana", now=NOW)
        assert dana.id is not None
        sms = add_contact_method(session, user_id=dana.id, kind="sms", address="+15550100", now=NOW)
        add_contact_method(session, user_id=dana.id, kind="voice", address="+15550100", now=NOW)
        add_contact_method(session, user_id=dana.id, kind="email", address="dana@example.com", now=NOW)
        user_id = dana.id
    with session_scope(engine) as session:
        assert [m.kind for m in contact_methods_of(session, user_id)] == ["sms", "voice", "email"]
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        add_contact_method(session, user_id=user_id, kind="sms", address="+15550100", now=NOW)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        add_contact_method(session, user_id=user_id, kind="pigeon", address="roof", now=NOW)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        add_contact_method(session, user_id=user_id + 999, kind="sms", address="+15550199", now=NOW)
    with session_scope(engine) as session:
        rule = add_notification_rule(
            session, user_id=user_id, contact_method_id=sms.id or 0, delay_seconds=0, now=NOW
        )
        assert rule.id is not None


@pytest.mark.database
def test_notification_rules_come_earliest_first_and_go_with_their_user(engine: Engine) -> None:
    with session_scope(engine) as session:
        erin = create_user(session, handle="erin", name="Erin", now=NOW)
        assert erin.id is not None
        sms = add_contact_method(session, user_id=erin.id, kind="sms", address="+15550101", now=NOW)
        voice = add_contact_method(session, user_id=erin.id, kind="voice", address="+15550101", now=NOW)
        email = add_contact_method(
            session, user_id=erin.id, kind="email", address="erin@example.com", now=NOW
        )
        for method, delay, position in ((voice, 60, 0), (email, 0, 1), (sms, 0, 0)):
            assert method.id is not None
            add_notification_rule(
                session,
                user_id=erin.id,
                contact_method_id=method.id,
                delay_seconds=delay,
                position=position,
                now=NOW,
            )
        erin_id = erin.id
        expected = [sms.id, email.id, voice.id]
    with session_scope(engine) as session:
        assert [r.contact_method_id for r in notification_rules_of(session, erin_id)] == expected
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        add_notification_rule(
            session, user_id=erin_id, contact_method_id=expected[0] or 0, delay_seconds=-5, now=NOW
        )
    with session_scope(engine) as session:
        user = session.get(User, erin_id)
        assert user is not None
        session.delete(user)
    with session_scope(engine) as session:
        assert notification_rules_of(session, erin_id) == []
        assert contact_methods_of(session, erin_id) == []


# --- alerts -------------------------------------------------------------------------------------------


@pytest.mark.database
def test_at_most_one_open_alert_per_service_and_dedup_key(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        add_service(session, "search-api")
        first = add_alert(session, "disk-full")
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        add_alert(session, "disk-full")

    with session_scope(engine) as session:  # acknowledged is still open
        alert = session.get(Alert, first.id)
        assert alert is not None
        alert.status = "acknowledged"
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        add_alert(session, "disk-full")

    with session_scope(engine) as session:  # the same key on another service is another alert
        session.add(Alert(service_id="search-api", dedup_key="disk-full", summary="search disk"))

    with session_scope(engine) as session:
        alert = session.get(Alert, first.id)
        assert alert is not None
        alert.status, alert.resolved_at, alert.resolved_by = "resolved", NOW, "dana"
    with session_scope(engine) as session:
        second = add_alert(session, "disk-full")
        assert second.id != first.id
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        add_alert(session, "disk-full")

    with session_scope(engine) as session:
        found = find_open_alert(session, "checkout-api", "disk-full", lock=True)
        assert found is not None and found.id == second.id
        assert find_open_alert(session, "checkout-api", "other") is None


@pytest.mark.database
def test_alert_numbers_are_never_reused(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        add_alert(session, "a")
        latest = add_alert(session, "b")
    with session_scope(engine) as session:
        session.execute(text("DELETE FROM alerts WHERE id = :id"), {"id": latest.id})
    with session_scope(engine) as session:
        again = add_alert(session, "c")
    assert latest.id is not None and again.id is not None and again.id > latest.id


@pytest.mark.database
def test_alert_details_and_timeline_round_trip(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        alert = add_alert(session, "cpu")
        alert.details = {"host": "web-1", "values": [1, 2.5, None], "nested": {"ok": False}}
        assert alert.id is not None
        add_timeline_entry(
            session, alert_id=alert.id, at=NOW + timedelta(minutes=5), kind="escalated", message="L2"
        )
        add_timeline_entry(session, alert_id=alert.id, at=NOW, kind="triggered", message="new", data={"n": 1})
        alert_id = alert.id
    with session_scope(engine) as session:
        stored = session.get(Alert, alert_id)
        assert stored is not None
        assert stored.details == {"host": "web-1", "values": [1, 2.5, None], "nested": {"ok": False}}
        lines = timeline_of(session, alert_id)
        assert [(line.kind, line.at, line.data) for line in lines] == [
            ("triggered", NOW, {"n": 1}),
            ("escalated", NOW + timedelta(minutes=5), {}),
        ]


@pytest.mark.database
def test_json_that_the_fast_encoder_refuses_is_still_stored_and_read_back(engine: Engine) -> None:
    """Columns are encoded with orjson; what it refuses (integers beyond 64 bits, say, from a
    webhook's custom details) goes through the standard library instead of failing the request."""
    details = {"huge": 2**70 + 1, "small": -(2**63) - 1, "text": "café ✓", "values": [1, 2.5, None]}
    with session_scope(engine) as session:
        add_service(session)
        alert = add_alert(session, "big")
        alert.details = details
        alert_id = alert.id
    with session_scope(engine) as session:
        stored = session.get(Alert, alert_id)
        assert stored is not None and stored.details == details
        assert type(stored.details["huge"]) is int  # not a float that compares almost equal


@pytest.mark.database
def test_claim_due_alerts_takes_only_open_due_ones_earliest_first(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        late = add_alert(session, "late", next_action_at=NOW - timedelta(minutes=1))
        early = add_alert(session, "early", next_action_at=NOW - timedelta(minutes=5))
        exact = add_alert(session, "exact", next_action_at=NOW)
        add_alert(session, "future", next_action_at=NOW + timedelta(seconds=1))
        add_alert(session, "no-timer")
        done = add_alert(session, "done", next_action_at=NOW - timedelta(hours=1))
        done.status = "resolved"
    with session_scope(engine) as session:
        due = claim_due_alerts(session, NOW)
        assert [a.id for a in due] == [early.id, late.id, exact.id]
        assert [a.id for a in claim_due_alerts(session, NOW, limit=2)] == [early.id, late.id]


@pytest.mark.database
def test_instants_compare_as_instants_whatever_the_offset(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        alert = add_alert(session, "tz", next_action_at=datetime(2026, 3, 8, 10, 0, tzinfo=UTC))
    plus_one = timezone(timedelta(hours=1))
    with session_scope(engine) as session:
        # 10:30+01:00 is 09:30 UTC: before the timer, although "10:30" sorts after "10:00" as text.
        assert claim_due_alerts(session, datetime(2026, 3, 8, 10, 30, tzinfo=plus_one)) == []
        due = claim_due_alerts(session, datetime(2026, 3, 8, 11, 0, tzinfo=plus_one))
        assert [a.id for a in due] == [alert.id]


# --- instants -----------------------------------------------------------------------------------------


@pytest.mark.database
def test_naive_datetimes_are_refused(engine: Engine) -> None:
    with pytest.raises(StatementError, match="naive datetime"), session_scope(engine) as session:
        create_user(session, handle="naive", name="Naive", now=datetime(2026, 3, 8, 8, 30))
    with pytest.raises(StatementError, match="naive datetime"), session_scope(engine) as session:
        claim_due_outbox(session, datetime(2026, 3, 8, 8, 30))
    with session_scope(engine) as session:
        assert find_user_by_handle(session, "naive") is None


@pytest.mark.database
def test_instants_read_back_as_aware_utc(engine: Engine) -> None:
    chicago_cdt = timezone(timedelta(hours=-5))
    written = datetime(2026, 3, 8, 3, 30, 15, 123456, tzinfo=chicago_cdt)
    with session_scope(engine) as session:
        create_user(session, handle="dana", name="Dana", now=written)
    with session_scope(engine) as session:
        dana = find_user_by_handle(session, "dana")
        assert dana is not None
        assert dana.created_at == written
        assert dana.created_at.tzinfo is UTC
        assert dana.created_at.isoformat() == "2026-03-08T08:30:15.123456+00:00"


# --- overrides ----------------------------------------------------------------------------------------


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 8, hour, minute, tzinfo=UTC)


@pytest.mark.database
def test_overrides_are_found_by_overlapping_window(engine: Engine) -> None:
    morning = Override(schedule="checkout", role="primary", start=at(8), end=at(12), user="dana")
    noon = Override(schedule="checkout", role="secondary", start=at(12), end=at(14), user="erin")
    elsewhere = Override(schedule="search", role="primary", start=at(8), end=at(20), user="frank")
    with session_scope(engine) as session:
        for override in (noon, morning, elsewhere):
            add_override(session, override, now=NOW, created_by="dana")
    with session_scope(engine, read_only=True) as session:
        assert overrides_overlapping(session, "checkout", at(0), at(23)) == [noon, morning]
        assert overrides_overlapping(session, "checkout", at(11, 59), at(12, 1)) == [noon, morning]
        assert overrides_overlapping(session, "checkout", at(12), at(13)) == [noon]  # [8, 12) ends at 12
        assert overrides_overlapping(session, "checkout", at(6), at(8)) == []  # window ends as it starts
        assert overrides_overlapping(session, "checkout", at(9), at(10)) == [morning]  # inside one
        assert overrides_overlapping(session, "checkout", at(14), at(20)) == []
        assert overrides_overlapping(session, "search", at(19), at(21)) == [elsewhere]
        found = overrides_overlapping(session, "checkout", at(9), at(10))[0]
        assert found.start.tzinfo is UTC and found.end.tzinfo is UTC


@pytest.mark.database
def test_the_overrides_in_force_or_to_come_are_read_without_the_past_ones(engine: Engine) -> None:
    # The console's schedule page lists these; a schedule's past overrides only accumulate, so they
    # are left out by the query (which ix_overrides_schedule_id_end can serve), not in Python.
    past = [
        Override(
            schedule="checkout",
            role="primary",
            start=at(8) - timedelta(days=d),
            end=at(9) - timedelta(days=d),
            user="dana",
        )
        for d in range(1, 301)
    ]
    later = Override(schedule="checkout", role="primary", start=at(12), end=at(14), user="erin")
    now_on = Override(schedule="checkout", role="secondary", start=at(8), end=at(10), user="dana")
    ends_now = Override(schedule="checkout", role="primary", start=at(7), end=at(9), user="frank")
    elsewhere = Override(schedule="search", role="primary", start=at(8), end=at(20), user="frank")
    with session_scope(engine) as session:
        for override in (later, *past, ends_now, now_on, elsewhere):
            add_override(session, override, now=NOW, created_by="dana")
    with session_scope(engine, read_only=True) as session:
        rows = override_rows_oldest_first(session, "checkout", ending_after=at(9))
        everything = override_rows_oldest_first(session, "checkout")
    # Creation order; the one ending at 9 is over at 9 ([start, end)).
    assert [(row.user_handle, row.start) for row in rows] == [("erin", at(12)), ("dana", at(8))]
    assert len(everything) == 303


@pytest.mark.database
def test_an_override_must_end_after_it_starts(engine: Engine) -> None:
    backwards = Override(schedule="checkout", role="primary", start=at(12), end=at(12), user="dana")
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        add_override(session, backwards, now=NOW)


# --- outbox -------------------------------------------------------------------------------------------


@pytest.mark.database
def test_outbox_inserts_each_idempotency_key_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        [first] = insert_pages(session, page("alert:42/loop:1/level:1/user:7/sms/0"))
        stored_first = session.get(OutboxMessage, first)
        assert stored_first is not None and stored_first.status == "pending"
        assert insert_pages(session, page("alert:42/loop:1/level:1/user:7/sms/0")) == [first]
    with session_scope(engine) as session:  # also across transactions
        again, voice = insert_pages(
            session,
            page("alert:42/loop:1/level:1/user:7/sms/0"),
            page("alert:42/loop:1/level:1/user:7/voice/1"),
        )
        assert again == first and voice not in (0, first)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(page("alert:42/loop:1/level:1/user:7/sms/0"))  # the constraint itself holds
    assert len(claimed_ids(engine, NOW, limit=10)) == 2


@pytest.mark.database
def test_claim_due_outbox_marks_rows_sending_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        due = insert_pages(session, *(page(f"due-{i}", due_at=NOW - timedelta(minutes=i)) for i in range(3)))
        insert_pages(session, page("later", due_at=NOW + timedelta(seconds=1)))
        insert_pages(session, page("retry-later", next_attempt_at=NOW + timedelta(seconds=30)))
        [retry_now] = insert_pages(session, page("retry-now", next_attempt_at=NOW - timedelta(seconds=1)))
    with session_scope(engine) as session:
        claimed = claim_due_outbox(session, NOW)
        # First ready, first claimed: the retry became sendable a second before `due-0` fell due.
        expected = [due[2], due[1], retry_now, due[0]]
        assert [m.id for m in claimed] == expected
        assert {m.attempts for m in claimed} == {1}
    with session_scope(engine) as session:
        assert claim_due_outbox(session, NOW) == []
        stored = [session.get(OutboxMessage, m.id) for m in claimed]
        assert {(m.status, m.attempts, m.last_attempt_at) for m in stored if m} == {("sending", 1, NOW)}
    assert len(claimed_ids(engine, NOW + timedelta(seconds=30), limit=10)) == 2


@pytest.mark.database
def test_a_claimed_page_never_sent_goes_back_only_if_nobody_took_it_since(engine: Engine) -> None:
    with session_scope(engine) as session:
        ids = insert_pages(session, *(page(f"p-{i}", due_at=NOW - timedelta(minutes=1)) for i in range(3)))
    with session_scope(engine) as session:
        claimed = {m.id: m.attempts for m in claim_due_outbox(session, NOW)}
    assert claimed == dict.fromkeys(ids, 1)
    with session_scope(engine) as session:  # the second page was reconciled and claimed again since
        taken = session.get(OutboxMessage, ids[1])
        assert taken is not None
        taken.attempts = 2
        session.add(taken)
        settled = session.get(OutboxMessage, ids[2])  # and the third settled by a delivery report
        assert settled is not None
        settled.status = "delivered"
        session.add(settled)
    later = NOW + timedelta(seconds=5)
    with session_scope(engine) as session:
        assert requeue_unsent(session, [(i, 1) for i in ids], later, "deferred: busy") == [ids[0]]
    with session_scope(engine) as session:
        rows = [session.get(OutboxMessage, i) for i in ids]
        got = [(m.status, m.attempts, m.next_attempt_at, m.last_error) for m in rows if m]
    assert got == [
        ("pending", 0, later, "deferred: busy"),
        ("sending", 2, None, None),
        ("delivered", 1, None, None),
    ]
    assert claimed_ids(engine, later, limit=10) == [ids[0]]  # due again at once


@pytest.mark.database
def test_cancel_pending_outbox_leaves_sent_pages_alone(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        alert = add_alert(session, "cpu")
        other = add_alert(session, "mem")
        for key, alert_id in (("a-0", alert.id), ("a-1", alert.id), ("b-0", other.id)):
            message = page(key)
            message.alert_id = alert_id
            insert_pages(session, message)
    claimed_ids(engine, NOW, limit=1)  # a-0 is on its way
    with session_scope(engine) as session:
        assert cancel_pending_outbox(session, alert.id or 0, NOW) == 1
    with session_scope(engine) as session:
        statuses = {m.idempotency_key: m.status for m in session.exec(select(OutboxMessage))}
    assert statuses == {"a-0": "sending", "a-1": "cancelled", "b-0": "pending"}


# --- concurrent claims ----------------------------------------------------------------------------------


def second_engine(url: str) -> Engine:
    """Another pool on the same database that gives up on a held lock after 0.2 s instead of hanging."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        options = " ".join(filter(None, [str(parsed.query.get("options", "")), "-c lock_timeout=200"]))
        parsed = parsed.update_query_dict({"options": options})
    return create_db_engine(parsed, sqlite_busy_timeout_ms=200)


@pytest.mark.database
def test_a_held_outbox_claim_is_never_handed_out_again(engine: Engine, database_url_at_head: str) -> None:
    with session_scope(engine) as session:
        all_ids = set(insert_pages(session, *(page(f"p-{i}") for i in range(4))))
    other = second_engine(database_url_at_head)
    try:
        with session_scope(engine) as holder:
            held = {m.id for m in claim_due_outbox(holder, NOW, limit=2)}
            if backend_of(database_url_at_head) == "postgresql":
                # SKIP LOCKED: the other worker gets the rest at once, never the held rows.
                assert set(claimed_ids(other, NOW, limit=10)) == all_ids - held
            else:
                # One writer at a time: the other worker cannot even begin while the claim is open.
                with pytest.raises(OperationalError, match="locked"):
                    claimed_ids(other, NOW, limit=10)
        later = set(claimed_ids(other, NOW, limit=10))
        assert later.isdisjoint(held)
        assert later == (set() if backend_of(database_url_at_head) == "postgresql" else all_ids - held)
    finally:
        other.dispose()


@pytest.mark.database
def test_a_held_alert_claim_is_never_handed_out_again(engine: Engine, database_url_at_head: str) -> None:
    with session_scope(engine) as session:
        add_service(session)
        for i in range(4):
            add_alert(session, f"a-{i}", next_action_at=NOW - timedelta(minutes=i))
    other = second_engine(database_url_at_head)
    try:
        with session_scope(engine) as holder:
            held = claim_due_alerts(holder, NOW, limit=2)
            if backend_of(database_url_at_head) == "postgresql":
                with session_scope(other) as session:
                    rest = {a.id for a in claim_due_alerts(session, NOW)}
                assert len(rest) == 2 and rest.isdisjoint(a.id for a in held)
            else:
                with pytest.raises(OperationalError, match="locked"), session_scope(other) as session:
                    claim_due_alerts(session, NOW)
            update_rows(
                holder, Alert, [{"id": a.id, "next_action_at": NOW + timedelta(minutes=5)} for a in held]
            )
        with session_scope(other) as session:
            assert {a.id for a in claim_due_alerts(session, NOW)}.isdisjoint(a.id for a in held)
    finally:
        other.dispose()


def hammer(engine: Engine, workers: int, work: Callable[[], list[int]]) -> list[list[int]]:
    """Run `work` in `workers` threads, released together; each returns what it claimed."""
    start = threading.Barrier(workers)

    def worker() -> list[int]:
        start.wait()
        taken: list[int] = []
        while batch := work():
            taken.extend(batch)
        return taken

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda _: worker(), range(workers)))


@pytest.mark.database
def test_concurrent_outbox_claims_never_share_a_row(engine: Engine) -> None:
    with session_scope(engine) as session:
        insert_pages(session, *(page(f"p-{i}") for i in range(60)))
    per_worker = hammer(engine, 8, lambda: claimed_ids(engine, NOW, limit=3))
    everything = [row for taken in per_worker for row in taken]
    assert len(everything) == len(set(everything)) == 60
    with session_scope(engine) as session:
        assert {m.attempts for m in session.exec(select(OutboxMessage))} == {1}


@pytest.mark.database
def test_concurrent_alert_claims_never_share_a_row(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        for i in range(40):
            add_alert(session, f"a-{i}", next_action_at=NOW - timedelta(seconds=i))

    def escalate_some() -> list[int]:
        with session_scope(engine) as session:
            due = claim_due_alerts(session, NOW, limit=3)
            later = NOW + timedelta(minutes=5)
            update_rows(session, Alert, [{"id": a.id, "level": 2, "next_action_at": later} for a in due])
            return [a.id for a in due]

    per_worker = hammer(engine, 8, escalate_some)
    everything = [row for taken in per_worker for row in taken]
    assert len(everything) == len(set(everything)) == 40
    with session_scope(engine) as session:
        assert {a.level for a in session.exec(select(Alert))} == {2}


# --- tokens and services -------------------------------------------------------------------------------


@pytest.mark.database
def test_calendar_tokens_open_exactly_one_feed(engine: Engine) -> None:
    with session_scope(engine) as session:
        dana = create_user(session, handle="dana", name="Dana", now=NOW)
        session.add(CalendarToken(user_id=dana.id, token_hash="h-user"))
        session.add(CalendarToken(schedule_id="checkout", token_hash="h-schedule"))
        dana_id = dana.id
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(CalendarToken(user_id=dana_id, schedule_id="checkout", token_hash="h-both"))
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(CalendarToken(token_hash="h-none"))
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(CalendarToken(schedule_id="search", token_hash="h-user"))


@pytest.mark.database
def test_integration_keys_are_unique(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(
            Service(id="other", name="Other", policy_id="checkout", integration_key="key-checkout-api")
        )


# --- SQLite engine (always a local file: this is about SQLite itself) ---------------------------------


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'single-writer.db'}"
    upgrade_schema(url)
    created = create_db_engine(url, sqlite_busy_timeout_ms=200)
    try:
        yield created
    finally:
        created.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200


def test_sqlite_has_one_writer_but_readers_run_beside_it(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as session:
        create_user(session, handle="dana", name="Dana", now=NOW)
    with session_scope(sqlite_engine) as writer:
        create_user(writer, handle="erin", name="Erin", now=NOW)
        with session_scope(sqlite_engine, read_only=True) as reader:  # sees the last commit, not waiting
            assert find_user_by_handle(reader, "dana") is not None
            assert find_user_by_handle(reader, "erin") is None
        with pytest.raises(OperationalError, match="locked"), session_scope(sqlite_engine) as second:
            find_user_by_handle(second, "dana")  # even a read in a write session waits for the writer


def outbox_values(key: str, due_at: datetime) -> dict[str, object]:
    return page(key, due_at=due_at).model_dump(exclude={"id"})


@pytest.mark.database
def test_upsert_outbox_inserts_once_and_only_brings_pending_rows_forward(engine: Engine) -> None:
    later = NOW + timedelta(minutes=1)
    with session_scope(engine) as session:
        upsert_outbox(session, [outbox_values("voice", later), outbox_values("sent", later)])
    with session_scope(engine) as session:
        sent = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == "sent")).one()
        sent.status = "sent"
    with session_scope(engine) as session:
        # Same keys again: an earlier due time moves the pending row, never one already sent,
        # and a later due time moves nothing.
        upsert_outbox(session, [outbox_values("voice", NOW), outbox_values("sent", NOW)])
        upsert_outbox(session, [outbox_values("voice", later)])
    with session_scope(engine, read_only=True) as session:
        rows = {r.idempotency_key: (r.status, r.due_at) for r in session.exec(select(OutboxMessage))}
    assert rows == {"voice": ("pending", NOW), "sent": ("sent", later)}


@pytest.mark.database
def test_upsert_outbox_writes_more_rows_than_one_statement_holds(engine: Engine) -> None:
    # 250 rows x 13 columns is more than SQLite's oldest host-parameter limit (999) in one statement.
    with session_scope(engine) as session:
        upsert_outbox(session, [outbox_values(f"k{i}", NOW) for i in range(250)])
    with session_scope(engine, read_only=True) as session:
        assert len(session.exec(select(OutboxMessage)).all()) == 250


# --- bulk writes (pager/db/bulk_rows.py: driver executemany on SQLite, one recordset on Postgres) -----


@pytest.mark.database
def test_bulk_updates_write_exact_values_in_order_and_fill_updated_at(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        ids = [add_alert(session, f"b-{i}").id for i in range(3)]
    paris = timezone(timedelta(hours=2))
    state = {"status": "triggered", "pages": [{"at": "2026-03-08T08:30:00+00:00", "users": ["ann"]}]}
    before = datetime.now(UTC)
    with session_scope(engine) as session:
        update_rows(
            session,
            Alert,
            [
                {
                    "id": ids[0],
                    "level": 2,
                    "next_action_at": NOW.astimezone(paris),
                    "escalation_state": state,
                },
                {"id": ids[1], "level": 3, "next_action_at": None, "escalation_state": {}},
                {"id": ids[0], "level": 4, "next_action_at": NOW, "escalation_state": state},  # later wins
                {"id": ids[2], "status": "acknowledged"},
            ],
        )
    with session_scope(engine) as session:
        rows = {a.id: a for a in session.exec(select(Alert))}
    assert (rows[ids[0]].level, rows[ids[0]].next_action_at, rows[ids[0]].escalation_state) == (4, NOW, state)
    assert (rows[ids[1]].level, rows[ids[1]].next_action_at, rows[ids[1]].escalation_state) == (3, None, {})
    assert rows[ids[2]].status == "acknowledged" and rows[ids[2]].level == 1
    # Columns the changes do not name keep their model's onupdate, as a plain UPDATE would.
    assert all(rows[i].updated_at >= before.replace(microsecond=0) for i in ids)


@pytest.mark.database
def test_bulk_writes_refuse_a_naive_instant_and_write_nothing(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        alert_id = add_alert(session, "naive").id
    naive = datetime(2026, 3, 8, 8, 30)
    with pytest.raises((ValueError, StatementError), match="naive"), session_scope(engine) as session:
        update_rows(session, Alert, [{"id": alert_id, "level": 5, "next_action_at": naive}])
    with pytest.raises((ValueError, StatementError), match="naive"), session_scope(engine) as session:
        entry = {"alert_id": alert_id, "at": naive, "kind": "note", "message": "m", "data": {}}
        insert_timeline_entries(session, [entry])
    with session_scope(engine) as session:
        assert session.exec(select(Alert.level)).one() == 1
        assert timeline_of(session, alert_id) == []


@pytest.mark.database
def test_bulk_timeline_lines_keep_their_text_and_data(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        alert_id = add_alert(session, "lines").id
    awkward = "quote ' double \" backslash \\ comma , braces {} unicode é 😀 newline\nend"
    entries = [
        {
            "alert_id": alert_id,
            "at": NOW + timedelta(seconds=i),
            "kind": "note",
            "message": f"{i} {awkward}",
            "data": {"i": i, "users": ["ann", awkward]},
        }
        for i in range(250)
    ]
    with session_scope(engine) as session:
        insert_timeline_entries(session, entries)
    with session_scope(engine) as session:
        lines = timeline_of(session, alert_id)
    assert [(line.at, line.message, line.data) for line in lines] == [
        (e["at"], e["message"], e["data"]) for e in entries
    ]
