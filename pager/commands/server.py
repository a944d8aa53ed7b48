"""`pager serve` (the HTTP service, worker in-process unless told not to) and `pager demo`.

`pager demo` (what `make run` starts) first prints who is on call now for every schedule, then seeds
the demo and serves.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from pager.adapters.console import ConsoleNotifier
from pager.commands.common import (
    cli_settings,
    fail,
    now_utc,
    open_database,
    reported_errors,
    require_signing_key,
    runtime,
)
from pager.commands.schedules import render_table
from pager.core.localtime import format_instant
from pager.core.model import Override, Schedule
from pager.core.schedule import next_handoff, resolve_on_call
from pager.db.migrate import upgrade_schema
from pager.db.session import database_url
from pager.log_format import configure_logging
from pager.services.calendars.overrides import overrides_of
from pager.services.demo import seed_demo
from pager.services.operations.config_watch import ConfigWatcher, reload_and_sync
from pager.services.runtime import Runtime, build_runtime, freeze_startup_heap
from pager.settings import SecretKeyInvalid, secret_key_problem

HostOption = Annotated[str, typer.Option("--host", help="Address to listen on.")]
PortOption = Annotated[int, typer.Option("--port", help="Port to listen on.")]
DEMO_KEY_FILE = "pager-secret.key"
# next_handoff looks at most this far ahead, so the overrides it may meet lie within it.
HANDOFF_LOOKAHEAD = timedelta(days=400)


def register(app: typer.Typer) -> None:
    """Add `serve` and `demo` to `app`."""
    app.command("serve")(serve)
    app.command("demo")(demo)


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


def demo(ctx: typer.Context, host: HostOption = "127.0.0.1", port: PortOption = 8080) -> None:
    """Seed demo users, services and an admin token into the database, then serve with console pages.

    Without PAGER_SECRET_KEY the demo makes a key and keeps it beside its SQLite database (or in the
    current directory for another database) as `pager-secret.key`, so links survive a restart.
    """
    configure_logging()
    settings = cli_settings(ctx)
    if settings.secret_key is not None:
        require_signing_key(settings)
    if settings.public_url == "http://127.0.0.1:8080" and (host, port) != ("127.0.0.1", 8080):
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
    with reported_errors():
        upgrade_schema(settings.database_url)
    if settings.secret_key is None:  # after the upgrade, so a bad database URL is reported as such
        path = demo_key_path(settings.database_url)
        try:
            key, made = kept_secret_key(path)
        except (SecretKeyInvalid, OSError) as exc:
            fail(f"the demo's secret key: {exc}")
        settings = settings.model_copy(update={"secret_key": key})
        print(f"email links are signed with the key {'made now and ' if made else ''}kept in {path}")
    open_database(settings).dispose()
    with reported_errors():
        pager = build_runtime(settings)
    # Demo people have fictional numbers: whatever the environment says, pages only go to the console.
    pager.notifiers = {method: ConsoleNotifier(method) for method in ("sms", "voice", "email")}
    now = now_utc()
    print(demo_on_call(pager, now))
    token, services, login_url = seed_demo(pager, now)
    print(demo_banner(pager.settings.public_url, token, services, login_url))
    _serve(pager, host, port, run_worker=True)


def demo_key_path(url: str) -> Path:
    """Where the demo keeps its secret key: beside its SQLite file, else in the current directory."""
    with reported_errors():
        parsed = database_url(url)
    path = parsed.database
    in_memory = path in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
    if parsed.get_backend_name() == "sqlite" and path and not in_memory:
        return Path(path).resolve().parent / DEMO_KEY_FILE
    return Path.cwd() / DEMO_KEY_FILE


def kept_secret_key(path: Path) -> tuple[str, bool]:
    """The key kept in `path` and whether it was made just now (then written with mode 0600).

    SecretKeyInvalid when the file holds something that is not a usable key: it is never overwritten.
    """
    try:
        kept = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(32)
        # O_EXCL: two demos starting at once cannot both write; the loser reads the winner's key.
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return kept_secret_key(path)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(key + "\n")
        return key, True
    problem = secret_key_problem(kept)
    if problem is not None:
        raise SecretKeyInvalid(f"{path} does not hold a usable key ({problem}); delete it to make a new one")
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)  # only its owner may read a key that signs links
    return kept, False


def _serve(pager: Runtime, host: str, port: int, *, run_worker: bool) -> None:
    import uvicorn

    from pager.api.app import create_app

    watcher = ConfigWatcher(pager)
    watcher.start()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        # Refuses (and logs path:line) a bad config, keeping the last good one.
        reload_and_sync(pager, now_utc())

    signal.signal(signal.SIGHUP, on_hup)
    try:
        app = create_app(pager, run_worker=run_worker)
        freeze_startup_heap()
        uvicorn.run(app, host=host, port=port, log_config=None)
    finally:
        watcher.stop()
        pager.engine.dispose()


def demo_on_call(pager: Runtime, now: datetime) -> str:
    """The on-call table the demo prints first: every schedule at `now`, stored overrides applied."""
    now = now.replace(microsecond=0)
    schedules = pager.config.schedules
    overrides = overrides_of(pager.engine, sorted(schedules), now, now + HANDOFF_LOOKAHEAD)
    heading = f"On call at {format_instant(now)} (schedules in {(pager.config_dir / 'schedules').resolve()})"
    return f"{heading}\n\n{on_call_table(schedules, overrides, now)}"


def on_call_table(schedules: Mapping[str, Schedule], overrides: Sequence[Override], now: datetime) -> str:
    """Who is primary and secondary at `now` and the next primary handoff, per schedule."""
    rows: list[list[str]] = []
    for schedule_id, schedule in sorted(schedules.items()):
        on_call = resolve_on_call(schedule, now, overrides)
        handoff = next_handoff(schedule, now, "primary", overrides)
        if handoff is None:
            when, who = "none within a year", ""
        else:
            when = f"{format_instant(handoff.at)} (in {_until(handoff.at - now)})"
            who = f"{handoff.from_user or 'nobody'} -> {handoff.to_user or 'nobody'}"
        rows.append(
            [schedule_id, schedule.time_zone, on_call.primary or "-", on_call.secondary or "-", when, who]
        )
    headers = ["SCHEDULE", "ZONE", "PRIMARY", "SECONDARY", "NEXT PRIMARY HANDOFF (UTC)", "WHO"]
    return render_table(headers, rows)


def _until(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m"


def demo_banner(
    public_url: str, token: str, services: Iterable[tuple[str, str]], login_url: str | None = None
) -> str:
    """What a new user needs next: the console and its login link, the URL, the token, the keys and a
    curl that fires an alert."""
    services = list(services)
    lines = [
        "",
        f"pager demo is running at {public_url}  (API docs: {public_url}/docs)",
        f"web console: {public_url}/",
        *([f"  log in with one click (works once, for 15 minutes): {login_url}"] if login_url else []),
        f"admin API token (shown once): {token}",
        "",
        "integration keys:",
        *(f"  {service_id:<18} {key}" for service_id, key in services),
    ]
    if services:
        service_id, key = next(((s, k) for s, k in services if s == "checkout-api"), services[0])
        event = {
            "routing_key": key,
            "event_action": "trigger",
            "dedup_key": "demo-1",
            "payload": {"summary": "Checkout error rate above 5%", "source": "demo", "severity": "critical"},
        }
        curl = (
            f"curl -sS -X POST {public_url}/v2/enqueue -H 'Content-Type: application/json' "
            f"-d {shlex.quote(json.dumps(event))}"
        )
        lines += [
            "",
            f"fire a test alert on {service_id} (pages appear below as 'page method=…' lines):",
            f"  {curl}",
            f"then list alerts: curl -sS -H 'Authorization: Bearer {token}' {public_url}/api/v1/alerts",
        ]
    lines.append("")
    return "\n".join(lines)
