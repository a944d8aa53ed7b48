"""The reads and writes of an alert trigger (ingest's hot path), as plain statements built once.

Each statement is constructed and compiled once per process, so a request only executes it; rows
come back as plain values. The caller owns the session and its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, insert, literal_column, update
from sqlalchemy import select as sql_select
from sqlmodel import Session, SQLModel

from pager.db.tables import Alert, ContactKind, Service


@dataclass(frozen=True)
class OpenAlert:
    """What a repeated trigger reads of the open alert it counts into: plain values."""

    id: int
    summary: str
    details: dict[str, Any]
    escalation_state: dict[str, Any]


def find_service_columns(
    session: Session, *, service_id: str | None = None, key: str | None = None
) -> tuple[str, str, str, str | None] | None:
    """(id, name, policy_id, runbook) of the service with this id, or holding this integration key
    (pass one); None when there is none."""
    if (service_id is None) == (key is None):
        raise ValueError("pass exactly one of service_id and key")
    column, value = ("id", service_id) if service_id is not None else ("integration_key", key)
    row = session.connection().execute(_service_query(column), {"value": value}).first()
    return None if row is None else (row.id, row.name, row.policy_id, row.runbook)


@lru_cache(maxsize=2)
def _service_query(column: str) -> Any:
    c = Service.metadata.tables["services"].c
    return sql_select(c.id, c.name, c.policy_id, c.runbook).where(c[column] == bindparam("value"))


def lock_open_alert(session: Session, service_id: str, dedup_key: str) -> OpenAlert | None:
    """The open (not resolved) alert for this dedup key, its row locked until commit."""
    params = {"service_id": service_id, "dedup_key": dedup_key}
    row = session.connection().execute(_open_alert_query(), params).first()
    return None if row is None else OpenAlert(row.id, row.summary, row.details, row.escalation_state)


@lru_cache(maxsize=1)
def _open_alert_query() -> Any:
    table = Alert.metadata.tables["alerts"]
    c = table.c
    # 'resolved' inline, not a bound value: the planner can then prove the open-alert partial index
    # (uq_alerts_open_dedup_key) applies, also to a generic plan of a prepared statement on Postgres.
    return (
        sql_select(c.id, c.summary, c.details, c.escalation_state)
        .where(
            c.service_id == bindparam("service_id"),
            c.dedup_key == bindparam("dedup_key"),
            c.status != literal_column("'resolved'"),
        )
        .with_for_update()
    )


def insert_alert(session: Session, **columns: Any) -> int:
    """Insert an alert row, `columns` over the model's defaults (without building a model object, which
    costs more than the insert); the new row's id."""
    values: dict[str, Any] = {}
    for name, field in Alert.model_fields.items():
        if name in columns:
            values[name] = columns[name]
        elif name == "id":
            continue
        elif field.default_factory is not None:
            values[name] = field.default_factory()  # type: ignore[call-arg]
        elif field.is_required():
            raise TypeError(f"insert_alert needs {name!r}")
        else:
            values[name] = field.default
    new_id: int = session.connection().execute(_alert_insert(), values).scalar_one()
    return new_id


@lru_cache(maxsize=1)
def _alert_insert() -> Any:
    table = Alert.metadata.tables["alerts"]
    return insert(table).returning(table.c.id)


def count_repeated_trigger(
    session: Session, alert_id: int, now: datetime, details: dict[str, Any] | None = None
) -> None:
    """One more event for an open alert (`event_count` + 1), with its new `details` when given."""
    params: dict[str, Any] = {"alert_id": alert_id, "new_updated_at": now}
    if details is not None:
        params["new_details"] = details
    session.connection().execute(_repeat_update(details is not None), params)


@lru_cache(maxsize=2)
def _repeat_update(with_details: bool) -> Any:
    table = Alert.metadata.tables["alerts"]
    values: dict[str, Any] = {
        "event_count": table.c.event_count + 1,
        "updated_at": bindparam("new_updated_at", type_=table.c.updated_at.type),
    }
    if with_details:
        values["details"] = bindparam("new_details", type_=table.c.details.type)
    return update(table).where(table.c.id == bindparam("alert_id")).values(values)


# --- who a decision pages: read per trigger, so plain statements too --------------------------------


def user_id_of(session: Session, handle: str) -> tuple[int, bool] | None:
    """The id of the user with `handle` and whether they are active (not deactivated), if any."""
    row = session.connection().execute(_user_id_query(), {"handle": handle}).first()
    return None if row is None else (row.id, row.deactivated_at is None)


@lru_cache(maxsize=1)
def _user_id_query() -> Any:
    c = SQLModel.metadata.tables["users"].c
    return sql_select(c.id, c.deactivated_at).where(c.handle == bindparam("handle"))


def contact_method_rows(session: Session, user_id: int) -> list[tuple[int, ContactKind, str]]:
    """A user's verified contact methods as (id, kind, address), in the order they were added
    (unverified ones are never paged)."""
    rows = session.connection().execute(_contact_methods_query(), {"user_id": user_id})
    return [(row.id, row.kind, row.address) for row in rows]


@lru_cache(maxsize=1)
def _contact_methods_query() -> Any:
    c = SQLModel.metadata.tables["contact_methods"].c
    return (
        sql_select(c.id, c.kind, c.address)
        .where(c.user_id == bindparam("user_id"), c.verified.is_(True))
        .order_by(c.id)
    )


def notification_rule_rows(session: Session, user_id: int) -> list[tuple[int, int]]:
    """A user's paging steps as (contact method id, delay seconds), earliest first (ties by position,
    then age)."""
    rows = session.connection().execute(_rules_query(), {"user_id": user_id})
    return [(row.contact_method_id, row.delay_seconds) for row in rows]


@lru_cache(maxsize=1)
def _rules_query() -> Any:
    c = SQLModel.metadata.tables["notification_rules"].c
    return (
        sql_select(c.contact_method_id, c.delay_seconds)
        .where(c.user_id == bindparam("user_id"))
        .order_by(c.delay_seconds, c.position, c.id)
    )
