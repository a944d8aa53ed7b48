"""Hostile traffic on the unauthenticated status page must not stop paging (docs/status-page.md).

While the status page's database read is stuck (a listener on the engine holds every statement
that reads `incident_updates` until the test lets it go: a slow or locked database), 50 concurrent
requests for /status wait on the event loop for the one refresh, on the cache's own thread, and
take none of the threads the trigger path runs on: a PagerDuty trigger sent meanwhile is answered
202 with its page queued. Served by sync routes that read the database themselves, the 50
requests would take all 40 of the server's worker threads and the trigger would wait behind them.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage, Service
from pager.services.alerting import catalog
from pager.services.people import users
from pager.services.runtime import Runtime
from tests import support
from tests.e2e.conftest import wait_until
from tests.support import Clock, CountingArrivals, StuckReads

pytestmark = pytest.mark.database

NOW = datetime(2026, 3, 4, 15, 20, tzinfo=UTC)
FLOOD = 50
STATUS_TABLE = "incident_updates"  # only the status page reads it here
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
      - {id: api, name: API}
    """


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    built = support.console_runtime(
        engine, support.write_config(tmp_path / "config", {"team": SCHEDULE}, {"main": POLICY})
    )
    with session_scope(engine) as session:
        users.add_user(session, handle="alice", name="Alice", now=NOW, sms="+15550000001")
        catalog.sync_services(session, built.config, NOW)
    return built


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def counted(runtime: Runtime, clock: Clock) -> Iterator[tuple[TestClient, CountingArrivals]]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = clock
    arrivals = CountingArrivals(app, "/status")  # the test asks for /status only
    with TestClient(arrivals) as test_client:
        yield test_client, arrivals


def trigger_event(runtime: Runtime, dedup_key: str) -> dict[str, Any]:
    with session_scope(runtime.engine, read_only=True) as session:
        service = session.get(Service, "api")
        assert service is not None
        key = service.integration_key
    return {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": "Checkout errors", "source": "test", "severity": "critical"},
    }


def pages_for(runtime: Runtime, dedup_key: str) -> list[str]:
    """The handles paged for the alert with `dedup_key`."""
    from pager.db.tables import Alert

    with session_scope(runtime.engine, read_only=True) as session:
        alert = session.exec(select(Alert).where(Alert.dedup_key == dedup_key)).first()
        if alert is None:
            return []
        rows = session.exec(select(OutboxMessage).where(OutboxMessage.alert_id == alert.id))
        return [row.user_handle for row in rows]


def test_a_flood_of_status_requests_does_not_hold_up_a_trigger(
    counted: tuple[TestClient, CountingArrivals], runtime: Runtime
) -> None:
    client, arrivals = counted
    with StuckReads(runtime.engine, STATUS_TABLE) as reads, ThreadPoolExecutor(max_workers=FLOOD + 1) as pool:
        flood = [pool.submit(client.get, "/status") for _ in range(FLOOD)]
        wait_until("the status page to read the database", lambda: reads.held == 1, timeout=10)
        wait_until("the flood to reach the app", lambda: arrivals.arrived == FLOOD, timeout=10)

        trigger = pool.submit(client.post, "/v2/enqueue", json=trigger_event(runtime, "flood-1"))
        try:
            assert trigger.result(timeout=10).status_code == 202
        except FutureTimeout:
            raise AssertionError("the trigger waited behind the status page requests") from None
        assert pages_for(runtime, "flood-1") == ["alice"]
        assert not any(request.done() for request in flood)  # they were all still waiting

        reads.release()
        answers = [request.result(timeout=10) for request in flood]
    assert {answer.status_code for answer in answers} == {200}
    assert runtime.status_page.refreshes == 1  # one read served all 50


def test_while_a_refresh_is_stuck_the_flood_gets_the_previous_page_at_once(
    counted: tuple[TestClient, CountingArrivals], runtime: Runtime, clock: Clock
) -> None:
    client, arrivals = counted
    assert client.get("/status").status_code == 200
    clock.advance(seconds=6)  # the page is stale: the next request refreshes it
    with StuckReads(runtime.engine, STATUS_TABLE) as reads, ThreadPoolExecutor(max_workers=FLOOD + 1) as pool:
        leader = pool.submit(client.get, "/status")
        wait_until("the refresh to read the database", lambda: reads.held == 1, timeout=10)
        flood = [pool.submit(client.get, "/status") for _ in range(FLOOD - 1)]
        answers = [request.result(timeout=10) for request in flood]  # no waiting for the database
        assert {answer.status_code for answer in answers} == {200}
        trigger = pool.submit(client.post, "/v2/enqueue", json=trigger_event(runtime, "flood-2"))
        assert trigger.result(timeout=10).status_code == 202
        assert pages_for(runtime, "flood-2") == ["alice"]
        assert not leader.done()
        reads.release()
        assert leader.result(timeout=10).status_code == 200
    assert arrivals.arrived == FLOOD + 1
    assert runtime.status_page.refreshes == 2
