"""Database fixtures shared by every test folder: a fresh, migrated database per test.

The URL is PAGER_TEST_DATABASE_URL when set (CI's second pass: a fresh Postgres database), else a
SQLite file in tmp_path. On Postgres each test gets its own schema (selected through the connection's
search_path) that is dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, make_url, text

from pager.db.migrate import upgrade_schema
from pager.db.session import create_db_engine, database_url

TEST_DATABASE_ENV = "PAGER_TEST_DATABASE_URL"


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database (no tables, not migrated)."""
    configured = os.environ.get(TEST_DATABASE_ENV)
    if not configured:
        yield f"sqlite:///{tmp_path / 'pager-test.db'}"
        return
    base = database_url(configured)
    if base.get_backend_name() != "postgresql":
        yield base.render_as_string(hide_password=False)
        return
    schema = f"test_{uuid.uuid4().hex[:16]}"
    admin = create_db_engine(base)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        scoped = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def database_url_at_head(empty_database_url: str) -> str:
    """A URL to a database migrated to the latest revision by Alembic."""
    upgrade_schema(empty_database_url, "head")
    return empty_database_url


@pytest.fixture
def engine(database_url_at_head: str) -> Iterator[Engine]:
    """An engine on the migrated test database."""
    created = create_db_engine(database_url_at_head)
    try:
        yield created
    finally:
        created.dispose()


def backend_of(url: str) -> str:
    """`sqlite` or `postgresql`."""
    return make_url(url).get_backend_name()
