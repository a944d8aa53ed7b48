"""User commands: `pager user add`, `list`, `update`, `deactivate`, `reactivate`, `rules`.

What an operator sets here on the command line counts as verified (docs/cli.md, "People").
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pager.commands.common import (
    database_session,
    fail,
    now_utc,
    print_json,
)
from pager.commands.schedules import render_table
from pager.db.tables import ContactMethod, User
from pager.services.people.edits import REMOVE, UserChanges, set_active, status_of, update_user
from pager.services.people.reachability import test_page
from pager.services.people.reminders import remind_before_text
from pager.services.people.rules import rules_document, rules_of, set_rules
from pager.services.people.users import add_user, contact_methods, list_users

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
        user = add_user(
            session, handle=handle, name=name, now=now_utc(), sms=sms, voice=voice, email=email, verified=True
        )
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
        [
            user.handle,
            user.name,
            status_of(user),
            *(_addresses(methods, kind) for kind in ("sms", "voice", "email")),
        ]
        for user, methods in users
    ]
    print(render_table(["HANDLE", "NAME", "STATUS", "SMS", "VOICE", "EMAIL"], rows))


_METHOD_HELP = f"E.164 number; `{REMOVE}` removes it. Counts as verified."


@user_app.command("update")
def update_command(
    ctx: typer.Context,
    handle: Annotated[str, typer.Argument(help="The user's handle.")],
    name: Annotated[str | None, typer.Option("--name", help="Full name.")] = None,
    sms: Annotated[str | None, typer.Option("--sms", help=f"SMS number, {_METHOD_HELP}")] = None,
    voice: Annotated[str | None, typer.Option("--voice", help=f"Voice number, {_METHOD_HELP}")] = None,
    email: Annotated[
        str | None, typer.Option("--email", help=f"Email address; `{REMOVE}` removes it. Counts as verified.")
    ] = None,
    time_zone: Annotated[
        str | None, typer.Option("--time-zone", help=f"IANA zone, e.g. Europe/Berlin; `{REMOVE}` clears it.")
    ] = None,
    remind_before: Annotated[
        str | None,
        typer.Option(
            "--remind-before", help=f"Remind this long before each shift starts (15m, 1h); `{REMOVE}`: never."
        ),
    ] = None,
) -> None:
    """Change a user's name, contact methods, time zone or shift reminder; options not given stay."""
    changes = UserChanges(
        name=name, sms=sms, voice=voice, email=email, time_zone=time_zone, remind_before=remind_before
    )
    if changes == UserChanges():
        fail("nothing to change: give --name, --sms, --voice, --email, --time-zone or --remind-before")
    with database_session(ctx) as session:
        user = update_user(session, handle, changes, now=now_utc(), verified=True)
        methods = contact_methods(session, user)
        document = user_document(user, methods)
    contacts = ", ".join(f"{m['kind']} {m['address']}" for m in document["contact_methods"]) or "none"
    zone = document["time_zone"] or "none"
    reminder = document["remind_before"] or "none"
    print(
        f"updated user {document['handle']} ({document['name']}): {contacts}; time zone {zone}; "
        f"shift reminder {reminder}"
    )


@user_app.command("deactivate")
def deactivate(ctx: typer.Context, handle: Annotated[str, typer.Argument(help="The user's handle.")]) -> None:
    """Stop paging a user and take them off every schedule; their history stays (undo: reactivate)."""
    with database_session(ctx) as session:
        user, changed = set_active(session, handle, False, now_utc())
    print(f"deactivated user {user.handle}" if changed else f"user {user.handle} was already deactivated")


@user_app.command("reactivate")
def reactivate(ctx: typer.Context, handle: Annotated[str, typer.Argument(help="The user's handle.")]) -> None:
    """Undo `deactivate`: the user is on call and paged again as their schedules and rules say."""
    with database_session(ctx) as session:
        user, changed = set_active(session, handle, True, now_utc())
    print(f"reactivated user {user.handle}" if changed else f"user {user.handle} is active already")


@user_app.command("rules", context_settings={"allow_extra_args": True})
def rules(
    ctx: typer.Context,
    handle: Annotated[str, typer.Argument(help="The user's handle.")],
    steps: Annotated[
        list[str] | None,
        typer.Option("--set", help="New rules, METHOD:AFTER each, e.g. --set sms:0m voice:2m email:5m."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a user's notification rules, or replace them with --set."""
    extra = [str(arg) for arg in ctx.args]  # `--set sms:0m voice:2m`: the steps after the first
    if extra and not steps:
        fail(f"unexpected {' '.join(extra)}: rule steps follow --set (e.g. --set sms:0m voice:2m)")
    with database_session(ctx, read_only=not steps) as session:
        if steps:
            set_rules(session, handle, [*steps, *extra], now_utc())
        found, default = rules_of(session, handle)
    document = rules_document(found)
    if as_json:
        print_json(document)
        return
    shown = (
        ", ".join(f"{step['method']} at {step['after']}" for step in document) or "none (no verified method)"
    )
    print(f"{handle}: {shown}" + (" (defaults)" if default else ""))


@user_app.command("test-page")
def test_page_command(
    ctx: typer.Context,
    handle: Annotated[str, typer.Argument(help="The user's handle.")],
    method: Annotated[
        str | None, typer.Option("--method", help="Only this method: sms, voice or email.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Send one test message to each verified method (or only --method) now, through the outbox."""
    with database_session(ctx) as session:
        notices = test_page(session, handle, method, now_utc())
    if as_json:
        print_json([{"method": n.method, "address": n.address} for n in notices])
        return
    for notice in notices:
        print(f"queued test page to {handle} by {notice.method} at {notice.address}")


def user_document(user: User, methods: list[ContactMethod]) -> dict[str, Any]:
    """The JSON shape of one user in `pager user list --json`."""
    return {
        "handle": user.handle,
        "name": user.name,
        "status": status_of(user),
        "time_zone": user.time_zone,
        "remind_before": remind_before_text(user),
        "contact_methods": [{"kind": m.kind, "address": m.address, "verified": m.verified} for m in methods],
    }


def _addresses(methods: list[ContactMethod], kind: str) -> str:
    return (
        ", ".join(m.address + ("" if m.verified else " (unverified)") for m in methods if m.kind == kind)
        or "-"
    )
