"""Calendar feeds are cached, and every input change reaches the next request.

The inputs of a feed: the config, the window (the hour), the alarm, the stored overrides, the token.
Each test changes one of them — overrides through the service, the REST API, a second engine (as
another process would) and the real CLI in a child process — and checks that the next request
answers the new feed (a new ETag, the old ETag no longer a 304), while an unchanged request is a
cache hit (`runtime.feed_cache.hits`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.db.session import create_db_engine, session_scope
from pager.services.calendars import overrides
from pager.services.calendars import shifts as calendars
from pager.services.calendars.shifts import FeedTarget
from pager.services.people import users
from pager.services.people.tokens import create_api_token, revoke_calendar_token
from pager.services.runtime import Runtime
from tests import support
from tests.support import Clock

pytestmark = pytest.mark.database

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 4, 15, 20, 17, tzinfo=UTC)
TEAM = """\
    name: Team
    time_zone: UTC
    layers:
      - name: weekly
        members: [alice, bob]
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
# carol takes a day of the team's primary role next week.
CAROL_DAY = (datetime(2026, 3, 10, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC))


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    config_dir = support.write_config(tmp_path / "config", {"team": TEAM}, {"main": POLICY})
    built = support.console_runtime(engine, config_dir, public_url="https://pager.example.com/")
    with session_scope(engine) as session:
        for handle in ("alice", "bob", "carol"):
            users.add_user(session, handle=handle, name=f"{handle.title()} Example", now=NOW)
    return built


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def client(runtime: Runtime, clock: Clock) -> Iterator[TestClient]:
    app = create_app(runtime, run_worker=False)
    app.dependency_overrides[get_now] = clock
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def schedule_url(runtime: Runtime) -> str:
    with session_scope(runtime.engine) as session:
        _, token = calendars.create_feed_token(session, FeedTarget("schedule", "team"), NOW, runtime.config)
    return f"/calendar/schedules/team.ics?token={token}"


@pytest.fixture
def carol_url(runtime: Runtime) -> str:
    with session_scope(runtime.engine) as session:
        _, token = calendars.create_feed_token(session, FeedTarget("user", "carol"), NOW)
    return f"/calendar/users/carol.ics?token={token}"


def add_carol_day(engine: Engine, runtime: Runtime) -> int:
    with session_scope(engine) as session:
        row = overrides.add_override(
            session,
            runtime.config,
            schedule_id="team",
            role="primary",
            user="carol",
            start=CAROL_DAY[0],
            end=CAROL_DAY[1],
            now=NOW,
        )
        return row.id or 0


def assert_changed(client: TestClient, url: str, before: Response) -> Response:
    """The next fetch with the old ETag is a full 200 with another ETag and other bytes."""
    after = client.get(url, headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200, after.text
    assert after.headers["etag"] != before.headers["etag"]
    assert after.content != before.content
    return after


def test_an_unchanged_feed_is_served_from_the_cache(
    client: TestClient, runtime: Runtime, schedule_url: str, clock: Clock
) -> None:
    first = client.get(schedule_url)
    assert first.status_code == 200 and runtime.feed_cache.misses == 1
    clock.now = NOW + timedelta(minutes=39)  # the same hour: the same window
    again = client.get(schedule_url)
    not_modified = client.get(schedule_url, headers={"If-None-Match": first.headers["etag"]})
    assert (again.content, again.headers["etag"]) == (first.content, first.headers["etag"])
    assert not_modified.status_code == 304
    assert (runtime.feed_cache.hits, runtime.feed_cache.misses) == (2, 1)
    # The next hour moves the window: rendered again.
    clock.now = NOW + timedelta(hours=1)
    assert_changed(client, schedule_url, first)
    assert runtime.feed_cache.misses == 2


def test_an_override_through_the_service_changes_the_next_feed_and_its_removal_restores_it(
    client: TestClient, runtime: Runtime, schedule_url: str, carol_url: str
) -> None:
    schedule_before, carol_before = client.get(schedule_url), client.get(carol_url)
    override_id = add_carol_day(runtime.engine, runtime)
    assert b"carol" in assert_changed(client, schedule_url, schedule_before).content
    carol_after = assert_changed(client, carol_url, carol_before)
    assert b"DTSTART:20260310T000000Z" in carol_after.content
    with session_scope(runtime.engine) as session:
        overrides.delete_override(session, override_id)
    # Back to the original inputs: the original bytes, so the original ETag is a 304 again.
    for url, before in ((schedule_url, schedule_before), (carol_url, carol_before)):
        assert client.get(url, headers={"If-None-Match": before.headers["etag"]}).status_code == 304
        assert client.get(url).content == before.content


def test_an_override_through_the_rest_api_changes_the_next_feed(
    client: TestClient, runtime: Runtime, schedule_url: str
) -> None:
    with session_scope(runtime.engine) as session:
        _, api_token = create_api_token(session, role="responder", name="r", now=NOW)
    auth = {"Authorization": f"Bearer {api_token}"}
    before = client.get(schedule_url)
    body = {
        "schedule": "team",
        "role": "primary",
        "user": "carol",
        "start": CAROL_DAY[0].isoformat(),
        "end": CAROL_DAY[1].isoformat(),
    }
    created = client.post("/api/v1/overrides", json=body, headers=auth)
    assert created.status_code == 201, created.text
    during = assert_changed(client, schedule_url, before)
    assert client.delete(f"/api/v1/overrides/{created.json()['id']}", headers=auth).status_code == 204
    assert assert_changed(client, schedule_url, during).content == before.content


def test_an_override_stored_through_another_engine_changes_the_next_feed(
    client: TestClient, runtime: Runtime, schedule_url: str
) -> None:
    # Another process shares nothing with this one but the database: its own engine, its own pool.
    other = create_db_engine(runtime.engine.url.render_as_string(hide_password=False))
    try:
        before = client.get(schedule_url)
        add_carol_day(other, runtime)
    finally:
        other.dispose()
    assert b"carol" in assert_changed(client, schedule_url, before).content


def test_an_override_added_by_the_cli_in_another_process_changes_the_next_feed(
    client: TestClient, runtime: Runtime, schedule_url: str
) -> None:
    before = client.get(schedule_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGER_")}
    env["PAGER_DATABASE_URL"] = runtime.engine.url.render_as_string(hide_password=False)
    command = [sys.executable, "-c", "from pager.cli import app; app()"]
    command += ["--config-dir", str(runtime.config_dir)]
    command += ["override", "add", "team", "--user", "carol"]
    command += ["--from", CAROL_DAY[0].isoformat(), "--to", CAROL_DAY[1].isoformat()]
    added = subprocess.run(
        command,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    assert b"carol" in assert_changed(client, schedule_url, before).content


def test_a_config_reload_changes_the_next_feed(
    client: TestClient, runtime: Runtime, schedule_url: str
) -> None:
    before = client.get(schedule_url)
    (runtime.config_dir / "schedules" / "team.yaml").write_text(
        textwrap.dedent(TEAM.replace("[alice, bob]", "[bob, alice]")), encoding="utf-8"
    )
    assert runtime.reload_config()
    assert_changed(client, schedule_url, before)


def test_a_revoked_token_is_refused_although_its_feed_is_cached(
    client: TestClient, runtime: Runtime, clock: Clock
) -> None:
    with session_scope(runtime.engine) as session:
        row, token = calendars.create_feed_token(session, FeedTarget("user", "alice"), NOW)
    url = f"/calendar/users/alice.ics?token={token}"
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200 and runtime.feed_cache.hits == 1
    with session_scope(runtime.engine) as session:
        revoke_calendar_token(session, row.id or 0, NOW)
    assert client.get(url).status_code == 404


def test_the_alarm_and_the_person_are_part_of_the_key(client: TestClient, runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        _, alice = calendars.create_feed_token(session, FeedTarget("user", "alice"), NOW)
        _, bob = calendars.create_feed_token(session, FeedTarget("user", "bob"), NOW)
    plain = client.get(f"/calendar/users/alice.ics?token={alice}")
    with_alarm = client.get(f"/calendar/users/alice.ics?token={alice}&alarm=15m")
    assert b"VALARM" in with_alarm.content and b"VALARM" not in plain.content
    bobs = client.get(f"/calendar/users/bob.ics?token={bob}")
    assert b"Bob Example" in bobs.content and b"Alice Example" not in bobs.content
    assert runtime.feed_cache.misses == 3


def test_the_service_returns_the_cached_feed_until_an_override_is_stored(runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        _, token = calendars.create_feed_token(session, FeedTarget("schedule", "team"), NOW, runtime.config)
    first = calendars.schedule_feed(runtime, "team", token, NOW)
    assert calendars.schedule_feed(runtime, "team", token, NOW + timedelta(minutes=5)) is first
    override_id = add_carol_day(runtime.engine, runtime)
    during = calendars.schedule_feed(runtime, "team", token, NOW)
    assert during is not first and during.etag != first.etag
    with session_scope(runtime.engine) as session:
        overrides.delete_override(session, override_id)
    assert calendars.schedule_feed(runtime, "team", token, NOW).etag == first.etag
