"""Maintenance commands: start, end and list ad-hoc windows (recurring ones live in policy files)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from pager.commands.common import database_session, now_utc, print_json, reported_errors, runtime
from pager.commands.schedules import render_table
from pager.core.localtime import format_instant
from pager.db.tables import MaintenanceWindowRow
from pager.services.alerting.catalog import sync_declared_services
from pager.services.alerting.maintenance import (
    end_window_now,
    list_windows,
    start_window,
    window_length,
    window_state,
)

maintenance_app = typer.Typer(
    no_args_is_help=True, help="Maintenance windows: new alerts of a service page nobody while one holds it."
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ByOption = Annotated[str, typer.Option("--by", help="Who is acting (a handle); shown on the timeline.")]


def register(app: typer.Typer) -> None:
    """Add the maintenance commands to `app`."""
    app.add_typer(maintenance_app, name="maintenance")


@maintenance_app.command("start")
def start(
    ctx: typer.Context,
    service_id: Annotated[str, typer.Argument(metavar="SERVICE", help="Service id (see `service list`).")],
    length: Annotated[str, typer.Option("--for", help="How long from now: 30m, 2h, 1d (at most 30d).")],
    reason: Annotated[str, typer.Option("--reason", help="Why; shown on held alerts' timelines.")] = "",
    by: ByOption = "cli",
    as_json: JsonOption = False,
) -> None:
    """Start a window on SERVICE now: its new alerts are stored (suppressed) and page nobody until it ends."""
    now = now_utc()
    with reported_errors():
        duration = window_length(length)
    pager = runtime(ctx)
    try:
        with reported_errors():
            sync_declared_services(pager.engine, pager.config, now)
    finally:
        pager.engine.dispose()
    with database_session(ctx) as session:
        row = start_window(session, service_id, duration, reason=reason, by=by, now=now)
    if as_json:
        print_json(window_document(row, now))
    else:
        print(f"maintenance window {row.id} on {service_id} until {format_instant(row.end_at)}")


@maintenance_app.command("end")
def end(
    ctx: typer.Context,
    window_id: Annotated[int, typer.Argument(metavar="ID", help="The window's number.")],
    by: ByOption = "cli",
) -> None:
    """End window ID now: alerts it held are paged from level 1 at once."""
    pager = runtime(ctx)
    try:
        with reported_errors():
            row, released = end_window_now(pager, window_id, by=by, now=now_utc())
    finally:
        pager.engine.dispose()
    print(f"maintenance window {window_id} on {row.service_id} ended; {released} held alert(s) released")


@maintenance_app.command("list")
def list_command(
    ctx: typer.Context,
    current: Annotated[bool, typer.Option("--current", help="Only windows not over yet.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Ad-hoc maintenance windows, newest first."""
    now = now_utc()
    with database_session(ctx, read_only=True) as session:
        rows = list_windows(session, now=now, current_only=current)
    if as_json:
        print_json([window_document(row, now) for row in rows])
        return
    if not rows:
        print("no maintenance windows")
        return
    table = [
        [
            str(r.id),
            r.service_id,
            window_state(r, now),
            format_instant(r.start_at),
            format_instant(r.end_at),
            r.reason,
        ]
        for r in rows
    ]
    print(render_table(["ID", "SERVICE", "STATE", "START (UTC)", "END (UTC)", "REASON"], table))


def window_document(row: MaintenanceWindowRow, now: datetime) -> dict[str, Any]:
    """One window as JSON (docs/cli.md, "Maintenance windows")."""
    return {
        "id": row.id,
        "service": row.service_id,
        "start": format_instant(row.start_at),
        "end": format_instant(row.end_at),
        "reason": row.reason,
        "state": window_state(row, now),
        "created_by": row.created_by,
        "ended_by": row.ended_by,
    }
