"""Outbox columns for what was only inside the idempotency key and the email body.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

`subject`: an email's subject, which was the first line of its `body` ("" for SMS and voice).
`user_handle`, `cycle`, `loop`, `level`, `step`: who is paged and which rule step of which
escalation, which were only inside `idempotency_key`
(`<alert>:c<cycle>:l<loop>:v<level>:<user>:<method>:<step>`); delivery parsed them back out of it.

Existing rows are filled in: an email's first line moves to `subject` (and the blank line after it
goes), the key's parts to their columns. A key not of that shape (only ever written by hand) gets
user "" and zeros. Then every new column is NOT NULL. Downgrade puts the subject back on the
first line of email bodies and drops the columns.
"""

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
COORDINATES = ("cycle", "loop", "level", "step")


def _key_parts(key: str) -> dict[str, Any]:
    """The user and escalation coordinates of an idempotency key ("" and zeros if it has none)."""
    parts = key.split(":")
    try:
        _alert, cycle, loop, level, user, _method, step = parts
        if (cycle[:1], loop[:1], level[:1]) != ("c", "l", "v"):
            raise ValueError(key)
        numbers = (int(cycle[1:]), int(loop[1:]), int(level[1:]), int(step))
    except ValueError:
        return {"user_handle": "", "cycle": 0, "loop": 0, "level": 0, "step": 0}
    return {"user_handle": user[:64], **dict(zip(COORDINATES, numbers, strict=True))}


def _rows(connection: sa.Connection, query: str) -> Iterator[list[sa.Row[Any]]]:
    """The rows of `query` (ordered by id, first column), BATCH at a time, keyset-paged by id."""
    last = 0
    while True:
        rows = list(connection.execute(sa.text(query), {"last": last, "limit": BATCH}))
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("subject", sa.Text(), nullable=True))
        batch.add_column(sa.Column("user_handle", sa.String(length=64), nullable=True))
        for name in COORDINATES:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))

    connection = op.get_bind()
    fill = sa.text(
        "UPDATE outbox SET subject = :subject, body = :body, user_handle = :user_handle, cycle = :cycle,"
        ' "loop" = :loop, "level" = :level, step = :step WHERE id = :id'
    )
    query = "SELECT id, idempotency_key, method, body FROM outbox WHERE id > :last ORDER BY id LIMIT :limit"
    for rows in _rows(connection, query):
        changes = []
        for row_id, key, method, body in rows:
            subject = ""
            if method == "email":  # how delivery read it: the first line, then the rest less blank lines
                subject, _, body = body.partition("\n")
                body = body.lstrip("\n")
            changes.append({"id": row_id, "subject": subject, "body": body, **_key_parts(key)})
        connection.execute(fill, changes)

    with _rebuilt_outbox() as batch:
        batch.alter_column("subject", existing_type=sa.Text(), nullable=False)
        batch.alter_column("user_handle", existing_type=sa.String(length=64), nullable=False)
        for name in COORDINATES:
            batch.alter_column(name, existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    connection = op.get_bind()
    join = sa.text("UPDATE outbox SET body = :body WHERE id = :id")
    query = (
        "SELECT id, subject, body FROM outbox WHERE method = 'email' AND id > :last ORDER BY id LIMIT :limit"
    )
    for rows in _rows(connection, query):
        connection.execute(join, [{"id": i, "body": f"{subject}\n\n{body}"} for i, subject, body in rows])
    with _rebuilt_outbox() as batch:
        for name in reversed(COORDINATES):
            batch.drop_column(name)
        batch.drop_column("user_handle")
        batch.drop_column("subject")


@contextmanager
def _rebuilt_outbox() -> Iterator[Any]:
    """`batch_alter_table("outbox")`. On SQLite it rebuilds the table from its reflection, which
    skips expression indexes (with a warning): migration 0002's `ix_outbox_status_ready_at` is put
    back afterwards. On Postgres it is plain ALTER TABLE statements."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        with op.batch_alter_table("outbox") as batch:
            yield batch
    connection = op.get_bind()
    if connection.dialect.name != "sqlite":
        return
    present = connection.execute(
        sa.text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'ix_outbox_status_ready_at'")
    ).first()
    if present is None:
        op.create_index(
            "ix_outbox_status_ready_at", "outbox", ["status", sa.text("coalesce(next_attempt_at, due_at)")]
        )
