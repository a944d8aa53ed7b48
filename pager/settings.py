"""The one settings object (env PAGER_*, TWILIO_*, and .env).

Each setting's description is the documentation: docs/operations.md's settings table is generated
from this class (`python -m pager.settings_doc`).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_MIN_BYTES = 32
MAKE_SECRET_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


class Settings(BaseSettings):
    """Process-wide configuration; read once at start-up.

    Fields that can hold a secret are left out of the repr, so printing or logging the object by
    mistake shows none of them.
    """

    model_config = SettingsConfigDict(env_prefix="PAGER_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./pager.db",
        repr=False,
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
    # No default: a key everybody knows would let anyone forge email links (see require_secret_key).
    secret_key: str | None = Field(
        default=None,
        repr=False,
        description="Signs the links in email pages. Required by `serve` and `worker`: at least 32 bytes "
        '(`python -c "import secrets; print(secrets.token_urlsafe(32))"`); keep it secret. '
        "`pager demo` makes one and keeps it in `pager-secret.key` beside its database.",
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
        repr=False,
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
        repr=False,
        description="`smtp://user:pass@host:587?starttls=1` or `smtps://user:pass@host:465`. "
        "Credentials need TLS unless the URL adds `insecure_auth=1`. Unset: email pages go to the "
        "console log.",
    )
    email_from: str = Field(default="pager@localhost", description="The From address of email pages.")
    # A page left `sending` this long (its worker died mid-call) is reconciled with the provider.
    # Keep it above the provider calls' timeout (10 s) plus the wait of a page claimed ahead (5 s,
    # pager.services.delivery.pump.CLAIM_AHEAD_MAX_WAIT), or a slow live call could be reconciled too:
    # `pager doctor` reports a shorter one and the worker warns at start (not refused: tests of
    # reconciliation run with a lease of seconds).
    sending_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A page left `sending` this long is reconciled with the provider (see docs/delivery.md). "
        "Keep it at 15 s or more: `pager doctor` reports a shorter one.",
    )

    # Dead-man's switch: each worker GETs this URL once a minute while its loops are healthy
    # (pager.services.operations.deadman); an outside checker alarms when the pings stop. None: no pings.
    deadman_url: str | None = Field(
        default=None,
        repr=False,  # check URLs usually carry a secret id
        description="Dead-man's switch: every worker GETs this URL once a minute while its loops are "
        "healthy, so an outside checker (healthchecks-style, Alertmanager's Watchdog) alarms when the "
        "pings stop. Unset: no pings.",
    )

    @field_validator("deadman_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("PAGER_DEADMAN_URL must be an http:// or https:// URL")
        return value or None


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
