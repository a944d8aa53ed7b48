"""The trigger path's statements against a real, migrated database (SQLite, or Postgres in CI)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from pager.db.session import session_scope
from pager.db.tables import Alert, Service
from pager.db.trigger_queries import (
    count_repeated_trigger,
    find_service_columns,
    insert_alert,
    lock_open_alert,
    lock_open_alerts,
)
from tests.db.query_plans import plan, statements

pytestmark = pytest.mark.database

NOW = datetime(2026, 3, 8, 8, 30, tzinfo=UTC)


def add_service(session: Session) -> None:
    session.add(Service(id="api", name="API", policy_id="main", runbook="https://r", integration_key="k-api"))
    session.flush()


def test_a_service_is_found_by_id_or_by_key_and_nothing_else(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        assert find_service_columns(session, service_id="api") == ("api", "API", "main", "https://r")
        assert find_service_columns(session, key="k-api") == ("api", "API", "main", "https://r")
        assert find_service_columns(session, key="api") is None
        assert find_service_columns(session, service_id="k-api") is None
        with pytest.raises(ValueError, match="exactly one"):
            find_service_columns(session, service_id="api", key="k-api")


def test_an_inserted_alert_has_the_models_defaults(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        new_id = insert_alert(session, service_id="api", dedup_key="d", summary="s", last_event_at=NOW)
        with pytest.raises(TypeError, match="summary"):
            insert_alert(session, service_id="api", dedup_key="e")
    with session_scope(engine, read_only=True) as session:
        alert = session.get(Alert, new_id)
        assert alert is not None
        assert (alert.status, alert.event_count, alert.level, alert.loop) == ("triggered", 1, 1, 1)
        assert (alert.severity, alert.source, alert.details, alert.escalation_state) == (
            "critical",
            "",
            {},
            {},
        )
        assert (alert.last_event_at, alert.next_action_at) == (NOW, None)


def test_only_the_open_alert_of_a_dedup_key_is_found_and_a_repeat_counts_into_it(engine: Engine) -> None:
    with session_scope(engine) as session:
        add_service(session)
        old = insert_alert(session, service_id="api", dedup_key="d", summary="old", status="resolved")
        assert lock_open_alert(session, "api", "d") is None
        new_id = insert_alert(session, service_id="api", dedup_key="d", summary="new", details={"a": 1})
        found = lock_open_alert(session, "api", "d")
        assert found is not None and (found.id, found.summary, found.details) == (new_id, "new", {"a": 1})
        assert old != new_id and lock_open_alert(session, "web", "d") is None
        later = NOW + timedelta(minutes=1)
        count_repeated_trigger(session, new_id, later)
        count_repeated_trigger(session, new_id, later, {"a": 1, "last_event": {"b": 2}})
    with session_scope(engine, read_only=True) as session:
        alert = session.get(Alert, new_id)
        assert alert is not None
        assert (alert.event_count, alert.details, alert.updated_at) == (
            3,
            {"a": 1, "last_event": {"b": 2}},
            later,
        )


def test_many_dedup_keys_find_their_open_alerts_in_one_statement_through_the_open_index(
    engine: Engine,
) -> None:
    # A group's look-up (`lock_open_alerts`): only open alerts of that service, served by the
    # open-alert partial index (with thousands of open alerts, a scan would be per trigger group).
    with session_scope(engine) as session:
        add_service(session)
        session.add(Service(id="web", name="Web", policy_id="main", integration_key="k-web"))
        session.flush()
        open_a = insert_alert(session, service_id="api", dedup_key="a", summary="a")
        insert_alert(session, service_id="api", dedup_key="c", summary="c", status="resolved")
        open_b = insert_alert(session, service_id="api", dedup_key="b", summary="b", details={"n": 2})
        insert_alert(session, service_id="web", dedup_key="d", summary="web's d")
    with statements(engine) as sent, session_scope(engine) as session:
        found = lock_open_alerts(session, "api", ["a", "b", "c", "d", "zz"])
        assert {key: (alert.id, alert.details) for key, alert in found.items()} == {
            "a": (open_a, {}),
            "b": (open_b, {"n": 2}),
        }
        assert lock_open_alerts(session, "api", ["c", "d"]) == {}
    lookups = [(sql, params) for sql, params in sent if "FROM alerts" in sql]
    assert len(lookups) == 2
    sql, parameters = lookups[0]
    if engine.dialect.name == "postgresql":
        sql = sql.replace(" FOR NO KEY UPDATE", "")  # EXPLAIN without the lock: the same scan
    assert "uq_alerts_open_dedup_key" in plan(engine, sql, parameters)
