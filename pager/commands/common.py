"""What every command shares: the global options and how errors leave the process."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from pager.config.errors import ConfigInvalid
from pager.core.localtime import NaiveInstantError, parse_instant
from pager.core.model import Override
from pager.db.migrate import current_revision
from pager.db.session import UnsupportedDatabase, create_db_engine, database_url, session_scope
from pager.services.calendars.overrides import overrides_of
from pager.services.errors import DomainError
from pager.services.people.users import handles_now
from pager.services.runtime import Runtime, build_runtime
from pager.settings import SecretKeyInvalid, SettingInvalid, Settings, get_settings, require_secret_key


@dataclass
class CliState:
    """Global options, kept on the typer context."""

    config_dir: Path


def state(ctx: typer.Context) -> CliState:
    """The global options of this invocation."""
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        return CliState(config_dir=Path("."))
    return obj


def fail(message: str) -> NoReturn:
    """Print `error: message` to stderr and exit 1."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(1)


def print_json(document: Any) -> None:
    """One JSON document on stdout."""
    print(json.dumps(document, indent=2, sort_keys=False))


# --- the database and the services, as commands reach them ----------------------------------------


def fail_with(exc: Exception) -> NoReturn:
    """The one place where a service error becomes `error: message` on stderr and exit 1."""
    if isinstance(exc, ConfigInvalid):
        for problem in exc.errors:
            print(problem, file=sys.stderr)
        fail(f"{len(exc.errors)} problem(s) in the config; run `pager check`")
    if isinstance(exc, DomainError | NaiveInstantError):
        fail(str(exc))
    if isinstance(exc, UnsupportedDatabase):
        fail(f"PAGER_DATABASE_URL: {exc}")
    if isinstance(exc, SettingInvalid):
        fail(str(exc))
    if isinstance(exc, SQLAlchemyError):
        fail(f"database error: {exc}")
    raise exc


@contextmanager
def reported_errors() -> Iterator[None]:
    """Run a command body; domain, config and database errors leave through `fail_with`."""
    try:
        yield
    except (
        DomainError,
        ConfigInvalid,
        NaiveInstantError,
        UnsupportedDatabase,
        SettingInvalid,
        SQLAlchemyError,
    ) as exc:
        fail_with(exc)


def now_utc() -> datetime:
    """The command's `now`: the CLI is an edge, so it reads the clock once and hands it to services."""
    return datetime.now(UTC)


def parse_option_instant(option: str, text: str) -> datetime:
    """An ISO 8601 instant with offset from option `option`; a naive or malformed one exits 1."""
    try:
        return parse_instant(text)
    except NaiveInstantError as exc:
        fail(f"{option}: {exc}")


def cli_settings(ctx: typer.Context) -> Settings:
    """Settings from the environment with the global --config-dir applied."""
    return get_settings().model_copy(update={"config_dir": state(ctx).config_dir})


def require_signing_key(settings: Settings) -> str:
    """PAGER_SECRET_KEY, or exit 1 saying how to make one (serve and worker never run without it)."""
    try:
        return require_secret_key(settings)
    except SecretKeyInvalid as exc:
        fail(str(exc))


def database_is_migrated(url: str) -> bool:
    """True when the database exists and has a schema; never creates a missing SQLite file."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:" or parsed.query.get("mode") == "memory":
            return False  # a fresh in-memory database is empty by definition
        if not Path(path).is_file():
            return False
    return current_revision(parsed) is not None


def open_database(settings: Settings) -> Engine:
    """An engine on the migrated database, or exit 1 telling the user to run `pager db upgrade`."""
    with reported_errors():
        if not database_is_migrated(settings.database_url):
            shown = database_url(settings.database_url).render_as_string(hide_password=True)
            fail(f"database {shown} has no schema; run `pager db upgrade` first")
        return create_db_engine(settings.database_url)


@contextmanager
def database_session(ctx: typer.Context, *, read_only: bool = False) -> Iterator[Session]:
    """A session on the migrated database (or exit 1 saying why); errors leave through `fail_with`."""
    engine = open_database(cli_settings(ctx))
    try:
        with reported_errors(), session_scope(engine, read_only=read_only) as session:
            yield session
    finally:
        engine.dispose()


def runtime(ctx: typer.Context) -> Runtime:
    """The services' runtime (database, config from --config-dir, notifiers), or exit 1 saying why."""
    settings = cli_settings(ctx)
    open_database(settings).dispose()
    with reported_errors():
        return build_runtime(settings)


def stored_overrides(schedule_ids: Iterable[str], start: datetime, end: datetime) -> list[Override]:
    """Overrides of these schedules meeting [start, end) from PAGER_DATABASE_URL.

    Without a database (the default SQLite file missing, or never migrated) nobody can have stored an
    override, so the answer is none. A database that is configured but unreachable is an error: showing
    the rota without its overrides would name the wrong person.
    """
    url = get_settings().database_url
    with reported_errors():
        if not database_is_migrated(url):
            return []
        engine = create_db_engine(url)
        try:
            return overrides_of(engine, schedule_ids, start, end)
        finally:
            engine.dispose()


def stored_handles() -> tuple[frozenset[str] | None, frozenset[str], str | None]:
    """Every handle (None: no database to ask) and the deactivated ones from PAGER_DATABASE_URL,
    and a warning line when it could not be read.

    No database (the SQLite file missing, never migrated): nothing to check, no warning. An
    unreachable one is a warning, not an error: `pager check` goes on with the files.
    """
    try:
        url = get_settings().database_url
        if not database_is_migrated(url):
            return None, frozenset(), None
        engine = create_db_engine(url)
        try:
            known, inactive = handles_now(engine)
            return known, inactive, None
        finally:
            engine.dispose()
    except (SQLAlchemyError, UnsupportedDatabase, SettingInvalid) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, frozenset(), f"warning: database unreachable, users not checked: {reason}"
