"""Services declared in policy files, mirrored into the database with their integration keys."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from pager.config.loader import LoadedConfig
from pager.db.catalog import services_by_id, services_in_id_order
from pager.db.session import session_scope
from pager.db.tables import Service
from pager.services.errors import NotFound
from pager.services.heartbeat_monitors.declared import sync_monitors


def new_integration_key() -> str:
    """A fresh integration key (128 random bits, hex like PagerDuty's 32-character keys)."""
    return secrets.token_hex(16)


def sync_services(session: Session, config: LoadedConfig, now: datetime) -> list[Service]:
    """Create rows for newly declared services and update names/policies; keys are never changed here.

    A service dropped from the files keeps its row (its alerts refer to it) and its key. The
    services' heartbeat monitors are synced too (`heartbeat_monitors.declared.sync_monitors`).
    """
    existing = services_by_id(session)
    for service_id, (ref, policy) in config.services.items():
        row = existing.get(service_id)
        if row is None:
            row = Service(
                id=service_id,
                name=ref.name,
                policy_id=policy.id,
                runbook=ref.runbook,
                integration_key=new_integration_key(),
                created_at=now,
                updated_at=now,
            )
            session.add(row)
        elif (row.name, row.policy_id, row.runbook) != (ref.name, policy.id, ref.runbook):
            row.name, row.policy_id, row.runbook, row.updated_at = ref.name, policy.id, ref.runbook, now
            session.add(row)
    session.flush()
    sync_monitors(session, config, now)
    return list_services(session)


def list_services(session: Session) -> list[Service]:
    """Every service row, by id."""
    return services_in_id_order(session)


def require_service(session: Session, service_id: str) -> Service:
    """The service row, or NotFound."""
    row = session.get(Service, service_id)
    if row is None:
        raise NotFound(f"no service {service_id!r}")
    return row


def rotate_integration_key(session: Session, service_id: str, now: datetime) -> Service:
    """Give the service a new integration key; the old one stops working at once."""
    row = require_service(session, service_id)
    row.integration_key = new_integration_key()
    row.updated_at = now
    session.add(row)
    session.flush()
    return row


def sync_declared_services(engine: Engine, config: LoadedConfig, now: datetime) -> list[Service]:
    """`sync_services` in a transaction of its own: what a process does when it starts or reloads.

    `pager serve` and `pager worker` starting (or reloading) together may both create the same new
    row; the one that loses the race syncs again against what the other wrote.
    """
    try:
        with session_scope(engine) as session:
            return sync_services(session, config, now)
    except IntegrityError:
        with session_scope(engine) as session:
            return sync_services(session, config, now)
