"""Schedule commands: check, oncall, shifts, coverage."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the schedule commands to `app`."""
