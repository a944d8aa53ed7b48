"""Incident tables (docs/incidents.md): the record, its services and alerts, roles with history,
its own timeline, status updates, the postmortem and action items.

Registered on SQLModel.metadata by pager/db/tables.py; migration 0011_incidents creates them.
"""

from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from pager.core.incident_model import (
    ACTION_ITEM_STATUSES,
    INCIDENT_ROLES,
    INCIDENT_SEVERITIES,
    INCIDENT_STATUSES,
    POSTMORTEM_STATUSES,
    ActionItemStatus,
    IncidentRole,
    IncidentSeverity,
    IncidentStatus,
    PostmortemStatus,
)
from pager.db.columns import (
    created_field,
    instant_field,
    json_document,
    one_of,
    optional_instant_field,
    updated_field,
)


class Incident(SQLModel, table=True):
    """One incident. Its milestones are one column each (`<name>_at`); `declared_at` always holds.

    `next_update_due_at` is the durable timer of the status-update cadence: set while the incident
    is open with customer impact, None otherwise (the worker pages when it has passed).
    """

    __tablename__ = "incidents"
    __table_args__ = (
        one_of("severity", INCIDENT_SEVERITIES),
        one_of("status", INCIDENT_STATUSES),
        Index("ix_incidents_status", "status"),
        # Past incidents newest first, and windows of them (status page, analytics, export; 0018).
        Index("ix_incidents_declared_at_id", "declared_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: int = Field(unique=True)  # what people say: "incident 12"
    title: str = Field(max_length=200)
    severity: IncidentSeverity = Field(sa_type=String(8))
    status: IncidentStatus = Field(sa_type=String(16))
    drill: bool = False
    customer_impact: bool = False
    declared_by: str = Field(max_length=255)  # an actor: a handle, `token:<name>` or `rule:<n>`
    impact_started_at: datetime | None = optional_instant_field()
    detected_at: datetime | None = optional_instant_field()
    declared_at: datetime = instant_field()
    acknowledged_at: datetime | None = optional_instant_field()
    identified_at: datetime | None = optional_instant_field()
    mitigated_at: datetime | None = optional_instant_field()
    resolved_at: datetime | None = optional_instant_field()
    closed_at: datetime | None = optional_instant_field()
    last_update_at: datetime | None = optional_instant_field()
    next_update_due_at: datetime | None = optional_instant_field(index=True)
    created_at: datetime = created_field()
    updated_at: datetime = updated_field()


class IncidentService(SQLModel, table=True):
    """A service the incident affects."""

    __tablename__ = "incident_services"

    incident_id: int = Field(foreign_key="incidents.id", ondelete="CASCADE", primary_key=True)
    service_id: str = Field(foreign_key="services.id", max_length=100, primary_key=True, index=True)


class IncidentAlert(SQLModel, table=True):
    """An alert linked to the incident (an alert belongs to at most one open incident)."""

    __tablename__ = "incident_alerts"

    incident_id: int = Field(foreign_key="incidents.id", ondelete="CASCADE", primary_key=True)
    alert_id: int = Field(foreign_key="alerts.id", ondelete="CASCADE", primary_key=True, index=True)
    linked_at: datetime = instant_field()
    linked_by: str = Field(max_length=255)


class IncidentRoleAssignment(SQLModel, table=True):
    """One person holding one role from `started_at` until `ended_at` (None: still holds it)."""

    __tablename__ = "incident_roles"
    __table_args__ = (one_of("role", INCIDENT_ROLES),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", ondelete="CASCADE", index=True)
    role: IncidentRole = Field(sa_type=String(32))
    user_id: int = Field(foreign_key="users.id", index=True)
    started_at: datetime = instant_field()
    ended_at: datetime | None = optional_instant_field()
    assigned_by: str = Field(max_length=255)
    reason: str = Field(default="", sa_type=Text)
    ended_by: str | None = Field(default=None, max_length=255)
    end_reason: str | None = Field(default=None, sa_type=Text)


class IncidentEvent(SQLModel, table=True):
    """One line of the incident's own timeline (declared, severity/status changed, role assigned,
    note, status update, milestone moved, postmortem and action-item events, pages sent for it).
    The linked alerts' lines stay in `alert_timeline`; a reader merges both by instant."""

    __tablename__ = "incident_timeline"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", ondelete="CASCADE", index=True)
    at: datetime = instant_field()
    kind: str = Field(max_length=64)
    actor: str = Field(max_length=255)
    message: str = Field(sa_type=Text)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=json_document())


class StatusUpdate(SQLModel, table=True):
    """A status update: text, public (shown on the status page) or internal, maybe a new status."""

    __tablename__ = "incident_updates"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", ondelete="CASCADE", index=True)
    at: datetime = instant_field()
    author: str = Field(max_length=255)
    message: str = Field(sa_type=Text)
    public: bool = False
    status: str | None = Field(default=None, max_length=16)  # the status it moved the incident to


class Postmortem(SQLModel, table=True):
    """The incident's postmortem (one at most): Markdown written from the template on resolve."""

    __tablename__ = "postmortems"
    __table_args__ = (one_of("status", POSTMORTEM_STATUSES),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", ondelete="CASCADE", unique=True)
    status: PostmortemStatus = Field(default="draft", sa_type=String(16))
    body: str = Field(default="", sa_type=Text)
    due_at: datetime = instant_field(index=True)
    published_at: datetime | None = optional_instant_field()
    created_at: datetime = created_field()
    updated_at: datetime = updated_field()


class ActionItem(SQLModel, table=True):
    """Follow-up work from an incident: an owner, a due date (in the owner's zone), open or done."""

    __tablename__ = "action_items"
    __table_args__ = (
        one_of("status", ACTION_ITEM_STATUSES),
        UniqueConstraint("incident_id", "title"),
        Index("ix_action_items_status_due_on", "status", "due_on"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", ondelete="CASCADE", index=True)
    title: str = Field(max_length=300)
    owner_user_id: int = Field(foreign_key="users.id", index=True)
    due_on: date
    status: ActionItemStatus = Field(default="open", sa_type=String(8))
    link: str | None = Field(default=None, max_length=2000)
    created_by: str = Field(max_length=255)
    created_at: datetime = created_field()
    done_at: datetime | None = optional_instant_field()
