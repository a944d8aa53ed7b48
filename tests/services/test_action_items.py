"""Action items through the real services and database (docs/incidents.md, "Action items"): added
with clear errors and nothing changed on bad input, listed (open, overdue in the owner's zone, drills
only when asked), done (idempotent), each on the incident's timeline; and the daily reminder, once
per local day per owner, in their daytime, across a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from pager.core.incident_model import IncidentRules
from pager.db.incident_tables import ActionItem, Incident, IncidentEvent
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.errors import Conflict, InvalidInput, NotFound
from pager.services.incidents.action_items import (
    ActionItemView,
    add_action_item,
    complete_action_item,
    list_action_items,
)
from pager.services.incidents.changes import change_status
from pager.services.incidents.declaring import declare
from pager.services.incidents.postmortems import open_postmortem, show_postmortem
from pager.services.incidents.reminders import remind_action_item_owners
from pager.services.people.edits import UserChanges, set_active, update_user
from pager.services.runtime import Runtime
from pager.worker import tick
from pager.worker_jobs import periodic_jobs
from tests.services.test_engine import T0, runtime

__all__ = ["runtime"]

pytestmark = pytest.mark.database

# Monday 2 March 2026; New York moves to EDT on Sunday 8 March.
NEW_YORK = "America/New_York"


@pytest.fixture
def incidents(runtime: Runtime) -> tuple[int, int]:
    """Incident 1 (real, resolved) and incident 2 (a drill); bob lives in New York."""
    rules = runtime.config.incidents
    with session_scope(runtime.engine) as session:
        real = declare(session, rules, title="Checkout errors", severity="SEV1", actor="alice", now=T0)
        drill = declare(session, rules, title="Game day", severity="SEV2", drill=True, actor="alice", now=T0)
        assert real.id is not None and drill.id is not None
        change_status(session, rules, real.id, "resolved", actor="alice", now=T0 + timedelta(hours=1))
        update_user(session, "bob", UserChanges(time_zone=NEW_YORK), now=T0, verified=True)
        return real.id, drill.id


def add(
    runtime: Runtime, incident_id: int, title: str, owner: str = "bob", due: str = "2026-03-05", **extra: str
) -> ActionItemView:
    with session_scope(runtime.engine) as session:
        return add_action_item(
            session, incident_id, title=title, owner=owner, due=due, by="alice", now=T0, **extra
        )  # type: ignore[arg-type]


def listed(runtime: Runtime, now: datetime, **options: bool) -> list[tuple[int, str, bool]]:
    with session_scope(runtime.engine, read_only=True) as session:
        return [(v.id, v.title, v.overdue) for v in list_action_items(session, now, **options)]


def done(runtime: Runtime, item_id: int, now: datetime) -> ActionItemView:
    with session_scope(runtime.engine) as session:
        return complete_action_item(session, item_id, by="bob", now=now)


def events(runtime: Runtime, incident_id: int) -> list[tuple[str, str, str]]:
    """The incident's action-item lines."""
    with session_scope(runtime.engine, read_only=True) as session:
        rows = session.exec(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(col(IncidentEvent.id))
        )
        return [(e.kind, e.actor, e.message) for e in rows if e.kind.startswith("action_item")]


def item_count(runtime: Runtime) -> int:
    with session_scope(runtime.engine, read_only=True) as session:
        return len(session.exec(select(ActionItem)).all())


def test_added_with_owner_due_date_and_link_on_the_timeline(
    runtime: Runtime, incidents: tuple[int, int]
) -> None:
    real, _ = incidents
    item = add(runtime, real, "  Add a   canary ", link="https://tickets.example.com/OPS-1")
    assert item.document() == {
        "id": item.id,
        "incident_id": real,
        "incident_number": 1,
        "title": "Add a canary",
        "owner": "bob",
        "due_on": "2026-03-05",
        "status": "open",
        "overdue": False,
        "drill": False,
        "link": "https://tickets.example.com/OPS-1",
        "created_by": "alice",
        "created_at": "2026-03-02T15:00:00+00:00",
        "done_at": None,
    }
    assert events(runtime, real) == [
        ("action_item_added", "alice", f"action item #{item.id} 'Add a canary' for bob, due 2026-03-05")
    ]


@pytest.mark.parametrize(
    ("incident", "title", "owner", "due", "link", "error", "message"),
    [
        (999, "x", "bob", "2026-03-05", None, NotFound, "no incident 999"),
        (None, "x", "zed", "2026-03-05", None, InvalidInput, "owner 'zed': no such user"),
        (
            None,
            "x",
            "bob",
            "05/03/2026",
            None,
            InvalidInput,
            "due date '05/03/2026' is not a date: use YYYY-MM-DD",
        ),
        (None, "x", "bob", "2026-02-30", None, InvalidInput, "due date '2026-02-30' is not a date"),
        (None, "  ", "bob", "2026-03-05", None, InvalidInput, "an action item needs a title"),
        (
            None,
            "x" * 301,
            "bob",
            "2026-03-05",
            None,
            InvalidInput,
            "the title is 301 characters; at most 300",
        ),
        (None, "x", "bob", "2026-03-05", "ftp://x", InvalidInput, "link 'ftp://x' is not an http(s) URL"),
        (
            None,
            "add a CANARY",
            "bob",
            "2026-03-05",
            None,
            Conflict,
            "already has an action item titled 'add a CANARY'",
        ),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    runtime: Runtime,
    incidents: tuple[int, int],
    incident: int | None,
    title: str,
    owner: str,
    due: str,
    link: str | None,
    error: type[Exception],
    message: str,
) -> None:
    real, _ = incidents
    add(runtime, real, "Add a canary")
    before = (item_count(runtime), events(runtime, real))
    with session_scope(runtime.engine) as session, pytest.raises(error) as refused:
        add_action_item(
            session, incident or real, title=title, owner=owner, due=due, link=link, by="alice", now=T0
        )
    assert message in str(refused.value)
    assert (item_count(runtime), events(runtime, real)) == before


def test_a_deactivated_owner_is_refused(runtime: Runtime, incidents: tuple[int, int]) -> None:
    with session_scope(runtime.engine) as session:
        set_active(session, "dana", False, T0)
    with pytest.raises(InvalidInput, match="owner 'dana' is deactivated"):
        add(runtime, incidents[0], "x", owner="dana")


def test_listed_open_overdue_in_the_owners_zone_and_drills_only_when_asked(
    runtime: Runtime, incidents: tuple[int, int]
) -> None:
    real, drill = incidents
    late = add(runtime, real, "Runbook", due="2026-03-04")
    today = add(runtime, real, "Alert on latency", due="2026-03-05")
    utc_owner = add(runtime, real, "Canary", owner="carol", due="2026-03-05")
    practice = add(runtime, drill, "Practice more", due="2026-03-01")
    # 6 March 03:00 UTC is still 5 March 22:00 in New York: bob's item due on the 5th is not overdue,
    # carol's (UTC) is.
    now = datetime(2026, 3, 6, 3, 0, tzinfo=UTC)
    assert listed(runtime, now) == [
        (late.id, "Runbook", True),
        (today.id, "Alert on latency", False),
        (utc_owner.id, "Canary", True),
    ]
    assert listed(runtime, now, overdue=True) == [(late.id, "Runbook", True), (utc_owner.id, "Canary", True)]
    assert listed(runtime, now, overdue=True, drill=True)[0] == (practice.id, "Practice more", True)
    done(runtime, late.id, now)
    assert [row[0] for row in listed(runtime, now)] == [today.id, utc_owner.id]
    assert [row[0] for row in listed(runtime, now, include_done=True)] == [late.id, today.id, utc_owner.id]
    assert [row[0] for row in listed(runtime, now, include_done=True, overdue=True)] == [utc_owner.id]


def test_done_is_idempotent_and_on_the_timeline(runtime: Runtime, incidents: tuple[int, int]) -> None:
    real, _ = incidents
    item = add(runtime, real, "Runbook")
    first = done(runtime, item.id, T0 + timedelta(days=1))
    again = done(runtime, item.id, T0 + timedelta(days=2))
    assert (first.status, first.done_at) == (again.status, again.done_at) == ("done", T0 + timedelta(days=1))
    assert [e[0] for e in events(runtime, real)] == ["action_item_added", "action_item_done"]
    with pytest.raises(NotFound, match="no action item 999"):
        done(runtime, 999, T0)


def test_the_postmortems_table_follows_its_action_items_until_published(
    runtime: Runtime, incidents: tuple[int, int]
) -> None:
    real, _ = incidents
    with session_scope(runtime.engine) as session:
        incident = session.get(Incident, real)
        assert incident is not None
        open_postmortem(session, incident, IncidentRules(), T0 + timedelta(hours=1))
    item = add(runtime, real, "Runbook", link="https://x.example.com/1")
    with session_scope(runtime.engine, read_only=True) as session:
        assert (
            f"| {item.id} | Runbook | bob | 2026-03-05 | open | https://x.example.com/1 |"
            in show_postmortem(session, real)
        )
    done(runtime, item.id, T0)
    with session_scope(runtime.engine, read_only=True) as session:
        assert (
            f"| {item.id} | Runbook | bob | 2026-03-05 | done | https://x.example.com/1 |"
            in show_postmortem(session, real)
        )


def reminder_rows(runtime: Runtime) -> list[tuple[str, str, str, datetime, str]]:
    with session_scope(runtime.engine, read_only=True) as session:
        rows = session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.idempotency_key).startswith("action-item:"))
            .order_by(col(OutboxMessage.id))
        )
        return [(r.idempotency_key, r.user_handle, r.method, r.due_at, r.status) for r in rows]


def test_each_owner_is_reminded_once_a_local_day_in_daytime_across_spring_forward(
    runtime: Runtime, incidents: tuple[int, int]
) -> None:
    real, _ = incidents
    first = add(runtime, real, "Runbook", due="2026-03-05")
    add(runtime, real, "Alert on latency", due="2026-03-04")
    # Every 30 minutes from Friday 6 March 00:00 EST to Tuesday 10 March: bob's two overdue items make
    # one reminder per local day, first sent at 09:00 New York time (14:00 UTC, then 13:00 in EDT).
    now = datetime(2026, 3, 6, 5, 0, tzinfo=UTC)
    paged_at: dict[str, datetime] = {}
    while now < datetime(2026, 3, 10, 5, 0, tzinfo=UTC):
        if remind_action_item_owners(runtime, now):
            day = now.astimezone(UTC).strftime("%H:%M")
            paged_at[f"{now.date()} {day}"] = now
        now += timedelta(minutes=30)
    assert sorted(paged_at) == [
        "2026-03-06 14:00",
        "2026-03-07 14:00",
        "2026-03-08 13:00",
        "2026-03-09 13:00",
    ]
    rows = reminder_rows(runtime)
    user_id = rows[0][0].split(":")[1]
    assert user_id.startswith("owner-")
    days = sorted({row[0].rsplit(":", 2)[1] for row in rows})
    assert days == ["2026-03-06", "2026-03-07", "2026-03-08", "2026-03-09"]
    emails = [row for row in rows if row[2] == "email"]
    assert [row[3] for row in emails] == list(paged_at.values())  # email at once, the phone an hour later
    assert {row[1] for row in rows} == {"bob"}
    email_at = {row[0].rsplit(":", 2)[1]: row[3] for row in emails}
    assert all(
        row[3] >= email_at[row[0].rsplit(":", 2)[1]] + timedelta(hours=1) for row in rows if row[2] != "email"
    )
    with session_scope(runtime.engine, read_only=True) as session:
        body = session.exec(select(OutboxMessage.body).where(OutboxMessage.method == "email")).first()
    assert body is not None and body.splitlines()[1:] == [
        f"- #{first.id + 1} Alert on latency (incident 1, due 2026-03-04)",
        f"- #{first.id} Runbook (incident 1, due 2026-03-05)",
    ]
    assert next(e for e in events(runtime, real) if e[0] == "action_item_reminder") == (
        "action_item_reminder",
        "system",
        f"bob reminded of overdue action item(s) #{first.id + 1}, #{first.id}",
    )


def test_done_with_nothing_else_overdue_cancels_the_days_phone_steps(
    runtime: Runtime, incidents: tuple[int, int]
) -> None:
    real, _ = incidents
    first = add(runtime, real, "Runbook", due="2026-03-04")
    second = add(runtime, real, "Canary", due="2026-03-04")
    nine = datetime(2026, 3, 6, 14, 0, tzinfo=UTC)
    job = {job.id: job for job in periodic_jobs(runtime)}["action_item_reminders"]  # the worker's job
    assert job.work(nine) == 1
    tick(runtime, nine)  # the email goes at once
    done(runtime, first.id, nine + timedelta(minutes=5))
    assert {row[4] for row in reminder_rows(runtime)} == {"sent", "pending"}  # another is still overdue
    done(runtime, second.id, nine + timedelta(minutes=10))
    assert {(row[2], row[4]) for row in reminder_rows(runtime)} == {
        ("email", "sent"),
        ("sms", "cancelled"),
        ("voice", "cancelled"),
    }
    assert remind_action_item_owners(runtime, nine + timedelta(hours=1)) == 0
    assert remind_action_item_owners(runtime, nine + timedelta(days=1)) == 0
