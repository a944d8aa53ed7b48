"""User commands: `pager user add` and `pager user list`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pager.commands.common import (
    database_session,
    now_utc,
    print_json,
)
from pager.commands.schedules import render_table
from pager.db.tables import ContactMethod, User
from pager.services.people.users import add_user, list_users

user_app = typer.Typer(no_args_is_help=True, help="People who can be paged.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def register(app: typer.Typer) -> None:
    """Add the user commands to `app`."""
    app.add_typer(user_app, name="user")


@user_app.command("add")
def add(
    ctx: typer.Context,
    handle: Annotated[str, typer.Argument(help="The handle schedules and policies use, e.g. alice.")],
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    sms: Annotated[str | None, typer.Option("--sms", help="SMS number, E.164 (+15555550123).")] = None,
    voice: Annotated[str | None, typer.Option("--voice", help="Voice number, E.164.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="Email address.")] = None,
) -> None:
    """Add a user; they are paged by the default rules (sms at 0m, voice at 1m, email at 0m)."""
    with database_session(ctx) as session:
        user = add_user(session, handle=handle, name=name, now=now_utc(), sms=sms, voice=voice, email=email)
    contacts = ", ".join(
        f"{kind} {address}" for kind, address in (("sms", sms), ("voice", voice), ("email", email)) if address
    )
    print(
        f"added user {user.handle} ({user.name})" + (f": {contacts}" if contacts else "; no contact methods")
    )


@user_app.command("list")
def list_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every user with their contact methods, by handle."""
    with database_session(ctx, read_only=True) as session:
        users = list_users(session)
    if as_json:
        print_json([user_document(user, methods) for user, methods in users])
        return
    if not users:
        print("no users; add one with `pager user add HANDLE --name NAME`")
        return
    rows = [
        [user.handle, user.name, *(_addresses(methods, kind) for kind in ("sms", "voice", "email"))]
        for user, methods in users
    ]
    print(render_table(["HANDLE", "NAME", "SMS", "VOICE", "EMAIL"], rows))


def user_document(user: User, methods: list[ContactMethod]) -> dict[str, Any]:
    """The JSON shape of one user in `pager user list --json`."""
    return {
        "handle": user.handle,
        "name": user.name,
        "contact_methods": [{"kind": m.kind, "address": m.address} for m in methods],
    }


def _addresses(methods: list[ContactMethod], kind: str) -> str:
    return ", ".join(m.address for m in methods if m.kind == kind) or "-"
