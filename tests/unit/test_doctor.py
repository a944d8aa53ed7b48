"""`pager doctor`: a good setup passes, each problem is reported with its fix, and no secret is printed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from pager.cli import app
from pager.commands.doctor import Check, check_secret_key, masked
from pager.db.migrate import upgrade_schema
from pager.db.session import create_db_engine
from pager.settings import Settings
from pager.settings_doc import env_names

REPO = Path(__file__).resolve().parents[2]
SECRET_KEY = "k3y-" + "x" * 44
AUTH_TOKEN = "twilio-auth-token-f00d"
SMTP_PASSWORD = "smtp-pa$$-w0rd"
DB_PASSWORD = "db-pa55w0rd-beef"
GOOD: dict[str, str] = {
    "PAGER_SECRET_KEY": SECRET_KEY,
    "TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_FROM_NUMBER": "+15550000001",
    "PAGER_SMTP_URL": "smtp://pager:smtp-pa%24%24-w0rd@mail.example.com:587?starttls=1",
    "PAGER_PUBLIC_URL": "https://pager.example.com",
}


@pytest.fixture(autouse=True)
def no_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a developer's .env must not change the verdicts


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    for folder in ("schedules", "escalation_policies"):
        shutil.copytree(REPO / folder, target / folder)
    return target


def doctor(config_dir: Path, env: dict[str, str | None], *args: str) -> tuple[int, str, str]:
    """Run `pager doctor` with exactly `env` among the settings' variables (the rest unset)."""
    unset: dict[str, str | None] = {
        name: None for field, info in Settings.model_fields.items() for name in env_names(field, info)
    }
    result = CliRunner().invoke(app, ["--config-dir", str(config_dir), "doctor", *args], env=unset | env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def verdicts(config_dir: Path, env: dict[str, str | None]) -> tuple[int, dict[str, Any]]:
    code, stdout, _ = doctor(config_dir, env, "--json")
    document = json.loads(stdout)
    return code, {check["name"]: check for check in document["checks"]} | {"ok": document["ok"]}


def missing_sqlite(tmp_path: Path) -> dict[str, str | None]:
    return {"PAGER_DATABASE_URL": f"sqlite:///{tmp_path / 'absent.db'}"}


@pytest.mark.database
def test_a_good_setup_passes(config_dir: Path, database_url_at_head: str) -> None:
    env = GOOD | {"PAGER_DATABASE_URL": database_url_at_head}
    code, stdout, stderr = doctor(config_dir, env)
    assert code == 0, stdout
    lines = stdout.splitlines()
    names = [line.split(":")[0] for line in lines]
    assert names == [
        f"ok {name}"
        for name in (
            "settings",
            "config",
            "database",
            "schema",
            "secret_key",
            "twilio",
            "smtp",
            "public_url",
            "sending_lease",
        )
    ]
    assert "all checks ok" in stderr

    code, document = verdicts(config_dir, env)
    assert code == 0 and document["ok"] is True
    assert document["smtp"] == {
        "name": "smtp",
        "ok": True,
        "message": "smtp://mail.example.com:587, STARTTLS, with credentials",
        "fix": None,
    }


PROBLEMS = [
    pytest.param({"PAGER_SECRET_KEY": ""}, "secret_key", "not set", "token_urlsafe", id="secret-unset"),
    pytest.param({"PAGER_SECRET_KEY": "s" * 31}, "secret_key", "31 bytes", "at least 32", id="secret-short"),
    pytest.param(
        {"TWILIO_AUTH_TOKEN": None},
        "twilio",
        "TWILIO_AUTH_TOKEN missing",
        "or none of them",
        id="twilio-partial",
    ),
    pytest.param(
        {"TWILIO_ACCOUNT_SID": "SK" + "0" * 32},
        "twilio",
        "not an account SID",
        "starts with AC",
        id="twilio-sid",
    ),
    pytest.param(
        {"PAGER_SMTP_URL": f"smtp://pager:{SMTP_PASSWORD}@mail.example.com:587"},
        "smtp",
        "no TLS",
        "starttls=1",
        id="smtp-credentials-in-clear",
    ),
    pytest.param(
        {"PAGER_SMTP_URL": "http://mail.example.com"},
        "smtp",
        "smtp:// or smtps://",
        "write it as",
        id="smtp-scheme",
    ),
    pytest.param({"PAGER_SMTP_URL": "smtp://"}, "smtp", "no host", "write it as", id="smtp-no-host"),
    pytest.param(
        {"PAGER_SMTP_URL": "smtp://mail:x25@h:port"}, "smtp", "cannot be parsed", "write", id="smtp-port"
    ),
    pytest.param(
        {"PAGER_PUBLIC_URL": "pager.example.com"}, "public_url", "absolute", "https://", id="url-relative"
    ),
    pytest.param(
        {"PAGER_PUBLIC_URL": "http://127.0.0.1:8080"},
        "public_url",
        "Twilio cannot reach it",
        "PAGER_PUBLIC_URL",
        id="url-loopback-with-twilio",
    ),
    pytest.param(
        {"PAGER_SENDING_LEASE_SECONDS": "14.5"},
        "sending_lease",
        "14.5 s, shorter than a live send can take",
        "at least 15",
        id="lease-short",
    ),
    pytest.param(
        {"PAGER_DATABASE_URL": "mysql://root@db/pager"},
        "database",
        "not a SQLite or Postgres",
        "sqlite:///",
        id="db-url",
    ),
]


@pytest.mark.parametrize(("change", "name", "message", "fix"), PROBLEMS)
def test_each_problem_is_reported_with_its_fix(
    config_dir: Path, tmp_path: Path, change: dict[str, str | None], name: str, message: str, fix: str
) -> None:
    env = GOOD | missing_sqlite(tmp_path) | change
    code, document = verdicts(config_dir, env)
    assert code == 1 and document["ok"] is False
    assert document[name]["ok"] is False
    assert message in document[name]["message"]
    assert fix in document[name]["fix"]

    _, stdout, _ = doctor(config_dir, env)
    lines = stdout.splitlines()
    line = next(i for i, text in enumerate(lines) if text.startswith(f"problem {name}: "))
    assert lines[line + 1].startswith("  fix: ")


def test_allowed_without_tls_when_the_url_says_insecure_auth(config_dir: Path, tmp_path: Path) -> None:
    env = GOOD | missing_sqlite(tmp_path) | {"PAGER_SMTP_URL": "smtp://u:p@relay.internal:25?insecure_auth=1"}
    _, document = verdicts(config_dir, env)
    assert document["smtp"]["ok"] is True
    assert document["smtp"]["message"] == "smtp://relay.internal:25, no TLS, with credentials"


def test_no_twilio_and_no_smtp_at_all_is_fine(config_dir: Path, tmp_path: Path) -> None:
    env = {"PAGER_SECRET_KEY": SECRET_KEY} | missing_sqlite(tmp_path)
    _, document = verdicts(config_dir, env)
    assert document["twilio"]["ok"] and document["smtp"]["ok"] and document["public_url"]["ok"]


def test_a_secret_key_of_none_is_not_set() -> None:
    # The setting becomes `str | None` with no default; doctor must read None as "not set".
    assert not check_secret_key(None).ok
    assert check_secret_key(None).message == "PAGER_SECRET_KEY is not set"
    assert check_secret_key("é" * 16).ok  # 32 bytes in UTF-8, 16 characters


def test_config_problems_name_the_file_and_send_to_pager_check(config_dir: Path, tmp_path: Path) -> None:
    (config_dir / "schedules" / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    _, document = verdicts(config_dir, GOOD | missing_sqlite(tmp_path))
    assert document["config"]["ok"] is False
    assert "broken.yaml" in document["config"]["message"]
    assert "pager check" in document["config"]["fix"]

    _, document = verdicts(tmp_path / "nowhere", GOOD | missing_sqlite(tmp_path))
    assert "no schedules/ directory" in document["config"]["message"]
    assert "PAGER_CONFIG_DIR" in document["config"]["fix"]


def test_a_missing_sqlite_file_is_reported_and_not_created(config_dir: Path, tmp_path: Path) -> None:
    _, document = verdicts(config_dir, GOOD | missing_sqlite(tmp_path))
    assert document["database"]["ok"] is False
    assert "pager db upgrade" in document["database"]["fix"]
    assert document["schema"]["ok"] is False
    assert not (tmp_path / "absent.db").exists()


def test_invalid_settings_are_named_without_their_values(config_dir: Path, tmp_path: Path) -> None:
    env = GOOD | missing_sqlite(tmp_path) | {"PAGER_SENDING_LEASE_SECONDS": "-1"}
    code, stdout, _ = doctor(config_dir, env)
    assert code == 1
    assert stdout.startswith("problem settings: PAGER_SENDING_LEASE_SECONDS: ")
    assert "-1" not in stdout


@pytest.mark.database
def test_schema_behind_the_head_says_to_upgrade(config_dir: Path, empty_database_url: str) -> None:
    engine = create_db_engine(empty_database_url)
    try:
        engine.connect().close()  # an empty SQLite file exists now; Postgres's was there already
    finally:
        engine.dispose()
    code, document = verdicts(config_dir, GOOD | {"PAGER_DATABASE_URL": empty_database_url})
    assert document["database"]["ok"] is True
    assert document["schema"]["ok"] is False and "no schema" in document["schema"]["message"]

    upgrade_schema(empty_database_url, "0005")
    code, document = verdicts(config_dir, GOOD | {"PAGER_DATABASE_URL": empty_database_url})
    assert code == 1
    assert "at revision 0005, the latest is 0018_history_read_indexes" in document["schema"]["message"]
    assert document["schema"]["fix"] == "run `pager db upgrade`"


@pytest.mark.database
def test_schema_from_a_newer_pager_is_reported(config_dir: Path, database_url_at_head: str) -> None:
    engine = create_db_engine(database_url_at_head)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    _, document = verdicts(config_dir, GOOD | {"PAGER_DATABASE_URL": database_url_at_head})
    assert "9999, which this pager does not know" in document["schema"]["message"]


def test_no_secret_is_ever_printed(config_dir: Path, tmp_path: Path) -> None:
    # Every check that can fail fails here, with secrets in every setting that holds one.
    env = {
        "PAGER_SECRET_KEY": "short-secret-key",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 31,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": "+15550000001",
        "PAGER_SMTP_URL": f"smtp://pager:{SMTP_PASSWORD}@mail.example.com:587",
        "PAGER_PUBLIC_URL": "http://localhost:8080",
        # Port 1 on loopback: refused at once, so the error text of a failed connection is printed.
        "PAGER_DATABASE_URL": f"postgresql+psycopg://pager:{DB_PASSWORD}@127.0.0.1:1/pager",
    }
    secrets = ["short-secret-key", AUTH_TOKEN, SMTP_PASSWORD, DB_PASSWORD]
    for args in ((), ("--json",)):
        code, stdout, stderr = doctor(config_dir, env, *args)
        assert code == 1
        assert "does not answer" in stdout and "without TLS" in stdout
        for secret in secrets:
            assert secret not in stdout + stderr


def test_masking_is_the_last_guard() -> None:
    leaky = [Check("x", False, "it said db-pa55w0rd-beef and smtp-pa%24%24-w0rd", "not db-pa55w0rd-beef")]
    (check,) = masked(leaky, [DB_PASSWORD, "smtp-pa%24%24-w0rd"])
    assert check.message == "it said *** and ***"
    assert check.fix == "not ***"
