"""Alembic environment for pager.

The URL comes from `config.attributes["database_url"]` (set by pager.db.session.alembic_config, which
`pager db upgrade` uses), else from PAGER_DATABASE_URL via pager.settings. A caller may instead hand
over an open connection in `config.attributes["connection"]`.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, text
from sqlmodel import SQLModel

import pager.db.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from pager.db.session import create_db_engine
from pager.settings import get_settings

config = context.config
if config.config_file_name is not None and not config.attributes.get("database_url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else get_settings().database_url


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    # Migrations run with SQLite foreign keys off (see create_db_engine); prove nothing dangles.
    problems = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
    if problems:
        raise RuntimeError(f"migration left rows violating foreign keys: {problems[:10]}")


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
        # Our SQLite engine emits BEGIN itself, so DDL there is transactional too: all or nothing.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            _check_sqlite_foreign_keys(connection)


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = create_db_engine(_url(), sqlite_foreign_keys=False)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
