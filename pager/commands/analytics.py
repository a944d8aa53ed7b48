"""`pager report` (the response report) and `pager export` (streamed CSV or JSON), docs/analytics.md."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from pager.commands.common import (
    cli_settings,
    open_database,
    parse_option_instant,
    print_json,
    reported_errors,
    runtime,
)
from pager.commands.schedules import render_table
from pager.core.response_report import REPORT_METHODS
from pager.services.analytics.export import EXPORT_FORMATS, EXPORT_KINDS, export_text
from pager.services.analytics.report import response_report

FromOption = Annotated[str, typer.Option("--from", help="Start of the window, ISO 8601 with offset.")]
ToOption = Annotated[
    str, typer.Option("--to", help="End of the window (not included), ISO 8601 with offset.")
]


def register(app: typer.Typer) -> None:
    """Add `report` and `export` to `app`."""
    app.command("report")(report)
    app.command("export")(export)


def report(
    ctx: typer.Context,
    start: FromOption,
    end: ToOption,
    service: Annotated[
        str | None, typer.Option("--service", help="Only this service's alerts, pages and incidents.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """MTTA and MTTR of alerts and incidents, the ack path per method, and each responder's load."""
    window = parse_option_instant("--from", start), parse_option_instant("--to", end)
    pager = runtime(ctx)
    try:
        with reported_errors():
            document = response_report(pager.engine, pager.config, *window, service)
    finally:
        pager.engine.dispose()
    if as_json:
        print_json(document)
    else:
        print(render_report(document))


def export(
    ctx: typer.Context,
    start: FromOption,
    end: ToOption,
    what: Annotated[str, typer.Option("--what", help=f"One of {', '.join(EXPORT_KINDS)}.")],
    fmt: Annotated[str, typer.Option("--format", help=f"One of {', '.join(EXPORT_FORMATS)}.")] = "csv",
    drill: Annotated[bool, typer.Option("--drill", help="Include drills.")] = False,
) -> None:
    """Stream the window's alerts, pages, incidents, timeline lines or action items to stdout."""
    window = parse_option_instant("--from", start), parse_option_instant("--to", end)
    engine = open_database(cli_settings(ctx))  # only the database: the config plays no part
    try:
        with reported_errors():
            for piece in export_text(engine, what, fmt, *window, drill=drill):
                sys.stdout.write(piece)
        sys.stdout.flush()
    finally:
        engine.dispose()


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)}m{seconds:04.1f}s" if minutes else f"{seconds:.1f}s"


def render_report(document: dict[str, Any]) -> str:
    """The report as a readable summary."""
    alerts, incidents = document["alerts"], document["incidents"]
    lines = [
        f"Response report {document['from']} .. {document['to']}"
        f" ({document['drills_excluded']} drill(s) left out)",
        "",
        f"Alerts: {alerts['count']}  MTTA {_seconds(alerts['mtta_s'])}  MTTR {_seconds(alerts['mttr_s'])}",
    ]
    paths = [("any", alerts["ack_path"])] + [(m, alerts["by_method"][m]) for m in REPORT_METHODS]
    rows = [
        [name, _seconds(p["to_first_page_s"]), _seconds(p["to_delivered_s"]), _seconds(p["to_ack_s"])]
        for name, p in paths
    ]
    lines += [
        "Ack path (from the trigger):",
        render_table(["METHOD", "FIRST PAGE", "DELIVERED", "ACK"], rows, 2),
    ]
    lines += [
        "",
        f"Incidents: {incidents['count']}  MTTA {_seconds(incidents['mtta_s'])}"
        f"  MTTR {_seconds(incidents['mttr_s'])}",
    ]
    rows = [
        [severity, str(f["count"]), _seconds(f["mtta_s"]), _seconds(f["mttr_s"])]
        for severity, f in incidents["by_severity"].items()
    ]
    lines += [render_table(["SEVERITY", "COUNT", "MTTA", "MTTR"], rows, 2), ""]
    responders = document["responders"]
    if not responders:
        lines.append("Responders: nobody was paged or on call")
    else:
        rows = [
            [
                r["user"],
                *(str(r[name]) for name in ("pages", "night_pages", "off_shift_pages")),
                *(f"{r[name]:.2f}" for name in ("on_call_hours", "night_on_call_hours")),
            ]
            for r in responders
        ]
        headers = ["USER", "PAGES", "AT NIGHT", "OFF SHIFT", "ON CALL (H)", "AT NIGHT (H)"]
        lines += ["Responders:", render_table(headers, rows, 2)]
    return "\n".join(lines)
