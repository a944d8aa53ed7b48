"""People: deactivation, contact-method verification codes, API tokens tied to a person.

Revision ID: 0010_people
Revises: 0009_handoffs
Create Date: 2026-12-04

- `users.deactivated_at`: set when a person is deactivated (kept with all their history; nobody
  pages them while it is set), cleared when they are reactivated.
- `contact_methods.code_hash`, `code_expires_at`, `code_attempts`: the pending verification code of
  a method added through the API (only its hash; at most one per method; dead after 5 wrong tries).
- `api_tokens.user_id`: the person a token acts for (a responder edits only their own settings).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_people"
down_revision: str | Sequence[str] | None = "0009_handoffs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("contact_methods") as batch:
        batch.add_column(sa.Column("code_hash", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("code_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("code_attempts", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_api_tokens_user_id_users"), "users", ["user_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index(op.f("ix_api_tokens_user_id"), ["user_id"])


def downgrade() -> None:
    # A token tied to a person would become a token for anyone: a responder token could then edit
    # every person. Revoke those before the column goes (revoked rows stay, as history).
    op.execute(
        "UPDATE api_tokens SET revoked_at = CURRENT_TIMESTAMP"
        " WHERE user_id IS NOT NULL AND revoked_at IS NULL"
    )
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index(op.f("ix_api_tokens_user_id"))
        batch.drop_constraint(op.f("fk_api_tokens_user_id_users"), type_="foreignkey")
        batch.drop_column("user_id")
    with op.batch_alter_table("contact_methods") as batch:
        batch.drop_column("code_attempts")
        batch.drop_column("code_expires_at")
        batch.drop_column("code_hash")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deactivated_at")
