"""Claims of due pages take turns across workers, so the throttle and the one-call-per-number rule
(which voice reconciliation relies on) always see the other worker's claimed rows."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from pager.db.outbox import claim_due_outbox, serialize_claims
from pager.db.session import session_scope
from tests.db.test_repositories import NOW, insert_pages, page, second_engine


@pytest.mark.database
def test_a_second_claim_waits_for_the_first_to_commit(engine: Engine, database_url_at_head: str) -> None:
    with session_scope(engine) as session:
        insert_pages(session, *(page(f"p-{i}") for i in range(4)))
    other = second_engine(database_url_at_head)  # gives up after 200 ms instead of waiting
    try:
        with session_scope(engine) as holder:
            serialize_claims(holder)
            held = {m.id for m in claim_due_outbox(holder, NOW, limit=2)}
            # Without the turn, Postgres's SKIP LOCKED would hand the other worker the rest at once,
            # while it still cannot see that this claim has a call in flight to the same numbers.
            with pytest.raises(OperationalError), session_scope(other) as session:
                serialize_claims(session)
                claim_due_outbox(session, NOW, limit=10)
        with session_scope(other) as session:
            serialize_claims(session)
            rest = {m.id for m in claim_due_outbox(session, NOW, limit=10)}
        assert len(rest) == 2 and rest.isdisjoint(held)
    finally:
        other.dispose()
