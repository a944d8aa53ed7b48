"""`pager simulate --json` says what the engine will do: run both for every shipped policy and compare.

The dry run is the real command (reading the same database, so the same users and rules); the
engine is the real services and worker tick on a fake clock, with nobody acknowledging.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from pager.adapters.console import ConsoleNotifier
from pager.cli import app
from pager.config.loader import load_config
from pager.core.localtime import format_instant
from pager.db.session import session_scope
from pager.services.alerting import alerts
from pager.services.demo import seed_demo
from pager.services.runtime import Runtime
from pager.settings import Settings
from pager.worker import tick

pytestmark = pytest.mark.database

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # the US spring-forward day: handoffs move an hour
SHIPPED = load_config(REPO)


@pytest.fixture
def runtime(engine: Engine) -> Runtime:
    settings = Settings(database_url=str(engine.url), config_dir=REPO)
    notifiers = {m: ConsoleNotifier(m) for m in ("sms", "voice", "email")}
    built = Runtime(engine=engine, settings=settings, config=SHIPPED, notifiers=notifiers)  # type: ignore[arg-type]
    seed_demo(built, START)
    return built


def engine_ladder(runtime: Runtime, service_id: str) -> dict[str, Any]:
    """What the engine pages, level by level, when an alert of `service_id` is never acknowledged."""
    alert_id = alerts.trigger_alert(
        runtime, service_id=service_id, summary="dry run check", now=START
    ).alert_id
    tick(runtime, START)
    for _ in range(2_000):  # bounded: a ladder that never ends would fail the comparison below
        with session_scope(runtime.engine, read_only=True) as session:
            due = alerts.get_alert(session, alert_id).next_action_at
        if due is None or due > START + timedelta(days=7):
            break
        tick(runtime, due)
    with session_scope(runtime.engine, read_only=True) as session:
        timeline = alerts.alert_timeline(session, alert_id)
    steps = [
        {
            "at": format_instant(e.at),
            "loop": e.data["loop"],
            "level": e.data["level"],
            "notify": e.data.get("users", []),
        }
        for e in timeline
        if e.kind in ("level_paged", "level_skipped")
    ]
    exhausted = next((format_instant(e.at) for e in timeline if e.kind == "exhausted"), None)
    return {"steps": steps, "exhausted_at": exhausted}


@pytest.mark.parametrize("policy_id", sorted(SHIPPED.policies))
def test_dry_run_matches_the_engine(runtime: Runtime, policy_id: str) -> None:
    result = CliRunner().invoke(
        app,
        ["--config-dir", str(REPO), "simulate", policy_id, "--at", START.isoformat(), "--json"],
        env={"PAGER_DATABASE_URL": str(runtime.engine.url.render_as_string(hide_password=False))},
    )
    assert result.exit_code == 0, result.output
    dry_run = json.loads(result.stdout)
    service_id = SHIPPED.policies[policy_id].services[0].id

    actual = engine_ladder(runtime, service_id)

    assert dry_run["steps"], "the dry run pages nobody"
    assert dry_run["steps"] == actual["steps"]
    assert dry_run["exhausted_at"] == actual["exhausted_at"]
    loops = SHIPPED.policies[policy_id].repeat + 1
    assert {step["loop"] for step in dry_run["steps"]} == set(range(1, loops + 1))
