"""Maintenance windows and the `suppressed` alert status.

Revision ID: 0008_maintenance_holds
Revises: 0007_heartbeat_monitors
Create Date: 2026-12-04

`maintenance_windows`: ad-hoc windows (`pager maintenance start`); a new table. `alerts.status` may
now be `suppressed`: an alert opened while a window held its service, paging nobody until the hold
ends (its end is the alert's `next_action_at`). The downgrade turns suppressed alerts into triggered
ones whose timer is due at once, as if no one had been on call: the old engine pages level 1 on its
next pass instead of losing them; the windows themselves have no meaning for the old schema.
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0008_maintenance_holds"
down_revision: str | Sequence[str] | None = "0007_heartbeat_monitors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('triggered', 'acknowledged', 'resolved')"
NEW_STATUSES = "status IN ('triggered', 'acknowledged', 'resolved', 'suppressed')"


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("service_id", sa.String(length=100), nullable=False),
        sa.Column("start_at", _instant(), nullable=False),
        sa.Column("end_at", _instant(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("ended_by", sa.String(length=255), nullable=True),
        sa.CheckConstraint("end_at >= start_at", name=op.f("ck_maintenance_windows_span")),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_maintenance_windows_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_windows")),
    )
    op.create_index(
        op.f("ix_maintenance_windows_service_id_end_at"), "maintenance_windows", ["service_id", "end_at"]
    )
    _set_status_check(NEW_STATUSES)


def downgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    rows = bind.execute(sa.text("SELECT id, escalation_state FROM alerts WHERE status = 'suppressed'")).all()
    cast = "CAST(:doc AS JSONB)" if bind.dialect.name == "postgresql" else ":doc"
    for alert_id, raw in rows:
        doc = json.loads(raw) if isinstance(raw, str) else dict(raw or {})
        for key in ("snoozed_until", "held_until", "held_by", "held_window"):
            doc.pop(key, None)
        doc |= {"status": "triggered", "stage": "no_one_on_call", "escalate_at": now.isoformat()}
        bind.execute(
            sa.text(
                f"UPDATE alerts SET status = 'triggered', next_action_at = :now, escalation_state = {cast} "
                "WHERE id = :id"
            ),
            {
                "now": now if bind.dialect.name == "postgresql" else now.replace(tzinfo=None),
                "doc": json.dumps(doc),
                "id": alert_id,
            },
        )
    _set_status_check(OLD_STATUSES)
    op.drop_index(op.f("ix_maintenance_windows_service_id_end_at"), table_name="maintenance_windows")
    op.drop_table("maintenance_windows")


def _set_status_check(statuses: str) -> None:
    """Replace the alerts' status CHECK. On SQLite that rebuilds the table from its reflection, which
    does not carry AUTOINCREMENT: without it (and the old sequence) SQLite would hand a deleted
    alert's number to the next alert, and a late `ack 42` would act on a different alert."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    sequence = (
        bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'alerts'")).scalar()
        if sqlite
        else None
    )
    kwargs = {"table_kwargs": {"sqlite_autoincrement": True}} if sqlite else {}
    with op.batch_alter_table("alerts", **kwargs) as batch:  # type: ignore[arg-type]
        batch.drop_constraint(op.f("ck_alerts_status"), type_="check")
        batch.create_check_constraint(op.f("ck_alerts_status"), statuses)
    if sequence is not None:  # the rebuilt table's sequence starts at its highest row (or is absent)
        bind.execute(
            sa.text("DELETE FROM sqlite_sequence WHERE name = 'alerts' AND seq < :seq"), {"seq": sequence}
        )
        bind.execute(
            sa.text(
                "INSERT INTO sqlite_sequence (name, seq) SELECT 'alerts', :seq "
                "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'alerts')"
            ),
            {"seq": sequence},
        )
