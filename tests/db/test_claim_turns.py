"""Claims of due pages take turns across workers, so the throttle and the one-call-per-number rule
(which voice reconciliation relies on) always see the other worker's claimed rows."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from pager.db.alerts import add_timeline_entry, lock_alert
from pager.db.outbox import serialize_claims
from pager.db.session import session_scope
from tests.db.conftest import backend_of
from tests.db.test_repositories import NOW, add_alert, add_service, insert_pages, page, second_engine
from tests.support import claim_due_outbox


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


@pytest.mark.database
def test_an_ack_holding_its_alert_lets_a_claim_write_that_alerts_timeline(
    engine: Engine, database_url_at_head: str
) -> None:
    # The deadlock this prevents (Postgres): a claim holds an alert's pending pages and writes a line
    # on its timeline (whose foreign key takes a KEY SHARE lock on the alert); an ack holds the alert
    # and waits for those pages to cancel them. Alerts are locked FOR NO KEY UPDATE, which a KEY SHARE
    # does not wait for, so the claim finishes and the ack goes on.
    with session_scope(engine) as session:
        add_service(session)
        alert_id = add_alert(session, "a-1").id
    assert alert_id is not None
    other = second_engine(database_url_at_head)  # gives up after 200 ms instead of waiting
    try:
        with session_scope(engine) as ack:
            assert lock_alert(ack, alert_id) is not None
            if backend_of(database_url_at_head) == "postgresql":
                with session_scope(other) as claim:
                    add_timeline_entry(claim, alert_id=alert_id, at=NOW, kind="page_attempt", message="sms")
            else:  # one writer at a time: the claim waits for the ack's transaction as a whole
                with pytest.raises(OperationalError, match="locked"), session_scope(other) as claim:
                    add_timeline_entry(claim, alert_id=alert_id, at=NOW, kind="page_attempt", message="sms")
    finally:
        other.dispose()
