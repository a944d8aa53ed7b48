"""Override commands: someone else holds a schedule's role for a while (stored in the database)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pager.commands.common import (
    database_session,
    now_utc,
    parse_option_instant,
    print_json,
    reported_errors,
    runtime,
)
from pager.commands.schedules import render_table
from pager.core.localtime import format_instant
from pager.db.session import session_scope
from pager.db.tables import OverrideRow
from pager.services.calendars.overrides import add_override, delete_override, list_overrides

override_app = typer.Typer(no_args_is_help=True, help="Schedule overrides: they beat every layer.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def register(app: typer.Typer) -> None:
    """Add the override commands to `app`."""
    app.add_typer(override_app, name="override")


@override_app.command("add")
def add(
    ctx: typer.Context,
    schedule_id: Annotated[str, typer.Argument(metavar="SCHEDULE", help="Schedule id (its file name stem).")],
    user: Annotated[str, typer.Option("--user", help="Handle of the user who takes over.")],
    start: Annotated[str, typer.Option("--from", help="Start, ISO 8601 with offset.")],
    end: Annotated[str, typer.Option("--to", help="End (exclusive), ISO 8601 with offset.")],
    role: Annotated[str, typer.Option("--role", help="primary or secondary.")] = "primary",
    as_json: JsonOption = False,
) -> None:
    """USER holds ROLE of SCHEDULE in [--from, --to), whoever the layers say."""
    window_start, window_end = parse_option_instant("--from", start), parse_option_instant("--to", end)
    pager = runtime(ctx)
    try:
        with reported_errors(), session_scope(pager.engine) as session:
            row = add_override(
                session,
                pager.config,
                schedule_id=schedule_id,
                role=role,
                user=user,
                start=window_start,
                end=window_end,
                now=now_utc(),
            )
    finally:
        pager.engine.dispose()
    if as_json:
        print_json(override_document(row))
        return
    print(
        f"override {row.id}: {row.user_handle} is {row.role} of {row.schedule_id} "
        f"from {format_instant(row.start)} to {format_instant(row.end)}"
    )


@override_app.command("list")
def list_command(
    ctx: typer.Context,
    schedule_id: Annotated[
        str | None, typer.Argument(metavar="[SCHEDULE]", help="Only this schedule's overrides.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Stored overrides, oldest first (a later one wins where two overlap)."""
    with database_session(ctx, read_only=True) as session:
        rows = list_overrides(session, schedule_id)
    if as_json:
        print_json([override_document(row) for row in rows])
        return
    if not rows:
        print("no overrides")
        return
    table = [
        [str(r.id), r.schedule_id, r.role, r.user_handle, format_instant(r.start), format_instant(r.end)]
        for r in rows
    ]
    print(render_table(["ID", "SCHEDULE", "ROLE", "USER", "START (UTC)", "END (UTC)"], table))


@override_app.command("delete")
def delete(
    ctx: typer.Context,
    override_id: Annotated[
        int, typer.Argument(metavar="ID", help="The override's id (see `override list`).")
    ],
) -> None:
    """Remove an override; the layers decide again for its span."""
    with database_session(ctx) as session:
        delete_override(session, override_id)
    print(f"deleted override {override_id}")


def override_document(row: OverrideRow) -> dict[str, Any]:
    """The JSON shape of one override."""
    return {
        "id": row.id,
        "schedule": row.schedule_id,
        "role": row.role,
        "user": row.user_handle,
        "start": format_instant(row.start),
        "end": format_instant(row.end),
    }
