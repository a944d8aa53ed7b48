"""`/heartbeat/{key}` and `/api/v1/heartbeat-monitors` in process, against a migrated database.

A beat answers 200 on GET and POST and moves the monitor's timer; an unknown key is a 404 in the one
error shape that writes nothing and counts against the client; other methods are 405; bodies are
never read and capped; a key that beats too often is throttled. The list is for admin tokens only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.db.session import session_scope
from pager.db.tables import Alert, HeartbeatMonitor
from pager.log_format import redact
from pager.services.alerting import catalog
from pager.services.heartbeat_monitors.missed import raise_missed_beats
from pager.services.ingest.keys import Throttle
from pager.services.people import users
from pager.services.people.tokens import create_api_token
from pager.services.runtime import Runtime
from tests import support

pytestmark = pytest.mark.database

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SCHEDULE = """\
    time_zone: UTC
    layers:
      - name: weekly
        members: [alice]
        start: 2026-01-05T09:00
        shift: 1w
    """
POLICY = """\
    levels:
      - notify: [schedule:team]
        escalate_after: 5m
    services:
      - id: backups
        name: Backups
        heartbeats: [{name: nightly-backup, every: 24h, grace: 30m}]
    """


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    config_dir = support.write_config(tmp_path / "config", {"team": SCHEDULE}, {"main": POLICY})
    built = support.console_runtime(engine, config_dir, public_url="https://pager.example.com")
    with session_scope(engine) as session:
        users.add_user(session, handle="alice", name="Alice", now=T0, sms="+15550000001")
        catalog.sync_services(session, built.config, T0)
    return built


@pytest.fixture
def clock() -> support.Clock:
    return support.Clock(T0)


@pytest.fixture
def client(runtime: Runtime, clock: support.Clock) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = clock
    with TestClient(app) as test_client:
        yield test_client


def stored(runtime: Runtime) -> HeartbeatMonitor:
    with session_scope(runtime.engine, read_only=True) as session:
        return session.exec(select(HeartbeatMonitor)).one()


def test_a_beat_by_get_or_post_moves_the_timer(
    client: TestClient, runtime: Runtime, clock: support.Clock
) -> None:
    key = stored(runtime).key
    answer = client.get(f"/heartbeat/{key}")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "service": "backups",
        "heartbeat": "nightly-backup",
        "next_due_at": "2026-11-24T02:30:00Z",
        "resolved_alert": None,
    }
    clock.advance(hours=1)
    answer = client.post(f"/heartbeat/{key}", content=b"backup done: 42 GB\n")  # a body is ignored
    assert answer.status_code == 200 and answer.json()["next_due_at"] == "2026-11-24T03:30:00Z"
    row = stored(runtime)
    assert (row.last_beat_at, row.due_at) == (T0 + timedelta(hours=1), T0 + timedelta(hours=25, minutes=30))


def test_a_beat_after_a_miss_resolves_its_alert(
    client: TestClient, runtime: Runtime, clock: support.Clock
) -> None:
    key = stored(runtime).key
    client.post(f"/heartbeat/{key}")
    assert raise_missed_beats(runtime, T0 + timedelta(hours=24, minutes=30)) == 1
    clock.advance(hours=25)
    answer = client.post(f"/heartbeat/{key}")
    with session_scope(runtime.engine, read_only=True) as session:
        [alert] = session.exec(select(Alert)).all()
    assert answer.json()["resolved_alert"] == alert.id
    assert alert.status == "resolved"


def test_an_unknown_key_is_a_404_that_changes_nothing(client: TestClient, runtime: Runtime) -> None:
    before = stored(runtime)
    for method in ("GET", "POST"):
        answer = client.request(method, "/heartbeat/not-a-real-key")
        assert answer.status_code == 404
        assert answer.json() == {
            "error": {"code": "not_found", "message": "no heartbeat monitor has this key", "details": []}
        }
    after = stored(runtime)
    assert (after.last_beat_at, after.due_at, after.updated_at) == (None, None, before.updated_at)


def test_other_methods_are_refused(client: TestClient, runtime: Runtime) -> None:
    key = stored(runtime).key
    for method in ("PUT", "DELETE", "PATCH"):
        answer = client.request(method, f"/heartbeat/{key}")
        assert answer.status_code == 405, method
        assert answer.json()["error"]["code"] == "method_not_allowed"
    assert stored(runtime).last_beat_at is None


def test_a_body_over_the_cap_is_refused_before_anything_is_written(
    client: TestClient, runtime: Runtime
) -> None:
    key = stored(runtime).key
    answer = client.post(f"/heartbeat/{key}", content=b"x" * (64 * 1024 + 1))
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "payload_too_large"
    assert stored(runtime).last_beat_at is None


def test_too_many_unknown_keys_from_one_address_are_refused_but_a_known_key_still_beats(
    client: TestClient, runtime: Runtime
) -> None:
    key = stored(runtime).key
    assert client.get(f"/heartbeat/{key}").status_code == 200  # seen beating: never refused for others
    for n in range(20):
        assert client.get(f"/heartbeat/guess-{n}").status_code == 404
    refused = client.get("/heartbeat/guess-21")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert client.get(f"/heartbeat/{key}").status_code == 200


def test_a_started_server_knows_every_monitor_key_before_its_first_beat(
    client: TestClient, runtime: Runtime
) -> None:
    # After a restart, a job sharing an address with a sender of unknown keys had its beats refused
    # until it had beaten once in this process, and a monitor with a short period then paged someone
    # for a missed beat. Starting (the client runs the app's lifespan), the server reads the keys.
    key = stored(runtime).key
    statuses = [client.get(f"/heartbeat/guess-{n}").status_code for n in range(21)]
    statuses.append(client.get(f"/heartbeat/{key}").status_code)
    statuses.append(client.get("/heartbeat/guess-22").status_code)
    assert statuses == [404] * 20 + [429, 200, 429]
    assert stored(runtime).last_beat_at == T0


def test_a_key_beating_too_often_is_throttled(client: TestClient, runtime: Runtime) -> None:
    client.app.state.heartbeat_throttle = Throttle(rate_per_minute=1, burst=2, clock=lambda: 0.0)  # type: ignore[attr-defined]
    key = stored(runtime).key
    assert [client.post(f"/heartbeat/{key}").status_code for _ in range(3)] == [200, 200, 429]
    refused = client.post(f"/heartbeat/{key}")
    assert refused.json()["error"]["message"].startswith("too many beats for this heartbeat monitor")
    assert int(refused.headers["Retry-After"]) >= 1


def test_the_key_never_reaches_the_logs() -> None:
    line = '127.0.0.1:5000 - "POST /heartbeat/AbC-123_xyz HTTP/1.1" 200'
    assert redact(line) == '127.0.0.1:5000 - "POST /heartbeat/[redacted] HTTP/1.1" 200'


def test_admins_list_the_monitors_with_their_urls(
    client: TestClient, runtime: Runtime, clock: support.Clock
) -> None:
    with session_scope(runtime.engine) as session:
        tokens = {
            role: create_api_token(session, role=role, name=role, now=T0)[1]
            for role in ("responder", "admin")
        }
    key = stored(runtime).key
    client.get(f"/heartbeat/{key}")
    clock.advance(hours=25)
    answer = client.get("/api/v1/heartbeat-monitors", headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert answer.status_code == 200
    assert answer.json()["items"] == [
        {
            "service": "backups",
            "name": "nightly-backup",
            "url": f"https://pager.example.com/heartbeat/{key}",
            "last_beat_at": "2026-11-23T02:00:00Z",
            "state": "late",
        }
    ]
    refused = client.get(
        "/api/v1/heartbeat-monitors", headers={"Authorization": f"Bearer {tokens['responder']}"}
    )
    assert refused.status_code == 403


def test_a_beat_is_logged_without_its_key(
    client: TestClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    key = stored(runtime).key
    with caplog.at_level(logging.INFO, logger="pager.heartbeat_monitors"):
        client.get(f"/heartbeat/{key}")
    lines = [r.getMessage() for r in caplog.records if r.name == "pager.heartbeat_monitors"]
    assert lines == [
        "heartbeat_beat service=backups name=nightly-backup "
        "next_due_at=2026-11-24T02:30:00+00:00 resolved_alert=-"
    ]
