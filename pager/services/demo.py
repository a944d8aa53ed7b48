"""The demo's data: fake people for every handle the shipped files name, the services, an admin token
with a one-click console login link for it, a calendar feed token for one person, and a few past
incidents (services/incidents/demo_history.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from pager.config.loader import LoadedConfig
from pager.db.session import session_scope
from pager.db.tokens import find_api_token_by_hash
from pager.db.users import find_user_by_handle
from pager.services.alerting.catalog import sync_services
from pager.services.calendars.shifts import FeedTarget, create_feed_token, feed_url
from pager.services.console.login import token_login_url
from pager.services.incidents.demo_history import seed_demo_incidents
from pager.services.people.tokens import create_api_token, find_calendar_token, token_hash
from pager.services.people.users import add_user
from pager.services.runtime import Runtime

DEMO_TOKEN_NAME = "demo"


@dataclass(frozen=True)
class KeptTokens:
    """The plaintext tokens an earlier run of the demo kept beside its database (None: none kept)."""

    admin: str | None = None
    calendar: str | None = None


@dataclass(frozen=True)
class DemoSeed:
    """What the demo prints: its tokens (reused or new), the services and the links made from them."""

    tokens: KeptTokens  # both set: the ones to keep for the next run
    services: list[tuple[str, str]]  # (service id, integration key)
    login_url: str | None  # one-time console login for the admin token; None without a secret key
    calendar_handle: str | None  # whose shifts the calendar feed holds (None: no demo people)
    calendar_url: str | None
    minted_admin: bool  # the admin token was made now (the kept one was missing, revoked or unknown)


def demo_handles(config: LoadedConfig) -> list[str]:
    """Every user handle the shipped schedules and policies name."""
    handles: set[str] = set()
    for schedule in config.schedules.values():
        for layer in schedule.layers:
            handles |= set(getattr(layer, "members", ()))
    for policy in config.policies.values():
        handles |= {t.ref for level in policy.levels for t in level.targets if t.kind == "user"}
    return sorted(handles)


def demo_phone_number(number: int) -> str:
    """The fictional number of the demo's `number`th person (555-01xx: reserved for fiction)."""
    return f"+1555010{number:04d}"


def seed_demo(runtime: Runtime, now: datetime, kept: KeptTokens | None = None) -> DemoSeed:
    """Idempotently add fake users for every handle, sync services and the past incidents; reuse the
    kept admin and calendar tokens while they still work, minting new ones otherwise.

    The login link is one-time and valid 15 minutes. One transaction.
    """
    kept = kept or KeptTokens()
    handles = demo_handles(runtime.config)
    with session_scope(runtime.engine) as session:
        for number, handle in enumerate(handles, start=1):
            if find_user_by_handle(session, handle) is None:
                add_user(
                    session,
                    handle=handle,
                    name=handle.title(),
                    now=now,
                    sms=demo_phone_number(number),
                    voice=demo_phone_number(number),
                    email=f"{handle}@example.com",
                    verified=True,  # the operator's own fake people: paged without a code
                )
        services = [(row.id, row.integration_key) for row in sync_services(session, runtime.config, now)]
        seed_demo_incidents(session, runtime.config.incidents, now)
        admin_id = _live_admin_token_id(session, kept.admin)
        admin = kept.admin
        if admin_id is None or admin is None:
            row, admin = create_api_token(session, role="admin", name=DEMO_TOKEN_NAME, now=now)
            admin_id = row.id
        minted = admin != kept.admin
        calendar_handle = handles[0] if handles else None
        calendar = kept.calendar
        if calendar_handle is not None and not _opens_feed_of(session, calendar, calendar_handle):
            _, calendar = create_feed_token(session, FeedTarget("user", calendar_handle), now)
    settings = runtime.settings
    login = None
    if settings.secret_key and admin_id is not None:
        login = token_login_url(settings.secret_key, settings.public_url, admin_id, now)
    calendar_url = None
    if calendar_handle is not None and calendar is not None:
        calendar_url = feed_url(settings.public_url, FeedTarget("user", calendar_handle), calendar)
    return DemoSeed(KeptTokens(admin, calendar), services, login, calendar_handle, calendar_url, minted)


def _live_admin_token_id(session: Session, token: str | None) -> int | None:
    """The id of `token` when it is an unrevoked admin token in this database, else None."""
    if token is None:
        return None
    row = find_api_token_by_hash(session, token_hash(token))
    if row is None or row.revoked_at is not None or row.role != "admin":
        return None
    return row.id


def _opens_feed_of(session: Session, token: str | None, handle: str) -> bool:
    """Whether `token` is a live calendar token for `handle`'s feed."""
    row = find_calendar_token(session, token) if token is not None else None
    user = find_user_by_handle(session, handle)
    return row is not None and user is not None and row.user_id == user.id
