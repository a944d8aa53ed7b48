"""The `pager` command line (typer). Commands live one module per concern in pager.commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pager.commands import (
    action_items,
    alerts,
    analytics,
    database,
    demo,
    doctor,
    handoffs,
    heartbeat_monitors,
    incident_updates,
    incidents,
    maintenance,
    overrides,
    postmortems,
    schedules,
    server,
    services,
    simulate,
    tokens,
    users,
    webhooks,
    worker,
)
from pager.commands.common import CliState

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="pager: on-call schedules, paging and escalation.",
    # A crash's traceback must not print local variables: settings, URLs and tokens live in them.
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    config_dir: Annotated[
        Path | None,
        typer.Option(
            "--config-dir", envvar="PAGER_CONFIG_DIR", help="Holds schedules/ and escalation_policies/."
        ),
    ] = None,
) -> None:
    """Global options."""
    ctx.obj = CliState(config_dir=config_dir or Path("."))


schedules.register(app)
simulate.register(app)
users.register(app)
services.register(app)
heartbeat_monitors.register(app)
overrides.register(app)
handoffs.register(app)
alerts.register(app)
maintenance.register(app)
incidents.register(app)
postmortems.register(app)
action_items.register(app)
incident_updates.register(incidents.incident_app)
worker.register(app)
server.register(app)
demo.register(app)
tokens.register(app)
database.register(app)
doctor.register(app)
analytics.register(app)
webhooks.register(app)
