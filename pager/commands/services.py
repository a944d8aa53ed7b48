"""Service commands: `pager service list` (services come from escalation_policies/*.yaml)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pager.commands.common import now_utc, print_json, reported_errors, runtime
from pager.commands.schedules import render_table
from pager.db.tables import Service
from pager.services.alerting.catalog import sync_declared_services

service_app = typer.Typer(no_args_is_help=True, help="Services declared in the escalation policies.")


def register(app: typer.Typer) -> None:
    """Add the service commands to `app`."""
    app.add_typer(service_app, name="service")


@service_app.command("list")
def list_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Every service with its policy and integration key (keys are created on first sight)."""
    pager = runtime(ctx)
    try:
        with reported_errors():
            services = sync_declared_services(pager.engine, pager.config, now_utc())
    finally:
        pager.engine.dispose()
    if as_json:
        print_json([service_document(service) for service in services])
        return
    if not services:
        print("no services; declare them under `services:` in escalation_policies/*.yaml")
        return
    rows = [[s.id, s.name, s.policy_id, s.integration_key] for s in services]
    print(render_table(["ID", "NAME", "POLICY", "INTEGRATION KEY"], rows))


def service_document(service: Service) -> dict[str, Any]:
    """The JSON shape of one service in `pager service list --json` (docs/cli.md, "Services")."""
    return {
        "id": service.id,
        "name": service.name,
        "policy": service.policy_id,
        "integration_key": service.integration_key,
    }
