"""Token commands: API bearer tokens (`pager token`) and calendar feed tokens (`pager calendar-token`).

A new token is printed once, alone on stdout so scripts can capture it; only its hash is stored.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from pager.commands.common import (
    cli_settings,
    database_session,
    fail,
    now_utc,
    open_database,
    print_json,
    reported_errors,
    runtime,
)
from pager.commands.schedules import render_table
from pager.core.localtime import format_instant
from pager.db.session import session_scope
from pager.db.tables import ApiToken, CalendarToken
from pager.services.calendars import shifts as calendars
from pager.services.calendars.shifts import FeedTarget
from pager.services.people.tokens import (
    api_tokens_with_owners,
    create_api_token,
    revoke_api_token,
    revoke_calendar_token,
)

token_app = typer.Typer(no_args_is_help=True, help="API bearer tokens (roles admin, responder, viewer).")
calendar_token_app = typer.Typer(no_args_is_help=True, help="Calendar feed tokens, one feed each.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ScheduleOption = Annotated[
    str | None, typer.Option("--schedule", help="A schedule's feed instead of a person's.")
]
HandleArgument = Annotated[
    str | None, typer.Argument(metavar="[HANDLE]", help="The person whose feed it opens.")
]
_SHOWN_ONCE = "store it now: it is not shown again (only a hash is kept)"


def register(app: typer.Typer) -> None:
    """Add the token commands to `app`."""
    app.add_typer(token_app, name="token")
    app.add_typer(calendar_token_app, name="calendar-token")


# --- API tokens ----------------------------------------------------------------------------------


@token_app.command("create")
def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="admin, responder or viewer.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for (default: the role).")] = "",
    user: Annotated[
        str | None,
        typer.Option("--user", help="The person it acts for: a responder token edits only their settings."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API token and print it once."""
    with database_session(ctx) as session:
        row, plaintext = create_api_token(session, role=role, name=name, now=now_utc(), user=user)
    if as_json:
        print_json({**api_token_document(row, user), "token": plaintext})
        return
    print(plaintext)
    owner = f", for {user}" if user else ""
    print(f"API token {row.id} ({row.role}, {row.name}{owner}): {_SHOWN_ONCE}", file=sys.stderr)


@token_app.command("list")
def list_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every API token, revoked ones included (never the token itself)."""
    with database_session(ctx, read_only=True) as session:
        owned = api_tokens_with_owners(session)
    rows = [row for row, _ in owned]
    if as_json:
        print_json([api_token_document(row, user) for row, user in owned])
        return
    if not rows:
        print("no API tokens; create one with `pager token create --role admin`")
        return
    table = [
        [str(r.id), r.role, r.name, format_instant(r.created_at), _instant_or_dash(r.last_used_at), _state(r)]
        for r in rows
    ]
    print(render_table(["ID", "ROLE", "NAME", "CREATED (UTC)", "LAST USED (UTC)", "STATE"], table))


@token_app.command("revoke")
def revoke(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(metavar="ID", help="The token's id (see `token list`).")],
) -> None:
    """Revoke an API token; it stops working at once."""
    with database_session(ctx) as session:
        revoke_api_token(session, token_id, now_utc())
    print(f"revoked API token {token_id}")


# --- calendar tokens -----------------------------------------------------------------------------


@calendar_token_app.command("create")
def calendar_create(
    ctx: typer.Context,
    handle: HandleArgument = None,
    schedule: ScheduleOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a token for HANDLE's feed (or --schedule ID's) and print the full feed URL once."""
    target = _one_feed(handle, schedule)
    settings = cli_settings(ctx)
    # A schedule's token needs the loaded config; a person's needs only the database.
    if target.kind == "schedule":
        pager = runtime(ctx)
        engine, config = pager.engine, pager.config
    else:
        engine, config = open_database(settings), None
    try:
        with reported_errors(), session_scope(engine) as session:
            row, plaintext = calendars.create_feed_token(session, target, now_utc(), config)
    finally:
        engine.dispose()
    url = calendars.feed_url(settings.public_url, target, plaintext)
    if as_json:
        print_json({**calendar_token_document(row, target), "token": plaintext, "url": url})
        return
    print(url)
    print(f"calendar token {row.id}: {_SHOWN_ONCE}", file=sys.stderr)


@calendar_token_app.command("list")
def calendar_list(
    ctx: typer.Context,
    handle: HandleArgument = None,
    schedule: ScheduleOption = None,
    as_json: JsonOption = False,
) -> None:
    """HANDLE's feed tokens (or --schedule ID's), revoked ones included."""
    target = _one_feed(handle, schedule)
    with database_session(ctx, read_only=True) as session:
        rows = calendars.feed_tokens(session, target)
    if as_json:
        print_json([calendar_token_document(row, target) for row in rows])
        return
    if not rows:
        print("no calendar tokens")
        return
    table = [[str(r.id), format_instant(r.created_at), _state(r)] for r in rows]
    print(render_table(["ID", "CREATED (UTC)", "STATE"], table))


@calendar_token_app.command("revoke")
def calendar_revoke(
    ctx: typer.Context,
    token_id: Annotated[
        int, typer.Argument(metavar="ID", help="The token's id (see `calendar-token list`).")
    ],
) -> None:
    """Revoke a calendar token; its feed URL answers 404 from now on."""
    with database_session(ctx) as session:
        revoke_calendar_token(session, token_id, now_utc())
    print(f"revoked calendar token {token_id}")


# --- shapes --------------------------------------------------------------------------------------


def api_token_document(row: ApiToken, user: str | None = None) -> dict[str, Any]:
    """The JSON shape of one API token (never its hash); `user`: the handle it acts for."""
    return {
        "id": row.id,
        "role": row.role,
        "name": row.name,
        "user": user,
        "created_at": format_instant(row.created_at),
        "last_used_at": _instant_or_none(row.last_used_at),
        "revoked_at": _instant_or_none(row.revoked_at),
    }


def calendar_token_document(row: CalendarToken, target: FeedTarget) -> dict[str, Any]:
    """The JSON shape of one calendar token (never its hash)."""
    return {
        "id": row.id,
        "feed": target.kind,
        "target": target.id,
        "created_at": format_instant(row.created_at),
        "revoked_at": _instant_or_none(row.revoked_at),
    }


def _one_feed(handle: str | None, schedule: str | None) -> FeedTarget:
    if schedule is not None and handle is None:
        return FeedTarget("schedule", schedule)
    if handle is not None and schedule is None:
        return FeedTarget("user", handle)
    fail("give a HANDLE or --schedule ID (one of them)")


def _state(row: ApiToken | CalendarToken) -> str:
    return "active" if row.revoked_at is None else f"revoked {format_instant(row.revoked_at)}"


def _instant_or_dash(instant: Any) -> str:
    return "-" if instant is None else format_instant(instant)


def _instant_or_none(instant: Any) -> str | None:
    return None if instant is None else format_instant(instant)
