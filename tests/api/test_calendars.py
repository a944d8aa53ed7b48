"""Calendar feeds over HTTP: the user feed is exactly the calculator's shifts, ETags, tokens, alarms.

The feed is parsed back with icalendar and recurring_ical_events (as subscribing clients would) and
compared with pager.core.schedule.final_shifts over the window computed here independently:
`now` floored to the hour, 15 days back, 365 days ahead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import recurring_ical_events
import typer
from fastapi.testclient import TestClient
from icalendar import Calendar
from sqlalchemy import Engine
from typer.testing import CliRunner

from pager.api.app import create_app
from pager.api.deps import get_now
from pager.api.failure_limits import MAX_FAILURES
from pager.commands import tokens as token_commands
from pager.commands.common import CliState
from pager.core.model import ROLES
from pager.core.schedule import final_shifts
from pager.db.overrides import overrides_overlapping
from pager.db.session import session_scope
from pager.services.calendars import overrides
from pager.services.calendars import shifts as calendars
from pager.services.calendars.shifts import FeedTarget
from pager.services.people import users
from pager.services.people.tokens import revoke_calendar_token
from pager.services.runtime import Runtime
from tests import support
from tests.support import Clock

pytestmark = pytest.mark.database

NOW = datetime(2026, 3, 4, 15, 20, 17, tzinfo=UTC)
WINDOW = (datetime(2026, 2, 17, 15, tzinfo=UTC), datetime(2027, 3, 4, 15, tzinfo=UTC))

SCHEDULES = {
    # alice is primary every other week and secondary (next in the rotation) the weeks between.
    "team": """\
        name: Team
        time_zone: America/Chicago
        layers:
          - name: weekly
            members: [alice, bob]
            start: 2026-01-05T09:00
            shift: 1w
        """,
    # A business-hours desk in another zone, with a secondary layer of its own.
    "desk": """\
        name: Help desk
        time_zone: Europe/Berlin
        layers:
          - name: days
            members: [carol, alice, bob]
            start: 2026-01-05T09:00
            shift: 1d
            restrictions:
              - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
          - name: backup
            role: secondary
            members: [bob, alice]
            start: 2026-01-05T09:00
            shift: 1w
        """,
}
POLICY = """\
    levels:
      - notify: [schedule:team]
        escalate_after: 5m
    services:
      - {id: api, name: API}
    """


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    config_dir = support.write_config(tmp_path / "config", SCHEDULES, {"main": POLICY})
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


def user_token(runtime: Runtime, handle: str) -> tuple[int, str]:
    with session_scope(runtime.engine) as session:
        row, plaintext = calendars.create_feed_token(session, FeedTarget("user", handle), NOW)
        return row.id or 0, plaintext


def schedule_token(runtime: Runtime, schedule_id: str) -> tuple[int, str]:
    with session_scope(runtime.engine) as session:
        row, plaintext = calendars.create_feed_token(
            session, FeedTarget("schedule", schedule_id), NOW, runtime.config
        )
        return row.id or 0, plaintext


def add_override(runtime: Runtime, schedule_id: str, user: str, start: datetime, hours: int) -> None:
    with session_scope(runtime.engine) as session:
        overrides.add_override(
            session,
            runtime.config,
            schedule_id=schedule_id,
            role="primary",
            user=user,
            start=start,
            end=start + timedelta(hours=hours),
            now=NOW,
        )


Event = tuple[str, datetime, datetime]  # (summary, start, end)


def feed_events(body: bytes) -> list[Event]:
    """The feed's occurrences in WINDOW as recurring_ical_events expands them, sorted."""
    calendar = Calendar.from_ical(body)
    found = [
        (str(e["SUMMARY"]), e["DTSTART"].dt, e["DTEND"].dt)
        for e in recurring_ical_events.of(calendar).between(*WINDOW)
    ]
    return sorted(found)


def expected_events(runtime: Runtime, handle: str | None, schedule_ids: list[str]) -> list[Event]:
    """The calculator's final shifts in WINDOW (stored overrides applied), as feed summaries."""
    found = []
    with session_scope(runtime.engine, read_only=True) as session:
        for schedule_id in schedule_ids:
            schedule = runtime.config.schedules[schedule_id]
            stored = overrides_overlapping(session, schedule_id, *WINDOW)
            for role in ROLES:
                for shift in final_shifts(schedule, role, *WINDOW, stored):
                    if handle is None or shift.user == handle:
                        summary = f"On call ({role}): {schedule.name} — {shift.user}"
                        found.append((summary, shift.start, shift.end))
    return sorted(found)


# --- the acceptance --------------------------------------------------------------------------------


def test_user_feed_lists_exactly_the_calculators_shifts(client: TestClient, runtime: Runtime) -> None:
    _, token = user_token(runtime, "alice")
    add_override(runtime, "desk", "alice", datetime(2026, 3, 5, 8, tzinfo=UTC), 8)  # carol's day taken
    add_override(runtime, "team", "bob", datetime(2026, 3, 5, tzinfo=UTC), 12)  # alice's week cut
    answer = client.get(f"/calendar/users/alice.ics?token={token}")
    assert answer.status_code == 200, answer.text
    events = feed_events(answer.content)
    assert events == expected_events(runtime, "alice", ["desk", "team"])
    summaries = {summary for summary, _, _ in events}
    assert summaries == {
        "On call (primary): Team — alice",
        "On call (secondary): Team — alice",
        "On call (primary): Help desk — alice",
        "On call (secondary): Help desk — alice",
    }
    # The overrides are in: alice holds carol's desk day, and her team week has a hole bob fills.
    assert (
        "On call (primary): Help desk — alice",
        datetime(2026, 3, 5, 8, tzinfo=UTC),
        datetime(2026, 3, 5, 16, tzinfo=UTC),
    ) in events
    assert any(end == datetime(2026, 3, 5, tzinfo=UTC) and "Team" in s for s, _, end in events)
    assert min(start for _, start, _ in events) >= WINDOW[0]
    assert max(end for _, _, end in events) == WINDOW[1]  # the far edge clips the last shift

    calendar = Calendar.from_ical(answer.content)
    assert str(calendar["X-WR-CALNAME"]) == "On call: Alice Example (alice)"
    stamps = {e["DTSTAMP"].dt for e in calendar.walk("VEVENT")}
    assert stamps == {datetime(2026, 3, 4, 15, tzinfo=UTC)}
    assert not calendar.walk("VALARM")
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert answer.headers["content-disposition"] == 'inline; filename="alice.ics"'
    assert answer.headers["cache-control"] == "private, max-age=300"


def test_a_second_fetch_with_the_etag_is_304(client: TestClient, runtime: Runtime, clock: Clock) -> None:
    _, token = user_token(runtime, "alice")
    url = f"/calendar/users/alice.ics?token={token}"
    first = client.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    again = client.get(url, headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    # Later in the same hour the bytes are the same, so is the ETag; list and weak forms match too.
    clock.now = NOW + timedelta(minutes=30)
    for header in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        assert client.get(url, headers={"If-None-Match": header}).status_code == 304
    assert client.get(url).content == first.content
    assert client.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200
    # The next hour moves the window and DTSTAMP: a new ETag.
    clock.now = NOW + timedelta(hours=1)
    later = client.get(url, headers={"If-None-Match": etag})
    assert later.status_code == 200 and later.headers["etag"] != etag
    # An override changes the feed at once.
    clock.now = NOW
    add_override(runtime, "team", "alice", datetime(2026, 3, 11, tzinfo=UTC), 6)  # bob's week
    changed = client.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


def test_no_feed_without_the_right_live_token(client: TestClient, runtime: Runtime) -> None:
    alice_id, alice = user_token(runtime, "alice")
    _, bob = user_token(runtime, "bob")
    _, team = schedule_token(runtime, "team")
    assert client.get(f"/calendar/users/alice.ics?token={alice}").status_code == 200
    with session_scope(runtime.engine) as session:
        revoke_calendar_token(session, alice_id, NOW)
    refused = [
        f"/calendar/users/alice.ics?token={alice}",  # revoked
        "/calendar/users/alice.ics?token=pgc_guess",  # unknown
        f"/calendar/users/alice.ics?token={bob}",  # bob's feed token
        f"/calendar/users/alice.ics?token={team}",  # a schedule's token
        f"/calendar/users/zed.ics?token={bob}",  # no such person
        f"/calendar/schedules/team.ics?token={bob}",  # a person's token
        f"/calendar/schedules/desk.ics?token={team}",  # another schedule's token
        f"/calendar/schedules/nope.ics?token={team}",  # no such schedule
    ]
    bodies = []
    for url in refused:
        answer = client.get(url)
        assert answer.status_code == 404, url
        bodies.append(answer.json())
    # The same answer every time: nothing tells which feeds exist.
    assert all(body == bodies[0] for body in bodies)
    assert bodies[0]["error"]["code"] == "not_found"
    assert client.get(f"/calendar/users/bob.ics?token={bob}").status_code == 200
    assert client.get("/calendar/users/bob.ics").json()["error"]["code"] == "invalid_input"


def test_alarm_adds_a_valarm_before_each_shift(client: TestClient, runtime: Runtime) -> None:
    _, token = user_token(runtime, "alice")
    answer = client.get(f"/calendar/users/alice.ics?token={token}&alarm=15m")
    assert answer.status_code == 200
    events = Calendar.from_ical(answer.content).walk("VEVENT")
    assert events
    for event in events:
        alarms = event.walk("VALARM")
        assert len(alarms) == 1
        assert alarms[0]["TRIGGER"].dt == timedelta(minutes=-15)
        assert str(alarms[0]["ACTION"]) == "DISPLAY"
    plain = client.get(f"/calendar/users/alice.ics?token={token}")
    assert plain.headers["etag"] != answer.headers["etag"]
    for bad in ("15 minutes", "8d", "0m", "-5m"):
        error = client.get(f"/calendar/users/alice.ics?token={token}", params={"alarm": bad})
        assert (error.status_code, error.json()["error"]["code"]) == (422, "invalid_input"), bad
    # A bad alarm with a bad token is still just "no such feed".
    assert client.get("/calendar/users/alice.ics?token=pgc_x&alarm=bogus").status_code == 404


def test_schedule_feed_has_both_roles_of_the_schedule(client: TestClient, runtime: Runtime) -> None:
    _, token = schedule_token(runtime, "desk")
    add_override(runtime, "desk", "bob", datetime(2026, 4, 1, 7, tzinfo=UTC), 9)
    answer = client.get(f"/calendar/schedules/desk.ics?token={token}")
    assert answer.status_code == 200
    events = feed_events(answer.content)
    assert events == expected_events(runtime, None, ["desk"])
    assert {s.split(":")[0] for s, _, _ in events} == {"On call (primary)", "On call (secondary)"}
    assert answer.headers["content-disposition"] == 'inline; filename="desk.ics"'
    assert str(Calendar.from_ical(answer.content)["X-WR-CALNAME"]) == "On call: Help desk"
    etag = answer.headers["etag"]
    assert (
        client.get(f"/calendar/schedules/desk.ics?token={token}", headers={"If-None-Match": etag}).status_code
        == 304
    )


def test_calendar_token_commands(
    client: TestClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        """Test root (as pager.cli's: the global --config-dir)."""
        ctx.obj = CliState(config_dir=runtime.config_dir)

    token_commands.register(app)
    monkeypatch.setenv("PAGER_DATABASE_URL", runtime.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PAGER_PUBLIC_URL", "https://pager.example.com")
    runner = CliRunner()
    created = runner.invoke(app, ["calendar-token", "create", "alice"])
    assert created.exit_code == 0, created.output
    url = created.stdout.strip()
    assert url.startswith("https://pager.example.com/calendar/users/alice.ics?token=pgc_")
    assert "not shown again" in created.stderr
    parts = urlsplit(url)
    feed = client.get(f"{parts.path}?{parts.query}")
    assert feed.status_code == 200
    assert feed_events(feed.content) == expected_events(runtime, "alice", ["desk", "team"])
    listed = runner.invoke(app, ["calendar-token", "list", "alice", "--json"])
    assert listed.exit_code == 0 and '"target": "alice"' in listed.stdout and "pgc_" not in listed.stdout
    with session_scope(runtime.engine, read_only=True) as session:
        (row,) = calendars.feed_tokens(session, FeedTarget("user", "alice"))
    assert runner.invoke(app, ["calendar-token", "revoke", str(row.id)]).exit_code == 0
    assert client.get(f"{parts.path}?{parts.query}").status_code == 404
    assert runner.invoke(app, ["calendar-token", "create", "zed"]).exit_code == 1
    assert runner.invoke(app, ["calendar-token", "create"]).exit_code == 1
    created = runner.invoke(app, ["calendar-token", "create", "--schedule", "team", "--json"])
    assert created.exit_code == 0, created.output
    document = json.loads(created.stdout)
    assert (document["feed"], document["target"]) == ("schedule", "team")
    parts = urlsplit(document["url"])
    assert parts.path == "/calendar/schedules/team.ics"
    assert client.get(f"{parts.path}?{parts.query}").status_code == 200
    assert runner.invoke(app, ["calendar-token", "create", "--schedule", "nope"]).exit_code == 1


def test_guessing_feed_tokens_is_limited_per_address(client: TestClient, runtime: Runtime) -> None:
    _, alice = user_token(runtime, "alice")
    for attempt in range(MAX_FAILURES):
        assert client.get(f"/calendar/users/alice.ics?token=pgc_guess{attempt}").status_code == 404
    blocked = client.get("/calendar/schedules/team.ics?token=pgc_guess")
    assert blocked.status_code == 429, blocked.text
    assert blocked.json()["error"]["code"] == "throttled"
    assert int(blocked.headers["Retry-After"]) >= 1
    # Refused before the token is looked at: even the right one waits out the minute.
    assert client.get(f"/calendar/users/alice.ics?token={alice}").status_code == 429


def test_schedule_feed_shows_swaps_and_removals(client: TestClient, runtime: Runtime) -> None:
    _, token = schedule_token(runtime, "team")
    with session_scope(runtime.engine) as session:
        # alice's week of 03-02 goes to bob and bob's week of 03-09 to alice; then alice is out 03-20.
        overrides.swap_shifts(
            session,
            runtime.config,
            schedule_id="team",
            role="primary",
            user="alice",
            user_at=NOW,
            other="bob",
            other_at=NOW + timedelta(days=7),
            now=NOW,
        )
        overrides.create_override(
            session,
            runtime.config,
            kind="remove",
            schedule_id="team",
            role="primary",
            user="alice",
            start=datetime(2026, 3, 20, tzinfo=UTC),
            end=datetime(2026, 3, 21, tzinfo=UTC),
            now=NOW,
        )
    answer = client.get(f"/calendar/schedules/team.ics?token={token}")
    assert answer.status_code == 200, answer.text
    events = feed_events(answer.content)
    assert events == expected_events(runtime, None, ["team"])
    primary = sorted(
        ((summary.rsplit(" ", 1)[1], start, end) for summary, start, end in events if "(primary)" in summary),
        key=lambda event: event[1],
    )[:5]
    assert primary == [
        ("alice", WINDOW[0], datetime(2026, 2, 23, 15, tzinfo=UTC)),
        ("bob", datetime(2026, 2, 23, 15, tzinfo=UTC), datetime(2026, 3, 9, 14, tzinfo=UTC)),
        ("alice", datetime(2026, 3, 9, 14, tzinfo=UTC), datetime(2026, 3, 20, tzinfo=UTC)),
        ("bob", datetime(2026, 3, 20, tzinfo=UTC), datetime(2026, 3, 21, tzinfo=UTC)),
        ("alice", datetime(2026, 3, 21, tzinfo=UTC), datetime(2026, 3, 23, 14, tzinfo=UTC)),
    ]
