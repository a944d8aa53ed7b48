"""The service catalog (table `services`): services declared in policy files, with their integration
keys. The caller owns the session (or connection) and its transaction."""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from pager.db.tables import Service


def service_id_for_key(connection: Connection, integration_key: str) -> str | None:
    """The id of the service holding `integration_key`, read on a plain Core connection (None: none)."""
    query = sql_select(col(Service.id)).where(col(Service.integration_key) == integration_key)
    service_id: str | None = connection.execute(query).scalar_one_or_none()
    return service_id


def services_by_id(session: Session) -> dict[str, Service]:
    """Every service row, keyed by id."""
    return {row.id: row for row in session.exec(select(Service))}


def services_in_id_order(session: Session) -> list[Service]:
    """Every service row, ordered by id."""
    return list(session.exec(select(Service).order_by(col(Service.id))))


def service_column_rows(session: Session) -> list[tuple[str, str, str, str | None]]:
    """Every service as (id, name, policy_id, runbook): plain values, cheaper than table models."""
    return list(session.exec(select(Service.id, Service.name, Service.policy_id, Service.runbook)))
