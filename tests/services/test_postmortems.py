"""Postmortems through the real services and database (docs/incidents.md, "Postmortems"): opened once
per incident from the template, filled with what the database holds, moved draft -> in_review ->
published, edited until published, and the commander reminded (email first) when it is overdue."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from pager.core.incident_model import IncidentRules, PostmortemDue
from pager.db.incident_tables import Incident, IncidentEvent, IncidentRoleAssignment, Postmortem
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.db.users import find_user_by_handle
from pager.services.alerting import alerts
from pager.services.errors import Conflict, InvalidInput, NotFound
from pager.services.incidents.changes import change_status, set_milestone
from pager.services.incidents.declaring import declare
from pager.services.incidents.postmortems import (
    edit_postmortem,
    move_postmortem,
    open_postmortem,
    show_postmortem,
)
from pager.services.incidents.reminders import remind_postmortems_due
from pager.services.incidents.roles import assign_role
from pager.services.incidents.views import show_incident
from pager.services.runtime import Runtime
from pager.worker import tick
from pager.worker_jobs import periodic_jobs
from tests.services.test_engine import T0, runtime, sent, trigger

__all__ = ["runtime"]

pytestmark = pytest.mark.database

RULES = IncidentRules()
RESOLVED = T0 + timedelta(hours=1, minutes=30)  # Monday 2 March 16:30 UTC, 11:30 in New York
DUE = datetime(2026, 3, 5, 16, 30, tzinfo=UTC)  # three business days on, 11:30 in New York


def set_zone(session: Session, handle: str, zone: str) -> None:
    user = find_user_by_handle(session, handle)
    assert user is not None
    user.time_zone = zone
    session.add(user)


def resolved_incident(
    runtime: Runtime, *, drill: bool = False, declared_by: str = "alice", commander: bool = True
) -> tuple[int, int]:
    """Incident 1 through the record's own services: declared at T0+1m with alert 1 linked (alice
    acknowledges it at T0+3m), impact backdated to T0-10m, alice commander from T0+4m (New York),
    bob then carol (paged) scribe, resolved at RESOLVED. Returns (incident id, alert id)."""
    alert_id = trigger(runtime, T0)  # pages alice (the `team` schedule)
    tick(runtime, T0)  # her SMS and email go; the call is due a minute later
    rules = runtime.config.incidents
    with session_scope(runtime.engine) as session:
        set_zone(session, "alice", "America/New_York")
        incident = declare(
            session,
            rules,
            title="Checkout errors",
            severity="SEV1",
            services=["api"],
            alerts=[alert_id] if commander else [],
            customer_impact=True,
            drill=drill,
            actor=declared_by,
            now=T0 + timedelta(minutes=1),
        )
        incident_id = incident.id
        assert incident_id is not None
    alerts.act_on_alert(runtime, alert_id, "ack", by="alice", now=T0 + timedelta(minutes=3))
    with session_scope(runtime.engine) as session:
        if commander:
            assign_role(
                session, incident_id, "commander", "alice", actor="alice", now=T0 + timedelta(minutes=4)
            )
        set_milestone(
            session,
            rules,
            incident_id,
            "impact_started",
            T0 - timedelta(minutes=10),
            actor="alice",
            now=T0 + timedelta(minutes=4),
        )
        assign_role(session, incident_id, "scribe", "bob", actor="alice", now=T0 + timedelta(minutes=5))
        assign_role(
            session,
            incident_id,
            "scribe",
            "carol",
            reason="handover",
            page=True,
            actor="alice",
            now=T0 + timedelta(minutes=20),
        )
        change_status(session, rules, incident_id, "resolved", actor="alice", now=RESOLVED)
    return incident_id, alert_id


def open_it(
    runtime: Runtime, incident_id: int, rules: IncidentRules = RULES, now: datetime = RESOLVED
) -> Postmortem:
    with session_scope(runtime.engine) as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        return open_postmortem(session, incident, rules, now)


def events(runtime: Runtime, incident_id: int) -> list[tuple[str, str, str]]:
    with session_scope(runtime.engine, read_only=True) as session:
        rows = session.exec(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(col(IncidentEvent.id))
        )
        return [(e.kind, e.actor, e.message) for e in rows]


def show(runtime: Runtime, incident_id: int, format: str = "md") -> str:
    with session_scope(runtime.engine, read_only=True) as session:
        return show_postmortem(session, incident_id, format)


def move(runtime: Runtime, incident_id: int, status: str, now: datetime = RESOLVED) -> Postmortem:
    with session_scope(runtime.engine) as session:
        return move_postmortem(session, incident_id, status, by="alice", now=now)


def section(body: str, heading: str) -> list[str]:
    """The non-empty lines of a `## heading` section."""
    lines = body.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0].splitlines()
    return [line for line in lines if line.strip()]


def test_opened_once_as_a_draft_due_three_business_days_later_in_the_commanders_zone(
    runtime: Runtime,
) -> None:
    incident_id, _ = resolved_incident(runtime)
    first = open_it(runtime, incident_id)
    again = open_it(runtime, incident_id, now=RESOLVED + timedelta(hours=2))
    assert (again.id, again.status, again.due_at, again.body) == (first.id, "draft", DUE, first.body)
    assert [e for e in events(runtime, incident_id) if e[0].startswith("postmortem")] == [
        ("postmortem_opened", "system", "postmortem opened as a draft, due 2026-03-05T16:30:00+00:00")
    ]
    with session_scope(runtime.engine, read_only=True) as session:
        assert len(session.exec(select(Postmortem)).all()) == 1


def test_a_plain_duration_is_added_to_the_resolve_instant(runtime: Runtime) -> None:
    rules = IncidentRules(postmortem_due=PostmortemDue(business_days=None, duration=timedelta(hours=48)))
    runtime.config = replace(runtime.config, incidents=rules)
    incident_id, _ = resolved_incident(runtime)
    assert open_it(runtime, incident_id, rules).due_at == RESOLVED + timedelta(hours=48)


def test_the_body_is_filled_from_the_database(runtime: Runtime) -> None:
    incident_id, alert_id = resolved_incident(runtime)
    open_it(runtime, incident_id)
    body = show(runtime, incident_id)
    assert body.splitlines()[0] == "# Postmortem: incident 1 — Checkout errors"
    assert section(body, "Summary")[0].startswith("_What happened")
    header = body.split("## Summary", 1)[0]
    assert "| Severity | SEV1 |" in header
    assert "| Services | api |" in header
    assert "| Customer impact | yes |" in header
    # Declared at T0+1m, alice took command at T0+4m; impact from T0-10m to T0+1h30m.
    assert "| Time to acknowledge (MTTA) | 3m 00s (declared → acknowledged) |" in header
    assert "| Time to resolve (MTTR) | 1h 40m (impact started → resolved) |" in header
    assert section(body, "Milestones (UTC)") == [
        "| Milestone | At (UTC) |",
        "|---|---|",
        "| impact_started | 2026-03-02T14:50:00+00:00 |",
        "| detected | 2026-03-02T15:00:00+00:00 |",
        "| declared | 2026-03-02T15:01:00+00:00 |",
        "| acknowledged | 2026-03-02T15:04:00+00:00 |",
        "| identified | — |",
        "| mitigated | — |",
        "| resolved | 2026-03-02T16:30:00+00:00 |",
        "| closed | — |",
    ]
    assert section(body, "Roles")[2:] == [
        "| commander | alice | 2026-03-02T15:04:00+00:00 | — | alice |  |",
        "| scribe | bob | 2026-03-02T15:05:00+00:00 | 2026-03-02T15:20:00+00:00 | alice |  |",
        "| scribe | carol | 2026-03-02T15:20:00+00:00 | — | alice | handover |",
    ]
    assert section(body, "Alerts")[2:] == [
        f"| {alert_id} | api | Error rate high | 2026-03-02T15:00:00+00:00 | 2026-03-02T15:03:00+00:00 "
        "| alice | — |"
    ]
    # Alice's SMS and email went at the trigger; the call, due a minute later, was cancelled by the
    # ack. Carol was paged when she became scribe (not sent yet: no tick since).
    with session_scope(runtime.engine, read_only=True) as session:
        carol = session.exec(
            select(IncidentRoleAssignment.id).where(col(IncidentRoleAssignment.reason) == "handover")
        ).one()
    assert section(body, "Pages sent")[2:] == [
        f"| 2026-03-02T15:00:00+00:00 | alice | sms | sent | alert {alert_id} |",
        f"| 2026-03-02T15:00:00+00:00 | alice | email | sent | alert {alert_id} |",
        f"| 2026-03-02T15:01:00+00:00 | alice | voice | cancelled | alert {alert_id} |",
        f"| 2026-03-02T15:20:00+00:00 | carol | sms | pending | incident-role:{carol} |",
        f"| 2026-03-02T15:20:00+00:00 | carol | email | pending | incident-role:{carol} |",
        f"| 2026-03-02T15:21:00+00:00 | carol | voice | pending | incident-role:{carol} |",
    ]
    # The one merged timeline `pager incident show` prints, line for line.
    with session_scope(runtime.engine, read_only=True) as session:
        shown = show_incident(session, runtime.config.incidents, incident_id)["timeline"]
    timeline = section(body, "Timeline (UTC)")[2:]
    assert timeline == [
        f"| {line['at']} | {line['kind']} | {line['actor']} | {' '.join(line['text'].split())} |"
        for line in shown[:-1]
    ]
    assert shown[-1]["kind"] == "postmortem_opened"  # written after the body
    assert len(timeline) > 10
    assert f"| 2026-03-02T15:03:00+00:00 | alert.acknowledged | alice | alert {alert_id}: " in "\n".join(
        timeline
    )
    assert section(body, "Action items")[1] == "_None yet: add them with `pager action add`._"
    for empty in ("Impact", "Root causes"):
        assert len(section(body, empty)) == 1  # only the hint in italics
    assert section(body, "What went well") == section(body, "What went badly") == []


def test_json_shows_state_metrics_and_body(runtime: Runtime) -> None:
    incident_id, _ = resolved_incident(runtime)
    postmortem = open_it(runtime, incident_id)
    document = json.loads(show(runtime, incident_id, "json"))
    assert {k: v for k, v in document.items() if k != "body"} == {
        "id": postmortem.id,
        "incident_id": incident_id,
        "incident_number": 1,
        "title": "Checkout errors",
        "drill": False,
        "status": "draft",
        "due_at": "2026-03-05T16:30:00+00:00",
        "published_at": None,
        "created_at": "2026-03-02T16:30:00+00:00",
        "updated_at": "2026-03-02T16:30:00+00:00",
        "mtta_seconds": 180,
        "mttr_seconds": 6000,
    }
    assert document["body"] == show(runtime, incident_id)
    with (
        session_scope(runtime.engine, read_only=True) as session,
        pytest.raises(InvalidInput, match="use md or json"),
    ):
        show_postmortem(session, incident_id, "html")


def test_status_moves_and_edits_each_on_the_timeline(runtime: Runtime) -> None:
    incident_id, _ = resolved_incident(runtime)
    open_it(runtime, incident_id)
    with pytest.raises(
        Conflict, match="a draft postmortem cannot move to published; it may move to in_review"
    ):
        move(runtime, incident_id, "published")
    with pytest.raises(InvalidInput, match="unknown postmortem status 'final'"):
        move(runtime, incident_id, "final")
    assert move(runtime, incident_id, "in_review").status == "in_review"
    assert move(runtime, incident_id, "draft").status == "draft"
    with session_scope(runtime.engine) as session:
        edit_postmortem(session, incident_id, "# Ours now\n", by="bob", now=RESOLVED + timedelta(hours=1))
    move(runtime, incident_id, "in_review")
    published_at = RESOLVED + timedelta(days=1)
    published = move(runtime, incident_id, "published", now=published_at)
    assert (published.status, published.published_at) == ("published", published_at)
    for status in ("draft", "in_review", "published"):
        with pytest.raises(Conflict, match="published"):
            move(runtime, incident_id, status)
    with session_scope(runtime.engine) as session, pytest.raises(Conflict, match="published: that is final"):
        edit_postmortem(session, incident_id, "# Too late\n", by="bob", now=published_at)
    assert show(runtime, incident_id) == "# Ours now\n"
    assert [e for e in events(runtime, incident_id) if e[0].startswith("postmortem")] == [
        ("postmortem_opened", "system", "postmortem opened as a draft, due 2026-03-05T16:30:00+00:00"),
        ("postmortem_in_review", "alice", "postmortem moved from draft to in_review"),
        ("postmortem_draft", "alice", "postmortem moved from in_review to draft"),
        ("postmortem_edited", "bob", "postmortem edited (11 characters)"),
        ("postmortem_in_review", "alice", "postmortem moved from draft to in_review"),
        ("postmortem_published", "alice", "postmortem moved from in_review to published"),
    ]


def test_bad_edits_and_unknown_ones_change_nothing(runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        still_open = declare(session, RULES, title="Open", severity="SEV2", actor="alice", now=T0)
        assert still_open.id is not None
        open_id = still_open.id
    with session_scope(runtime.engine) as session, pytest.raises(NotFound, match="has no postmortem yet"):
        edit_postmortem(session, open_id, "# x", by="bob", now=RESOLVED)
    incident_id, _ = resolved_incident(runtime)
    body = open_it(runtime, incident_id).body
    with session_scope(runtime.engine) as session, pytest.raises(InvalidInput, match="must not be empty"):
        edit_postmortem(session, incident_id, " \n", by="bob", now=RESOLVED)
    with session_scope(runtime.engine) as session, pytest.raises(NotFound, match="no incident 999"):
        move_postmortem(session, 999, "in_review", by="bob", now=RESOLVED)
    assert show(runtime, incident_id) == body
    assert [e[0] for e in events(runtime, incident_id) if e[0].startswith("postmortem")] == [
        "postmortem_opened"
    ]


def reminder_rows(runtime: Runtime) -> list[tuple[str, str, datetime, str]]:
    with session_scope(runtime.engine, read_only=True) as session:
        rows = session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.idempotency_key).startswith("postmortem:"))
            .order_by(col(OutboxMessage.id))
        )
        return [(r.user_handle, r.method, r.due_at, r.status) for r in rows]


def reminders_sent(runtime: Runtime) -> list[tuple[str, str, str]]:
    return [page for page in sent(runtime) if page[2].startswith("postmortem:")]


def test_the_commander_is_paged_email_first_at_the_due_instant_until_it_is_published(
    runtime: Runtime,
) -> None:
    incident_id, _ = resolved_incident(runtime)
    postmortem = open_it(runtime, incident_id)
    assert remind_postmortems_due(runtime, DUE - timedelta(seconds=1)) == 0
    assert reminder_rows(runtime) == []
    job = {job.id: job for job in periodic_jobs(runtime)}["postmortem_reminders"]  # the worker's job
    assert job.work(DUE) == 1
    assert remind_postmortems_due(runtime, DUE + timedelta(minutes=1)) == 0  # once
    hour = timedelta(hours=1)
    assert reminder_rows(runtime) == [
        ("alice", "sms", DUE + hour, "pending"),
        ("alice", "voice", DUE + hour + timedelta(minutes=1), "pending"),
        ("alice", "email", DUE, "pending"),
    ]
    tick(runtime, DUE)
    assert reminders_sent(runtime) == [("email", "alice@example.com", f"postmortem:{postmortem.id}:due:2")]
    move(runtime, incident_id, "in_review", now=DUE + timedelta(minutes=10))
    move(runtime, incident_id, "published", now=DUE + timedelta(minutes=20))
    assert [row[3] for row in reminder_rows(runtime)] == ["cancelled", "cancelled", "sent"]
    tick(runtime, DUE + 2 * hour)
    assert len(reminders_sent(runtime)) == 1  # the phone never rang
    assert remind_postmortems_due(runtime, DUE + 3 * hour) == 0
    assert next(e for e in events(runtime, incident_id) if e[0] == "postmortem_reminder") == (
        "postmortem_reminder",
        "system",
        "postmortem overdue: alice reminded (sms, voice, email)",
    )


def test_the_current_commander_is_reminded_and_a_drill_says_so(runtime: Runtime) -> None:
    incident_id, _ = resolved_incident(runtime, drill=True)
    with session_scope(runtime.engine) as session:
        assign_role(
            session, incident_id, "commander", "dana", actor="alice", now=RESOLVED + timedelta(minutes=5)
        )
    open_it(runtime, incident_id)
    assert remind_postmortems_due(runtime, DUE) == 1
    with session_scope(runtime.engine, read_only=True) as session:
        email = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.method == "email", col(OutboxMessage.idempotency_key).startswith("postmortem:")
            )
        ).one()
    assert email.user_handle == "dana"
    assert email.subject == "[DRILL] Postmortem of incident 1 is overdue"
    assert email.body.startswith("[DRILL] Postmortem of incident 1 is overdue: 'Checkout errors' was due")


def test_without_a_commander_whoever_declared_it_is_reminded_if_a_person(runtime: Runtime) -> None:
    person_id, _ = resolved_incident(runtime, declared_by="dana", commander=False)
    open_it(runtime, person_id)
    assert remind_postmortems_due(runtime, DUE) == 1
    assert {row[0] for row in reminder_rows(runtime)} == {"dana"}
    with session_scope(runtime.engine) as session:
        token = declare(
            session, runtime.config.incidents, title="Disk", severity="SEV2", actor="token:ci", now=T0
        )
        assert token.id is not None
        change_status(session, runtime.config.incidents, token.id, "resolved", actor="token:ci", now=RESOLVED)
        open_postmortem(session, token, RULES, RESOLVED)
    assert remind_postmortems_due(runtime, DUE) == 0  # a token is nobody to page
    assert {row[0] for row in reminder_rows(runtime)} == {"dana"}


def test_business_days_are_counted_on_the_commanders_wall_clock(runtime: Runtime) -> None:
    # Resolved Friday 6 March 03:30 UTC: still Thursday 22:30 in New York. Three business days on
    # the commander's clock end Tuesday 22:30 EDT (after the change to daylight saving time); on
    # UTC's, without a commander, Wednesday 03:30.
    resolved = datetime(2026, 3, 6, 3, 30, tzinfo=UTC)
    rules = runtime.config.incidents
    due = {}
    with session_scope(runtime.engine) as session:
        set_zone(session, "alice", "America/New_York")
        for commander in ("alice", None):
            incident = declare(
                session, rules, title="Slow", severity="SEV2", commander=commander, actor="token:ci", now=T0
            )
            assert incident.id is not None
            change_status(session, rules, incident.id, "resolved", actor="token:ci", now=resolved)
            due[commander] = open_postmortem(session, incident, rules, resolved + timedelta(minutes=1)).due_at
    assert due == {
        "alice": datetime(2026, 3, 11, 2, 30, tzinfo=UTC),
        None: datetime(2026, 3, 11, 3, 30, tzinfo=UTC),
    }
