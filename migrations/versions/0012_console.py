"""Console: login links already used (a link works once).

Revision ID: 0012_console
Revises: 0011_incidents
Create Date: 2026-12-04

- `console_login_links`: the SHA-256 of each console login link that was used, and when. The links
  themselves are signed and expire after 15 minutes; nothing about a link is stored until it is used.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_console"
down_revision: str | Sequence[str] | None = "0011_incidents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_login_links",
        sa.Column("link_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("link_hash", name=op.f("pk_console_login_links")),
    )
    op.create_index(op.f("ix_console_login_links_used_at"), "console_login_links", ["used_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_console_login_links_used_at"), table_name="console_login_links")
    op.drop_table("console_login_links")
