"""Heartbeat monitors end to end: a real `pager serve` (worker in process), the fake Twilio server,
and `pager heartbeat list` as an operator runs it.

Service checkout-api declares `{name: e2e-job, every: 3s, grace: 1s}`. The job beats once, then
misses: exactly one alert "heartbeat e2e-job missed" opens about 4 s after the beat and pages ann;
it stays one alert while more time passes; the next beat resolves it.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from pager.cli import app
from pager.db.session import session_scope
from pager.db.tables import Alert
from pager.services.alerting.alerts import alert_timeline
from tests.e2e.conftest import clean_environment, wait_until
from tests.e2e.server_process import POLICY, PRIMARY, Server, run_cli, running_server, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.database]

EVERY, GRACE = 3.0, 1.0
RAISE_SLACK = 2.0  # the escalation loop sleeps until the monitor's timer, at most a second at a time
HEARTBEAT_POLICY = POLICY.replace(
    "  - {id: checkout-api, name: Checkout API}\n",
    "  - id: checkout-api\n    name: Checkout API\n    heartbeats: [{name: e2e-job, every: 3s, grace: 1s}]\n",
)


def configure(tmp_path: Path) -> Path:
    root = write_config(tmp_path / "config")
    (root / "escalation_policies" / "checkout.yaml").write_text(HEARTBEAT_POLICY, encoding="utf-8")
    return root


def listed(server: Server, tmp_path: Path) -> list[dict[str, str]]:
    env = clean_environment(
        PAGER_DATABASE_URL=server.engine.url.render_as_string(hide_password=False),
        PAGER_CONFIG_DIR=str(tmp_path / "config"),
        PAGER_PUBLIC_URL=server.url,
    )
    document: list[dict[str, str]] = json.loads(run_cli(env, tmp_path, "heartbeat", "list", "--json"))
    return document


def heartbeat_alerts(server: Server) -> list[Alert]:
    with session_scope(server.engine, read_only=True) as session:
        query = select(Alert).where(Alert.dedup_key == "heartbeat:e2e-job")
        alerts = list(session.exec(query))
        for alert in alerts:
            session.expunge(alert)
        return alerts


def test_a_missed_beat_opens_one_alert_and_the_next_beat_resolves_it(
    e2e_database_url: str, tmp_path: Path
) -> None:
    configure(tmp_path)
    with running_server(e2e_database_url, tmp_path) as server:
        [monitor] = listed(server, tmp_path)
        assert (monitor["service"], monitor["name"], monitor["state"]) == ("checkout-api", "e2e-job", "never")
        assert monitor["last_beat_at"] is None
        url = monitor["url"]
        assert url.startswith(f"{server.url}/heartbeat/")

        beat_at = datetime.now(UTC)
        first = httpx.post(url, content=b"job ok", timeout=10)
        assert first.status_code == 200, first.text
        assert [m["state"] for m in listed(server, tmp_path)] == ["healthy"]

        [alert] = wait_until(
            "the missed-beat alert", lambda: heartbeat_alerts(server) or None, EVERY + GRACE + RAISE_SLACK + 3
        )
        assert alert.summary == "heartbeat e2e-job missed" and alert.status == "triggered"
        assert alert.created_at >= beat_at + timedelta(seconds=EVERY + GRACE - 0.05), server.log()
        assert alert.created_at <= beat_at + timedelta(seconds=EVERY + GRACE + RAISE_SLACK), server.log()
        sms = server.wait_for_sms(PRIMARY["sms"])
        assert "heartbeat e2e-job missed" in sms["Body"]

        time.sleep(EVERY + GRACE)  # another whole period without a beat: still the one alert
        [again] = heartbeat_alerts(server)
        assert (again.id, again.event_count) == (alert.id, 1)
        assert [m["state"] for m in listed(server, tmp_path)] == ["late"]

        second = httpx.get(url, timeout=10)
        assert second.status_code == 200 and second.json()["resolved_alert"] == alert.id
        [resolved] = heartbeat_alerts(server)
        assert resolved.status == "resolved"
        with session_scope(server.engine, read_only=True) as session:
            lines = [(e.kind, e.message) for e in alert_timeline(session, alert.id or 0)]
        assert any(kind == "heartbeat_beat" and "beat again" in message for kind, message in lines), lines
        assert [m["state"] for m in listed(server, tmp_path)] == ["healthy"]
        assert "/heartbeat/[redacted]" in server.log() and url.rsplit("/", 1)[1] not in server.log()


def test_heartbeat_list_prints_a_table_and_fails_cleanly_on_a_bad_config(
    e2e_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = configure(tmp_path)
    monkeypatch.setenv("PAGER_DATABASE_URL", e2e_database_url)
    monkeypatch.setenv("PAGER_PUBLIC_URL", "https://pager.example.com")
    runner = CliRunner()
    table = runner.invoke(app, ["--config-dir", str(root), "heartbeat", "list"])
    assert table.exit_code == 0, table.output
    header, row = table.output.splitlines()[:2]
    assert header.split() == ["SERVICE", "NAME", "STATE", "LAST", "BEAT", "URL"]
    assert row.split()[:4] == ["checkout-api", "e2e-job", "never", "-"]
    assert row.split()[4].startswith("https://pager.example.com/heartbeat/")

    policy = root / "escalation_policies" / "checkout.yaml"
    policy.write_text(HEARTBEAT_POLICY.replace("every: 3s, ", ""), encoding="utf-8")
    bad = runner.invoke(app, ["--config-dir", str(root), "heartbeat", "list", "--json"])
    assert bad.exit_code == 1
    assert f"{policy}:8: heartbeat 'e2e-job' has no every" in bad.output
