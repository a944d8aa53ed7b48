"""The one settings object (env PAGER_*, TWILIO_*, and .env), DESIGN §9."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_MIN_BYTES = 32
MAKE_SECRET_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


class Settings(BaseSettings):
    """Process-wide configuration; read once at start-up.

    Fields that can hold a secret are left out of the repr, so printing or logging the object by
    mistake shows none of them.
    """

    model_config = SettingsConfigDict(env_prefix="PAGER_", env_file=".env", extra="ignore")

    database_url: str = Field(default="sqlite:///./pager.db", repr=False)
    config_dir: Path = Path(".")
    public_url: str = "http://127.0.0.1:8080"
    # No default: a key everybody knows would let anyone forge email links (see require_secret_key).
    secret_key: str | None = Field(default=None, repr=False)
    twilio_account_sid: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "PAGER_TWILIO_ACCOUNT_SID")
    )
    twilio_auth_token: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "PAGER_TWILIO_AUTH_TOKEN"),
        repr=False,
    )
    twilio_from_number: str | None = Field(
        default=None, validation_alias=AliasChoices("TWILIO_FROM_NUMBER", "PAGER_TWILIO_FROM_NUMBER")
    )
    twilio_api_base: str | None = None
    smtp_url: str | None = Field(default=None, repr=False)
    email_from: str = "pager@localhost"
    # A page left `sending` this long (its worker died mid-call) is reconciled with the provider.
    # Keep it above the provider calls' timeout (10 s), or a slow live call could be reconciled too.
    sending_lease_seconds: float = Field(default=30.0, gt=0)


class SettingInvalid(ValueError):
    """A setting that cannot be used; the message says why and never holds a secret."""


class SecretKeyInvalid(SettingInvalid):
    """PAGER_SECRET_KEY is missing or too short to sign email links safely."""


def secret_key_problem(key: str | None) -> str | None:
    """Why `key` cannot sign links (None when it can): missing, or under 32 bytes of UTF-8."""
    if not key:
        return "PAGER_SECRET_KEY is not set"
    size = len(key.encode("utf-8"))
    if size < SECRET_KEY_MIN_BYTES:
        return f"PAGER_SECRET_KEY is {size} bytes long; it needs at least {SECRET_KEY_MIN_BYTES}"
    return None


def require_secret_key(settings: Settings) -> str:
    """The key that signs email links; SecretKeyInvalid (saying how to make one) if unusable."""
    key = settings.secret_key
    problem = secret_key_problem(key)
    if problem is not None or key is None:
        raise SecretKeyInvalid(
            f"{problem}. It signs the one-click email links; make one with\n  {MAKE_SECRET_KEY}\n"
            "and set it in the environment (or .env) of every pager process."
        )
    return key


def signing_key(settings: Settings) -> str | None:
    """The key for signing and checking links, or None when there is no usable one."""
    return settings.secret_key if secret_key_problem(settings.secret_key) is None else None


def get_settings() -> Settings:
    """Fresh settings from the environment (cheap; callers keep the object they need)."""
    return Settings()
