"""The status page's reads (pager/db/status_queries.py) on SQLite and Postgres: drills, internal-only
incidents and internal updates are left out, every result is bounded, and on Postgres the read is
one read-only REPEATABLE READ snapshot with a statement timeout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from pager.db.incident_tables import Incident, StatusUpdate
from pager.db.session import session_scope
from pager.db.status_queries import (
    STATEMENT_TIMEOUT_MS,
    limit_statement_time,
    newest_public_updates,
    shown_open_incidents,
    shown_past_incidents,
    snapshot_engine,
)

pytestmark = pytest.mark.database

NOW = datetime(2026, 3, 4, 15, 20, tzinfo=UTC)


def add(
    engine: Engine, number: int, *, status: str = "investigating", days_ago: float = 0, **fields: object
) -> int:
    with session_scope(engine) as session:
        row = Incident(
            number=number,
            title=f"incident {number}",
            severity="SEV1",
            status=status,  # type: ignore[arg-type]
            declared_by="alice",
            declared_at=NOW - timedelta(days=days_ago),
            **fields,  # type: ignore[arg-type]
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id


def updates(engine: Engine, incident_id: int, count: int, public: bool = True) -> list[int]:
    with session_scope(engine) as session:
        rows = [
            StatusUpdate(
                incident_id=incident_id,
                at=NOW + timedelta(minutes=n),
                author="alice",
                message=f"update {n}",
                public=public,
            )
            for n in range(count)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows if row.id is not None]


def test_only_incidents_that_may_be_shown_are_read(engine: Engine) -> None:
    impact = add(engine, 1, customer_impact=True)
    public = add(engine, 2)
    updates(engine, public, 1)
    internal = add(engine, 3)
    updates(engine, internal, 2, public=False)
    drill = add(engine, 4, customer_impact=True, drill=True)
    updates(engine, drill, 1)
    past = add(engine, 5, status="closed", days_ago=10, customer_impact=True)
    add(engine, 6, status="resolved", days_ago=100, customer_impact=True)  # before `since`
    add(engine, 7, status="resolved", days_ago=1, drill=True, customer_impact=True)
    with session_scope(engine, read_only=True) as session:
        assert [i.id for i in shown_open_incidents(session, 10)] == [public, impact]  # by declared_at, id
        assert [i.id for i in shown_past_incidents(session, NOW - timedelta(days=90), 10)] == [past]
        assert [i.id for i in shown_open_incidents(session, 1)] == [public]


def test_public_updates_are_bounded_per_incident_newest_first(engine: Engine) -> None:
    first, second = add(engine, 1), add(engine, 2)
    ids_first = updates(engine, first, 5)
    updates(engine, first, 3, public=False)
    ids_second = updates(engine, second, 2)
    with session_scope(engine, read_only=True) as session:
        found = newest_public_updates(session, [first, second], 3)
        assert newest_public_updates(session, [], 3) == []
    assert [(u.incident_id, u.id) for u in found] == [
        *((first, i) for i in reversed(ids_first[-3:])),
        *((second, i) for i in reversed(ids_second)),
    ]
    assert all(u.public for u in found)


def test_the_read_is_one_read_only_snapshot_with_a_timeout_on_postgres(engine: Engine) -> None:
    with session_scope(snapshot_engine(engine), read_only=True) as session:
        limit_statement_time(session)
        if engine.url.get_backend_name() != "postgresql":
            assert snapshot_engine(engine) is engine  # a deferred SQLite read is one snapshot already
            return
        assert session.execute(text("SHOW transaction_isolation")).scalar() == "repeatable read"
        assert session.execute(text("SHOW transaction_read_only")).scalar() == "on"
        assert session.execute(text("SHOW statement_timeout")).scalar() == f"{STATEMENT_TIMEOUT_MS // 1000}s"
    with session_scope(engine) as session:  # the engine's other transactions are untouched
        if engine.url.get_backend_name() == "postgresql":
            assert session.execute(text("SHOW transaction_isolation")).scalar() == "read committed"
            assert session.execute(text("SHOW statement_timeout")).scalar() == "0"
