"""`pager incident update ID TEXT [--public] [--status STATUS]`: post a status update
(docs/incidents.md, "Status updates"). It ends an overdue ladder: the next update falls due
`update_every` later and the overdue pages still pending are cancelled."""

from __future__ import annotations

from typing import Annotated

import typer

from pager.commands.common import database_session, now_utc, print_json
from pager.commands.incidents import ByOption, IdArgument, JsonOption, incident_rules
from pager.core.localtime import format_instant
from pager.db.incidents import find_incident
from pager.services.incidents.updates import post_update_on


def register(incident_app: typer.Typer) -> None:
    """Add `update` to the `pager incident` group."""
    incident_app.command("update")(update_command)


def update_command(
    ctx: typer.Context,
    incident_id: IdArgument,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="What is happening and what comes next.")],
    public: Annotated[
        bool, typer.Option("--public", help="Meant for customers (the status page); internal otherwise.")
    ] = False,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Move the incident too: identified, monitoring, resolved..."),
    ] = None,
    by: ByOption = "system",
    as_json: JsonOption = False,
) -> None:
    """Post a status update; the next one is due `update_every` later, and overdue pages stop."""
    rules = incident_rules(ctx)
    now = now_utc()
    with database_session(ctx) as session:
        row = post_update_on(session, incident_id, text, public, status, by, now, rules)
        incident = find_incident(session, incident_id)
        due = incident.next_update_due_at if incident is not None else None
        document = {
            "id": row.id,
            "incident_id": row.incident_id,
            "at": format_instant(row.at),
            "author": row.author,
            "text": row.message,
            "public": row.public,
            "status": row.status,
            "next_update_due": format_instant(due) if due is not None else None,
        }
    if as_json:
        print_json(document)
        return
    audience = "public" if public else "internal"
    after = f"; next update due {document['next_update_due']}" if due is not None else "; no update due"
    print(f"{audience} update posted on incident {incident_id}{after}")
