"""A flood of calendar feed requests must not hold up a trigger (docs/calendar.md, "Busy").

A feed is opened by a token in a URL that calendar apps, wikis and chat messages hold, and each
`alarm` value is a feed of its own to render. Served on the server's 40 shared worker threads, 50
feed requests whose database read is stuck (a listener on the engine holds every statement naming
`calendar_tokens` until the test lets it go: a slow or locked database) took all 40, and a trigger
waited behind them. Feeds run on two threads of their own, at most 32 more waiting, the rest
refused with 503 `feeds_busy`.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pager.api import calendars as calendar_routes
from pager.api.app import create_app
from pager.api.calendars import FEED_THREADS, FEED_WAITING
from pager.api.deps import get_now
from pager.db.session import session_scope
from pager.services.alerting import catalog
from pager.services.calendars import shifts as calendars
from pager.services.calendars.shifts import FeedTarget
from pager.services.people import users
from pager.services.runtime import Runtime
from tests import support
from tests.api.test_status_page_flood import NOW, POLICY, SCHEDULE, pages_for, trigger_event
from tests.e2e.conftest import wait_until
from tests.support import Clock, CountingArrivals, StuckReads

pytestmark = pytest.mark.database

FLOOD = 50


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


def serve(runtime: Runtime, clock: Clock, prefix: str) -> tuple[TestClient, CountingArrivals]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = clock
    arrivals = CountingArrivals(app, prefix)
    return TestClient(arrivals), arrivals


@pytest.fixture
def feed_url(runtime: Runtime) -> str:
    with session_scope(runtime.engine) as session:
        _, token = calendars.create_feed_token(session, FeedTarget("schedule", "team"), NOW, runtime.config)
    return f"/calendar/schedules/team.ics?token={token}"


def send_trigger(pool: ThreadPoolExecutor, client: TestClient, runtime: Runtime, key: str) -> None:
    """A trigger for `key` is answered 202 within 10 s and pages alice."""
    trigger: Future[httpx.Response] = pool.submit(
        client.post, "/v2/enqueue", json=trigger_event(runtime, key)
    )
    try:
        assert trigger.result(timeout=10).status_code == 202
    except FutureTimeout:
        raise AssertionError("the trigger waited behind the flood") from None
    assert pages_for(runtime, key) == ["alice"]


def test_a_flood_of_feed_requests_does_not_hold_up_a_trigger(
    runtime: Runtime,
    clock: Clock,
    feed_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refusals_seen = support.Refusals(monkeypatch, calendar_routes, "_REFUSALS", "busy")
    caplog.set_level(logging.WARNING, logger="pager.api")
    client, arrivals = serve(runtime, clock, "/calendar/")
    admitted = FEED_THREADS + FEED_WAITING
    with (
        client,
        ThreadPoolExecutor(max_workers=FLOOD + 1) as pool,
        StuckReads(runtime.engine, "calendar_tokens") as reads,  # released first, when the block ends
    ):
        # Each a feed of its own to render, as an attacker varying `alarm` would ask.
        flood = [pool.submit(client.get, f"{feed_url}&alarm={1000 + n}s") for n in range(FLOOD)]
        wait_until("the flood to reach the app", lambda: arrivals.arrived == FLOOD, timeout=10)
        wait_until("the feeds' threads to be stuck", lambda: reads.held == FEED_THREADS, timeout=10)
        refusals = FLOOD - admitted
        wait_until("the requests past the waiting ones to be refused", lambda: _done(flood) == refusals, 10)
        refused = [request.result() for request in flood if request.done()]
        send_trigger(pool, client, runtime, "feeds-1")
        assert reads.held == FEED_THREADS  # no other feed request took a thread meanwhile
        assert _done(flood) == refusals  # the admitted ones are all still waiting

        reads.release()
        answers = [request.result(timeout=10) for request in flood]
        assert client.get(feed_url).status_code == 200  # the flood over, feeds are served again
    assert sorted(answer.status_code for answer in answers) == [200] * admitted + [503] * (FLOOD - admitted)
    assert {answer.status_code for answer in refused} == {503}
    assert refused[0].json()["error"]["code"] == "feeds_busy"
    assert refused[0].headers["Retry-After"] == "5"
    # Counted one by one, logged once (a line per refusal would flood the log with the attack).
    assert refusals_seen.counted() == FLOOD - admitted
    lines = refusals_seen.lines(caplog.records)
    assert len(lines) == 1
    assert lines[0].startswith("calendar_feeds_refused busy=1 last_client=testclient path=/calendar/")
    assert f"waiting={admitted} most={admitted}" in lines[0]


def _done(requests: list[Future[httpx.Response]]) -> int:
    return sum(request.done() for request in requests)
