"""Ingest payloads: the strict models of what each sender posts, and reading a body into one.

Strict means: unknown fields are ignored, nothing is coerced, and every problem names its field path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pager.core.alert import AlertSeverity
from pager.services.alerting.alerts import MAX_SUMMARY
from pager.services.errors import DomainError

MAX_BODY_BYTES = 512 * 1024
MAX_DEDUP_KEY = 255
MAX_SOURCE = 255
Action = Literal["trigger", "acknowledge", "resolve"]


class MalformedBody(DomainError):
    """The body is not JSON at all (HTTP 400)."""


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a payload: the dotted path of the field and what is wrong with it."""

    field: str
    message: str


class PayloadInvalid(Exception):
    """The body is JSON but breaks the sender's schema; `problems` name each field."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


# --- payload models ---------------------------------------------------------------------------------


class _Strict(BaseModel):
    # Strict: no silent coercion (a number is not a summary); unknown fields are ignored, as senders
    # add fields between versions.
    model_config = ConfigDict(strict=True, extra="ignore", populate_by_name=True)


class PdImage(_Strict):
    src: str = Field(min_length=1)
    href: str | None = None
    alt: str | None = None


class PdLink(_Strict):
    href: str = Field(min_length=1)
    text: str | None = None


class PdPayload(_Strict):
    summary: str = Field(min_length=1, max_length=MAX_SUMMARY)
    source: str = Field(min_length=1)
    severity: AlertSeverity
    timestamp: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: dict[str, Any] | None = None


class PagerDutyEvent(_Strict):
    """A PagerDuty Events API v2 alert event."""

    routing_key: str = Field(min_length=32, max_length=32)
    event_action: Action
    dedup_key: str | None = Field(default=None, max_length=MAX_DEDUP_KEY)
    payload: PdPayload | None = None
    images: list[PdImage] = Field(default_factory=list)
    links: list[PdLink] = Field(default_factory=list)
    client: str | None = None
    client_url: str | None = None


class AlertmanagerAlert(_Strict):
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None
    endsAt: str | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None


class AlertmanagerWebhook(_Strict):
    """Alertmanager's webhook_configs body (version 4): one notification per alert group."""

    version: str | None = None
    groupKey: str = Field(min_length=1)
    status: Literal["firing", "resolved"]
    receiver: str | None = None
    alerts: list[AlertmanagerAlert] = Field(min_length=1)
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str | None = None
    truncatedAlerts: int = 0


class GrafanaAlert(AlertmanagerAlert):
    silenceURL: str | None = None
    dashboardURL: str | None = None
    panelURL: str | None = None
    values: dict[str, Any] | None = None
    valueString: str | None = None


class GrafanaWebhook(AlertmanagerWebhook):
    """Grafana unified alerting's webhook body: Alertmanager's shape plus title/state/message."""

    status: Literal["firing", "resolved"] | None = None  # type: ignore[assignment]
    alerts: list[GrafanaAlert] = Field(min_length=1)  # type: ignore[assignment]
    orgId: int | None = None
    title: str | None = None
    state: str | None = None
    message: str | None = None


class GenericAlert(_Strict):
    """The generic form: `summary` (needed to fire), `status`, optional dedup key, severity, details."""

    status: Literal["firing", "resolved"]
    summary: str | None = Field(default=None, min_length=1, max_length=MAX_SUMMARY)
    dedup_key: str | None = Field(default=None, min_length=1, max_length=MAX_DEDUP_KEY)
    severity: AlertSeverity = "critical"
    source: str | None = Field(default=None, max_length=MAX_SOURCE)
    details: dict[str, Any] | None = None


Model = TypeVar("Model", bound=BaseModel)


NUL = "must not contain the NUL character"
NOT_FINITE = "must be a finite number (NaN and Infinity are not JSON)"
# What the walk below looks for, in the raw body: NUL (JSON carries it only as \u0000), the NaN and
# Infinity literals, exponents of three digits (1e999 overflows to infinity) and long runs of digits
# (so does a decimal with 309 digits before its point).
_SUSPECT = re.compile(rb"\\u0000|\x00|NaN|Infinity|\d[eE]\+?\d{3}|\d{300}")


def _bad_fields(value: Any, path: str) -> Iterator[FieldProblem]:
    """The strings (keys included) in `value` that hold a NUL character, and its non-finite numbers."""
    if isinstance(value, str):
        if "\x00" in value:
            yield FieldProblem(path or "body", NUL)
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield FieldProblem(path or "body", NOT_FINITE)
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                yield FieldProblem(child, NUL)
            yield from _bad_fields(item, child)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _bad_fields(item, f"{path}.{index}" if path else str(index))


def parse_payload(model: type[Model], body: bytes) -> Model:
    """Validate `body` as `model`: MalformedBody if it is not JSON, PayloadInvalid naming each field.

    Text holding NUL (`\\u0000`) is refused on every backend: Postgres cannot store it (it was a 500 there).
    So are NaN and infinite numbers, which Python's JSON reader takes but JSON does not have (Postgres
    refused them too, and the database codec would have written them as null).
    """
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(error["type"] == "json_invalid" for error in errors):
            raise MalformedBody(f"the body is not valid JSON: {errors[0]['msg']}") from None
        if any(error["type"] == "model_type" and not error["loc"] for error in errors):
            raise PayloadInvalid([FieldProblem("body", "must be a JSON object")]) from None
        raise PayloadInvalid(
            [FieldProblem(".".join(str(part) for part in e["loc"]), e["msg"]) for e in errors]
        ) from None
    if _SUSPECT.search(body):  # skip the walk for the usual body
        problems = list(_bad_fields(parsed.model_dump(by_alias=True), ""))
        if problems:
            raise PayloadInvalid(problems)
    return parsed
