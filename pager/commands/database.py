"""Database commands: `pager db upgrade`."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from pager.commands.common import fail
from pager.db.migrate import current_revision, upgrade_schema
from pager.db.session import UnsupportedDatabase, database_url
from pager.settings import get_settings

db_app = typer.Typer(no_args_is_help=True, help="Database schema (PAGER_DATABASE_URL).")


@db_app.command("upgrade")
def upgrade(
    revision: Annotated[
        str, typer.Option("--revision", help="Alembic revision to migrate to.", show_default=True)
    ] = "head",
) -> None:
    """Create or migrate the database schema to REVISION (default: the latest)."""
    from alembic.util import CommandError  # only here: other commands start without Alembic

    url = get_settings().database_url
    try:
        shown = database_url(url).render_as_string(hide_password=True)
    except (UnsupportedDatabase, SQLAlchemyError) as exc:
        fail(f"PAGER_DATABASE_URL: {exc}")
    try:
        upgrade_schema(url, revision)
        now_at = current_revision(url)
    except CommandError as exc:
        fail(f"migration failed: {exc}")
    except SQLAlchemyError as exc:
        fail(f"database error on {shown}: {exc}")
    print(f"{shown}: schema at revision {now_at or 'base'}")


def register(app: typer.Typer) -> None:
    """Add the database commands to `app`."""
    app.add_typer(db_app, name="db")
