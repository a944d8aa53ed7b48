"""The one settings object (env PAGER_*, TWILIO_*, and .env).

Each setting's description is the documentation: docs/operations.md's settings table is generated
from this class (`python -m pager.settings_doc`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide configuration; read once at start-up."""

    model_config = SettingsConfigDict(env_prefix="PAGER_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./pager.db",
        description="`sqlite:///path` (one host) or `postgresql+psycopg://user:pass@host:5432/db`.",
    )
    config_dir: Path = Field(
        default=Path("."),
        description="Holds `schedules/` and `escalation_policies/` (the CLI's `--config-dir` wins).",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Where Twilio and people's browsers reach pager: callbacks, voice, email links. "
        "Twilio signatures are checked against it.",
    )
    secret_key: str = Field(
        default="dev-insecure-change-me",
        description="Signs the links in email pages. At least 32 random bytes; keep it secret.",
    )
    twilio_account_sid: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "PAGER_TWILIO_ACCOUNT_SID"),
        description="Twilio account SID (`AC` and 32 hex digits). Without all three Twilio settings, "
        "SMS and voice pages go to the console log.",
    )
    twilio_auth_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "PAGER_TWILIO_AUTH_TOKEN"),
        description="Twilio auth token: authenticates API calls and signs Twilio's webhooks. Secret.",
    )
    twilio_from_number: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_FROM_NUMBER", "PAGER_TWILIO_FROM_NUMBER"),
        description="The Twilio number pages are sent and called from (E.164, `+15551234567`).",
    )
    twilio_api_base: str | None = Field(
        default=None, description="Another base URL for Twilio's API (tests point it at a fake Twilio)."
    )
    smtp_url: str | None = Field(
        default=None,
        description="`smtp://user:pass@host:587?starttls=1` or `smtps://user:pass@host:465`. "
        "Unset: email pages go to the console log.",
    )
    email_from: str = Field(default="pager@localhost", description="The From address of email pages.")
    # A page left `sending` this long (its worker died mid-call) is reconciled with the provider.
    # Keep it above the provider calls' timeout (10 s), or a slow live call could be reconciled too.
    sending_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A page left `sending` this long is reconciled with the provider (see docs/delivery.md).",
    )


def get_settings() -> Settings:
    """Fresh settings from the environment (cheap; callers keep the object they need)."""
    return Settings()
