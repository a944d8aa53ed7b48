"""Override commands: someone else holds a schedule's role for a while (stored in the database)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pager.commands.common import (
    database_session,
    fail,
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
from pager.services.calendars.overrides import (
    create_override,
    delete_override,
    list_overrides,
    swap_shifts,
)

override_app = typer.Typer(
    no_args_is_help=True, help="Schedule overrides: add, remove, replace or swap who is on call."
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ScheduleArgument = Annotated[
    str, typer.Argument(metavar="SCHEDULE", help="Schedule id (its file name stem).")
]
FromOption = Annotated[str, typer.Option("--from", help="Start, ISO 8601 with offset.")]
ToOption = Annotated[str, typer.Option("--to", help="End (exclusive), ISO 8601 with offset.")]
RoleOption = Annotated[str, typer.Option("--role", help="primary or secondary.")]


def register(app: typer.Typer) -> None:
    """Add the override commands to `app`."""
    app.add_typer(override_app, name="override")


@override_app.command("add")
def add(
    ctx: typer.Context,
    schedule_id: ScheduleArgument,
    user: Annotated[str, typer.Option("--user", help="Handle of the user who takes over.")],
    start: FromOption,
    end: ToOption,
    role: RoleOption = "primary",
    as_json: JsonOption = False,
) -> None:
    """USER holds ROLE of SCHEDULE in [--from, --to), whoever the layers say."""
    _create(ctx, "add", schedule_id, role, user, None, start, end, as_json)


@override_app.command("remove")
def remove(
    ctx: typer.Context,
    schedule_id: ScheduleArgument,
    user: Annotated[str, typer.Option("--user", help="Handle of the user taken off call.")],
    start: FromOption,
    end: ToOption,
    role: RoleOption = "primary",
    as_json: JsonOption = False,
) -> None:
    """USER does not hold ROLE of SCHEDULE in [--from, --to): the layers give it to someone else.

    Where a rotation would give USER the role, its next member stands in; otherwise the layers
    below decide (possibly nobody). USER must hold the role somewhere in the window.
    """
    _create(ctx, "remove", schedule_id, role, user, None, start, end, as_json)


@override_app.command("replace")
def replace(
    ctx: typer.Context,
    schedule_id: ScheduleArgument,
    user: Annotated[str, typer.Option("--user", help="Handle of the user who stands in.")],
    instead_of: Annotated[str, typer.Option("--instead-of", help="Handle of the user replaced.")],
    start: FromOption,
    end: ToOption,
    role: RoleOption = "primary",
    as_json: JsonOption = False,
) -> None:
    """Wherever --instead-of would hold ROLE of SCHEDULE in [--from, --to), USER does."""
    _create(ctx, "replace", schedule_id, role, user, instead_of, start, end, as_json)


@override_app.command("swap")
def swap(
    ctx: typer.Context,
    schedule_id: ScheduleArgument,
    user: Annotated[str, typer.Option("--user", help="Handle of the first person.")],
    instants: Annotated[
        list[str],
        typer.Option(
            "--at",
            help="Give twice: an instant in --user's shift, then one in --with's (ISO 8601 with offset).",
        ),
    ],
    other: Annotated[str, typer.Option("--with", help="Handle of the second person.")],
    role: RoleOption = "primary",
    as_json: JsonOption = False,
) -> None:
    """--user's shift containing the first --at goes to --with, and --with's containing the second to --user.

    `pager override swap SCHEDULE --user A --at ISO --with B --at ISO`. Stored as two `replace`
    overrides (delete both to undo).
    """
    if len(instants) != 2:
        fail(f"--at: give it twice (one instant in each person's shift), not {len(instants)} time(s)")
    first, second = (parse_option_instant("--at", text) for text in instants)
    pager = runtime(ctx)
    try:
        with reported_errors(), session_scope(pager.engine) as session:
            rows = swap_shifts(
                session,
                pager.config,
                schedule_id=schedule_id,
                role=role,
                user=user,
                user_at=first,
                other=other,
                other_at=second,
                now=now_utc(),
            )
    finally:
        pager.engine.dispose()
    if as_json:
        print_json([override_document(row) for row in rows])
        return
    for row in rows:
        print(describe(row))


def _create(
    ctx: typer.Context,
    kind: str,
    schedule_id: str,
    role: str,
    user: str,
    instead_of: str | None,
    start: str,
    end: str,
    as_json: bool,
) -> None:
    window_start, window_end = parse_option_instant("--from", start), parse_option_instant("--to", end)
    pager = runtime(ctx)
    try:
        with reported_errors(), session_scope(pager.engine) as session:
            row = create_override(
                session,
                pager.config,
                kind=kind,
                schedule_id=schedule_id,
                role=role,
                user=user,
                instead_of=instead_of,
                start=window_start,
                end=window_end,
                now=now_utc(),
            )
    finally:
        pager.engine.dispose()
    if as_json:
        print_json(override_document(row))
        return
    print(describe(row))


def describe(row: OverrideRow) -> str:
    """One line saying what an override does."""
    span = f"from {format_instant(row.start)} to {format_instant(row.end)}"
    if row.kind == "remove":
        return f"override {row.id}: {row.user_handle} is not {row.role} of {row.schedule_id} {span}"
    if row.kind == "replace":
        return (
            f"override {row.id}: {row.user_handle} is {row.role} of {row.schedule_id} "
            f"instead of {row.instead_of} {span}"
        )
    return f"override {row.id}: {row.user_handle} is {row.role} of {row.schedule_id} {span}"


@override_app.command("list")
def list_command(
    ctx: typer.Context,
    schedule_id: Annotated[
        str | None, typer.Argument(metavar="[SCHEDULE]", help="Only this schedule's overrides.")
    ] = None,
    current: Annotated[
        bool, typer.Option("--current", help="Only those in force or to come (ending after now).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Stored overrides, oldest first (a later one wins where two overlap)."""
    with database_session(ctx, read_only=True) as session:
        rows = list_overrides(session, schedule_id, ending_after=now_utc() if current else None)
    if as_json:
        print_json([override_document(row) for row in rows])
        return
    if not rows:
        print("no overrides")
        return
    table = [
        [
            str(r.id),
            r.schedule_id,
            r.kind,
            r.role,
            r.user_handle,
            r.instead_of or "-",
            format_instant(r.start),
            format_instant(r.end),
        ]
        for r in rows
    ]
    headers = ["ID", "SCHEDULE", "KIND", "ROLE", "USER", "INSTEAD OF", "START (UTC)", "END (UTC)"]
    print(render_table(headers, table))


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
        "kind": row.kind,
        "role": row.role,
        "user": row.user_handle,
        "instead_of": row.instead_of,
        "start": format_instant(row.start),
        "end": format_instant(row.end),
    }
