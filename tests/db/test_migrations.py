"""Alembic migrations: they build exactly the models' schema, and come down and go up again cleanly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel
from typer.testing import CliRunner

import pager.db.tables  # noqa: F401  (registers the tables)
from pager.cli import app
from pager.db.migrate import alembic_config, current_revision, downgrade_schema, upgrade_schema
from pager.db.session import create_db_engine, session_scope
from pager.db.tables import Alert, MaintenanceWindowRow, Service

HEAD = "0018_history_read_indexes"
TABLES = {
    "users",
    "contact_methods",
    "notification_rules",
    "services",
    "alerts",
    "alert_timeline",
    "outbox",
    "overrides",
    "api_tokens",
    "calendar_tokens",
    "worker_heartbeats",
    "handled_provider_requests",
    "heartbeat_monitors",
    "maintenance_windows",
    "handoff_cursors",
    "handoff_notes",
    "incidents",
    "incident_services",
    "incident_alerts",
    "incident_roles",
    "incident_timeline",
    "incident_updates",
    "postmortems",
    "action_items",
    "console_login_links",
    "webhook_subscriptions",
    "webhook_cursors",
    "webhook_deliveries",
}


def head_revision(url: str) -> str:
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert head is not None
    return head


def table_names(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.mark.database
def test_upgrade_creates_every_table_and_records_the_head(database_url_at_head: str) -> None:
    assert table_names(database_url_at_head) == TABLES | {"alembic_version"}
    assert current_revision(database_url_at_head) == head_revision(database_url_at_head) == HEAD


@pytest.mark.database
def test_migrated_schema_matches_the_models(database_url_at_head: str) -> None:
    engine = create_db_engine(database_url_at_head)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == []


@pytest.mark.database
def test_downgrade_to_base_then_upgrade_again(database_url_at_head: str) -> None:
    downgrade_schema(database_url_at_head, "base")
    assert table_names(database_url_at_head) == {"alembic_version"}
    assert current_revision(database_url_at_head) is None

    upgrade_schema(database_url_at_head, "head")
    assert table_names(database_url_at_head) == TABLES | {"alembic_version"}


@pytest.mark.database
def test_upgrade_twice_is_a_no_op(database_url_at_head: str) -> None:
    upgrade_schema(database_url_at_head, "head")
    assert current_revision(database_url_at_head) == HEAD


@pytest.mark.database
def test_pager_db_upgrade_migrates_the_configured_database(empty_database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["db", "upgrade"], env={"PAGER_DATABASE_URL": empty_database_url}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert f"schema at revision {HEAD}" in result.stdout
    assert table_names(empty_database_url) == TABLES | {"alembic_version"}


@pytest.mark.database
def test_pager_db_upgrade_to_an_unknown_revision_fails_cleanly(empty_database_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["db", "upgrade", "--revision", "nope"], env={"PAGER_DATABASE_URL": empty_database_url}
    )
    assert result.exit_code == 1
    assert "error: migration failed" in result.stderr
    assert (
        "alembic_version" not in table_names(empty_database_url)
        or current_revision(empty_database_url) is None
    )


def test_pager_db_upgrade_refuses_an_unsupported_url() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["db", "upgrade"], env={"PAGER_DATABASE_URL": "mysql://root@localhost/pager"})
    assert result.exit_code == 1
    assert "unsupported database URL" in result.stderr


@pytest.mark.parametrize(
    "url", ["postgresql+psycopg://pager:hunter2-pw@db:port/pager", "not a URL, password hunter2-pw"]
)
def test_a_database_url_that_cannot_be_parsed_is_refused_without_showing_it(url: str) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade"], env={"PAGER_DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: PAGER_DATABASE_URL: the URL cannot be parsed")
    assert "hunter2" not in result.output + result.stderr


def outbox_indexes(engine: Engine, table: str = "outbox") -> set[str]:
    """A table's index names, from the catalogue itself (reflection skips expression indexes)."""
    catalogue = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :table"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE tablename = :table"
    )
    with engine.connect() as connection:
        return set(connection.execute(text(catalogue), {"table": table}).scalars())


@pytest.mark.database
def test_the_outbox_indexes_of_0002_0003_0015_and_0016_come_and_go_and_keep_every_row(
    empty_database_url: str,
) -> None:
    upgrade_schema(empty_database_url, "0001")
    engine = create_db_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO outbox (idempotency_key, method, address, body, status, due_at, attempts,"
                    " created_at, updated_at) VALUES ('k1', 'sms', '+15550000001', 'hi', 'sent',"
                    " '2026-12-01 10:00:00', 1, '2026-12-01 10:00:00', '2026-12-01 10:00:00')"
                )
            )
        upgrade_schema(empty_database_url, "0014_outbox_provider_index")
        before_0015 = outbox_indexes(engine)
        upgrade_schema(empty_database_url, "head")
        at_head = outbox_indexes(engine)
        downgrade_schema(empty_database_url, "0014_outbox_provider_index")
        downgraded = outbox_indexes(engine)
        upgrade_schema(empty_database_url, "head")
        with engine.connect() as connection:
            keys = list(connection.execute(text("SELECT idempotency_key FROM outbox")).scalars())
    finally:
        engine.dispose()
    queues = {"ix_outbox_status_ready_at", "ix_outbox_pending_address_next_attempt_at"}
    by_status, attempted = (
        "ix_outbox_address_status_last_attempt_at",
        "ix_outbox_attempted_address_last_attempt_at",
    )
    by_user = "ix_outbox_user_id_created_at"
    assert queues | {by_status} <= before_0015 and not {attempted, by_user} & before_0015
    # 0015's partial index replaces 0002's (address, status, last_attempt_at), and back; 0016 adds
    # a person's pages newest first, and takes it away.
    assert queues | {attempted, by_user} <= at_head and by_status not in at_head
    assert queues | {by_status} <= downgraded and not {attempted, by_user} & downgraded
    assert keys == ["k1"]
    assert current_revision(empty_database_url) == HEAD


@pytest.mark.database
def test_0018_indexes_alerts_by_service_and_status_and_incidents_by_declaration(
    empty_database_url: str,
) -> None:
    engine = create_db_engine(empty_database_url)
    added = {("alerts", "ix_alerts_service_id_status_id"), ("incidents", "ix_incidents_declared_at_id")}

    def present() -> set[tuple[str, str]]:
        return {(table, name) for table, name in added if name in outbox_indexes(engine, table)}

    try:
        upgrade_schema(empty_database_url, "0017_outbox_key_collation")
        before = present()
        upgrade_schema(empty_database_url, "head")
        at_head = present()
        downgrade_schema(empty_database_url, "0017_outbox_key_collation")
        downgraded = present()
        upgrade_schema(empty_database_url, "head")
    finally:
        engine.dispose()
    assert (before, at_head, downgraded) == (set(), added, set())
    assert current_revision(empty_database_url) == HEAD


OLD_EMAIL_BODY = "\n".join(
    [
        "[pager] ALERT 7 checkout: disk full",
        "",
        "Alert 7 for Checkout:",
        "",
        "disk full",
        "",
        "Acknowledge: https://pager.example/ack/t1",
        "Resolve: https://pager.example/ack/t2",
    ]
)
AT = "'2026-12-01 10:00:00'"


def insert_old_page(connection: Connection, key: str, method: str, body: str) -> None:
    """An outbox row as the writer before migration 0005 left it."""
    connection.execute(
        text(
            "INSERT INTO outbox (idempotency_key, method, address, body, status, due_at, attempts,"
            f" created_at, updated_at) VALUES (:key, :method, 'somewhere', :body, 'pending', {AT}, 0,"
            f" {AT}, {AT})"
        ),
        {"key": key, "method": method, "body": body},
    )


@pytest.mark.database
def test_0005_splits_subject_user_and_escalation_step_out_of_rows_written_before_it(
    empty_database_url: str,
) -> None:
    upgrade_schema(empty_database_url, "0004")
    engine = create_db_engine(empty_database_url)
    columns = "idempotency_key, subject, body, user_handle, cycle, loop, level, step"
    try:
        with engine.begin() as connection:
            insert_old_page(connection, "7:c2:l1:v3:dana:email:2", "email", OLD_EMAIL_BODY)
            insert_old_page(connection, "7:c1:l0:v1:erin.o:sms:0", "sms", "ALERT 7 checkout: disk full")
            insert_old_page(connection, "8:c12:l4:v10:frank:voice:11", "voice", "Alert 8.\nFor Checkout.")
            insert_old_page(connection, "written-by-hand", "sms", "hi")
        upgrade_schema(empty_database_url, "0005")
        with engine.connect() as connection:
            rows = {
                row[0]: tuple(row[1:]) for row in connection.execute(text(f"SELECT {columns} FROM outbox"))
            }
        email_body = OLD_EMAIL_BODY.split("\n", 2)[2]
        assert rows == {
            "7:c2:l1:v3:dana:email:2": (
                "[pager] ALERT 7 checkout: disk full",
                email_body,
                "dana",
                2,
                1,
                3,
                2,
            ),
            "7:c1:l0:v1:erin.o:sms:0": ("", "ALERT 7 checkout: disk full", "erin.o", 1, 0, 1, 0),
            "8:c12:l4:v10:frank:voice:11": ("", "Alert 8.\nFor Checkout.", "frank", 12, 4, 10, 11),
            "written-by-hand": ("", "hi", "", 0, 0, 0, 0),
        }
        assert email_body.startswith("Alert 7 for Checkout:")
        nullable = {c["name"]: c["nullable"] for c in inspect(engine).get_columns("outbox")}
        assert not any(
            nullable[name] for name in ("subject", "user_handle", "cycle", "loop", "level", "step")
        )

        downgrade_schema(empty_database_url, "0004")
        with engine.connect() as connection:
            bodies = {
                key: body
                for key, body in connection.execute(text("SELECT idempotency_key, body FROM outbox"))
            }
        assert bodies == {
            "7:c2:l1:v3:dana:email:2": OLD_EMAIL_BODY,
            "7:c1:l0:v1:erin.o:sms:0": "ALERT 7 checkout: disk full",
            "8:c12:l4:v10:frank:voice:11": "Alert 8.\nFor Checkout.",
            "written-by-hand": "hi",
        }
        assert "subject" not in {c["name"] for c in inspect(engine).get_columns("outbox")}
    finally:
        engine.dispose()


@pytest.mark.database
def test_downgrading_maintenance_holds_pages_suppressed_alerts_instead_of_losing_them(
    empty_database_url: str,
) -> None:
    upgrade_schema(empty_database_url)
    engine = create_db_engine(empty_database_url)
    at = datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
    held = {
        "status": "suppressed",
        "stage": "paging",
        "cycle": 1,
        "loop": 1,
        "level": 1,
        "triggered_at": at.isoformat(),
        "last_event_at": at.isoformat(),
        "pages": [],
        "held_until": "2026-03-08T10:30:00+00:00",
        "held_by": "maintenance window 1",
        "held_window": 1,
    }
    try:
        with session_scope(engine) as session:
            session.add(Service(id="api", name="API", policy_id="main", integration_key="k" * 32))
            session.flush()
            session.add(MaintenanceWindowRow(service_id="api", start_at=at, end_at=at, reason=""))
            session.add(
                Alert(
                    service_id="api",
                    dedup_key="d",
                    summary="s",
                    status="suppressed",
                    escalation_state=held,
                    next_action_at=at,
                )
            )
            session.add(Alert(service_id="api", dedup_key="e", summary="s", status="acknowledged"))
        downgrade_schema(empty_database_url, "0006")
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT dedup_key, status, next_action_at, escalation_state FROM alerts ORDER BY id")
            ).all()
        assert [(row[0], row[1]) for row in rows] == [("d", "triggered"), ("e", "acknowledged")]
        assert rows[0][2] is not None
        document = rows[0][3] if isinstance(rows[0][3], dict) else json.loads(rows[0][3])
        assert (document["status"], document["stage"]) == ("triggered", "no_one_on_call")
        assert "held_until" not in document and document["escalate_at"]
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text("UPDATE alerts SET status = 'suppressed'"))
        upgrade_schema(empty_database_url)
        assert current_revision(empty_database_url) == HEAD
    finally:
        engine.dispose()


@pytest.mark.database
def test_0009_adds_the_handoff_tables_and_keeps_people_and_their_methods_both_ways(
    empty_database_url: str,
) -> None:
    upgrade_schema(empty_database_url, "0006")
    engine = create_db_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(f"INSERT INTO users (id, handle, name, created_at) VALUES (1, 'ann', 'Ann', {AT})")
            )
            connection.execute(
                text(
                    "INSERT INTO contact_methods (id, user_id, kind, address, verified, created_at)"
                    f" VALUES (1, 1, 'sms', '+15550000001', false, {AT})"
                )
            )
        upgrade_schema(empty_database_url, "0009_handoffs")
        with engine.begin() as connection:
            assert list(connection.execute(text("SELECT handle, remind_before_seconds FROM users"))) == [
                ("ann", None)
            ]
            connection.execute(text("UPDATE users SET remind_before_seconds = 900"))
        downgrade_schema(empty_database_url, "0006")
        with engine.connect() as connection:
            assert list(connection.execute(text("SELECT handle FROM users"))) == [("ann",)]
            assert list(connection.execute(text("SELECT address FROM contact_methods"))) == [
                ("+15550000001",)
            ]
        assert {"handoff_cursors", "handoff_notes"}.isdisjoint(table_names(empty_database_url))
        assert "remind_before_seconds" not in {c["name"] for c in inspect(engine).get_columns("users")}
    finally:
        engine.dispose()


@pytest.mark.database
def test_alert_numbers_are_not_reused_after_0008_rebuilds_the_alerts_table(empty_database_url: str) -> None:
    """0008 rebuilds `alerts` on SQLite: AUTOINCREMENT and the sequence must survive, even past the
    highest number when that alert was deleted (a late `ack 3` must never reach a new alert 3)."""
    upgrade_schema(empty_database_url, "0007_heartbeat_monitors")
    engine = create_db_engine(empty_database_url)
    try:
        with session_scope(engine) as session:
            session.add(Service(id="api", name="API", policy_id="main", integration_key="k" * 32))
            session.flush()
            for key in ("a", "b", "c"):
                session.add(Alert(service_id="api", dedup_key=key, summary="s", status="triggered"))
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM alerts WHERE dedup_key IN ('b', 'c')"))
        upgrade_schema(empty_database_url)
        with session_scope(engine) as session:
            alert = Alert(service_id="api", dedup_key="d", summary="s", status="triggered")
            session.add(alert)
            session.flush()
            assert alert.id == 4
    finally:
        engine.dispose()
