"""The delivery claim's statements that take lists of values (pager.db.value_lists), against a real,
migrated database (SQLite, or Postgres in CI): they act on exactly the rows named, and on Postgres
their text does not change with the number of values (compiled and prepared once)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import col, select

from pager.db.outbox import lock_statuses_among, mark_sending
from pager.db.outbox_throttle import attempt_counts_since
from pager.db.session import is_postgres, session_scope
from pager.db.tables import OutboxMessage
from tests.db.test_repositories import NOW, insert_pages, page
from tests.support import statements_sent

pytestmark = pytest.mark.database


def test_a_claim_marks_reads_and_counts_exactly_the_pages_and_addresses_it_names(engine: Engine) -> None:
    with session_scope(engine) as session:
        ids = insert_pages(session, *(page(f"p-{i}") for i in range(5)))
        # Two other addresses, so a count that ignored its address list would be seen.
        session.connection().execute(
            text("UPDATE outbox SET address = :to WHERE id = :id"),
            [{"to": "+15550200", "id": ids[3]}, {"to": "+15550300", "id": ids[4]}],
        )
        mark_sending(session, [ids[0], ids[2], ids[3]], NOW)
        mark_sending(session, [], NOW)  # nothing named: nothing changed, no error
    with session_scope(engine) as session:
        statuses = dict(session.exec(select(OutboxMessage.id, OutboxMessage.status)).all())
        assert statuses == {
            ids[0]: "sending",
            ids[1]: "pending",
            ids[2]: "sending",
            ids[3]: "sending",
            ids[4]: "pending",
        }
        attempts = session.exec(select(OutboxMessage.attempts).where(col(OutboxMessage.id) == ids[0])).one()
        assert attempts == 1
        assert lock_statuses_among(session, [ids[0], ids[1], ids[3]], ("sending",)) == {
            ids[0]: "sending",
            ids[3]: "sending",
        }
        assert lock_statuses_among(session, [ids[1], ids[4]], ("sending", "pending")) == {
            ids[1]: "pending",
            ids[4]: "pending",
        }
        assert lock_statuses_among(session, [], ("sending",)) == {}
        since = NOW - timedelta(minutes=1)
        # Held back: pending, its last_attempt_at stamped by the claim that deferred it. No attempt.
        held = session.get(OutboxMessage, ids[1])
        assert held is not None
        held.last_attempt_at = NOW - timedelta(seconds=10)
        session.flush()
        assert attempt_counts_since(session, since, {"+15550100", "+15550200"}) == {
            "+15550100": 2,
            "+15550200": 1,
        }
        assert attempt_counts_since(session, since, {"+15550300"}) == {}
        assert attempt_counts_since(session, NOW, {"+15550100"}) == {}  # not after `since`
        assert attempt_counts_since(session, since, set()) == {}


def test_on_postgres_a_list_statement_is_one_text_whatever_the_number_of_values(engine: Engine) -> None:
    with session_scope(engine) as session:
        ids = insert_pages(session, *(page(f"p-{i}") for i in range(5)))
        with statements_sent(engine) as sent:
            lock_statuses_among(session, ids[:2], ("sending",))
            lock_statuses_among(session, ids, ("sending", "sent", "delivered"))
            mark_sending(session, ids[:1], NOW)
            mark_sending(session, ids[1:], NOW)
        postgres = is_postgres(session)
    assert len(sent) == 4
    # SQLite has no arrays: its IN lists are rendered per execution, one placeholder per value.
    assert (sent[0] == sent[1]) is postgres
    assert (sent[2] == sent[3]) is postgres
