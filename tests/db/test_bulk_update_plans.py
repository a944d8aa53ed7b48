"""A bulk update (pager.db.row_updates.update_rows) fetches its rows by primary key, whatever the
table's size and whether or not it has statistics.

On Postgres a batch is one UPDATE … FROM jsonb_to_recordset(…), and the planner takes that function
for 100 rows whatever it holds: joined on it alone, the update read the whole table (a hash join on a
sequential scan) until the table passed ~15,000 rows, with statistics or without. bench/ingest.py's
Postgres pass caught it: in a storm, every claim and every trigger group's update read thousands of
rows of `outbox` and `alerts`. The plans here are the database's own, as the server would choose them
(no planner setting changed): on Postgres both the plan for the values sent and the generic plan a
prepared statement settles on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from pager.db.row_updates import update_rows
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from tests.db.query_plans import gather_statistics, plans, statements
from tests.db.test_repositories import page

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
ROWS = 3_000


@pytest.fixture(params=[True, False], ids=["analyzed", "no-statistics"])
def full_outbox(engine: Engine, request: pytest.FixtureRequest) -> list[int]:
    """ROWS pages, held back as in a storm to one number; their ids. Analyzed or not."""
    with session_scope(engine) as session:
        session.add_all(page(f"storm-{k}", due_at=NOW - timedelta(seconds=k)) for k in range(ROWS))
    if request.param:
        gather_statistics(engine)
    with session_scope(engine) as session:
        return sorted(row.id for row in session.exec(select(OutboxMessage)) if row.id is not None)


@pytest.mark.database
def test_a_bulk_update_fetches_its_rows_by_primary_key(engine: Engine, full_outbox: list[int]) -> None:
    chosen = full_outbox[100:103]
    changes = [{"id": row_id, "last_error": f"held {row_id}", "updated_at": NOW} for row_id in chosen]
    with statements(engine) as sent, session_scope(engine) as session:
        update_rows(session, OutboxMessage, changes)
    (update,) = [(sql, params) for sql, params in sent if sql.startswith("UPDATE outbox")]
    for found in plans(engine, *update):
        assert "Seq Scan on outbox" not in found and "SCAN outbox" not in found, found
        assert "outbox_pkey" in found or "pk_outbox" in found or "PRIMARY KEY" in found, found
    with session_scope(engine) as session:
        written = {row.id: row.last_error for row in session.exec(select(OutboxMessage))}
    assert {row_id for row_id, error in written.items() if error is not None} == set(chosen)
    assert all(written[row_id] == f"held {row_id}" for row_id in chosen)
