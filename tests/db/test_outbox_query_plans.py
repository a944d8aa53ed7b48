"""The delivery loop's per-claim reads use the outbox indexes of migrations 0002 and 0003 (on both
backends).

Without them each read scanned rows that only grow: every page ever sent (the throttle's count) or
every page the throttle holds back (the claim, the next-due query, the end of an address's queue).
A test per read: it runs the read, captures the SQL it sent, and asks the database's planner how it
would run it, over the rows of a storm (pages sent to one number, more held back for it) with the
table's statistics gathered, since on an empty table every index costs the same.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from pager.adapters.console import ConsoleNotifier
from pager.config.loader import LoadedConfig
from pager.core.delivery_plan import THROTTLE_PER_MINUTE
from pager.db.alerts import open_alerts_paged_to
from pager.db.backlog import PENDING_PAGE_STATUSES, earliest_page_ready
from pager.db.outbox import due_outbox
from pager.db.phone_inbox import sms_pages_to
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage, User
from pager.services.delivery import throttle as page_throttle
from pager.services.delivery.reports import reported_page
from pager.services.operations.backlog import next_page_due
from pager.services.runtime import Runtime
from pager.settings import Settings
from tests.db.query_plans import gather_statistics, plan, plans, sent_by
from tests.db.test_repositories import add_alert, add_service, page

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
READY_INDEX = "ix_outbox_status_ready_at"
ATTEMPTED_INDEX = "ix_outbox_attempted_address_last_attempt_at"
QUEUE_INDEX = "ix_outbox_pending_address_next_attempt_at"


def runtime_on(engine: Engine) -> Runtime:
    notifiers = {method: ConsoleNotifier(method) for method in ("sms", "voice", "email")}
    return Runtime(engine, Settings(), LoadedConfig({}, {}), notifiers)  # type: ignore[arg-type]


def storm(engine: Engine, *, analyze: bool = True) -> None:
    """300 pages sent to one number over the last hour and 1,000 more held back for it, beside a
    month of 1,000 pages delivered to 100 other numbers, then ANALYZE (unless `analyze` is False:
    SQLite gathers no statistics by itself, so a database that nobody analyzed must be served by the
    same indexes)."""
    with session_scope(engine) as session:
        for k in range(1_000):
            row = page(f"history-{k}", due_at=NOW - timedelta(hours=k))
            row.address, row.status, row.attempts = f"+1555100{k % 100:04d}", "delivered", 1
            row.last_attempt_at = NOW - timedelta(hours=k)
            session.add(row)
        for k in range(1_300):
            row = page(f"storm-{k}", due_at=NOW - timedelta(hours=1))
            row.address = "+15550000001"
            if k < 300:
                row.status, row.attempts = "sent", 1
                row.last_attempt_at = NOW - timedelta(seconds=12 * k)
            else:
                # Held back by claims of the last minute: each deferral stamps last_attempt_at.
                row.attempts, row.last_attempt_at = 0, NOW - timedelta(seconds=k % 60)
                row.next_attempt_at = NOW + timedelta(seconds=3 * k)
            session.add(row)
    if analyze:
        gather_statistics(engine)


@pytest.fixture(params=[True, False], ids=["analyzed", "no-statistics"])
def stormy(engine: Engine, request: pytest.FixtureRequest) -> Engine:
    # Postgres's autovacuum analyzes a table once enough rows change; without statistics its planner
    # takes this storm for a one-row table, where every plan costs the same.
    storm(engine, analyze=request.param or engine.dialect.name == "postgresql")
    return engine


def plans_of(engine: Engine, read: Callable[[], object], marker: str) -> list[str]:
    """The plans of the statements `read` sends that contain `marker`."""
    return [plan(engine, *statement) for statement in sent_by(engine, read, marker)]


def plans_as_chosen(engine: Engine, read: Callable[[], object], *, reads: int) -> list[str]:
    """The plans the planner chooses (`plans`) for the `reads` outbox reads that `read` sends."""
    outbox_reads = sent_by(engine, read, "FROM outbox")
    assert len(outbox_reads) == reads, outbox_reads
    return [shown for statement in outbox_reads for shown in plans(engine, *statement)]


def plan_of(engine: Engine, read: Callable[[], object], marker: str) -> str:
    """The plan of the one statement `read` sends that contains `marker`."""
    (only,) = plans_of(engine, read, marker)
    return only


@pytest.mark.database
def test_claiming_due_pages_uses_the_ready_index(stormy: Engine) -> None:
    def claim() -> None:
        with session_scope(stormy) as session:
            due_outbox(session, NOW, limit=32)

    assert READY_INDEX in plan_of(stormy, claim, "FROM outbox")


@pytest.fixture(params=[True, False], ids=["analyzed", "no-statistics"])
def storm_as_found(engine: Engine, request: pytest.FixtureRequest) -> Engine:
    # Analyzed, or as a new database is in its first storm (and a restored one until autovacuum
    # gets to it): no statistics, on either backend.
    storm(engine, analyze=request.param)
    return engine


@pytest.mark.database
def test_the_throttle_reads_only_an_addresss_attempted_pages_whatever_the_planner_knows(
    storm_as_found: Engine,
) -> None:
    # Migration 0015: the held-back pages (stamped by their deferrals inside the minute) are not in
    # the index the throttle reads, so no plan on it walks them; on Postgres, 0002's index with the
    # statuses as a list was walked address-wide, the statuses a filter, when the table had no
    # statistics, and the prepared statement's generic plan kept that.
    address = "+15550000001"

    def count() -> None:
        with Session(storm_as_found) as session:
            # 300 sent 12 s apart: 5 in the last minute. The 1,000 held back are not attempts.
            assert page_throttle.recent_counts(session, NOW, {address}) == {address: 5}
            expected = [NOW - timedelta(seconds=12 * k) for k in range(5)]
            assert page_throttle.recent_attempts(session, NOW, address) == expected

    for shown in plans_as_chosen(storm_as_found, count, reads=2):
        assert ATTEMPTED_INDEX in shown, shown
        assert "Seq Scan" not in shown and "SCAN outbox" not in shown, shown


@pytest.mark.database
def test_the_end_of_an_addresss_queue_of_held_pages_is_found_by_index(stormy: Engine) -> None:
    def end() -> None:
        with Session(stormy) as session:
            end_of_queue = (NOW + timedelta(seconds=3 * 1_299), 1)
            assert page_throttle.queue_end(session, NOW, "+15550000001") == end_of_queue

    assert QUEUE_INDEX in plan_of(stormy, end, "DESC")


@pytest.mark.database
def test_the_end_of_a_queue_counts_the_pages_waiting_for_its_last_instant(engine: Engine) -> None:
    end = NOW + timedelta(minutes=5)
    with session_scope(engine) as session:
        for k, waits_for in enumerate([None, NOW, end - timedelta(seconds=1)] + [end] * 3 + [None]):
            row = page(f"queued-{k}", due_at=NOW - timedelta(minutes=1))
            row.address, row.next_attempt_at = "+15550000002", waits_for
            session.add(row)
        elsewhere = page("elsewhere", due_at=NOW)
        elsewhere.address, elsewhere.next_attempt_at = "+15550000003", end + timedelta(minutes=1)
        session.add(elsewhere)
    with Session(engine) as session:
        assert page_throttle.queue_end(session, NOW, "+15550000002") == (end, 3)
        assert page_throttle.queue_end(session, NOW, "+15550000004") == (None, 0)
        # An end already come is no queue (a claim's own pages, pending while it decides, are such).
        assert page_throttle.queue_end(session, end - timedelta(seconds=1), "+15550000002") == (end, 3)
        assert page_throttle.queue_end(session, end, "+15550000002") == (None, 0)


@pytest.mark.database
def test_the_count_at_the_end_of_a_queue_stops_at_the_throttle(engine: Engine) -> None:
    # More pages than the throttle's limit never wait for one instant's slots; past it, the count
    # changes no decision (core.delivery_plan.next_free_slot), so the read stops there.
    end = NOW + timedelta(minutes=5)
    with session_scope(engine) as session:
        for k in range(THROTTLE_PER_MINUTE + 5):
            row = page(f"crowded-{k}", due_at=NOW - timedelta(minutes=1))
            row.address, row.next_attempt_at = "+15550000002", end
            session.add(row)
    with Session(engine) as session:
        assert page_throttle.queue_end(session, NOW, "+15550000002") == (end, THROTTLE_PER_MINUTE)


@pytest.mark.database
def test_when_the_next_page_is_due_is_one_probe_of_the_ready_index_whatever_the_planner_knows(
    storm_as_found: Engine,
) -> None:
    # The worker reads this after every claim and on every wake-up. Written as min(), Postgres
    # without statistics planned an aggregate over every pending page (the 1,000 held back here):
    # the first row of each status in (status, ready at) is the answer, and the plan must say so.
    runtime = runtime_on(storm_as_found)

    def reads() -> None:
        assert next_page_due(runtime) == NOW + timedelta(seconds=3 * 300)
        with Session(storm_as_found) as session:
            pending = earliest_page_ready(session, statuses=PENDING_PAGE_STATUSES)
            assert pending == NOW + timedelta(seconds=900)

    for shown in plans_as_chosen(storm_as_found, reads, reads=2):
        assert READY_INDEX in shown, shown
        assert "Aggregate" not in shown and "SCAN outbox" not in shown, shown


@pytest.mark.database
def test_next_page_due_is_the_earliest_ready_instant_of_pending_and_unknown_pages(engine: Engine) -> None:
    runtime = runtime_on(engine)
    assert next_page_due(runtime) is None
    with session_scope(engine) as session:
        deferred = page(
            "deferred", due_at=NOW - timedelta(minutes=5), next_attempt_at=NOW + timedelta(minutes=1)
        )
        later = page("later", due_at=NOW + timedelta(seconds=30))
        unknown = page("unknown", due_at=NOW + timedelta(seconds=20))
        unknown.status = "unknown"
        sent = page("sent", due_at=NOW - timedelta(hours=1))
        sent.status = "sent"
        session.add_all([deferred, later, unknown, sent])
    assert next_page_due(runtime) == NOW + timedelta(seconds=20)
    with session_scope(engine) as session:
        stored = session.get(OutboxMessage, unknown.id)
        assert stored is not None
        stored.status = "sent"
    assert next_page_due(runtime) == NOW + timedelta(seconds=30)


def paged_history(engine: Engine) -> dict[str, int]:
    """A year of ann's pages: 400 alerts she was paged for, resolved, and three open ones (paged,
    paged but not yet attempted, paged to bob only); then ANALYZE. The ids of ann, bob and the open
    alerts."""
    with session_scope(engine) as session:
        add_service(session)
        ann, bob = User(handle="ann", name="Ann"), User(handle="bob", name="Bob")
        session.add_all([ann, bob])
        session.flush()
        ids = {"ann": ann.id or 0, "bob": bob.id or 0}
        for k in range(403):
            alert = add_alert(session, f"history-{k}")
            if k < 400:
                alert.status = "resolved"
            else:
                ids[("attempted", "unattempted", "bob's")[k - 400]] = alert.id or 0
            row = page(f"history-{k}", due_at=NOW - timedelta(minutes=k))
            row.alert_id, row.user_id, row.status = alert.id, ids["bob" if k == 402 else "ann"], "sent"
            row.last_attempt_at = None if k == 401 else NOW - timedelta(minutes=k)
            session.add(row)
    gather_statistics(engine)
    return ids


@pytest.mark.database
def test_an_sms_reply_finds_the_open_alerts_paged_to_its_sender_without_reading_every_page(
    engine: Engine,
) -> None:
    # `ack` without a number asks this in the reply's write transaction (on SQLite, holding the
    # writer lock every trigger needs): it read every page ever sent, and the outbox is never pruned.
    ids = paged_history(engine)

    def read() -> None:
        with Session(engine) as session:
            found = open_alerts_paged_to(session, [ids["ann"]])
            assert [alert.id for alert in found] == [ids["attempted"]]
            both = open_alerts_paged_to(session, [ids["ann"], ids["bob"]])
            assert [alert.id for alert in both] == [ids["attempted"], ids["bob's"]]

    shown_plans = plans_of(engine, read, "FROM alerts")
    assert len(shown_plans) == 2
    for shown in shown_plans:
        assert "ix_outbox_alert_id" in shown, shown
        assert "SCAN outbox" not in shown and "Seq Scan on outbox" not in shown, shown


@pytest.mark.database
def test_a_delivery_report_finds_its_page_by_the_provider_id_index(stormy: Engine) -> None:
    # Two or three status callbacks per SMS, each in a write transaction: without the index of
    # migration 0014 each read every page ever sent.
    with stormy.connect() as connection:
        connection.exec_driver_sql(
            "UPDATE outbox SET provider_id = 'SM' || CAST(id AS VARCHAR(20)) WHERE status = 'sent'"
        )
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    with Session(stormy) as session:
        page_id = session.exec(select(OutboxMessage.id).where(OutboxMessage.status == "sent")).first()

    def report() -> None:
        with session_scope(stormy) as session:
            found = reported_page(session, f"SM{page_id}", None)
            assert found is not None and found.id == page_id
            assert reported_page(session, "SM-unknown", None) is None

    shown_plans = plans_of(stormy, report, "provider_id =")
    assert len(shown_plans) == 2
    for shown in shown_plans:
        assert "ix_outbox_provider_id" in shown, shown


@pytest.mark.database
def test_a_persons_newest_sms_pages_are_one_walk_down_the_user_index(engine: Engine) -> None:
    # The demo's phone panel reads this per person: without migration 0016's index each read scanned
    # and sorted every page ever sent (15 people over 6,000 pages: ~74 ms, the slowest console page).
    ids = paged_history(engine)
    with engine.connect() as connection:
        # Newest first by when each page was queued; every fifth is a call, which the panel leaves out.
        connection.exec_driver_sql("UPDATE outbox SET created_at = due_at")
        connection.execute(text("UPDATE outbox SET method = 'voice' WHERE id % 5 = 0"))
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage.id, OutboxMessage.created_at, OutboxMessage.method, OutboxMessage.user_id)
        ).all()
    expected = sorted(
        (row for row in rows if row[2] == "sms" and row[3] == ids["ann"]), key=lambda row: (row[1], row[0])
    )[::-1][:20]

    def read() -> None:
        with Session(engine) as session:
            found = sms_pages_to(session, ids["ann"], 20)
            assert [(page_id, at) for page_id, at, *_ in found] == [row[:2] for row in expected]
            # Each with its alert's summary and the text as sent (page() writes "ALERT <key>").
            for _, _, alert_id, summary, body, status in found:
                assert alert_id is not None and status == "sent"
                assert summary == body.removeprefix("ALERT ") + " broke", (summary, body)

    for shown in plans_as_chosen(engine, read, reads=1):
        assert "ix_outbox_user_id_created_at" in shown, shown
        assert "SCAN outbox" not in shown and "Seq Scan" not in shown, shown
        assert "TEMP B-TREE" not in shown and "Sort" not in shown, shown  # the index's order is the answer's
