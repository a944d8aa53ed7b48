"""Outbox index for finding a page by the id its provider gave it (a Twilio status callback).

Revision ID: 0014_outbox_provider_index
Revises: 0013_webhooks
Create Date: 2026-12-06

Every delivery report (Twilio's status callbacks: two or three per SMS, more per call) finds its
page by `provider_id`, in a write transaction. Without an index that was a scan of the whole outbox,
which keeps every page ever sent: ~0.1 s at 500,000 pages on SQLite, holding the writer lock every
trigger and escalation needs, once per callback. Pages not yet sent have no provider id and stay
out of the index, so queueing a page costs nothing more. Adding an index changes no row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_outbox_provider_index"
down_revision: str | Sequence[str] | None = "0013_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    sent = sa.text("provider_id IS NOT NULL")
    op.create_index(
        "ix_outbox_provider_id", "outbox", ["provider_id"], sqlite_where=sent, postgresql_where=sent
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_provider_id", table_name="outbox")
