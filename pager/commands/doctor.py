"""`pager doctor`: checks a deployment's settings, config and database, and says how to fix each problem.

It only reads: it never sends a page or an email, never creates a database file and never migrates.
Secrets (PAGER_SECRET_KEY, the Twilio token, passwords in URLs) are never printed, not even in part.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

import typer
from pydantic import ValidationError
from sqlalchemy import URL, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from pager.adapters.smtp_email import SmtpUrlInvalid, parse_smtp_url
from pager.commands.common import print_json, state
from pager.config.loader import load_config
from pager.db.migrate import alembic_config, current_revision
from pager.db.session import UnsupportedDatabase, create_db_engine, database_url
from pager.services.delivery.reconciliation import MIN_SENDING_LEASE_SECONDS, sending_lease_problem
from pager.settings import (
    MAKE_SECRET_KEY,
    SECRET_KEY_MIN_BYTES,
    Settings,
    get_settings,
    secret_key_problem,
)
from pager.settings_doc import env_names

CONNECT_TIMEOUT_SECONDS = 5
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|::1|0\.0\.0\.0)$")


@dataclass(frozen=True)
class Check:
    """One check's verdict; `fix` says what to do when it is not ok."""

    name: str
    ok: bool
    message: str
    fix: str | None = None


def _problem(name: str, message: str, fix: str) -> Check:
    return Check(name, False, message, fix)


def register(app: typer.Typer) -> None:
    """Add `doctor` to `app`."""
    app.command("doctor")(doctor)


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Check settings, config and database; print `ok|problem <check>: <message>` (and the fix) for each.

    Exit 0 when every check is ok, 1 otherwise. Nothing is sent, created or migrated.
    """
    checks = run_checks(state(ctx).config_dir)
    all_ok = all(check.ok for check in checks)
    if as_json:
        print_json({"ok": all_ok, "checks": [asdict(check) for check in checks]})
    else:
        for check in checks:
            print(f"{'ok' if check.ok else 'problem'} {check.name}: {check.message}")
            if check.fix:
                print(f"  fix: {check.fix}")
        problems = sum(not check.ok for check in checks)
        print("all checks ok" if all_ok else f"{problems} problem(s)", file=sys.stderr)
    if not all_ok:
        raise typer.Exit(1)


def run_checks(config_dir: Path) -> list[Check]:
    """Every check, in order, with every secret the settings hold masked out of the messages."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        return [_problem("settings", settings_errors(exc), "correct those environment variables (or .env)")]
    checks = [
        Check("settings", True, "read from the environment and .env"),
        check_config(config_dir),
        *check_database(settings.database_url),
        check_secret_key(settings.secret_key),
        check_twilio(settings),
        check_smtp(settings.smtp_url),
        check_public_url(settings),
        check_sending_lease(settings.sending_lease_seconds),
    ]
    return list(masked(checks, secrets_of(settings)))


def settings_errors(exc: ValidationError) -> str:
    """Which variables are wrong and why, without the values (one could be a secret)."""
    fields = Settings.model_fields
    parts = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        field = fields.get(name)
        shown = " or ".join(env_names(name, field)) if field is not None else name
        parts.append(f"{shown}: {error['msg']}")
    return "; ".join(parts)


def check_config(config_dir: Path) -> Check:
    """Schedules and policies load as `pager check` loads them, and some policy can page someone."""
    fix_dir = (
        "set --config-dir or PAGER_CONFIG_DIR to the directory holding schedules/ and escalation_policies/"
    )
    if not (config_dir / "schedules").is_dir():
        return _problem("config", f"no schedules/ directory in {config_dir}", fix_dir)
    config = load_config(config_dir)
    if config.errors:
        files = len({error.path for error in config.errors})
        return _problem(
            "config",
            f"{len(config.errors)} problem(s) in {files} file(s), the first: {config.errors[0]}",
            f"run `pager check --config-dir {config_dir}` for every problem and fix those files",
        )
    if not config.policies:
        return _problem(
            "config", f"no escalation policies in {config_dir}: no alert can page anyone", fix_dir
        )
    return Check(
        "config",
        True,
        f"{len(config.schedules)} schedules, {len(config.policies)} policies, "
        f"{len(config.services)} services in {config_dir}",
    )


def check_database(url: str) -> list[Check]:
    """Two checks: the database answers, and its schema is at the migrations' head."""
    try:
        parsed = database_url(url)
    except (UnsupportedDatabase, ArgumentError, ValueError):
        fix = "set PAGER_DATABASE_URL to sqlite:///path or postgresql+psycopg://user:pass@host:5432/db"
        return [
            _problem("database", "PAGER_DATABASE_URL is not a SQLite or Postgres URL", fix),
            _problem("schema", "not checked: no database", "fix the database check first"),
        ]
    shown = parsed.render_as_string(hide_password=True)
    reached = _reach(parsed, shown)
    if not reached.ok:
        return [reached, _problem("schema", "not checked: no database", "fix the database check first")]
    return [reached, check_schema(_with_connect_timeout(parsed), shown)]


def _with_connect_timeout(parsed: URL) -> URL:
    # A Postgres host that drops packets would otherwise keep doctor waiting for minutes.
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        return parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_SECONDS)})
    return parsed


def _reach(parsed: URL, shown: str) -> Check:
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:" or parsed.query.get("mode") == "memory":
            return _problem(
                "database",
                f"{shown} is in memory: every process gets its own empty database",
                "set PAGER_DATABASE_URL to a file (sqlite:///path) or to Postgres",
            )
        if not Path(path).is_file():  # connecting would create an empty file
            return _problem("database", f"no database file at {path}", "run `pager db upgrade` to create it")
    engine = create_db_engine(_with_connect_timeout(parsed))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return _problem(
            "database",
            f"{shown} does not answer: {reason}",
            "check that the database server runs and that PAGER_DATABASE_URL's host, port, user, "
            "password and database name are right",
        )
    finally:
        engine.dispose()
    return Check("database", True, f"{shown} answers")


def check_schema(parsed: URL, shown: str) -> Check:
    """The database's Alembic revision is the head of the migrations this pager ships."""
    from alembic.script import ScriptDirectory  # only here: other commands start without Alembic
    from alembic.util import CommandError

    try:
        script = ScriptDirectory.from_config(alembic_config(parsed))
        head = script.get_current_head()
        known = {revision.revision for revision in script.walk_revisions()}
    except CommandError as exc:
        return _problem(
            "schema",
            f"cannot read the migrations: {exc}",
            "set PAGER_MIGRATIONS_DIR to the migrations/ directory of this pager's source",
        )
    try:
        current = current_revision(parsed)
    except (SQLAlchemyError, RuntimeError) as exc:
        return _problem("schema", f"cannot read the schema's revision: {exc}", "run `pager db upgrade`")
    if current is None:
        return _problem("schema", f"{shown} has no schema", "run `pager db upgrade`")
    if current == head:
        return Check("schema", True, f"at revision {head}, the latest")
    if current not in known:
        return _problem(
            "schema",
            f"at revision {current}, which this pager does not know (a newer pager migrated it?)",
            "run the pager version that migrated this database, or upgrade pager",
        )
    return _problem("schema", f"at revision {current}, the latest is {head}", "run `pager db upgrade`")


def check_secret_key(key: str | None) -> Check:
    """Set and at least 32 bytes long (the rule serve and worker apply); the key is never shown."""
    fix = f"set PAGER_SECRET_KEY to at least {SECRET_KEY_MIN_BYTES} random bytes, e.g. `{MAKE_SECRET_KEY}`"
    problem = secret_key_problem(key)
    if problem is not None:
        return _problem("secret_key", problem, fix)
    return Check("secret_key", True, f"PAGER_SECRET_KEY is set ({len((key or '').encode())} bytes)")


def check_twilio(settings: Settings) -> Check:
    """All three Twilio settings or none; an account SID that looks like one."""
    values = {
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "TWILIO_FROM_NUMBER": settings.twilio_from_number,
    }
    missing = [name for name, value in values.items() if not value]
    if len(missing) == len(values):
        return Check("twilio", True, "not configured: SMS and voice pages go to the console log")
    if missing:
        return _problem(
            "twilio",
            f"{' and '.join(missing)} missing: SMS and voice pages go to the console log, not to phones",
            "set all of TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER, or none of them",
        )
    if not _ACCOUNT_SID.match(settings.twilio_account_sid or ""):
        return _problem(
            "twilio",
            "TWILIO_ACCOUNT_SID is not an account SID (AC followed by 32 hex digits)",
            "copy the Account SID from the Twilio console (it starts with AC)",
        )
    return Check("twilio", True, "account SID, auth token and from number set")


def check_smtp(url: str | None) -> Check:
    """PAGER_SMTP_URL parses as the notifier parses it, credentials only over TLS (or insecure_auth=1)."""
    if not url:
        return Check("smtp", True, "not configured: email pages go to the console log")
    try:
        target = parse_smtp_url(url)
    except SmtpUrlInvalid as exc:  # its message never quotes the URL
        return _problem("smtp", str(exc), "write it as smtp://user:pass@host:587?starttls=1")
    tls = "implicit TLS" if target.tls else "STARTTLS" if target.starttls else "no TLS"
    login = "with credentials" if target.username else "without credentials"
    scheme = "smtps" if target.tls else "smtp"
    return Check("smtp", True, f"{scheme}://{target.host}:{target.port}, {tls}, {login}")


def check_sending_lease(lease_seconds: float) -> Check:
    """Long enough that a page still being sent is never reconciled and sent again."""
    problem = sending_lease_problem(lease_seconds)
    if problem is not None:
        fix = f"set PAGER_SENDING_LEASE_SECONDS to at least {MIN_SENDING_LEASE_SECONDS:g} (the default is 30)"
        return _problem("sending_lease", problem, fix)
    return Check("sending_lease", True, f"{lease_seconds:g} s")


def check_public_url(settings: Settings) -> Check:
    """An absolute http(s) URL, and one Twilio can reach when Twilio is configured."""
    fix = (
        "set PAGER_PUBLIC_URL to the absolute URL people and Twilio reach pager at, "
        "e.g. https://pager.example.com"
    )
    try:
        parts = urlsplit(settings.public_url)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        return _problem("public_url", "PAGER_PUBLIC_URL does not parse", fix)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _problem("public_url", "PAGER_PUBLIC_URL is not an absolute http(s) URL", fix)
    if parts.username is not None or parts.password is not None:
        return _problem("public_url", "PAGER_PUBLIC_URL carries a user name or password", fix)
    if settings.twilio_account_sid and _LOOPBACK.match(parts.hostname):
        return _problem(
            "public_url",
            f"{settings.public_url} is this machine only: Twilio cannot reach it for voice calls "
            "and delivery reports",
            fix,
        )
    return Check("public_url", True, settings.public_url)


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the settings hold, as it may appear in text (raw and URL-decoded)."""
    found = [settings.secret_key, settings.twilio_auth_token]
    for url in (settings.database_url, settings.smtp_url):
        try:
            password = urlsplit(url or "").password
        except ValueError:
            continue
        if password:
            found += [password, unquote(password)]
    return [secret for secret in found if secret]


def masked(checks: Iterable[Check], secrets: list[str]) -> Iterable[Check]:
    """The checks with every secret replaced by `***` (a last guard: no message should hold one)."""
    longest_first = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
    for check in checks:
        message, fix = check.message, check.fix
        for secret in longest_first:
            message = message.replace(secret, "***")
            fix = fix.replace(secret, "***") if fix else fix
        yield Check(check.name, check.ok, message, fix)
