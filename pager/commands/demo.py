"""`pager demo` (what `make run` starts): prints who is on call now for every schedule, seeds the demo
and serves it with console-only notifiers and the demo's phone panel (/demo/phone).

Beside its SQLite database (or in the current directory for another database) the demo keeps
`pager-secret.key` (when PAGER_SECRET_KEY is unset) and `pager-demo-tokens.json` (its admin API token
and a calendar feed token, plaintext, mode 0600), so a restart reuses them instead of minting more.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shlex
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import typer

from pager.adapters.console import ConsoleNotifier
from pager.commands.common import (
    cli_settings,
    fail,
    now_utc,
    open_database,
    reported_errors,
    require_signing_key,
)
from pager.commands.schedules import render_table
from pager.commands.server import HostOption, PortOption, _serve
from pager.core.localtime import format_instant
from pager.core.model import Override, Schedule
from pager.core.schedule import next_handoff, resolve_on_call
from pager.db.migrate import upgrade_schema
from pager.db.session import database_url
from pager.log_format import configure_logging
from pager.services.calendars.overrides import overrides_of
from pager.services.demo import DemoSeed, KeptTokens, seed_demo
from pager.services.runtime import Runtime, build_runtime
from pager.settings import SecretKeyInvalid, Settings, secret_key_problem

DEMO_KEY_FILE = "pager-secret.key"
DEMO_TOKENS_FILE = "pager-demo-tokens.json"
# The number the demo's fake Twilio answers on when TWILIO_FROM_NUMBER is unset (555-01xx: fiction).
DEMO_TWILIO_NUMBER = "+15550100000"
# next_handoff looks at most this far ahead, so the overrides it may meet lie within it.
HANDOFF_LOOKAHEAD = timedelta(days=400)


def register(app: typer.Typer) -> None:
    """Add `demo` to `app`."""
    app.command("demo")(demo)


def demo(ctx: typer.Context, host: HostOption = "127.0.0.1", port: PortOption = 8080) -> None:
    """Seed demo users, services and an admin token into the database, then serve with console pages.

    Without PAGER_SECRET_KEY the demo makes a key and keeps it beside its SQLite database (or in the
    current directory for another database) as `pager-secret.key`, so links survive a restart; its
    admin and calendar tokens are kept beside it in `pager-demo-tokens.json` and reused.
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
    settings = demo_twilio_settings(settings)
    open_database(settings).dispose()
    with reported_errors():
        pager = build_runtime(settings)
    pager.demo = True  # the console shows the phone panel
    # Demo people have fictional numbers: whatever the environment says, pages only go to the console,
    # printed readably (the body indented under its log line).
    pager.notifiers = {m: ConsoleNotifier(m, readable=True) for m in ("sms", "voice", "email")}
    now = now_utc()
    print(demo_on_call(pager, now))
    tokens_path = demo_key_path(settings.database_url).with_name(DEMO_TOKENS_FILE)
    seeded = seed_demo(pager, now, read_kept_tokens(tokens_path))
    try:
        keep_tokens(tokens_path, seeded.tokens)
    except OSError as exc:
        print(f"warning: could not keep the demo's tokens in {tokens_path}: {exc}")
    print(demo_banner(pager.settings.public_url, seeded, tokens_path))
    _serve(pager, host, port, run_worker=True)


def demo_twilio_settings(settings: Settings) -> Settings:
    """`settings` with a Twilio auth token and number for the demo's phone panel when they are unset.

    The token is derived from the secret key (HMAC-SHA256), so it is secret and the same every run;
    the panel signs its simulated replies with it and /twilio/sms checks them as it checks Twilio's.
    """
    update: dict[str, str] = {}
    if not settings.twilio_auth_token and settings.secret_key:
        digest = hmac.new(settings.secret_key.encode(), b"pager demo twilio auth token", hashlib.sha256)
        update["twilio_auth_token"] = digest.hexdigest()[:32]
    if not settings.twilio_from_number:
        update["twilio_from_number"] = DEMO_TWILIO_NUMBER
    return settings.model_copy(update=update) if update else settings


def read_kept_tokens(path: Path) -> KeptTokens:
    """The tokens kept in `path`; none when it is missing or unreadable (new ones are minted then)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return KeptTokens()
    if not isinstance(document, dict):
        return KeptTokens()
    admin, calendar = document.get("admin"), document.get("calendar")
    return KeptTokens(
        admin if isinstance(admin, str) else None, calendar if isinstance(calendar, str) else None
    )


def keep_tokens(path: Path, tokens: KeptTokens) -> None:
    """Write `tokens` to `path`, readable by its owner only (0600), replacing it whole."""
    if read_kept_tokens(path) == tokens and not path.stat().st_mode & 0o077:
        return
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump({"admin": tokens.admin, "calendar": tokens.calendar}, file)
        file.write("\n")
    os.replace(temporary, path)


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


def demo_banner(public_url: str, seeded: DemoSeed, tokens_path: Path | None = None) -> str:
    """What a new user needs next: the console and its login link, the URL, the token, the keys, the
    status page, a calendar feed and a curl that fires a new alert each time it is run."""
    services = seeded.services
    kept = f", kept in {tokens_path}" if tokens_path is not None else ""
    made = "made now" if seeded.minted_admin else "reused"
    lines = [
        "",
        f"pager demo is running at {public_url}  (API docs: {public_url}/docs)",
        f"web console: {public_url}/",
        *(
            [f"  log in with one click (works once, for 15 minutes): {seeded.login_url}"]
            if seeded.login_url
            else []
        ),
        f"  the demo's phone (SMS pages and replies): {public_url}/demo/phone",
        f"admin API token ({made}{kept}): {seeded.tokens.admin}",
        f"status page: {public_url}/status",
    ]
    if seeded.calendar_url and seeded.calendar_handle:
        webcal = "webcal://" + seeded.calendar_url.split("://", 1)[1]
        lines.append(f"{seeded.calendar_handle}'s shifts as a calendar feed: {webcal}")
    lines += ["", "integration keys:", *(f"  {service_id:<18} {key}" for service_id, key in services)]
    if services:
        service_id, key = next(((s, k) for s, k in services if s == "checkout-api"), services[0])
        curl = (
            f"curl -sS -X POST {public_url}/v2/enqueue -H 'Content-Type: application/json' "
            f"-d {shlex.quote(json.dumps(demo_event(key)))}"
        )
        lines += [
            "",
            f"fire a test alert on {service_id} (each run opens a new alert; pages appear below as "
            "'page method=…' lines):",
            f"  {curl}",
            f"then list alerts: curl -sS -H 'Authorization: Bearer {seeded.tokens.admin}' "
            f"{public_url}/api/v1/alerts",
        ]
    lines.append("")
    return "\n".join(lines)


def demo_event(routing_key: str) -> dict[str, object]:
    """The PagerDuty Events v2 trigger the banner's curl posts. No dedup_key: pager makes a fresh one
    for each trigger without one, so every run of the curl opens a new alert (and pages someone)."""
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {"summary": "Checkout error rate above 5%", "source": "demo", "severity": "critical"},
    }
