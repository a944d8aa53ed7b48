"""Worker heartbeats and handled provider requests.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

`worker_heartbeats`: one row per running worker, its `beat_at` moved at every completed loop pass;
/readyz reads the newest. `handled_provider_requests`: the key of every inbound Twilio request that
acted (MessageSid, or CallSid plus the gather step), so a replayed signed request changes nothing.
Both are new tables: no existing row changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", _instant(), nullable=False),
        sa.Column("beat_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_heartbeats")),
    )
    op.create_index(op.f("ix_worker_heartbeats_beat_at"), "worker_heartbeats", ["beat_at"])
    op.create_table(
        "handled_provider_requests",
        sa.Column("request_key", sa.String(length=200), nullable=False),
        sa.Column("handled_at", _instant(), nullable=False),
        sa.PrimaryKeyConstraint("request_key", name=op.f("pk_handled_provider_requests")),
    )
    op.create_index(
        op.f("ix_handled_provider_requests_handled_at"), "handled_provider_requests", ["handled_at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_handled_provider_requests_handled_at"), table_name="handled_provider_requests")
    op.drop_table("handled_provider_requests")
    op.drop_index(op.f("ix_worker_heartbeats_beat_at"), table_name="worker_heartbeats")
    op.drop_table("worker_heartbeats")
