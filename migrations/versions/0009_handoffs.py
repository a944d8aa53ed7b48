"""Handoff messages and shift reminders.

Revision ID: 0009_handoffs
Revises: 0008_maintenance_holds
Create Date: 2026-12-04

`handoff_cursors`: per schedule, since and up to when the worker's handoff job has sent the handoff
messages and reminders that fell due. `handoff_notes`: the outgoing person's note for the next handoff of a
schedule's role (one per schedule and role, deleted once sent). `users.remind_before_seconds`: a
person's shift reminder (NULL: none). New tables and a new nullable column: no existing row changes.
Downgrading drops them: a note not yet sent and the reminder settings are lost with them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_handoffs"
down_revision: str | Sequence[str] | None = "0008_maintenance_holds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "handoff_cursors",
        sa.Column("schedule_id", sa.String(length=100), nullable=False),
        sa.Column("checked_since", _instant(), nullable=False),
        sa.Column("checked_until", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("schedule_id", name=op.f("pk_handoff_cursors")),
    )
    op.create_table(
        "handoff_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("written_at", _instant(), nullable=False),
        sa.CheckConstraint("role IN ('primary', 'secondary')", name=op.f("ck_handoff_notes_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_notes")),
        sa.UniqueConstraint("schedule_id", "role", name=op.f("uq_handoff_notes_schedule_id_role")),
    )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("remind_before_seconds", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("remind_before_seconds")
    op.drop_table("handoff_notes")
    op.drop_table("handoff_cursors")
