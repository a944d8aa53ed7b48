"""Outgoing webhook commands (`pager webhook`): add, list, remove, resume (docs/integrations.md).

A new subscription's signing secret is printed once; `list` never shows it.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from pager.commands.common import database_session, now_utc, print_json
from pager.commands.schedules import render_table
from pager.core.localtime import format_instant
from pager.db.webhook_tables import WebhookSubscription
from pager.services.integrations.webhooks import add_webhook, list_webhooks, remove_webhook, resume_webhook

webhook_app = typer.Typer(
    no_args_is_help=True, help="Outgoing webhooks (Standard Webhooks, Slack, Mattermost)."
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
IdArgument = Annotated[int, typer.Argument(metavar="ID", help="The subscription's id (see `webhook list`).")]


def register(app: typer.Typer) -> None:
    """Add the webhook commands to `app`."""
    app.add_typer(webhook_app, name="webhook")


@webhook_app.command("add")
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(metavar="URL", help="Where to POST (http or https).")],
    events: Annotated[str, typer.Option("--events", help="Comma-separated events, e.g. incident.declared.")],
    format: Annotated[str, typer.Option("--format", help="standard, slack or mattermost.")] = "standard",
    as_json: JsonOption = False,
) -> None:
    """Subscribe URL to events and print the subscription once, with its signing secret."""
    with database_session(ctx) as session:
        row = add_webhook(session, url, events.split(","), format, now_utc())
        document = {**subscription_document(row), "secret": row.secret}
    if as_json:
        print_json({key: document[key] for key in ("id", "url", "events", "format", "secret")})
        return
    print(document["secret"])
    print(
        f"webhook {row.id} ({row.format}) → {row.url} for {', '.join(row.events)}: "
        "store the secret now, it is not shown again",
        file=sys.stderr,
    )


@webhook_app.command("list")
def list_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every subscription, paused ones with why (never the secret)."""
    with database_session(ctx, read_only=True) as session:
        documents = [subscription_document(row) for row in list_webhooks(session)]
    if as_json:
        print_json(documents)
        return
    if not documents:
        print("no webhooks; add one with `pager webhook add URL --events incident.declared`")
        return
    table = [[str(d["id"]), d["format"], d["url"], ",".join(d["events"]), _state_text(d)] for d in documents]
    print(render_table(["ID", "FORMAT", "URL", "EVENTS", "STATE"], table))


@webhook_app.command("remove")
def remove(ctx: typer.Context, subscription_id: IdArgument) -> None:
    """Delete a subscription."""
    with database_session(ctx) as session:
        remove_webhook(session, subscription_id)
    print(f"removed webhook {subscription_id}")


@webhook_app.command("resume")
def resume(ctx: typer.Context, subscription_id: IdArgument) -> None:
    """Make a paused subscription active again; its kept deliveries are sent."""
    with database_session(ctx) as session:
        resume_webhook(session, subscription_id)
    print(f"resumed webhook {subscription_id}")


def subscription_document(row: WebhookSubscription) -> dict[str, Any]:
    """The JSON shape of a subscription (never its secret)."""
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events),
        "format": row.format,
        "state": row.state,
        "paused_reason": row.paused_reason,
        "paused_at": format_instant(row.paused_at) if row.paused_at else None,
        "consecutive_failures": row.consecutive_failures,
        "created_at": format_instant(row.created_at),
    }


def _state_text(document: dict[str, Any]) -> str:
    if document["state"] == "paused":
        return f"paused since {document['paused_at']}: {document['paused_reason']}"
    return "active"
