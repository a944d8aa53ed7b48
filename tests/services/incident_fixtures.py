"""What the incident tests share: a config with two services, four people, and small helpers that
run one incident use case in a transaction of its own (as the edges do)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from pager.db.incident_tables import (
    Incident,
    IncidentAlert,
    IncidentEvent,
    IncidentRoleAssignment,
    IncidentService,
)
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.alerting import alerts, catalog
from pager.services.incidents.declaring import declare
from pager.services.incidents.views import show_incident
from pager.services.people import users
from pager.services.runtime import Runtime
from tests import support

T = TypeVar("T")
T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 09:00 America/Chicago: alice's weekly shift

SCHEDULES = {
    "team": """\
        time_zone: America/Chicago
        layers:
          - name: weekly
            members: [alice, bob]
            start: 2026-01-05T09:00
            shift: 1w
        """,
}
POLICIES = {
    "main": """\
        levels:
          - notify: [schedule:team]
            escalate_after: 5m
        services:
          - {id: checkout-api, name: Checkout API}
          - {id: search, name: Search}
        """,
    "incident-comms": """\
        levels:
          - notify: [user:dana]
            escalate_after: 5m
        services:
          - {id: status-page, name: Status page}
        """,
}
INCIDENTS = """\
    severities:
      SEV0: {update_every: 15m, require: [commander, comms_lead]}
      SEV1: {update_every: 30m, require: [commander]}
      SEV2: {update_every: 60m}
    overdue_update_policy: incident-comms
    postmortem_due: 3 business days
    declare:
      - {service: checkout-api, alert_severity: critical, severity: SEV1}
    """


def write_config(root: Path, incidents: str | None = INCIDENTS) -> Path:
    support.write_config(root, SCHEDULES, POLICIES)
    if incidents is not None:
        (root / "incidents.yaml").write_text(textwrap.dedent(incidents))
    return root


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    built = support.console_runtime(engine, write_config(tmp_path / "config"))
    with session_scope(engine) as session:
        for number, handle in enumerate(("alice", "bob", "carol", "dana"), start=1):
            users.add_user(
                session,
                handle=handle,
                name=handle.title(),
                now=T0,
                sms=f"+1555000000{number}",
                email=f"{handle}@example.com",
            )
        catalog.sync_services(session, built.config, T0)
    return built


def run(runtime: Runtime, work: Callable[[Session], T]) -> T:
    """`work` in a transaction of its own."""
    with session_scope(runtime.engine) as session:
        return work(session)


def declared(runtime: Runtime, now: datetime = T0, **options: Any) -> int:
    """Declare an incident (SEV1 on checkout-api by alice unless told) and return its id."""
    options.setdefault("title", "Checkout errors")
    options.setdefault("severity", "SEV1")
    options.setdefault("services", ["checkout-api"])
    options.setdefault("actor", "alice")

    def work(session: Session) -> int:
        incident = declare(session, runtime.config.incidents, now=now, **options)
        assert incident.id is not None
        return incident.id

    return run(runtime, work)


def shown(runtime: Runtime, incident_id: int) -> dict[str, Any]:
    with session_scope(runtime.engine, read_only=True) as session:
        return show_incident(session, runtime.config.incidents, incident_id)


def trigger(runtime: Runtime, service: str, key: str, now: datetime, severity: str = "critical") -> int:
    return alerts.trigger_alert(
        runtime, service_id=service, summary=f"{key} broke", now=now, dedup_key=key, severity=severity
    ).alert_id


def snapshot(runtime: Runtime) -> dict[str, list[dict[str, Any]]]:
    """Every incident row and the outbox: what a refused change must leave alone."""
    tables: tuple[Any, ...] = (
        Incident,
        IncidentService,
        IncidentAlert,
        IncidentRoleAssignment,
        IncidentEvent,
        OutboxMessage,
    )
    with session_scope(runtime.engine, read_only=True) as session:
        return {
            table.__tablename__: [
                row.model_dump() for row in session.exec(select(table).order_by(*_order(table)))
            ]
            for table in tables
        }


def _order(table: Any) -> list[Any]:
    if hasattr(table, "id"):
        return [col(table.id)]
    return [col(getattr(table, column.name)) for column in table.__table__.primary_key.columns]
