"""The secret key rules (pager.settings) and where `pager demo` keeps its key (pager.commands.server)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pager.commands.demo import demo_key_path, kept_secret_key
from pager.settings import SecretKeyInvalid, Settings, require_secret_key, signing_key


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_there_is_no_default_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAGER_SECRET_KEY", raising=False)
    assert settings().secret_key is None
    assert signing_key(settings()) is None


@pytest.mark.parametrize(
    ("key", "usable"),
    [("k" * 32, True), ("é" * 16, True), ("k" * 31, False), ("é" * 15 + "k", False), ("", False)],
)
def test_a_key_needs_32_bytes_of_utf8(key: str, usable: bool) -> None:
    assert (signing_key(settings(secret_key=key)) == key) is usable
    if usable:
        assert require_secret_key(settings(secret_key=key)) == key
    else:
        with pytest.raises(SecretKeyInvalid, match=r"secrets\.token_urlsafe\(32\)") as refused:
            require_secret_key(settings(secret_key=key))
        assert key == "" or key not in str(refused.value)


def test_settings_repr_shows_no_secret() -> None:
    shown = repr(
        settings(
            secret_key="signing-key-" + "s" * 24,
            twilio_auth_token="twilio-token-value",
            smtp_url="smtp://pager:smtp-password@mail.example.org?starttls=1",
            database_url="postgresql+psycopg://pager:db-password@db/pager",
        )
    )
    for secret in ("signing-key-", "twilio-token-value", "smtp-password", "db-password"):
        assert secret not in shown


def test_demo_key_lives_beside_a_sqlite_file_else_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert demo_key_path(f"sqlite:///{tmp_path}/data/pager.db") == tmp_path / "data" / "pager-secret.key"
    assert demo_key_path("sqlite:///./pager.db") == tmp_path / "pager-secret.key"
    assert demo_key_path("sqlite://") == tmp_path / "pager-secret.key"
    assert demo_key_path("postgresql+psycopg://u:p@db/pager") == tmp_path / "pager-secret.key"


def test_demo_key_is_made_once_with_mode_0600_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "pager-secret.key"
    old_umask = os.umask(0)  # even with a permissive umask, nobody but the owner may read it
    try:
        key, made = kept_secret_key(path)
    finally:
        os.umask(old_umask)
    assert made and len(key.encode()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == key + "\n"
    assert kept_secret_key(path) == (key, False)

    path.chmod(0o644)
    assert kept_secret_key(path) == (key, False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_kept_file_without_a_usable_key_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "pager-secret.key"
    path.write_text("short\n")
    with pytest.raises(SecretKeyInvalid, match="delete it to make a new one"):
        kept_secret_key(path)
    assert path.read_text() == "short\n"
