"""Request and response bodies of /api/v1, and the documented error responses every route shares.

Instants are written as UTC ISO 8601 with an explicit offset (`2026-03-08T08:30:00+00:00`, as
pager.core.localtime.format_instant writes them) and read only with an offset. Durations are
whole seconds (`*_seconds`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, PlainSerializer, WithJsonSchema

from pager.api.deps import MAX_ID
from pager.core.localtime import format_instant
from pager.services.errors import InvalidInput

T = TypeVar("T")

Instant = Annotated[
    datetime,
    PlainSerializer(format_instant, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2026-03-08T08:30:00+00:00"}),
]
RoleName = Literal["primary", "secondary"]

# Instants the API accepts: far enough either way for any schedule, near enough that no calculation
# runs off the end of the calendar (datetime stops at year 9999).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def in_range(instant: datetime) -> datetime:
    """`instant` in UTC when it lies in [1900, 9000); InvalidInput (a ValueError to pydantic) otherwise."""
    try:
        utc = instant.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{instant.isoformat()} is out of range") from None
    if not EARLIEST <= utc < LATEST:
        raise InvalidInput(f"{instant.isoformat()} is out of range (years 1900 to 8999)")
    return utc


class _OutOfRange(ValueError):
    pass


def _body_instant(instant: datetime) -> datetime:
    try:
        return in_range(instant)
    except InvalidInput as exc:
        raise _OutOfRange(str(exc)) from None


BodyInstant = Annotated[AwareDatetime, AfterValidator(_body_instant)]
# Plain text as stored: no control characters (Postgres refuses NUL in text).
PLAIN_TEXT = r"^[^\x00-\x1f\x7f]*$"
# What schedule, policy and service ids and user handles may look like (file stems, handles).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=100, examples=["checkout"])]
NamePath = Annotated[str, Path(pattern=NAME_PATTERN, max_length=100, description="An id or handle.")]
# Ids are INTEGER columns: a larger id would make Postgres fail the query (a 500), not find nothing.
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="A numeric id.")]
TokenRole = Literal["admin", "responder", "viewer"]


# --- errors ------------------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(examples=["not_found"])
    message: str = Field(examples=["no alert 42"])
    details: list[Any] = Field(default_factory=list)


class ErrorDocument(BaseModel):
    """The one error shape of the whole API."""

    error: ErrorBody


_ERROR_EXAMPLES: dict[int, tuple[str, dict[str, Any]]] = {
    401: (
        "Missing, unknown or revoked bearer token.",
        {"code": "unauthorized", "message": "missing bearer token", "details": []},
    ),
    403: (
        "The token's role is too low for this route.",
        {"code": "forbidden", "message": "this needs a responder token; yours is viewer", "details": []},
    ),
    404: ("Nothing with that id.", {"code": "not_found", "message": "no alert 42", "details": []}),
    409: (
        "Clashes with what is stored.",
        {"code": "conflict", "message": "user 'alice' already exists", "details": []},
    ),
    413: (
        "The body is larger than the route's limit (1 MB).",
        {"code": "payload_too_large", "message": "the body is larger than the 1 MB limit", "details": []},
    ),
    429: (
        "Too many failed authentications from this address; retry after `Retry-After` seconds.",
        {"code": "throttled", "message": "too many failed requests from your address", "details": []},
    ),
    503: (
        "The database cannot be reached or is busy, or too many large request bodies are being "
        "received at once (`too_many_large_bodies`); retry after `Retry-After` seconds.",
        {"code": "database_unavailable", "message": "the database is unavailable", "details": []},
    ),
    422: (
        "Invalid input; `details` names each field.",
        {
            "code": "invalid_input",
            "message": "invalid query.at",
            "details": [{"field": "query.at", "message": "Input should be a valid datetime"}],
        },
    ),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each in the one error shape with an example.

    422 is always included: FastAPI documents it for every route with parameters, and would
    otherwise describe it with its own validation-error schema instead of the one error shape. So
    are what any /api/v1 request can meet before its route runs: 413 (body cap), 429 (failed
    authentication limit) and 503 (database unavailable or busy, or the memory for bodies full).
    """
    statuses = tuple(sorted({*statuses, 413, 422, 429, 503}))
    return {
        status: {
            "model": ErrorDocument,
            "description": _ERROR_EXAMPLES[status][0],
            "content": {"application/json": {"example": {"error": _ERROR_EXAMPLES[status][1]}}},
        }
        for status in statuses
    }


# --- pagination ----------------------------------------------------------------------------------


class Paginated(BaseModel, Generic[T]):
    """One page of a collection; `next` is the relative URL of the following page (also in `Link`)."""

    items: list[T]
    limit: int = Field(examples=[50])
    offset: int = Field(examples=[0])
    next: str | None = Field(examples=["/api/v1/alerts?limit=50&offset=50"])


# --- schedules -----------------------------------------------------------------------------------


class LayerOut(BaseModel):
    name: str = Field(examples=["weekly"])
    kind: Literal["rotation", "ical"]
    role: RoleName
    members: list[str] = Field(examples=[["alice", "bob", "carol"]], description="Empty for iCal layers.")
    shift: str | None = Field(examples=["1w"])
    handoff: str | None = Field(examples=[None], description="The handoff RRULE, if the layer uses one.")


class ScheduleOut(BaseModel):
    id: str = Field(examples=["checkout"])
    name: str = Field(examples=["Checkout primary"])
    time_zone: str = Field(examples=["America/Chicago"])
    layers: list[LayerOut]


class OnCallOut(BaseModel):
    schedule: str = Field(examples=["checkout"])
    at: Instant
    primary: str | None = Field(examples=["alice"])
    secondary: str | None = Field(examples=["bob"])
    primary_source: str | None = Field(examples=["layer:weekly"])
    secondary_source: str | None = Field(examples=["next-in:weekly"])


class ShiftOut(BaseModel):
    role: RoleName
    user: str = Field(examples=["alice"])
    start: Instant
    end: Instant


class ShiftsOut(BaseModel):
    schedule: str = Field(examples=["checkout"])
    start: Instant
    end: Instant
    items: list[ShiftOut]


# --- overrides -----------------------------------------------------------------------------------


OverrideKindName = Literal["add", "remove", "replace"]


class OverrideIn(BaseModel):
    schedule: Name
    role: RoleName = "primary"
    user: Name
    start: BodyInstant = Field(examples=["2026-03-08T08:30:00+00:00"])
    end: BodyInstant = Field(examples=["2026-03-09T08:30:00+00:00"])
    kind: OverrideKindName = Field(
        default="add",
        description="add: `user` holds the role; remove: `user` does not (the layers give it to someone "
        "else); replace: `user` holds it wherever `instead_of` would.",
    )
    instead_of: Name | None = Field(default=None, description="The person replaced (replace only).")


class SwapIn(BaseModel):
    schedule: Name
    role: RoleName = "primary"
    user: Name
    at: BodyInstant = Field(
        examples=["2026-03-08T12:00:00+00:00"], description="An instant in `user`'s shift."
    )
    with_user: Name = Field(examples=["erin"])
    with_at: BodyInstant = Field(
        examples=["2026-03-10T12:00:00+00:00"], description="An instant in `with_user`'s shift."
    )


class OverrideOut(BaseModel):
    id: int
    schedule: str = Field(examples=["checkout"])
    kind: OverrideKindName = "add"
    role: RoleName
    user: str = Field(examples=["dana"])
    instead_of: str | None = Field(default=None, examples=[None])
    start: Instant
    end: Instant
    created_by: str | None = Field(examples=["api:ops-bot"])
    created_at: Instant


# --- policies and services -----------------------------------------------------------------------


class LevelOut(BaseModel):
    notify: list[str] = Field(examples=[["schedule:checkout", "user:dana"]])
    escalate_after_seconds: int = Field(examples=[300])


class PolicyOut(BaseModel):
    id: str = Field(examples=["checkout-critical"])
    name: str = Field(examples=["Checkout critical"])
    repeat: int = Field(examples=[2])
    ack_timeout_seconds: int = Field(examples=[1800], description="0: an acknowledgement never times out.")
    auto_resolve_seconds: int | None = Field(examples=[14400])
    levels: list[LevelOut]
    services: list[str] = Field(examples=[["checkout-api"]])


class ServiceOut(BaseModel):
    id: str = Field(examples=["checkout-api"])
    name: str = Field(examples=["Checkout API"])
    policy: str = Field(examples=["checkout-critical"])
    runbook: str | None = Field(examples=["https://wiki.example.com/checkout"])
    integration_key: str | None = Field(
        examples=["0f3c9a5e2b7d4c18a6e1f0b29d8c7e6a"], description="Shown to admin tokens only; else null."
    )


# --- alerts --------------------------------------------------------------------------------------


class AlertOut(BaseModel):
    id: int = Field(examples=[42])
    service: str = Field(examples=["checkout-api"])
    status: Literal["triggered", "acknowledged", "resolved", "suppressed"] = Field(
        description="suppressed: opened while a maintenance window held its service; nobody is paged "
        "until the window ends."
    )
    summary: str = Field(examples=["High error rate"])
    dedup_key: str = Field(examples=["checkout-5xx"])
    severity: str = Field(examples=["critical"])
    source: str = Field(examples=["prometheus"])
    details: dict[str, Any]
    event_count: int
    level: int
    loop: int
    next_action_at: Instant | None
    acknowledged_at: Instant | None
    acknowledged_by: str | None
    resolved_at: Instant | None
    resolved_by: str | None
    created_at: Instant
    updated_at: Instant


class TimelineOut(BaseModel):
    at: Instant
    kind: str = Field(examples=["notify"])
    message: str = Field(examples=["paged alice by sms"])
    data: dict[str, Any]


class AlertDetailOut(AlertOut):
    timeline: list[TimelineOut]


class SnoozeIn(BaseModel):
    minutes: int = Field(ge=1, le=1440, examples=[30], description="How long, 1 to 1440 minutes.")


class AlertActionOut(BaseModel):
    alert: AlertOut
    outcome: str = Field(
        examples=["applied"],
        description="applied, or why nothing changed: ignored, already_acknowledged, already_resolved, "
        "policy_missing (the alert's policy is not loaded).",
    )


# --- tokens --------------------------------------------------------------------------------------


class ApiTokenIn(BaseModel):
    role: TokenRole
    name: str = Field(default="", max_length=200, pattern=PLAIN_TEXT, examples=["ops-bot"])
    user: str | None = Field(
        default=None,
        max_length=64,
        examples=["alice"],
        description="The person it acts for: a responder token edits only that person's settings.",
    )


class ApiTokenOut(BaseModel):
    id: int
    role: TokenRole
    name: str = Field(examples=["ops-bot"])
    user: str | None = Field(default=None, examples=["alice"], description="The person it acts for.")
    created_at: Instant
    last_used_at: Instant | None
    revoked_at: Instant | None


class ApiTokenCreatedOut(ApiTokenOut):
    token: str = Field(description="The bearer token. Shown only in this response.", examples=["pgr_..."])


class CalendarTokenOut(BaseModel):
    id: int
    feed: Literal["user", "schedule"]
    target: str = Field(examples=["alice"], description="The handle or schedule id whose feed it opens.")
    created_at: Instant
    revoked_at: Instant | None


class CalendarTokenCreatedOut(CalendarTokenOut):
    token: str = Field(description="The feed token. Shown only in this response.", examples=["pgc_..."])
    url: str = Field(
        description="The full feed URL (subscribe with webcal:// or https://).",
        examples=["https://pager.example.com/calendar/users/alice.ics?token=pgc_..."],
    )
