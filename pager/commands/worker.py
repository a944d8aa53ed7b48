"""`pager worker`: runs due escalations and sends the outbox until stopped."""

from __future__ import annotations

import typer

from pager.commands.common import cli_settings, require_signing_key, runtime
from pager.log_format import configure_logging
from pager.services.runtime import freeze_startup_heap


def register(app: typer.Typer) -> None:
    """Add `worker` to `app`."""
    app.command("worker")(worker)


def worker(ctx: typer.Context) -> None:
    """Run the escalation and delivery worker (blocking; Ctrl-C stops it).

    Timers live in the database, so a restarted worker picks up every due escalation and page.
    """
    from pager.worker import run_worker  # APScheduler loads only for the command that needs it

    require_signing_key(cli_settings(ctx))
    pager = runtime(ctx)
    configure_logging()
    freeze_startup_heap()
    try:
        run_worker(pager)
    except KeyboardInterrupt:
        pass
    finally:
        pager.engine.dispose()
