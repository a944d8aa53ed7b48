"""Heartbeat monitor commands: `pager heartbeat list` (monitors are declared on services in
escalation_policies/*.yaml; see docs/heartbeats.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pager.commands.common import now_utc, print_json, reported_errors, runtime
from pager.commands.schedules import render_table
from pager.services.alerting.catalog import sync_declared_services
from pager.services.heartbeat_monitors.listing import MonitorView, monitors_now

heartbeat_app = typer.Typer(no_args_is_help=True, help="Heartbeat monitors declared on services.")


def register(app: typer.Typer) -> None:
    """Add the heartbeat monitor commands to `app`."""
    app.add_typer(heartbeat_app, name="heartbeat")


@heartbeat_app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Every heartbeat monitor with its beat URL, last beat and state (monitors are created, with
    their secret URLs, on first sight). The URLs are secrets: show them only to whoever sets up jobs."""
    pager = runtime(ctx)
    now = now_utc()
    try:
        with reported_errors():
            sync_declared_services(pager.engine, pager.config, now)
            monitors = monitors_now(pager.engine, pager.settings.public_url, now)
    finally:
        pager.engine.dispose()
    if as_json:
        print_json([monitor_document(monitor) for monitor in monitors])
        return
    if not monitors:
        print(
            "no heartbeat monitors; declare them as `heartbeats:` on a service in escalation_policies/*.yaml"
        )
        return
    rows = [[m.service, m.name, m.state, _instant(m), m.url] for m in monitors]
    print(render_table(["SERVICE", "NAME", "STATE", "LAST BEAT", "URL"], rows))


def _instant(monitor: MonitorView) -> str:
    return "-" if monitor.last_beat_at is None else monitor.last_beat_at.isoformat().replace("+00:00", "Z")


def monitor_document(monitor: MonitorView) -> dict[str, Any]:
    """The JSON shape of one monitor in `pager heartbeat list --json` (docs/cli.md, "Heartbeat monitors")."""
    return {
        "service": monitor.service,
        "name": monitor.name,
        "url": monitor.url,
        "last_beat_at": None if monitor.last_beat_at is None else monitor.last_beat_at.isoformat(),
        "state": monitor.state,
    }
