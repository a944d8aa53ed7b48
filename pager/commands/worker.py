"""`pager worker`: runs due escalations and sends the outbox until stopped."""

from __future__ import annotations

import logging

import typer

from pager.commands.common import runtime


def register(app: typer.Typer) -> None:
    """Add `worker` to `app`."""
    app.command("worker")(worker)


def worker(ctx: typer.Context) -> None:
    """Run the escalation and delivery worker (blocking; Ctrl-C stops it).

    Timers live in the database, so a restarted worker picks up every due escalation and page.
    """
    from pager.worker import run_worker  # APScheduler loads only for the command that needs it

    pager = runtime(ctx)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # The scheduler would log every one-second tick; pager's own lines say what happened.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        run_worker(pager)
    except KeyboardInterrupt:
        pass
    finally:
        pager.engine.dispose()
