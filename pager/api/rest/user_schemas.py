"""Request and response bodies of /api/v1/users: people, their contact methods and rules."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from pager.api.rest.schemas import PLAIN_TEXT, Instant


class ContactMethodOut(BaseModel):
    id: int
    kind: Literal["sms", "voice", "email"] = Field(examples=["sms"])
    address: str = Field(examples=["+15555550123"])
    verified: bool


class NotificationRuleOut(BaseModel):
    """One step of the user's paging plan: page by `method` at `address`, `delay_seconds` after paged."""

    method: Literal["sms", "voice", "email"] = Field(examples=["voice"])
    delay_seconds: int = Field(examples=[60])
    address: str = Field(examples=["+15555550123"])


class UserOut(BaseModel):
    handle: str = Field(examples=["alice"])
    name: str = Field(examples=["Alice Smith"])
    time_zone: str | None = Field(examples=["America/Chicago"])
    created_at: Instant
    contact_methods: list[ContactMethodOut]
    notification_rules: list[NotificationRuleOut]
    default_rules: bool = Field(description="True when the rules are the defaults (none stored).")
    status: Literal["active", "deactivated"] = "active"
    deactivated_at: Instant | None = None
    remind_before: str | None = Field(default=None, examples=["15m"])


class UserPatch(BaseModel):
    """Fields to change; absent ones stay. A contact method set here starts unverified (a code or
    link is sent to it); `null` or "off" removes that kind; `time_zone` null clears it."""

    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=PLAIN_TEXT)
    sms: str | None = Field(default=None, max_length=32, examples=["+15555550123"])
    voice: str | None = Field(default=None, max_length=32, examples=["+15555550123"])
    email: str | None = Field(default=None, max_length=320, pattern=PLAIN_TEXT, examples=["a@example.com"])
    time_zone: str | None = Field(default=None, max_length=64, examples=["Europe/Berlin"])
    remind_before: str | None = Field(
        default=None,
        max_length=16,
        examples=["15m"],
        description='A message this long before each shift starts; null or "off": none.',
    )


class ContactMethodIn(BaseModel):
    kind: Literal["sms", "voice", "email"] = Field(examples=["sms"])
    address: str = Field(min_length=1, max_length=320, pattern=PLAIN_TEXT, examples=["+15555550123"])


class ContactMethodAddedOut(ContactMethodOut):
    code_sent: bool = Field(description="A code (SMS, voice) or a link (email) was sent to the address.")


class VerifyIn(BaseModel):
    code: str = Field(min_length=1, max_length=512, pattern=PLAIN_TEXT, examples=["123456"])


class RuleIn(BaseModel):
    method: Literal["sms", "voice", "email"] = Field(examples=["voice"])
    after: str = Field(max_length=16, examples=["2m"], description="30s, 5m, 2h, 1d or 0m.")


class TestPageIn(BaseModel):
    method: Literal["sms", "voice", "email"] | None = Field(default=None, description="Only this method.")


class QueuedNoticeOut(BaseModel):
    method: Literal["sms", "voice", "email"]
    address: str


class UserIn(BaseModel):
    handle: str = Field(
        max_length=64, examples=["alice"], description="Lowercase letters, digits, '.', '_' and '-'."
    )
    name: str = Field(min_length=1, max_length=200, pattern=PLAIN_TEXT, examples=["Alice Smith"])
    sms: str | None = Field(default=None, max_length=32, examples=["+15555550123"])
    voice: str | None = Field(default=None, max_length=32, examples=["+15555550123"])
    email: str | None = Field(
        default=None, max_length=320, pattern=PLAIN_TEXT, examples=["alice@example.com"]
    )
