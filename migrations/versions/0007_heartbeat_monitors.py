"""Heartbeat monitors: the heartbeats services declare in their policy files.

Revision ID: 0007_heartbeat_monitors
Revises: 0006
Create Date: 2026-12-04

`heartbeat_monitors`: one row per (service, heartbeat name), holding its secret beat-URL key, its
period and grace, its last beat, the durable timer the worker wakes for (`due_at`), the instant its
miss was raised (`missed_at`) and when it was removed from the files (`retired_at`). A new table: no
existing row changes, and the downgrade drops only what this revision created.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_heartbeat_monitors"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "heartbeat_monitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("every_seconds", sa.Integer(), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("last_beat_at", _instant(), nullable=True),
        sa.Column("due_at", _instant(), nullable=True),
        sa.Column("missed_at", _instant(), nullable=True),
        sa.Column("retired_at", _instant(), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.CheckConstraint(
            "every_seconds > 0 AND grace_seconds >= 0", name=op.f("ck_heartbeat_monitors_durations")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_heartbeat_monitors_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_heartbeat_monitors")),
        sa.UniqueConstraint("key", name=op.f("uq_heartbeat_monitors_key")),
        sa.UniqueConstraint("service_id", "name", name=op.f("uq_heartbeat_monitors_service_id_name")),
    )
    op.create_index(op.f("ix_heartbeat_monitors_due_at"), "heartbeat_monitors", ["due_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_heartbeat_monitors_due_at"), table_name="heartbeat_monitors")
    op.drop_table("heartbeat_monitors")
