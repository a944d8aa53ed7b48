"""Reads by outbox key prefix are exact whatever the database's default collation (migration 0017).

They are key ranges (`verify:` <= key < `verify;`, pager.db.columns.key_starts_with), which the key's
unique index serves. On Postgres the range is exact only under a bytewise collation: a database made
with a linguistic default (en_US, ICU: what many installations use) sorts `verify:7:…` after
`verify;`, and the daily cap on verification codes then counted none. So the test makes such a
database (ICU en-US) on the test server and migrates it; on SQLite, which always compares text
bytewise, a migrated file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text
from sqlmodel import Session

from pager.db.incident_updates import outbox_keys_with_prefix
from pager.db.migrate import upgrade_schema
from pager.db.outbox import cancel_pending_by_key_prefix, notices_of_kind_since
from pager.db.postmortems import pages_for
from pager.db.session import create_db_engine, database_url, session_scope
from pager.db.tables import User
from tests.database_fixtures import TEST_DATABASE_ENV
from tests.db.query_plans import plan, statements
from tests.db.test_repositories import page

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
# A key of each prefix read, and its near misses: another kind sharing the letters, the same kind in
# capitals (a LIKE on SQLite matched those), a longer number, the successor itself.
KEYS = [
    "verify:1:a",
    "verify:1:b",
    "verifyx:1:c",
    "VERIFY:1:d",
    "verify;",
    "incident-role:7:primary",
    "incident-role:70:primary",
    "incident-update:5:1",
    "incident-update:5:2",
    "incident-update:50:1",
    "postmortem:3:due",
]


@pytest.fixture
def linguistic_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated database whose default collation is linguistic (Postgres: ICU en-US), or SQLite."""
    configured = os.environ.get(TEST_DATABASE_ENV)
    if not configured or make_url(configured).get_backend_name() != "postgresql":
        url = f"sqlite:///{tmp_path / 'keys.db'}"
        upgrade_schema(url, "head")
        engine = create_db_engine(url)
        yield engine
        engine.dispose()
        return
    base = database_url(configured)
    name = f"pager_icu_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(
            text(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'")
        )
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:  # the premise: this database's own order is not bytewise
            assert connection.execute(text("SELECT 'verify:7:a' < 'verify;'")).scalar() is False
        upgrade_schema(url, "head")
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.mark.database
def test_key_prefix_reads_are_exact_under_a_linguistic_default_collation(linguistic_engine: Engine) -> None:
    with session_scope(linguistic_engine) as session:
        ann = User(handle="ann", name="Ann")
        session.add(ann)
        session.flush()
        for key in KEYS:
            row = page(key, due_at=NOW - timedelta(minutes=len(key)))
            row.user_id, row.created_at = ann.id, NOW - timedelta(hours=1)
            session.add(row)
    with statements(linguistic_engine) as sent, Session(linguistic_engine) as session:
        # The daily cap on verification codes counts `verify:` notices only.
        assert notices_of_kind_since(session, "verify", ann.id or 0, NOW - timedelta(days=1)) == 2
        assert sorted(outbox_keys_with_prefix(session, "incident-role:7:")) == ["incident-role:7:primary"]
        found = pages_for(session, [], ["incident-update:5:", "postmortem:3:"])
        assert sorted(row.idempotency_key for row in found) == [
            "incident-update:5:1",
            "incident-update:5:2",
            "postmortem:3:due",
        ]
    # Each read goes through an index (the keys' unique one, or for the count a person's pages since):
    # a LIKE prefix read the whole outbox, which keeps every page ever sent.
    reads = [(sql, parameters) for sql, parameters in sent if "FROM outbox" in sql]
    assert len(reads) == 3, sent
    for statement in reads:
        shown = plan(linguistic_engine, *statement)
        assert "SCAN outbox" not in shown and "Seq Scan" not in shown, shown
    with session_scope(linguistic_engine) as session:
        assert cancel_pending_by_key_prefix(session, "incident-update:5:", NOW) == 2
    with Session(linguistic_engine) as session:
        left = pages_for(session, [], ["incident-update:"])
        assert {row.idempotency_key: row.status for row in left} == {
            "incident-update:5:1": "cancelled",
            "incident-update:5:2": "cancelled",
            "incident-update:50:1": "pending",
        }
