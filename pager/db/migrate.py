"""Schema migrations with Alembic (migrations/ at the repository root), driven with a URL, not alembic.ini.

Kept apart from pager.db.session so that processes which never migrate (the worker, the server) do
not import Alembic at start-up.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL

from pager.db.session import create_db_engine, database_url

# The repository's migrations/ (editable installs, tests); an installed package (the Docker image)
# is told where they are with PAGER_MIGRATIONS_DIR.
MIGRATIONS_DIR = Path(
    os.environ.get("PAGER_MIGRATIONS_DIR") or Path(__file__).resolve().parents[2] / "migrations"
)


def alembic_config(url: str | URL) -> Config:
    """Alembic configuration for migrations/ with `url` handed to env.py (alembic.ini is not read)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not a main option: ini interpolation would mangle `%` in passwords.
    config.attributes["database_url"] = database_url(url).render_as_string(hide_password=False)
    return config


def upgrade_schema(url: str | URL, revision: str = "head") -> None:
    """Run the migrations up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade_schema(url: str | URL, revision: str) -> None:
    """Run the migrations down to `revision` (`base` removes every table)."""
    command.downgrade(alembic_config(url), revision)


def current_revision(url: str | URL) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
