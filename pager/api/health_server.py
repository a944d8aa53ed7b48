"""`pager worker --metrics-port`: /metrics, /readyz and /healthz served from the worker process itself.

A small app with only the health routes, run by uvicorn in a daemon thread of the worker. Its
/readyz is the same check as `pager serve`'s; its /metrics holds this worker's own histograms (loop
durations, escalation lateness) besides the database's gauges.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import uvicorn
from fastapi import FastAPI

from pager.api import health
from pager.api.connection_limits import uvicorn_limits
from pager.api.errors import install_error_handlers
from pager.services.operations.metrics import metrics_registry
from pager.services.runtime import Runtime

log = logging.getLogger("pager.health_server")

START_TIMEOUT_SECONDS = 10.0


class HealthServerFailed(RuntimeError):
    """The health server could not start (e.g. the port is taken)."""


def create_health_app(runtime: Runtime) -> FastAPI:
    """An app with /healthz, /readyz and /metrics only."""
    app = FastAPI(title="pager worker", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    app.state.metrics_registry = metrics_registry(runtime.engine)
    install_error_handlers(app)
    app.include_router(health.router)
    return app


class HealthServer:
    """uvicorn serving `create_health_app(runtime)` on host:port in a daemon thread."""

    def __init__(self, runtime: Runtime, host: str, port: int) -> None:
        config = uvicorn.Config(
            create_health_app(runtime),
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            loop="asyncio",
            **uvicorn_limits(),
        )
        self.server = uvicorn.Server(config)
        self.address = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._run, name="pager-health", daemon=True)

    def _run(self) -> None:
        # uvicorn leaves by SystemExit when it cannot bind; start() reports that.
        with contextlib.suppress(SystemExit):
            self.server.run()

    def start(self) -> None:
        """Serve; HealthServerFailed when not listening within START_TIMEOUT_SECONDS."""
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise HealthServerFailed(f"cannot serve /metrics on {self.address}")
            time.sleep(0.02)
        log.info("health_server_started url=%s", self.address)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving (waits at most `timeout` seconds)."""
        self.server.should_exit = True
        self._thread.join(timeout)
