"""`pager action ...`: an incident's action items — add, list, done (docs/incidents.md,
"Action items"). Each command reads the clock once and runs one service call in one transaction."""

from __future__ import annotations

from typing import Annotated

import typer

from pager.commands.common import database_session, now_utc, print_json
from pager.commands.schedules import render_table
from pager.services.incidents.action_items import (
    ActionItemView,
    add_action_item,
    complete_action_item,
    list_action_items,
)

action_app = typer.Typer(
    no_args_is_help=True,
    help="Action items: follow-up work from incidents, each with an owner and a due date.",
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ByOption = Annotated[str, typer.Option("--by", help="Who is acting (a handle); shown on the timeline.")]


def register(app: typer.Typer) -> None:
    """Add the action-item commands to `app`."""
    app.add_typer(action_app, name="action")


@action_app.command("add")
def add(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(metavar="INCIDENT", help="The incident's id.")],
    title: Annotated[str, typer.Option("--title", help="What is to be done.")],
    owner: Annotated[str, typer.Option("--owner", help="Who does it (a handle).")],
    due: Annotated[str, typer.Option("--due", help="Due date, YYYY-MM-DD (in the owner's zone).")],
    link: Annotated[str | None, typer.Option("--link", help="A ticket or document (http/https).")] = None,
    by: ByOption = "system",
    as_json: JsonOption = False,
) -> None:
    """Add an action item to INCIDENT."""
    now = now_utc()
    with database_session(ctx) as session:
        item = add_action_item(
            session, incident_id, title=title, owner=owner, due=due, link=link, by=by, now=now
        )
    if as_json:
        print_json(item.document())
    else:
        print(f"action item {item.id} on incident {item.incident_number} for {item.owner}, due {item.due_on}")


@action_app.command("list")
def list_command(
    ctx: typer.Context,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only open items due before today in their owner's zone.")
    ] = False,
    include_done: Annotated[bool, typer.Option("--all", help="Done items too.")] = False,
    drill: Annotated[bool, typer.Option("--drill", help="Items of drills too.")] = False,
    incident_id: Annotated[int | None, typer.Option("--incident", help="Only this incident's.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Open action items by due date."""
    now = now_utc()
    with database_session(ctx, read_only=True) as session:
        items = list_action_items(
            session, now, overdue=overdue, include_done=include_done, drill=drill, incident_id=incident_id
        )
    if as_json:
        print_json([item.document() for item in items])
        return
    if not items:
        print("no overdue action items" if overdue else "no action items")
        return
    print(render_table(["ID", "INCIDENT", "TITLE", "OWNER", "DUE", "STATUS"], [_row(item) for item in items]))


def _row(item: ActionItemView) -> list[str]:
    status = "overdue" if item.overdue else item.status
    incident = f"{item.incident_number} [DRILL]" if item.drill else str(item.incident_number)
    return [str(item.id), incident, item.title, item.owner, item.due_on.isoformat(), status]


@action_app.command("done")
def done(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(metavar="ID", help="The action item's id.")],
    by: ByOption = "system",
    as_json: JsonOption = False,
) -> None:
    """Mark action item ID done (done again changes nothing)."""
    now = now_utc()
    with database_session(ctx) as session:
        item = complete_action_item(session, item_id, by=by, now=now)
    if as_json:
        print_json(item.document())
    else:
        print(f"action item {item.id} is done")
