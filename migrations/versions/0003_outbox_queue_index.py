"""Outbox index for where a page held back by the throttle joins its address's queue.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

A page over the per-address throttle is put back at the end of that address's queue: the first
free slot after the latest `next_attempt_at` of the address's pending pages. (address,
next_attempt_at) over pending pages only answers that max(), and the count of pages waiting for it,
with one index probe however many pages a storm holds back; sent pages leave the index, so it stays
the size of the queue. Adding an index changes no row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pending = sa.text("status = 'pending'")
    op.create_index(
        "ix_outbox_pending_address_next_attempt_at",
        "outbox",
        ["address", "next_attempt_at"],
        sqlite_where=pending,
        postgresql_where=pending,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_pending_address_next_attempt_at", table_name="outbox")
