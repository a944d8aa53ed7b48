"""Outbox index on the person a page went to, newest first.

Revision ID: 0016_outbox_user_index
Revises: 0015_outbox_attempted_index
Create Date: 2026-12-07

`outbox.user_id` (a foreign key to `users`, ON DELETE SET NULL) had no index, and the outbox keeps
every page ever sent. Reading one person's pages (the demo's phone panel: each person's newest SMS
pages) scanned and sorted the whole table per person: 15 people over 6,000 pages took ~74 ms on
SQLite, the slowest console page. Deleting a user made Postgres scan the outbox to clear the
foreign key, under the delete's locks. `(user_id, created_at, id)` answers both: a person's pages
newest first is a walk down their entry of the index. Adding an index changes no row.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_outbox_user_index"
down_revision: str | Sequence[str] | None = "0015_outbox_attempted_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_user_id_created_at", "outbox", ["user_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_user_id_created_at", table_name="outbox")
