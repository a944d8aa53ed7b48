"""Outbox index for the throttle's count of an address's recent attempts, over attempted pages only.

Revision ID: 0015_outbox_attempted_index
Revises: 0014_outbox_provider_index
Create Date: 2026-12-07

The per-address throttle counts, on every claim, the pages to an address attempted in the last
minute, and reads the latest of their instants. Migration 0002's (address, status, last_attempt_at)
was to serve both without walking the pages the throttle holds back (a deferral stamps their
`last_attempt_at` too, and a storm to one person holds back thousands). On Postgres it did not,
without statistics (a new database's first minutes, or a restored one's): the planner left the
statuses, a list, to a filter (an index descent per listed status looked dearer than one walk of the
address's entries) and kept that as the prepared statement's generic plan: every held-back page of
the address read, twice per claim (~1,100-2,200 rows in bench/ingest.py's Postgres pass). This index
holds attempted pages only, by (address, last_attempt_at), and the queries write its WHERE in the
same words, so any plan on it reads only what it counts, on either database. It replaces 0002's
index, which nothing else reads. Building it reads the outbox once; it changes no row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_outbox_attempted_index"
down_revision: str | Sequence[str] | None = "0014_outbox_provider_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As pager.db.tables.ATTEMPTED_PAGE at this revision: a migration does not follow later models.
ATTEMPTED = sa.text("status IN ('sending', 'sent', 'delivered', 'unknown')")


def upgrade() -> None:
    op.create_index(
        "ix_outbox_attempted_address_last_attempt_at",
        "outbox",
        ["address", "last_attempt_at"],
        sqlite_where=ATTEMPTED,
        postgresql_where=ATTEMPTED,
    )
    op.drop_index("ix_outbox_address_status_last_attempt_at", table_name="outbox")


def downgrade() -> None:
    op.create_index(
        "ix_outbox_address_status_last_attempt_at", "outbox", ["address", "status", "last_attempt_at"]
    )
    op.drop_index("ix_outbox_attempted_address_last_attempt_at", table_name="outbox")
