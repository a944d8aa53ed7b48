"""Schema migrations with Alembic (migrations/ at the repository root), driven with a URL, not alembic.ini.

Alembic (with Mako and Pygments behind it, a fifth of a second) is imported only to migrate, so
processes that never migrate (the worker, the server, most commands) start that much sooner: a
worker restarted after a crash is paging again sooner. `current_revision` reads Alembic's version
table with plain SQL for the same reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import URL, inspect, text

from pager.db.session import create_db_engine, database_url

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps

# The repository's migrations/ (editable installs, tests); an installed package (the Docker image)
# is told where they are with PAGER_MIGRATIONS_DIR.
MIGRATIONS_DIR = Path(
    os.environ.get("PAGER_MIGRATIONS_DIR") or Path(__file__).resolve().parents[2] / "migrations"
)


def alembic_config(url: str | URL) -> Config:
    """Alembic configuration for migrations/ with `url` handed to env.py (alembic.ini is not read)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not a main option: ini interpolation would mangle `%` in passwords.
    config.attributes["database_url"] = database_url(url).render_as_string(hide_password=False)
    return config


def upgrade_schema(url: str | URL, revision: str = "head") -> None:
    """Run the migrations up to `revision`."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade_schema(url: str | URL, revision: str) -> None:
    """Run the migrations down to `revision` (`base` removes every table)."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def current_revision(url: str | URL) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return None
            versions = list(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    finally:
        engine.dispose()
    if len(versions) > 1:  # as Alembic's own get_current_revision refuses it
        raise RuntimeError(f"the database is at several revisions at once: {', '.join(sorted(versions))}")
    return versions[0] if versions else None
