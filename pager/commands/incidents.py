"""`pager incident ...`: declare, list, show and change incidents (docs/incidents.md, docs/cli.md).

Each command reads the clock once, runs one service call in one transaction and prints the result;
`--json` prints the same document the API answers with.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pager.commands.common import (
    database_session,
    fail,
    fail_with,
    now_utc,
    parse_option_instant,
    print_json,
    reported_errors,
    runtime,
    state,
)
from pager.commands.schedules import render_table
from pager.config.errors import ConfigInvalid
from pager.config.loader import load_config
from pager.core.incident_model import IncidentRules
from pager.core.localtime import format_instant
from pager.services.alerting.catalog import sync_declared_services
from pager.services.incidents.changes import (
    add_note,
    change_severity,
    change_status,
    set_customer_impact,
    set_milestone,
)
from pager.services.incidents.declaring import declare
from pager.services.incidents.roles import assign_role
from pager.services.incidents.views import list_incidents, show_incident

incident_app = typer.Typer(no_args_is_help=True, help="Incidents: the humans' record of a problem.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
ByOption = Annotated[str, typer.Option("--by", help="Who is acting (a handle); shown on the timeline.")]
IdArgument = Annotated[int, typer.Argument(metavar="ID", help="The incident's id.")]


def register(app: typer.Typer) -> None:
    """Add the incident commands to `app`."""
    app.add_typer(incident_app, name="incident")


def incident_rules(ctx: typer.Context) -> IncidentRules:
    """The incident settings of --config-dir (exit 1 listing the problems of a bad config)."""
    config = load_config(state(ctx).config_dir)
    if config.errors:
        fail_with(ConfigInvalid(config.errors))
    return config.incidents


@incident_app.command("declare")
def declare_command(
    ctx: typer.Context,
    title: Annotated[str, typer.Option("--title", help="What is wrong, in a few words.")],
    severity: Annotated[str, typer.Option("--severity", help="SEV0 critical, SEV1 major, SEV2 minor.")],
    service: Annotated[
        list[str] | None, typer.Option("--service", help="An affected service (repeat).")
    ] = None,
    alert: Annotated[list[int] | None, typer.Option("--alert", help="An alert to link (repeat).")] = None,
    commander: Annotated[
        str | None, typer.Option("--commander", help="A handle; default: who acknowledged the first alert.")
    ] = None,
    impact: Annotated[
        bool, typer.Option("--impact", help="Customers are affected: updates fall due.")
    ] = False,
    drill: Annotated[bool, typer.Option("--drill", help="A practice incident; pages say [DRILL].")] = False,
    by: ByOption = "system",
    as_json: JsonOption = False,
) -> None:
    """Declare an incident."""
    now = now_utc()
    pager = runtime(ctx)
    try:
        with reported_errors():
            sync_declared_services(pager.engine, pager.config, now)
    finally:
        pager.engine.dispose()
    rules = pager.config.incidents
    with database_session(ctx) as session:
        incident = declare(
            session,
            rules,
            title=title,
            severity=severity,
            services=service or [],
            alerts=alert or [],
            commander=commander,
            customer_impact=impact,
            drill=drill,
            actor=by,
            now=now,
        )
        assert incident.id is not None
        document = show_incident(session, rules, incident.id)
    if as_json:
        print_json(document)
    else:
        drill_mark = " [DRILL]" if drill else ""
        print(f"incident {document['id']} declared: {document['severity']}{drill_mark} {document['title']}")
        if document["missing_roles"]:
            print(f"missing roles: {', '.join(document['missing_roles'])}")


@incident_app.command("list")
def list_command(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Only open incidents.")] = False,
    drill: Annotated[bool, typer.Option("--drill", help="Include drills (left out otherwise).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Incidents, newest first, with their missing roles."""
    rules = incident_rules(ctx)
    with database_session(ctx, read_only=True) as session:
        rows = list_incidents(session, rules, open_only=open_only, drills=drill)
    if as_json:
        print_json(rows)
        return
    if not rows:
        print("no incidents")
        return
    table = [
        [
            str(r["id"]),
            r["severity"] + (" DRILL" if r["drill"] else ""),
            r["status"],
            r["title"],
            r["roles"]["commander"] or "-",
            ", ".join(r["missing_roles"]) or "-",
            r["declared_at"],
        ]
        for r in rows
    ]
    print(
        render_table(
            ["ID", "SEVERITY", "STATUS", "TITLE", "COMMANDER", "MISSING ROLES", "DECLARED (UTC)"], table
        )
    )


@incident_app.command("show")
def show_command(ctx: typer.Context, incident_id: IdArgument, as_json: JsonOption = False) -> None:
    """An incident: header, roles (missing ones marked), milestones and its one timeline."""
    rules = incident_rules(ctx)
    with database_session(ctx, read_only=True) as session:
        document = show_incident(session, rules, incident_id)
    if as_json:
        print_json(document)
    else:
        print(render_incident(document))


def render_incident(document: dict[str, Any]) -> str:
    """The human `pager incident show`."""
    drill = " [DRILL]" if document["drill"] else ""
    impact = "customers affected" if document["customer_impact"] else "no customer impact"
    lines = [
        f"incident {document['id']}{drill}: {document['title']}",
        f"severity {document['severity']}, {document['status']}, {impact}",
        f"services: {', '.join(document['services']) or '-'}",
        f"alerts: {', '.join(str(a) for a in document['alerts']) or '-'}",
        f"next update due: {document['next_update_due'] or '-'}",
        "",
        "roles:",
    ]
    missing = set(document["missing_roles"])
    for role, holder in document["roles"].items():
        shown = ", ".join(holder) if isinstance(holder, list) else holder
        mark = "  (missing: required)" if role in missing else ""
        lines.append(f"  {role:<18}{shown or '-'}{mark}")
    lines += ["", "milestones:"]
    for name, at in document["milestones"].items():
        lines.append(f"  {name:<18}{at or '-'}")
    lines += ["", "timeline:"]
    for line in document["timeline"]:
        lines.append(f"  {line['at']}  {line['kind']:<20} {line['actor']:<16} {line['text']}")
    return "\n".join(lines)


@incident_app.command("status")
def status_command(
    ctx: typer.Context,
    incident_id: IdArgument,
    status: Annotated[
        str,
        typer.Argument(metavar="STATUS", help="investigating, identified, monitoring, resolved or closed."),
    ],
    message: Annotated[str, typer.Option("--message", help="Why; shown on the timeline.")] = "",
    by: ByOption = "system",
) -> None:
    """Move the incident along its lifecycle."""
    rules = incident_rules(ctx)
    with database_session(ctx) as session:
        incident = change_status(
            session, rules, incident_id, status, message=message, actor=by, now=now_utc()
        )
    print(f"incident {incident.id} is {incident.status}")


@incident_app.command("severity")
def severity_command(
    ctx: typer.Context,
    incident_id: IdArgument,
    severity: Annotated[str, typer.Argument(metavar="SEVERITY", help="SEV0, SEV1 or SEV2.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; shown on the timeline.")] = "",
    by: ByOption = "system",
) -> None:
    """Change the incident's severity."""
    rules = incident_rules(ctx)
    with database_session(ctx) as session:
        incident = change_severity(
            session, rules, incident_id, severity, reason=reason, actor=by, now=now_utc()
        )
    print(f"incident {incident.id} is {incident.severity}")


@incident_app.command("impact")
def impact_command(
    ctx: typer.Context,
    incident_id: IdArgument,
    state: Annotated[str, typer.Argument(metavar="on|off", help="on: customers are affected; off: not.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; shown on the timeline.")] = "",
    by: ByOption = "system",
) -> None:
    """Say whether customers are affected (with impact, status updates fall due and overdue ones page)."""
    if state not in ("on", "off"):
        fail(f"impact must be on or off, not {state!r}")
    rules = incident_rules(ctx)
    with database_session(ctx) as session:
        incident = set_customer_impact(
            session, rules, incident_id, state == "on", reason=reason, actor=by, now=now_utc()
        )
        due = incident.next_update_due_at
    print(
        f"incident {incident.id}: customer impact {state}"
        + (f"; next update due {format_instant(due)}" if due else "")
    )


@incident_app.command("role")
def role_command(
    ctx: typer.Context,
    incident_id: IdArgument,
    role: Annotated[
        str, typer.Argument(metavar="ROLE", help="commander, scribe, comms_lead, executive_sponsor or sme.")
    ],
    handle: Annotated[str, typer.Argument(metavar="HANDLE", help="Who takes the role.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; kept in the role's history.")] = "",
    page: Annotated[bool, typer.Option("--page", help="Page the person through their own rules.")] = False,
    by: ByOption = "system",
) -> None:
    """Assign a role, handing it over from its holder."""
    with database_session(ctx) as session:
        assignment = assign_role(
            session, incident_id, role, handle, reason=reason, page=page, actor=by, now=now_utc()
        )
    paged = " and paged" if page else ""
    print(f"{handle} is {assignment.role} of incident {incident_id}{paged}")


@incident_app.command("note")
def note_command(
    ctx: typer.Context,
    incident_id: IdArgument,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The note.")],
    by: ByOption = "system",
) -> None:
    """Add a note to the incident's timeline."""
    with database_session(ctx) as session:
        add_note(session, incident_id, text, actor=by, now=now_utc())
    print(f"note added to incident {incident_id}")


@incident_app.command("milestone")
def milestone_command(
    ctx: typer.Context,
    incident_id: IdArgument,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="impact_started, detected, identified, mitigated...")
    ],
    at: Annotated[
        str, typer.Argument(metavar="ISO", help="The instant, with its offset (2026-03-02T14:50:00Z).")
    ],
    by: ByOption = "system",
) -> None:
    """Set or move a milestone (impact start may be backdated; the order is enforced)."""
    instant = parse_option_instant("ISO", at)
    rules = incident_rules(ctx)
    with database_session(ctx) as session:
        incident = set_milestone(session, rules, incident_id, name, instant, actor=by, now=now_utc())
    print(f"incident {incident.id}: {name} at {at}")
