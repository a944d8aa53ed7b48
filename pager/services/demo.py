"""The demo's data: fake people for every handle the shipped files name, the services, an admin token
with a one-click console login link for it, and a few past incidents (services/incidents/demo_history.py)."""

from __future__ import annotations

from datetime import datetime

from pager.config.loader import LoadedConfig
from pager.db.session import session_scope
from pager.db.users import find_user_by_handle
from pager.services.alerting.catalog import sync_services
from pager.services.console.login import token_login_url
from pager.services.incidents.demo_history import seed_demo_incidents
from pager.services.people.tokens import create_api_token
from pager.services.people.users import add_user
from pager.services.runtime import Runtime


def demo_handles(config: LoadedConfig) -> list[str]:
    """Every user handle the shipped schedules and policies name."""
    handles: set[str] = set()
    for schedule in config.schedules.values():
        for layer in schedule.layers:
            handles |= set(getattr(layer, "members", ()))
    for policy in config.policies.values():
        handles |= {t.ref for level in policy.levels for t in level.targets if t.kind == "user"}
    return sorted(handles)


def seed_demo(runtime: Runtime, now: datetime) -> tuple[str, list[tuple[str, str]], str | None]:
    """Idempotently add fake users for every handle, sync services and the past incidents, and mint an
    admin token.

    Returns the token, each service's (id, integration key), and a one-time console login link for
    the token (valid 15 minutes; None without a secret key to sign it). One transaction.
    """
    with session_scope(runtime.engine) as session:
        for number, handle in enumerate(demo_handles(runtime.config), start=1):
            if find_user_by_handle(session, handle) is None:
                add_user(
                    session,
                    handle=handle,
                    name=handle.title(),
                    now=now,
                    sms=f"+1555010{number:04d}",  # 555-01xx: reserved for fiction
                    voice=f"+1555010{number:04d}",
                    email=f"{handle}@example.com",
                    verified=True,  # the operator's own fake people: paged without a code
                )
        services = [(row.id, row.integration_key) for row in sync_services(session, runtime.config, now)]
        seed_demo_incidents(session, runtime.config.incidents, now)
        row, token = create_api_token(session, role="admin", name="demo", now=now)
    settings = runtime.settings
    login = None
    if settings.secret_key and row.id is not None:
        login = token_login_url(settings.secret_key, settings.public_url, row.id, now)
    return token, services, login
