"""The FastAPI application: routers only translate HTTP <-> services; errors mapped in one place."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI

from pager.api import health, ingest
from pager.api.authentication import BearerAuthentication, TokenUsageWriter
from pager.api.body_limits import BodyLimitMiddleware
from pager.api.errors import install_error_handlers
from pager.api.heartbeat_monitors import remember_monitor_keys
from pager.api.ingest.common import remember_service_keys
from pager.services.alerting.catalog import sync_declared_services
from pager.services.heartbeat_monitors.beats import declared_monitor_keys
from pager.services.operations.metrics import metrics_registry
from pager.services.runtime import Runtime

log = logging.getLogger("pager.api")

API_DESCRIPTION = (
    "pager: on-call schedules, paging and escalation. Monitoring posts alerts (PagerDuty Events v2, "
    "Alertmanager, Grafana, generic JSON); people acknowledge by SMS, voice or email; calendars show shifts."
)


def create_app(runtime: Runtime, *, run_worker: bool = True) -> FastAPI:
    """The app for `runtime`; with `run_worker` the worker runs in a thread of this process."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        services = sync_declared_services(runtime.engine, runtime.config, datetime.now(UTC))
        remember_service_keys(_app, services)
        remember_monitor_keys(_app, declared_monitor_keys(runtime))
        worker = None
        if run_worker:
            # Imported here: `pager serve --no-worker` never loads APScheduler or the delivery adapters.
            from pager.worker import Worker

            worker = Worker(runtime)
        thread = None
        if worker is not None:
            thread = threading.Thread(
                target=worker.run, kwargs={"install_signals": False}, name="pager-worker"
            )
            thread.start()
        try:
            yield
        finally:
            if worker is not None and thread is not None:
                worker.stop()
                thread.join(timeout=10)
            token_usage.shutdown()

    # /docs is the console's: Swagger UI from pager's own files (offline), not the CDN default.
    app = FastAPI(
        title="pager",
        version="0.1.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    token_usage = TokenUsageWriter(runtime)
    app.state.token_usage = token_usage
    # The last added runs first: bodies are capped, then /api/v1 is authenticated, before anything
    # reads a body or opens a session.
    app.add_middleware(BearerAuthentication, runtime=runtime, usage=token_usage)
    app.add_middleware(BodyLimitMiddleware)
    app.state.metrics_registry = metrics_registry(runtime.engine)
    install_error_handlers(app)
    # The ingest routes are the app's own and its first: FastAPI matches the routes of an included
    # router through a context built per request, which was a tenth of a deduplicated event's CPU
    # (bench/README.md). The app matches its own routes by their path alone.
    app.router.routes[:0] = ingest.routes
    app.include_router(health.router)
    for router in _feature_routers():
        app.include_router(router)
    return app


def _feature_routers() -> list[APIRouter]:
    """Routers of the feature modules present (each module exposes `router`)."""
    import importlib

    routers = []
    for name in (
        "twilio_webhooks",
        "ack_links",
        "verify_links",
        "calendars",
        "heartbeat_monitors",
        "rest",
        "console",
        "status_page",
    ):
        try:
            module = importlib.import_module(f"pager.api.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"pager.api.{name}":
                raise
            continue
        router = module.router
        assert isinstance(router, APIRouter)
        routers.append(router)
    return routers
