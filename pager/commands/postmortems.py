"""`pager postmortem ...`: show, edit and move an incident's postmortem (docs/incidents.md,
"Postmortems"). A postmortem is opened as a draft when its incident is resolved; ID is the
incident's id. Each command reads the clock once and runs one service call in one transaction.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from pager.commands.common import database_session, fail, now_utc
from pager.core.localtime import format_instant
from pager.services.incidents.postmortems import edit_postmortem, move_postmortem, show_postmortem

postmortem_app = typer.Typer(
    no_args_is_help=True, help="Postmortems: written after an incident, draft -> in_review -> published."
)

IdArgument = Annotated[int, typer.Argument(metavar="ID", help="The incident's id.")]
ByOption = Annotated[str, typer.Option("--by", help="Who is acting (a handle); shown on the timeline.")]


def register(app: typer.Typer) -> None:
    """Add the postmortem commands to `app`."""
    app.add_typer(postmortem_app, name="postmortem")


@postmortem_app.command("show")
def show(
    ctx: typer.Context,
    incident_id: IdArgument,
    format: Annotated[str, typer.Option("--format", help="md (the Markdown) or json.")] = "md",
) -> None:
    """Print the postmortem of incident ID."""
    with database_session(ctx, read_only=True) as session:
        text = show_postmortem(session, incident_id, format)
    print(text, end="" if text.endswith("\n") else "\n")


def _move(ctx: typer.Context, incident_id: int, status: str, by: str) -> None:
    now = now_utc()
    with database_session(ctx) as session:
        postmortem = move_postmortem(session, incident_id, status, by=by, now=now)
        due = format_instant(postmortem.due_at)
    print(f"postmortem of incident {incident_id} is {status} (due {due})")


@postmortem_app.command("review")
def review(ctx: typer.Context, incident_id: IdArgument, by: ByOption = "system") -> None:
    """Move the draft postmortem of incident ID to in_review."""
    _move(ctx, incident_id, "in_review", by)


@postmortem_app.command("draft")
def back_to_draft(ctx: typer.Context, incident_id: IdArgument, by: ByOption = "system") -> None:
    """Move the postmortem of incident ID back from in_review to draft."""
    _move(ctx, incident_id, "draft", by)


@postmortem_app.command("publish")
def publish(ctx: typer.Context, incident_id: IdArgument, by: ByOption = "system") -> None:
    """Publish the reviewed postmortem of incident ID (final; ends the commander's reminder)."""
    _move(ctx, incident_id, "published", by)


@postmortem_app.command("edit")
def edit(
    ctx: typer.Context,
    incident_id: IdArgument,
    file: Annotated[str, typer.Option("--file", help="A Markdown file with the new body; - reads stdin.")],
    by: ByOption = "system",
) -> None:
    """Replace the body of the postmortem of incident ID (not once published)."""
    body = read_body(file)
    now = now_utc()
    with database_session(ctx) as session:
        edit_postmortem(session, incident_id, body, by=by, now=now)
    print(f"postmortem of incident {incident_id} updated ({len(body)} characters)")


def read_body(file: str) -> str:
    """The text of `file` (UTF-8; `-` is stdin), or exit 1 naming the file and the problem."""
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})")
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}")
