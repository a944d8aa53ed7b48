"""Override kinds: remove and replace (a swap is two replace rows).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

`overrides.kind` is `add` (every existing row: the only kind there was), `remove` or `replace`;
`overrides.instead_of` names the person a `replace` row stands in for, and is set exactly when the
kind is `replace`. Batch mode, so SQLite rebuilds the table with the new CHECK constraints.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("overrides") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), server_default="add", nullable=False))
        batch.add_column(sa.Column("instead_of", sa.String(length=64), nullable=True))
        batch.create_check_constraint(op.f("ck_overrides_kind"), "kind IN ('add', 'remove', 'replace')")
        batch.create_check_constraint(
            op.f("ck_overrides_instead_of"), "(kind = 'replace') = (instead_of IS NOT NULL)"
        )


def downgrade() -> None:
    # Rows of the new kinds have no meaning for the old schema, which would read them as `add`.
    op.execute("DELETE FROM overrides WHERE kind <> 'add'")
    with op.batch_alter_table("overrides") as batch:
        batch.drop_constraint(op.f("ck_overrides_instead_of"), type_="check")
        batch.drop_constraint(op.f("ck_overrides_kind"), type_="check")
        batch.drop_column("instead_of")
        batch.drop_column("kind")
