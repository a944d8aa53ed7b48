"""Heartbeats declared on services: valid ones load; each bad one is a `path:line:` error from `pager
check` and from a server's config load, and changes nothing."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from pager.cli import app
from pager.config.loader import load_config
from pager.core.heartbeat_monitors import HeartbeatSpec
from pager.db.session import create_db_engine

SCHEDULE = """\
time_zone: UTC
layers:
  - name: weekly
    members: [alice]
    start: 2026-01-05T09:00
    shift: 1w
"""

GOOD = """\
levels:
  - notify: [schedule:team]
    escalate_after: 5m
services:
  - id: backups
    name: Backups
    heartbeats:
      - {name: nightly-backup, every: 24h, grace: 30m}
      - name: hourly-sync
        every: 1h
"""


def write_config(root: Path, policy: str) -> Path:
    (root / "schedules").mkdir(parents=True)
    (root / "schedules" / "team.yaml").write_text(SCHEDULE)
    (root / "escalation_policies").mkdir()
    (root / "escalation_policies" / "main.yaml").write_text(textwrap.dedent(policy))
    return root


def test_heartbeats_load_onto_their_service(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, GOOD))
    assert config.errors == []
    ref, _policy = config.services["backups"]
    assert ref.heartbeats == (
        HeartbeatSpec("nightly-backup", timedelta(hours=24), timedelta(minutes=30)),
        HeartbeatSpec("hourly-sync", timedelta(hours=1), timedelta(0)),
    )


BAD_CASES = [
    (
        "missing every",
        GOOD.replace("{name: nightly-backup, every: 24h, grace: 30m}", "{name: nightly-backup, grace: 30m}"),
        8,
        "heartbeat 'nightly-backup' has no every: how often the job beats, e.g. every: 24h",
    ),
    ("bad every", GOOD.replace("every: 24h", "every: daily"), 8, "every: bad duration 'daily'"),
    ("zero every", GOOD.replace("every: 24h", "every: 0s"), 8, "every: bad duration '0s': must be longer"),
    ("bad grace", GOOD.replace("grace: 30m", "grace: -5m"), 8, "grace: bad duration '-5m'"),
    (
        "duplicate name",
        GOOD.replace("name: hourly-sync", "name: nightly-backup"),
        9,
        "duplicate heartbeat 'nightly-backup' on service 'backups' (already on line 8)",
    ),
    (
        "name not a slug",
        GOOD.replace("nightly-backup", "Nightly Backup"),
        8,
        "'Nightly Backup' is not a slug",
    ),
    ("name with a trailing hyphen", GOOD.replace("hourly-sync", "hourly-"), 9, "'hourly-' is not a slug"),
    (
        "no name",
        GOOD.replace("{name: nightly-backup, ", "{"),
        8,
        "heartbeat on service 'backups' has no name",
    ),
    ("unknown key", GOOD.replace("grace: 30m", "grase: 30m"), 8, "unknown key 'grase' in heartbeat"),
    (
        "not a list",
        GOOD.split("    heartbeats:")[0] + "    heartbeats: daily\n",
        7,
        "heartbeats must be a list",
    ),
    (
        "not a mapping",
        GOOD.replace("{name: nightly-backup, every: 24h, grace: 30m}", "nightly"),
        8,
        "mapping",
    ),
]


@pytest.mark.parametrize(("case", "policy", "line", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_a_bad_heartbeat_is_located(tmp_path: Path, case: str, policy: str, line: int, message: str) -> None:
    config = load_config(write_config(tmp_path, policy))
    path = tmp_path / "escalation_policies" / "main.yaml"
    assert "main" not in config.policies and "backups" not in config.services
    rendered = [str(error) for error in config.errors]
    assert any(r.startswith(f"{path}:{line}: ") and message in r for r in rendered), rendered


def test_pager_check_names_the_missing_every(tmp_path: Path) -> None:
    root = write_config(tmp_path, BAD_CASES[0][1])
    result = CliRunner().invoke(app, ["--config-dir", str(root), "check"])
    assert result.exit_code == 1
    path = root / "escalation_policies" / "main.yaml"
    assert f"{path}:8: heartbeat 'nightly-backup' has no every" in result.output


@pytest.mark.database
def test_a_server_refuses_the_missing_every_and_writes_nothing(
    tmp_path: Path, database_url_at_head: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_config(tmp_path / "config", BAD_CASES[0][1])
    monkeypatch.setenv("PAGER_DATABASE_URL", database_url_at_head)
    monkeypatch.setenv("PAGER_SECRET_KEY", "s" * 40)
    result = CliRunner().invoke(app, ["--config-dir", str(root), "serve", "--no-worker"])
    assert result.exit_code == 1, result.output
    path = root / "escalation_policies" / "main.yaml"
    assert f"{path}:8: heartbeat 'nightly-backup' has no every" in result.output
    engine = create_db_engine(database_url_at_head)
    try:
        assert "heartbeat_monitors" in inspect(engine).get_table_names()
        with engine.connect() as connection:
            for table in ("services", "heartbeat_monitors"):
                assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    finally:
        engine.dispose()
