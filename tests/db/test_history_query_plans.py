"""Reads whose cost must not grow with history use migration 0018's indexes (on both backends).

The alert list filtered by status and service (the console's /alerts re-reads itself every 5 s)
and the status page's past incidents. A test per read: the answer, checked against the rows
filtered in Python, and the plan the planner chooses for the SQL the read sent (analyzed, and as a
new database is: no statistics), as in tests/db/test_outbox_query_plans.py; where Postgres may
rightly choose among plans, how many rows the plan it chose reads when run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlmodel import Session

from pager.db.alerts import newest_alerts
from pager.db.incident_tables import Incident
from pager.db.session import session_scope
from pager.db.status_queries import shown_past_incidents
from pager.db.tables import Alert
from tests.db.query_plans import gather_statistics, plans, rows_read, sent_by
from tests.db.test_repositories import add_service

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
ALERT_INDEX = "ix_alerts_service_id_status_id"
INCIDENT_INDEX = "ix_incidents_declared_at_id"


def only_read(engine: Engine, read: Callable[[], object], table: str) -> tuple[str, Any]:
    """The one statement (SQL, parameters) that `read` sends reading `table`."""
    (only,) = sent_by(engine, read, f"FROM {table}")
    return only


def alert_history(engine: Engine, analyze: bool) -> list[tuple[int, str, str]]:
    """A busy service's 3,110 resolved alerts and a quiet one's 40, interleaved, then 40 open of the
    busy one and 10 of the quiet one; (id, service, status) of every alert."""
    with session_scope(engine) as session:
        add_service(session, "busy")
        add_service(session, "quiet")
        rows = []
        for k in range(3_200):
            quiet = k % 80 == 0
            status = "resolved" if k < 3_150 else ("triggered", "acknowledged")[k % 2]
            service = "quiet" if quiet or k >= 3_190 else "busy"
            rows.append(
                {
                    "service_id": service,
                    "dedup_key": f"k{k}",
                    "summary": f"alert {k}",
                    "status": status,
                    "escalation_state": {},
                    "details": {},
                }
            )
        session.execute(insert(Alert), rows)
    if analyze:
        gather_statistics(engine)
    with Session(engine) as session:
        found = session.exec(Alert.__table__.select()).all()  # type: ignore[attr-defined]
    return [(row.id, row.service_id, row.status) for row in found]


@pytest.mark.database
@pytest.mark.parametrize("analyze", [True, False], ids=["analyzed", "no-statistics"])
@pytest.mark.parametrize(
    ("status", "service"),
    [
        ("resolved", "quiet"),
        ("triggered", "quiet"),
        ("triggered", "busy"),
        ("acknowledged", "busy"),
        (None, "quiet"),
        (None, "busy"),
    ],
)
def test_the_alert_list_by_status_and_service_walks_only_that_service_and_status(
    engine: Engine, analyze: bool, status: str | None, service: str
) -> None:
    # Before 0018 a quiet service's resolved alerts were found by walking every resolved alert of
    # every service, newest first (34 ms at 38,667 on SQLite, on every 5-second poll of /alerts).
    # 0018's index replaced the one on service_id alone: a service's alerts of any status are read
    # as one walk per status (status None), which must not read history either.
    history = alert_history(engine, analyze)
    expected = sorted((i for i, s, st in history if s == service and status in (st, None)), reverse=True)[:25]
    assert expected

    def read() -> None:
        with Session(engine) as session:
            found = newest_alerts(session, status=status, service_id=service, limit=25, offset=0)
            assert [alert.id for alert in found] == expected

    statement = only_read(engine, read, "alerts")
    if engine.dialect.name == "sqlite":
        # SQLite gathers no statistics by itself: it must take the index whose order is the answer.
        (shown,) = plans(engine, *statement)
        assert ALERT_INDEX in shown and "SCAN alerts" not in shown, shown
        # With no status, the newest 25 of each status are merged in a sort (of at most 100 ids).
        assert status is None or "TEMP B-TREE" not in shown, shown
    else:
        # Postgres weighs its indexes by the statistics it has (a few rows sorted may be the cheaper
        # plan): whichever it takes, it must not read history. Each pair here has at most 50 rows;
        # walking every resolved alert newest first for the quiet service's reads ~2,000, and every
        # alert of the busy service 3,110. With no status: up to 25 ids of each of the four
        # statuses, each then read by its id.
        for read_rows in rows_read(engine, *statement, "alerts"):
            assert read_rows <= (100 if status else 200), read_rows


@pytest.mark.database
@pytest.mark.parametrize("analyze", [True, False], ids=["analyzed", "no-statistics"])
def test_the_status_pages_past_incidents_are_read_newest_declared_first_from_the_index(
    engine: Engine, analyze: bool
) -> None:
    # Before 0018 this scanned and sorted every incident ever declared (6 ms at 10,000 on SQLite).
    rows = [
        {
            "number": k + 1,
            "title": f"Incident {k + 1}",
            "severity": "SEV2",
            "status": "resolved" if k % 7 else "closed",
            "drill": k % 11 == 0,
            "customer_impact": k % 3 != 0,
            "declared_by": "ann",
            # Two declared in the same second now and then: the id breaks the tie.
            "declared_at": NOW - timedelta(hours=k // 2 * 5),
        }
        for k in range(2_000)
    ]
    with session_scope(engine) as session:
        session.execute(insert(Incident), rows)
    if analyze:
        gather_statistics(engine)
    since = NOW - timedelta(days=90)
    with Session(engine) as session:
        every = session.exec(Incident.__table__.select()).all()  # type: ignore[attr-defined]
    shown = [i for i in every if not i.drill and i.customer_impact and i.declared_at >= since]
    expected = [i.id for i in sorted(shown, key=lambda i: (i.declared_at, i.id), reverse=True)][:10]
    assert len(expected) == 10

    def read() -> None:
        with Session(engine) as session:
            assert [i.id for i in shown_past_incidents(session, since, 10)] == expected

    for plan in plans(engine, *only_read(engine, read, "incidents")):
        assert INCIDENT_INDEX in plan, plan
        assert "SCAN incidents" not in plan and "Seq Scan on incidents" not in plan, plan
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
