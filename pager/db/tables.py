"""Database tables (SQLModel). The API's request and response shapes are in pager/api/rest/schemas.py.

Every instant is aware UTC (`UTCDateTime`); enumerated text columns carry CHECK constraints built
from the same tuples as their Literal types. Migrations (migrations/versions) are written by hand
from these models; keep both in step.
"""

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import AwareDatetime
from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from pager.core.alert import AlertSeverity
from pager.core.model import OVERRIDE_KINDS, OverrideKind, Role
from pager.db import (
    incident_tables,  # noqa: F401  (registers the incident tables as well)
    webhook_tables,  # noqa: F401  (registers the webhook tables as well)
)
from pager.db.columns import (
    UTCDateTime,
    bytewise_key,
    created_field,
    in_list,
    instant_field,
    json_document,
    one_of,
    optional_instant_field,
    updated_field,
)

ContactKind = Literal["sms", "voice", "email"]
AlertStatus = Literal["triggered", "acknowledged", "resolved", "suppressed"]
OutboxStatus = Literal["pending", "sending", "sent", "delivered", "failed", "cancelled", "unknown"]
TokenRole = Literal["admin", "responder", "viewer"]

CONTACT_KINDS: tuple[str, ...] = get_args(ContactKind)
ALERT_STATUSES: tuple[str, ...] = get_args(AlertStatus)
SEVERITIES: tuple[str, ...] = get_args(AlertSeverity)
OUTBOX_STATUSES: tuple[str, ...] = get_args(OutboxStatus)
# Pages that were tried (or are being tried): what the per-address throttle counts.
ATTEMPTED_STATUSES: tuple[str, ...] = ("sending", "sent", "delivered", "unknown")
# ... as the WHERE of the index that serves those counts; the queries write it in the same words.
ATTEMPTED_PAGE = in_list("status", ATTEMPTED_STATUSES)
TOKEN_ROLES: tuple[str, ...] = get_args(TokenRole)
SCHEDULE_ROLES: tuple[str, ...] = get_args(Role)


# --- users -------------------------------------------------------------------------------------


class User(SQLModel, table=True):
    __tablename__ = "users"

    handle: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    time_zone: str | None = Field(default=None, max_length=64)
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = created_field()
    # A shift reminder this long before each shift starts (None: no reminders); migration 0009_handoffs.
    remind_before_seconds: int | None = None
    # Set while the person is deactivated: kept with their history, never paged, never on call.
    deactivated_at: datetime | None = optional_instant_field()


class ContactMethod(SQLModel, table=True):
    __tablename__ = "contact_methods"
    __table_args__ = (UniqueConstraint("user_id", "kind", "address"), one_of("kind", CONTACT_KINDS))

    kind: ContactKind = Field(sa_type=String(16))
    address: str = Field(max_length=320)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    verified: bool = False
    created_at: datetime = created_field()
    # The pending verification code of a method added through the API: only its hash is kept.
    code_hash: str | None = Field(default=None, max_length=128)
    code_expires_at: datetime | None = optional_instant_field()
    code_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class NotificationRule(SQLModel, table=True):
    """One step of a user's paging plan: contact `contact_method_id` `delay_seconds` after being paged."""

    __tablename__ = "notification_rules"
    __table_args__ = (CheckConstraint("delay_seconds >= 0", name="delay_seconds"),)

    contact_method_id: int = Field(foreign_key="contact_methods.id", ondelete="CASCADE", index=True)
    delay_seconds: int = Field(default=0, ge=0)
    position: int = 0
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    created_at: datetime = created_field()


# --- services and alerts ---------------------------------------------------------------------------


class Service(SQLModel, table=True):
    """A service from a policy file; the row exists to hold its generated integration key."""

    __tablename__ = "services"

    id: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=200)
    policy_id: str = Field(max_length=100, index=True)
    runbook: str | None = Field(default=None, sa_type=Text)
    integration_key: str = Field(max_length=64, unique=True)
    created_at: datetime = created_field()
    updated_at: datetime = updated_field()


class Alert(SQLModel, table=True):
    """An alert; `id` is the short number people type back (`42a`) and is never reused."""

    __tablename__ = "alerts"
    __table_args__ = (
        # At most one open alert per (service, dedup key); a resolved one frees the key.
        Index(
            "uq_alerts_open_dedup_key",
            "service_id",
            "dedup_key",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        # The alert list by service and status, newest first; it replaces a service_id index (0018).
        Index("ix_alerts_service_id_status_id", "service_id", "status", "id"),
        one_of("status", ALERT_STATUSES),
        one_of("severity", SEVERITIES),
        CheckConstraint("level >= 1 AND loop >= 1 AND event_count >= 1", name="counters"),
        {"sqlite_autoincrement": True},
    )

    # Indexed by ix_alerts_service_id_status_id, whose first column it is.
    service_id: str = Field(foreign_key="services.id", max_length=100)
    dedup_key: str = Field(max_length=255)
    summary: str = Field(max_length=1024)
    severity: AlertSeverity = Field(default="critical", sa_type=String(16))
    source: str = Field(default="", max_length=255)
    details: dict[str, Any] = Field(default_factory=dict, sa_type=json_document())
    id: int | None = Field(default=None, primary_key=True)
    status: AlertStatus = Field(default="triggered", sa_type=String(16), index=True)
    event_count: int = 1
    level: int = 1
    loop: int = 1
    next_action_at: datetime | None = optional_instant_field(index=True)
    last_event_at: datetime = created_field()
    acknowledged_at: datetime | None = optional_instant_field()
    acknowledged_by: str | None = Field(default=None, max_length=255)
    resolved_at: datetime | None = optional_instant_field()
    resolved_by: str | None = Field(default=None, max_length=255)
    escalation_state: dict[str, Any] = Field(default_factory=dict, sa_type=json_document())
    created_at: datetime = created_field()
    updated_at: datetime = updated_field()


class TimelineEntry(SQLModel, table=True):
    """One line of an alert's history: triggers, pages, delivery attempts, acks, escalations."""

    __tablename__ = "alert_timeline"

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alerts.id", ondelete="CASCADE", index=True)
    at: datetime = instant_field()
    kind: str = Field(max_length=64)
    message: str = Field(sa_type=Text)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=json_document())


class HeartbeatMonitor(SQLModel, table=True):
    """A heartbeat declared on a service (docs/heartbeats.md): beats arrive on `/heartbeat/{key}`.

    `due_at` is the durable timer the worker wakes for (last beat + every + grace); it is None before
    the first beat, while the miss it raised is open (`missed_at`), and once the monitor is retired.
    """

    __tablename__ = "heartbeat_monitors"
    __table_args__ = (
        UniqueConstraint("service_id", "name"),
        CheckConstraint("every_seconds > 0 AND grace_seconds >= 0", name="durations"),
    )

    id: int | None = Field(default=None, primary_key=True)
    service_id: str = Field(foreign_key="services.id", max_length=100)
    name: str = Field(max_length=64)
    key: str = Field(max_length=64, unique=True)
    every_seconds: int
    grace_seconds: int = 0
    last_beat_at: datetime | None = optional_instant_field()
    due_at: datetime | None = optional_instant_field(index=True)
    missed_at: datetime | None = optional_instant_field()
    retired_at: datetime | None = optional_instant_field()
    created_at: datetime = created_field()
    updated_at: datetime = updated_field()


# --- delivery --------------------------------------------------------------------------------------


class OutboxMessage(SQLModel, table=True):
    """One page to send; `idempotency_key` makes a second insert of the same page a no-op.

    `due_at` is when it first becomes sendable, `next_attempt_at` (if set) delays a retry;
    `last_attempt_at` is when it was last marked `sending` (which reconciliation needs) or held back
    by a claim (its person is then being paged: an SMS reply may act on the alert).
    `user_handle`, `cycle`, `loop`, `level` and `step` say which rule step of which escalation this
    page is (what a failed page falls back from); an email's `subject` is kept apart from its `body`.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_due_at", "status", "due_at"),
        # The throttle's count of recent pages per address (migration 0015; it replaced 0002's
        # (address, status, last_attempt_at)), and when a pending page may next be sent (the claim
        # and the worker's next-due query: migration 0002). The end of an address's queue of
        # held-back pages: migration 0003.
        Index(
            "ix_outbox_attempted_address_last_attempt_at",
            "address",
            "last_attempt_at",
            sqlite_where=text(ATTEMPTED_PAGE),
            postgresql_where=text(ATTEMPTED_PAGE),
        ),
        Index("ix_outbox_status_ready_at", "status", text("coalesce(next_attempt_at, due_at)")),
        Index(
            "ix_outbox_pending_address_next_attempt_at",
            "address",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        # A delivery report finds its page by the provider's id (migration 0014 says why).
        Index(
            "ix_outbox_provider_id",
            "provider_id",
            sqlite_where=text("provider_id IS NOT NULL"),
            postgresql_where=text("provider_id IS NOT NULL"),
        ),
        # A person's pages, newest first (the demo's phone panel; deleting a user): migration 0016.
        Index("ix_outbox_user_id_created_at", "user_id", "created_at", "id"),
        one_of("method", CONTACT_KINDS),
        one_of("status", OUTBOX_STATUSES),
    )

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(sa_type=bytewise_key(255), unique=True)  # migration 0017: "C"
    alert_id: int | None = Field(default=None, foreign_key="alerts.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    method: ContactKind = Field(sa_type=String(16))
    address: str = Field(max_length=320)
    body: str = Field(sa_type=Text)
    subject: str = Field(default="", sa_type=Text)  # email only; "" for sms and voice
    # Who is paged and where in the escalation (the idempotency key's parts, as columns: migration 0005).
    user_handle: str = Field(max_length=64)
    cycle: int
    loop: int
    level: int
    step: int
    status: OutboxStatus = Field(default="pending", sa_type=String(16))
    due_at: datetime = instant_field()
    attempts: int = 0
    next_attempt_at: datetime | None = optional_instant_field()
    last_attempt_at: datetime | None = optional_instant_field()
    provider_id: str | None = Field(default=None, max_length=255)
    last_error: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = created_field()
    updated_at: datetime = updated_field()


# --- schedules -------------------------------------------------------------------------------------


class OverrideRow(SQLModel, table=True):
    """A change to who holds `role` of `schedule_id` in `[start, end)` (pager.core.model.Override).

    `kind`: `add` (`user_handle` holds the role), `remove` (`user_handle` does not), `replace`
    (`user_handle` holds it wherever `instead_of` would). A swap is stored as two `replace` rows.
    """

    __tablename__ = "overrides"
    __table_args__ = (
        Index("ix_overrides_schedule_id_end", "schedule_id", "end"),
        one_of("role", SCHEDULE_ROLES),
        CheckConstraint('"end" > "start"', name="span"),
        one_of("kind", OVERRIDE_KINDS),
        CheckConstraint("(kind = 'replace') = (instead_of IS NOT NULL)", name="instead_of"),
    )

    schedule_id: str = Field(max_length=100)
    role: Role = Field(default="primary", sa_type=String(16))
    user_handle: str = Field(max_length=64)
    start: AwareDatetime = Field(sa_type=UTCDateTime())
    end: AwareDatetime = Field(sa_type=UTCDateTime())
    id: int | None = Field(default=None, primary_key=True)
    created_by: str | None = Field(default=None, max_length=255)
    created_at: datetime = created_field()
    kind: OverrideKind = Field(default="add", sa_type=String(16), sa_column_kwargs={"server_default": "add"})
    instead_of: str | None = Field(default=None, max_length=64)


class MaintenanceWindowRow(SQLModel, table=True):
    """An ad-hoc maintenance window: new alerts of `service_id` in `[start_at, end_at)` page nobody.

    Ending a window early moves `end_at` to that instant and records `ended_by`.
    """

    __tablename__ = "maintenance_windows"
    __table_args__ = (
        Index("ix_maintenance_windows_service_id_end_at", "service_id", "end_at"),
        CheckConstraint("end_at >= start_at", name="span"),
    )

    service_id: str = Field(foreign_key="services.id", max_length=100)
    start_at: datetime = instant_field()
    end_at: datetime = instant_field()
    id: int | None = Field(default=None, primary_key=True)
    reason: str = Field(default="", max_length=500)
    created_by: str | None = Field(default=None, max_length=255)
    created_at: datetime = created_field()
    ended_by: str | None = Field(default=None, max_length=255)


class HandoffCursor(SQLModel, table=True):
    """Up to when the handoffs and reminders of `schedule_id` have been processed (migration 0009_handoffs).

    The worker's handoff job locks the row, sends what fell due after `checked_until` and moves it.
    `checked_since` is its first check: nothing from before it is ever sent.
    """

    __tablename__ = "handoff_cursors"

    schedule_id: str = Field(primary_key=True, max_length=100)
    checked_since: datetime = instant_field()
    checked_until: datetime = instant_field()


class HandoffNote(SQLModel, table=True):
    """The outgoing person's note for the next handoff of (`schedule_id`, `role`); deleted once sent.

    One per schedule and role: a new note replaces one not yet sent.
    """

    __tablename__ = "handoff_notes"
    __table_args__ = (UniqueConstraint("schedule_id", "role"), one_of("role", SCHEDULE_ROLES))

    id: int | None = Field(default=None, primary_key=True)
    schedule_id: str = Field(max_length=100)
    role: Role = Field(default="primary", sa_type=String(16))
    text: str = Field(sa_type=Text)
    written_at: datetime = instant_field()


# --- tokens (only hashes are stored) -----------------------------------------------------------------


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"
    __table_args__ = (one_of("role", TOKEN_ROLES),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=128, unique=True)
    role: TokenRole = Field(sa_type=String(16))
    name: str = Field(max_length=200)
    created_at: datetime = created_field()
    last_used_at: datetime | None = optional_instant_field()
    revoked_at: datetime | None = optional_instant_field()
    # The person the token acts for: a responder token edits only that person's own settings.
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="CASCADE", index=True)


class CalendarToken(SQLModel, table=True):
    """Opens one calendar feed: a person's (`user_id`) or a schedule's (`schedule_id`), never both."""

    __tablename__ = "calendar_tokens"
    __table_args__ = (
        CheckConstraint(
            "(user_id IS NOT NULL AND schedule_id IS NULL) OR (user_id IS NULL AND schedule_id IS NOT NULL)",
            name="one_feed",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="CASCADE", index=True)
    schedule_id: str | None = Field(default=None, max_length=100, index=True)
    token_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = created_field()
    revoked_at: datetime | None = optional_instant_field()


# --- operating safely: worker heartbeats, handled provider requests -------------------------------


class WorkerHeartbeat(SQLModel, table=True):
    """One row per running worker: `beat_at` moves each time one of its loops completes a pass.

    /readyz is red when no worker has beaten recently; rows of workers that stopped cleanly are
    deleted, rows of workers that died stay until they are stale and are then ignored.
    """

    __tablename__ = "worker_heartbeats"

    worker_id: str = Field(primary_key=True, max_length=64)
    hostname: str = Field(max_length=255)
    pid: int
    started_at: datetime = instant_field()
    beat_at: datetime = instant_field(index=True)


class HandledProviderRequest(SQLModel, table=True):
    """A provider request (Twilio MessageSid / CallSid + step) already acted on: a replay changes nothing."""

    __tablename__ = "handled_provider_requests"

    request_key: str = Field(primary_key=True, max_length=200)
    handled_at: datetime = instant_field(index=True)


# The console's used login links live with their queries (registered here, with every other table).
from pager.db.login_links import UsedLoginLink  # noqa: E402, F401
