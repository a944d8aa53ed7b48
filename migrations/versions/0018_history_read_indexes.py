"""Indexes for two console reads that walked history: alerts by service and status, incidents by
when they were declared.

Revision ID: 0018_history_read_indexes
Revises: 0017_outbox_key_collation
Create Date: 2026-12-07

The alert list filtered by status *and* service (the console's /alerts, which htmx re-reads every
5 s, and `GET /api/v1/alerts?status=&service=`) was served by one of the two single-column indexes:
for a quiet service SQLite walked every resolved alert of every service, newest first, to find the
service's 100 (34 ms at 38,667 resolved alerts, and growing with history). `(service_id, status,
id)` makes it one walk down the service's entry for that status, newest first, whichever filter is
the selective one. It replaces `ix_alerts_service_id` rather than joining it: on Postgres every
escalation step rewrites the alert's row into every index of the table (its timer column is
indexed, so no update is HOT), and one more index costs every decision a write. A service's alerts
of every status are read as one walk per status (`pager.db.alerts.newest_alerts`); the foreign key
to `services` is served by the index's first column.

The status page's past incidents, the analytics window and the export read incidents by
`declared_at`, which had no index: a scan of every incident ever declared. `(declared_at, id)` is
their order. No row changes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018_history_read_indexes"
down_revision: str | Sequence[str] | None = "0017_outbox_key_collation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_alerts_service_id_status_id", "alerts", ["service_id", "status", "id"])
    op.drop_index("ix_alerts_service_id", table_name="alerts")
    op.create_index("ix_incidents_declared_at_id", "incidents", ["declared_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_declared_at_id", table_name="incidents")
    op.create_index("ix_alerts_service_id", "alerts", ["service_id"])
    op.drop_index("ix_alerts_service_id_status_id", table_name="alerts")
