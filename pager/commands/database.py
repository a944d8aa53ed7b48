"""Database commands: `pager db upgrade`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the database commands to `app`."""
