"""The outbox's idempotency keys compared byte by byte on Postgres (COLLATE "C").

Revision ID: 0017_outbox_key_collation
Revises: 0016_outbox_user_index
Create Date: 2026-12-07

Reads by key prefix (a person's verification codes of the last day, an incident's role and update
pages, a postmortem's reminders) are written as key ranges, `verify:` <= key < `verify;`. Under the
database's default collation that range is exact only when the default is bytewise ("C", C.UTF-8).
Under a linguistic one (en_US.UTF-8, ICU), which many installations default to, punctuation weighs
less than letters and digits: `verify:7:…` sorts after `verify;`, the range is empty, and the daily
cap on verification codes counted nothing. The column's collation is now "C" on Postgres whatever
the database's; the unique index on it is rebuilt under the new collation (the statement locks the
outbox while it does). Identifiers are equal under both collations exactly when their bytes are,
so no key changes meaning. SQLite always compares text bytewise (BINARY): nothing to do there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_outbox_key_collation"
down_revision: str | Sequence[str] | None = "0016_outbox_user_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "outbox",
            "idempotency_key",
            type_=sa.String(255, collation="C"),
            existing_type=sa.String(255),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('ALTER TABLE outbox ALTER COLUMN idempotency_key TYPE VARCHAR(255) COLLATE "default"')
