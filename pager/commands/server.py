"""`pager serve`: the HTTP service, worker in-process unless told not to (`pager demo` shares `_serve`)."""

from __future__ import annotations

import signal
from datetime import timedelta
from types import FrameType
from typing import Annotated

import typer

from pager.commands.common import (
    cli_settings,
    now_utc,
    require_signing_key,
    runtime,
)
from pager.log_format import configure_logging
from pager.services.operations.config_watch import ConfigWatcher, reload_and_sync
from pager.services.runtime import Runtime, freeze_startup_heap

HostOption = Annotated[str, typer.Option("--host", help="Address to listen on.")]
PortOption = Annotated[int, typer.Option("--port", help="Port to listen on.")]
DEMO_KEY_FILE = "pager-secret.key"
# next_handoff looks at most this far ahead, so the overrides it may meet lie within it.
HANDOFF_LOOKAHEAD = timedelta(days=400)


def register(app: typer.Typer) -> None:
    """Add `serve` to `app` (`pager demo` is pager.commands.demo)."""
    app.command("serve")(serve)


def serve(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8080,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run the worker in this process.")
    ] = False,
) -> None:
    """Serve the HTTP API (and run the worker in-process unless --no-worker)."""
    require_signing_key(cli_settings(ctx))
    configure_logging()
    pager = runtime(ctx)
    _serve(pager, host, port, run_worker=not no_worker)


def _serve(pager: Runtime, host: str, port: int, *, run_worker: bool) -> None:
    import uvicorn

    from pager.api.app import create_app
    from pager.api.connection_limits import uvicorn_limits

    watcher = ConfigWatcher(pager)
    watcher.start()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        # Refuses (and logs path:line) a bad config, keeping the last good one.
        reload_and_sync(pager, now_utc())

    signal.signal(signal.SIGHUP, on_hup)
    try:
        app = create_app(pager, run_worker=run_worker)
        freeze_startup_heap()
        uvicorn.run(app, host=host, port=port, log_config=None, **uvicorn_limits())
    finally:
        watcher.stop()
        pager.engine.dispose()
