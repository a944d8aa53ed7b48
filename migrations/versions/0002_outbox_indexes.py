"""Outbox indexes for the delivery loop's per-claim reads.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Without them, every claim scanned rows that only grow: the per-address throttle counted pages in
the last minute through the (status, due_at) index, i.e. over every page ever sent; and the claim
and the worker's "when is the next page due" walked every pending page held back by the throttle.
- (address, status, last_attempt_at): the throttle's "pages to this address in the last minute"
  (status in the key: a page the throttle put back keeps its last_attempt_at, and a storm to one
  person holds back thousands of them, which this count must not walk).
- (status, coalesce(next_attempt_at, due_at)): when a pending page may next be sent, as the claim
  and the next-due query compute it.
Adding an index changes no row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_address_status_last_attempt_at", "outbox", ["address", "status", "last_attempt_at"]
    )
    op.create_index(
        "ix_outbox_status_ready_at", "outbox", ["status", sa.text("coalesce(next_attempt_at, due_at)")]
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_status_ready_at", table_name="outbox")
    op.drop_index("ix_outbox_address_status_last_attempt_at", table_name="outbox")
