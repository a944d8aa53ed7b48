"""The one settings object (env PAGER_*, TWILIO_*, and .env), DESIGN §9."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide configuration; read once at start-up."""

    model_config = SettingsConfigDict(env_prefix="PAGER_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./pager.db"
    config_dir: Path = Path(".")
    public_url: str = "http://127.0.0.1:8080"
    secret_key: str = "dev-insecure-change-me"
    twilio_account_sid: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "PAGER_TWILIO_ACCOUNT_SID")
    )
    twilio_auth_token: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "PAGER_TWILIO_AUTH_TOKEN")
    )
    twilio_from_number: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_FROM_NUMBER", "PAGER_TWILIO_FROM_NUMBER")
    )
    twilio_api_base: str | None = None
    smtp_url: str | None = None
    email_from: str = "pager@localhost"
    # A page left `sending` this long (its worker died mid-call) is reconciled with the provider.
    # Keep it above the provider calls' timeout (10 s), or a slow live call could be reconciled too.
    sending_lease_seconds: float = Field(default=30.0, gt=0)
    # Dead-man's switch: each worker GETs this URL once a minute while its loops are healthy
    # (pager.services.deadman); an outside checker alarms when the pings stop. None: no pings.
    deadman_url: str | None = None

    @field_validator("deadman_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("PAGER_DEADMAN_URL must be an http:// or https:// URL")
        return value or None


def get_settings() -> Settings:
    """Fresh settings from the environment (cheap; callers keep the object they need)."""
    return Settings()
