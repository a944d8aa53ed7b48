"""Incidents: the record, its services and alerts, roles with history, timeline, status updates,
postmortems and action items (docs/incidents.md).

Revision ID: 0011_incidents
Revises: 0010_people
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_incidents"
down_revision: str | Sequence[str] | None = "0010_people"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def _one_of(table: str, column: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}"))


def _fk(table: str, column: str, target: str) -> str:
    return op.f(f"fk_{table}_{column}_{target}")


SEVERITIES = ("SEV0", "SEV1", "SEV2")
STATUSES = ("investigating", "identified", "monitoring", "resolved", "closed")
ROLES = ("commander", "scribe", "comms_lead", "executive_sponsor", "sme")
MILESTONES = ("impact_started", "detected", "acknowledged", "identified", "mitigated", "resolved", "closed")


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("customer_impact", sa.Boolean(), nullable=False),
        sa.Column("declared_by", sa.String(length=255), nullable=False),
        sa.Column("declared_at", _instant(), nullable=False),
        *(sa.Column(f"{name}_at", _instant(), nullable=True) for name in MILESTONES),
        sa.Column("last_update_at", _instant(), nullable=True),
        sa.Column("next_update_due_at", _instant(), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        _one_of("incidents", "severity", SEVERITIES),
        _one_of("incidents", "status", STATUSES),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("number", name=op.f("uq_incidents_number")),
    )
    op.create_index("ix_incidents_status", "incidents", ["status"])
    op.create_index(op.f("ix_incidents_next_update_due_at"), "incidents", ["next_update_due_at"])
    op.create_table(
        "incident_services",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=_fk("incident_services", "incident_id", "incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=_fk("incident_services", "service_id", "services")
        ),
        sa.PrimaryKeyConstraint("incident_id", "service_id", name=op.f("pk_incident_services")),
    )
    op.create_index(op.f("ix_incident_services_service_id"), "incident_services", ["service_id"])
    op.create_table(
        "incident_alerts",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", _instant(), nullable=False),
        sa.Column("linked_by", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=_fk("incident_alerts", "incident_id", "incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=_fk("incident_alerts", "alert_id", "alerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("incident_id", "alert_id", name=op.f("pk_incident_alerts")),
    )
    op.create_index(op.f("ix_incident_alerts_alert_id"), "incident_alerts", ["alert_id"])
    op.create_table(
        "incident_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("started_at", _instant(), nullable=False),
        sa.Column("ended_at", _instant(), nullable=True),
        sa.Column("assigned_by", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ended_by", sa.String(length=255), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        _one_of("incident_roles", "role", ROLES),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=_fk("incident_roles", "incident_id", "incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=_fk("incident_roles", "user_id", "users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_roles")),
    )
    op.create_index(op.f("ix_incident_roles_incident_id"), "incident_roles", ["incident_id"])
    op.create_index(op.f("ix_incident_roles_user_id"), "incident_roles", ["user_id"])
    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=_fk("incident_timeline", "incident_id", "incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_timeline")),
    )
    op.create_index(op.f("ix_incident_timeline_incident_id"), "incident_timeline", ["incident_id"])
    op.create_table(
        "incident_updates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("author", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=_fk("incident_updates", "incident_id", "incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_updates")),
    )
    op.create_index(op.f("ix_incident_updates_incident_id"), "incident_updates", ["incident_id"])
    op.create_table(
        "postmortems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("due_at", _instant(), nullable=False),
        sa.Column("published_at", _instant(), nullable=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        _one_of("postmortems", "status", ("draft", "in_review", "published")),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=_fk("postmortems", "incident_id", "incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postmortems")),
        sa.UniqueConstraint("incident_id", name=op.f("uq_postmortems_incident_id")),
    )
    op.create_index(op.f("ix_postmortems_due_at"), "postmortems", ["due_at"])
    op.create_table(
        "action_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("link", sa.String(length=2000), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("done_at", _instant(), nullable=True),
        _one_of("action_items", "status", ("open", "done")),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=_fk("action_items", "incident_id", "incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["users.id"], name=_fk("action_items", "owner_user_id", "users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_items")),
        sa.UniqueConstraint("incident_id", "title", name=op.f("uq_action_items_incident_id_title")),
    )
    op.create_index(op.f("ix_action_items_incident_id"), "action_items", ["incident_id"])
    op.create_index(op.f("ix_action_items_owner_user_id"), "action_items", ["owner_user_id"])
    op.create_index("ix_action_items_status_due_on", "action_items", ["status", "due_on"])


def downgrade() -> None:
    for table in (
        "action_items",
        "postmortems",
        "incident_updates",
        "incident_timeline",
        "incident_roles",
        "incident_alerts",
        "incident_services",
        "incidents",
    ):
        op.drop_table(table)
