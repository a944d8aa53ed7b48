"""`pager handoff-note`: the outgoing person's note for the next handoff of a schedule's role."""

from __future__ import annotations

from typing import Annotated

import typer

from pager.commands.common import now_utc, reported_errors, runtime
from pager.db.session import session_scope
from pager.services.calendars.handoff_notes import write_handoff_note


def register(app: typer.Typer) -> None:
    """Add `handoff-note` to `app`."""
    app.command("handoff-note")(handoff_note)


def handoff_note(
    ctx: typer.Context,
    schedule_id: Annotated[str, typer.Argument(metavar="SCHEDULE", help="Schedule id (its file name stem).")],
    text: Annotated[str, typer.Argument(metavar="TEXT", help="What the next person should know.")],
    role: Annotated[str, typer.Option("--role", help="primary or secondary.")] = "primary",
) -> None:
    """Leave TEXT for whoever takes ROLE of SCHEDULE next: it goes into their handoff message, once.

    A second note before that handoff replaces the first.
    """
    pager = runtime(ctx)
    try:
        with reported_errors(), session_scope(pager.engine) as session:
            note = write_handoff_note(session, pager.config, schedule_id, text, now_utc(), role)
    finally:
        pager.engine.dispose()
    print(f"note stored for the next {role} handoff of {schedule_id} ({len(note)} characters)")
