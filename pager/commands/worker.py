"""`pager worker`: runs due escalations and sends the outbox until stopped."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from pager.commands.common import cli_settings, fail, require_signing_key, runtime
from pager.log_format import configure_logging
from pager.services.runtime import freeze_startup_heap


def register(app: typer.Typer) -> None:
    """Add `worker` to `app`."""
    app.command("worker")(worker)


def worker(
    ctx: typer.Context,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            help="Serve /metrics, /readyz and /healthz from this process on this port.",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", help="Address for --metrics-port to listen on.")
    ] = "127.0.0.1",
) -> None:
    """Run the escalation and delivery worker (blocking; Ctrl-C or SIGTERM stops it within ~10 s).

    Timers live in the database, so a restarted worker picks up every due escalation and page.
    """
    from pager.worker import run_worker  # APScheduler loads only for the command that needs it

    require_signing_key(cli_settings(ctx))
    pager = runtime(ctx)
    configure_logging()
    health = None
    if metrics_port is not None:
        from pager.api.health_server import HealthServer, HealthServerFailed

        health = HealthServer(pager, metrics_host, metrics_port)
        try:
            health.start()
        except HealthServerFailed as exc:
            pager.engine.dispose()
            fail(str(exc))
    freeze_startup_heap()
    abandoned = 0
    try:
        abandoned = run_worker(pager)
    except KeyboardInterrupt:
        pass
    finally:
        if health is not None:
            health.stop()
        pager.engine.dispose()
    if abandoned:
        # Provider calls still running would hold the interpreter's exit until their own timeout.
        # Their rows are `sending`, reconciled after the lease, exactly as after a crash: end now.
        logging.shutdown()
        os._exit(0)
