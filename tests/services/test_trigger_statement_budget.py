"""How many SQL statements the engine's hot paths issue: a regression guard for reads added back.

A new alert is read and written on every trigger, and an escalation pass may decide thousands of
alerts: a read added to either is paid on every one of them (docs/architecture.md, "The engine").
Each budget below is what the path issues today; a change that needs another statement must say so
here. Statements are counted with SQLAlchemy's `before_cursor_execute` event, without the `BEGIN`
SQLite is sent (Postgres gets no such statement, so the counts are the same there, apart from the
worker's wake-up, which is a statement on Postgres only).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from pager.db.session import create_db_engine, session_scope
from pager.db.tables import Alert, OutboxMessage, TimelineEntry
from pager.db.users import add_notification_rule, contact_methods_of
from pager.services.alerting import alerts, catalog
from pager.services.alerting.alerts import TriggerRequest, write_triggers
from pager.services.alerting.escalation import run_due_escalations
from pager.services.alerting.maintenance import start_window
from pager.services.calendars.overrides import add_override
from pager.services.people import users
from pager.services.people.edits import set_active
from pager.services.runtime import Runtime
from tests import support

pytestmark = pytest.mark.database

T0 = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
SCHEDULES = {
    "team": """\
        time_zone: UTC
        layers:
          - name: weekly
            members: [alice, dave]
            start: 2026-01-05T09:00
            shift: 1w
        """,
}
POLICIES = {
    "main": """\
        levels:
          - notify: [schedule:team]
            escalate_after: 5m
          - notify: [schedule:team, user:bob]
            escalate_after: 10m
        services:
          - {id: api, name: API}
        """,
}

# Per new alert: the service, the open alert (locked), the insert, who is on call (overrides with
# the deactivated people), the people paged (one query), the alert's columns, its timeline, its pages.
NEW_ALERT = 8
# Per repeated trigger: the service, the open alert, its count, its columns and timeline line; the
# decision reads nothing (no schedule, nobody's rules).
REPEATED_TRIGGER = 5
# Per trigger or group that opened an alert, on Postgres: the worker's wake-up (NOTIFY; a datagram on SQLite).
WAKE_UP = {"postgresql": 1, "sqlite": 0}
# Per group, on Postgres: its dedup keys locked in sorted order (one statement), so that two groups
# sharing keys never lock alert rows crosswise.
GROUP_KEYS_LOCK = {"postgresql": 1, "sqlite": 0}
# Per trigger of a group after the first, of the same service: nothing of its own. The group's open
# alerts are read in one statement per service and its new ones inserted in one, before its first
# decision, and the three writes (columns, timeline, pages) are one statement each for the whole
# group: all counted in the first trigger's NEW_ALERT.
GROUPED_ALERT = 0
# Per group repeating one open alert, however many times: the service, the open alert, its count, its
# columns and timeline lines (one statement each for all the repeats).
GROUP_OF_REPEATS = 5
# Per escalation pass, whatever its size: the claim, the services, everyone with their rules and
# whether deactivated (one query), the overrides, the alerts' columns, their timeline, their pages.
ESCALATION_PASS = 7
# A pass releasing held alerts: as above, plus the maintenance windows of their services (one query).
HOLD_END_PASS = 8


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    built = support.console_runtime(engine, support.write_config(tmp_path / "config", SCHEDULES, POLICIES))
    with session_scope(engine) as session:
        alice = users.add_user(
            session, handle="alice", name="Alice", now=T0, sms="+15550000001", voice="+15550000001"
        )
        users.add_user(session, handle="bob", name="Bob", now=T0, sms="+15550000002", email="b@x.io")
        users.add_user(session, handle="dave", name="Dave", now=T0, sms="+15550000004")
        assert alice.id is not None
        for delay, method in enumerate(contact_methods_of(session, alice.id)):
            assert method.id is not None
            add_notification_rule(
                session, user_id=alice.id, contact_method_id=method.id, delay_seconds=60 * delay, now=T0
            )
        catalog.sync_services(session, built.config, T0)
    # First-use work (connections, compiled statements) done before anything is counted.
    warm_up = alerts.trigger_alert(built, service_id="api", summary="warm-up", now=T0)
    alerts.act_on_alert(built, warm_up.alert_id, "resolve", by=None, now=T0)
    return built


ADDRESSES = {"alice": ("+15550000001",), "bob": ("+15550000002", "b@x.io"), "dave": ("+15550000004",)}


def pages_for(runtime: Runtime, handle: str) -> int:
    with session_scope(runtime.engine, read_only=True) as session:
        pages = session.exec(select(OutboxMessage.address)).all()
    return sum(1 for address in pages if address in ADDRESSES[handle])


def trigger(runtime: Runtime, key: str, at: datetime = T0) -> alerts.AlertOutcome:
    return alerts.trigger_alert(runtime, service_id="api", summary=f"disk {key}", now=at, dedup_key=key)


def test_a_new_alert_reads_each_fact_once(runtime: Runtime) -> None:
    with support.statements_sent(runtime.engine, leave_out=("BEGIN",)) as statements:
        outcome = trigger(runtime, "disk")
    assert outcome.created
    assert pages_for(runtime, "alice") == 2 * 2  # the warm-up's and this alert's sms and voice
    assert len(statements) == NEW_ALERT + WAKE_UP[runtime.engine.dialect.name], "\n".join(statements)


def test_a_repeated_trigger_reads_nothing_for_its_decision(runtime: Runtime) -> None:
    trigger(runtime, "disk")
    with support.statements_sent(runtime.engine, leave_out=("BEGIN",)) as statements:
        outcome = trigger(runtime, "disk", T0 + timedelta(seconds=1))
    assert not outcome.created
    assert len(statements) == REPEATED_TRIGGER, "\n".join(statements)


def test_a_group_of_triggers_reads_the_facts_once(runtime: Runtime) -> None:
    requests = [
        TriggerRequest.build(service_id="api", summary="disk", now=T0, dedup_key=f"k{i}") for i in range(10)
    ]
    with support.statements_sent(runtime.engine, leave_out=("BEGIN",)) as statements:
        results = write_triggers(runtime, requests)
    assert all(isinstance(result, alerts.AlertOutcome) and result.created for result in results)
    dialect = runtime.engine.dialect.name
    expected = NEW_ALERT + 9 * GROUPED_ALERT + WAKE_UP[dialect] + GROUP_KEYS_LOCK[dialect]
    assert len(statements) == expected, "\n".join(statements)


def test_a_group_repeating_one_alert_reads_and_writes_it_once(runtime: Runtime) -> None:
    opened = trigger(runtime, "disk")
    requests = [
        TriggerRequest.build(
            service_id="api",
            summary="disk",
            now=T0 + timedelta(seconds=i),
            dedup_key="disk",
            details={"n": i},
        )
        for i in range(1, 11)
    ]
    with support.statements_sent(runtime.engine, leave_out=("BEGIN",)) as statements:
        results = write_triggers(runtime, requests)
    assert all(isinstance(result, alerts.AlertOutcome) and not result.created for result in results)
    assert {result.alert_id for result in results if isinstance(result, alerts.AlertOutcome)} == {
        opened.alert_id
    }
    expected = GROUP_OF_REPEATS + GROUP_KEYS_LOCK[runtime.engine.dialect.name]
    assert len(statements) == expected, "\n".join(statements)
    with session_scope(runtime.engine, read_only=True) as session:
        alert = session.get_one(Alert, opened.alert_id)
        repeats = session.exec(select(TimelineEntry).where(TimelineEntry.kind == "trigger_repeated")).all()
        assert (alert.event_count, alert.details) == (11, {"last_event": {"n": 10}})
        assert alert.last_event_at.replace(tzinfo=UTC) == T0 + timedelta(seconds=10)
    assert len(repeats) == 10


@pytest.mark.parametrize("due", [1, 12])
def test_an_escalation_pass_reads_the_facts_once_whatever_its_size(runtime: Runtime, due: int) -> None:
    for i in range(due):
        trigger(runtime, f"k{i}")
    with support.statements_sent(runtime.engine, leave_out=("BEGIN",)) as statements:
        decided = run_due_escalations(runtime, T0 + timedelta(minutes=5))
    assert decided == due
    assert pages_for(runtime, "bob") == 2 * due
    if runtime.engine.dialect.name == "sqlite":  # Postgres runs two batches at once: two empty claims
        assert len(statements) == ESCALATION_PASS, "\n".join(statements)


@pytest.mark.parametrize("held", [1, 12])
def test_a_pass_ending_holds_reads_the_windows_once(runtime: Runtime, held: int) -> None:
    with session_scope(runtime.engine) as session:
        start_window(session, "api", timedelta(minutes=10), reason="", by=None, now=T0)
    for i in range(held):
        assert trigger(runtime, f"k{i}").created
    with session_scope(runtime.engine, read_only=True) as session:
        assert len(session.exec(select(Alert).where(Alert.status == "suppressed")).all()) == held
    with support.statements_sent(runtime.engine, leave_out=("BEGIN",)) as statements:
        decided = run_due_escalations(runtime, T0 + timedelta(minutes=10))
    assert decided == held
    assert pages_for(runtime, "alice") == 2 * (held + 1)  # and the warm-up's
    if runtime.engine.dialect.name == "sqlite":
        assert len(statements) == HOLD_END_PASS, "\n".join(statements)


# What is read once per batch is still read afresh by the next one: another process's changes count.


@contextmanager
def other_process(runtime: Runtime) -> Iterator[Engine]:
    """An engine of its own on the same database, as another pager process has."""
    engine = create_db_engine(runtime.engine.url)
    try:
        yield engine
    finally:
        engine.dispose()


def test_a_window_started_elsewhere_holds_the_next_trigger(runtime: Runtime) -> None:
    assert trigger(runtime, "before").created
    with other_process(runtime) as engine, session_scope(engine) as session:
        start_window(session, "api", timedelta(hours=1), reason="", by=None, now=T0)
    trigger(runtime, "after", T0 + timedelta(seconds=1))
    with session_scope(runtime.engine, read_only=True) as session:
        statuses = dict(
            session.exec(select(Alert.dedup_key, Alert.status).where(Alert.status != "resolved")).all()
        )
    assert statuses == {"before": "triggered", "after": "suppressed"}


def test_people_deactivated_elsewhere_are_paged_by_no_later_decision(runtime: Runtime) -> None:
    assert trigger(runtime, "first").created  # alice, the primary, is paged
    with other_process(runtime) as engine, session_scope(engine) as session:
        set_active(session, "alice", False, T0)
        set_active(session, "bob", False, T0)
    trigger(runtime, "second", T0 + timedelta(seconds=1))  # the rotation's next: dave
    assert run_due_escalations(runtime, T0 + timedelta(minutes=6)) == 2
    # Level 2 (the schedule and bob) pages dave for both; alice only ever for the first.
    assert (pages_for(runtime, "alice"), pages_for(runtime, "bob"), pages_for(runtime, "dave")) == (4, 0, 3)
    with session_scope(runtime.engine, read_only=True) as session:
        lines = session.exec(select(TimelineEntry.message)).all()
    assert [line for line in lines if "bob" in line] == []  # `user:bob` meant nobody: not "cannot page"


def test_a_group_reads_overrides_once_over_all_its_instants(runtime: Runtime) -> None:
    handoff = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # dave's week ends, alice's begins
    with session_scope(runtime.engine) as session:
        add_override(
            session,
            runtime.config,
            schedule_id="team",
            role="primary",
            user="bob",
            start=handoff + timedelta(minutes=1),
            end=handoff + timedelta(minutes=2),
            now=T0,
        )
    instants = [handoff - timedelta(seconds=1), handoff, handoff + timedelta(minutes=1)]
    requests = [
        TriggerRequest.build(service_id="api", summary="disk", now=at, dedup_key=f"k{i}")
        for i, at in enumerate(instants)
    ]
    with support.statements_sent(runtime.engine, leave_out=("BEGIN",)) as statements:
        write_triggers(runtime, requests)
    # dave before the handoff, alice at it, bob in the override: each trigger's own instant.
    assert (pages_for(runtime, "dave"), pages_for(runtime, "alice"), pages_for(runtime, "bob")) == (1, 4, 2)
    # The people read grows by whoever later triggers bring (alice was read with dave); nothing else.
    dialect = runtime.engine.dialect.name
    expected = NEW_ALERT + 2 * GROUPED_ALERT + 1 + WAKE_UP[dialect] + GROUP_KEYS_LOCK[dialect]
    assert len(statements) == expected, "\n".join(statements)
