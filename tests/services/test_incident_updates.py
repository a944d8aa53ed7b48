"""Status updates and their overdue ladder through the real services and database, on a fake clock.

docs/incidents.md, "Status updates": the comms lead is paged at the due instant, the commander 5
minutes later, the overdue-update policy from 10 minutes after; a posted update stops it and cancels
what is pending; a pass run twice (or by a worker restarted after kill -9) pages nobody twice; a
drill's pages say "[DRILL]".
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import col, select

from pager.core.incident_model import IncidentRules
from pager.db.incident_tables import Incident, IncidentRoleAssignment, StatusUpdate
from pager.db.incident_timeline import incident_events_of
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.errors import Conflict, InvalidInput, NotFound
from pager.services.incidents.changes import change_severity
from pager.services.incidents.overdue_updates import run_overdue_updates
from pager.services.incidents.updates import post_update_on, updates_of
from pager.services.people import users
from pager.services.runtime import Runtime
from pager.worker import tick
from tests import support

pytestmark = pytest.mark.database

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
EVERY = timedelta(minutes=30)
DUE = T0 + EVERY
M = timedelta(minutes=1)
SCHEDULE = """\
    time_zone: UTC
    layers:
      - name: weekly
        members: [carol]
        start: 2026-01-05T09:00
        shift: 1w
    """
POLICY = """\
    levels:
      - notify: [schedule:comms]
        escalate_after: 15m
      - notify: [user:dave]
        escalate_after: 10m
    """


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path) -> Runtime:
    built = support.console_runtime(
        engine, support.write_config(tmp_path / "config", {"comms": SCHEDULE}, {"incident-comms": POLICY})
    )
    built.config = replace(built.config, incidents=IncidentRules(overdue_update_policy="incident-comms"))
    with session_scope(engine) as session:
        for number, handle in enumerate(("alice", "bob", "carol", "dave"), start=1):
            users.add_user(session, handle=handle, name=handle.title(), now=T0, sms=f"+1555000000{number}")
        users.add_user(session, handle="walt", name="Walt", now=T0)  # no contact method at all
        # erin: a text at once, a call a minute later (the defaults over her two methods)
        users.add_user(session, handle="erin", name="Erin", now=T0, sms="+15550000005", voice="+15551000005")
    return built


def declare(
    runtime: Runtime,
    *,
    comms_lead: str | None = "alice",
    commander: str | None = "bob",
    drill: bool = False,
    status: str = "investigating",
) -> int:
    """An open SEV1 with customer impact declared at T0 (rows written directly: test setup only)."""
    with session_scope(runtime.engine) as session:
        count = len(list(session.exec(select(Incident))))
        incident = Incident(
            number=count + 1,
            title="Checkout down",
            severity="SEV1",
            status=status,  # type: ignore[arg-type]
            drill=drill,
            customer_impact=True,
            declared_by="alice",
            declared_at=T0,
            next_update_due_at=DUE,
        )
        session.add(incident)
        session.flush()
        assert incident.id is not None
        for role, handle in (("comms_lead", comms_lead), ("commander", commander)):
            if handle is not None:
                user = users.require_user(session, handle)
                session.add(
                    IncidentRoleAssignment(
                        incident_id=incident.id,
                        role=role,
                        user_id=user.id,
                        started_at=T0,
                        assigned_by="alice",  # type: ignore[arg-type]
                    )
                )
        return incident.id


def pages(runtime: Runtime) -> list[OutboxMessage]:
    with session_scope(runtime.engine, read_only=True) as session:
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


def paged(runtime: Runtime) -> list[tuple[str, str]]:
    """(handle, stage) of every page queued, in order."""
    return [(row.user_handle, row.idempotency_key.split(":")[3]) for row in pages(runtime)]


def timeline(runtime: Runtime, incident_id: int) -> list[tuple[str, str]]:
    with session_scope(runtime.engine, read_only=True) as session:
        return [(event.kind, event.message) for event in incident_events_of(session, incident_id)]


def update(
    runtime: Runtime, incident_id: int, at: datetime, text: str = "Rolling back", **kw: object
) -> None:
    options: dict[str, object] = {"public": True, "status": None, "actor": "alice"} | kw
    with session_scope(runtime.engine) as session:
        post_update_on(
            session,
            incident_id,
            text,
            options["public"],  # type: ignore[arg-type]
            options["status"],  # type: ignore[arg-type]
            str(options["actor"]),
            at,
            runtime.config.incidents,
        )


def incident(runtime: Runtime, incident_id: int) -> Incident:
    with session_scope(runtime.engine, read_only=True) as session:
        found = session.get(Incident, incident_id)
        assert found is not None
        session.expunge(found)
        return found


def test_comms_lead_at_due_then_commander_then_the_policy(runtime: Runtime) -> None:
    incident_id = declare(runtime)
    assert run_overdue_updates(runtime, DUE - timedelta(seconds=1)).wake_at == DUE
    assert paged(runtime) == []
    step = run_overdue_updates(runtime, DUE)
    assert (step.paged, step.wake_at) == (1, DUE + 5 * M)
    assert paged(runtime) == [("alice", "comms_lead")]
    assert run_overdue_updates(runtime, DUE + 5 * M - timedelta(seconds=1)).paged == 0
    assert run_overdue_updates(runtime, DUE + 5 * M).wake_at == DUE + 10 * M
    assert paged(runtime)[-1] == ("bob", "commander")
    assert run_overdue_updates(runtime, DUE + 10 * M).wake_at == DUE + 25 * M
    assert paged(runtime)[-1] == ("carol", "policy-0")
    assert run_overdue_updates(runtime, DUE + 25 * M).wake_at is None
    assert paged(runtime)[-1] == ("dave", "policy-1")
    assert len(paged(runtime)) == 4
    first = pages(runtime)[0]
    assert first.idempotency_key == f"incident-update:{incident_id}:20260302T150000Z:comms_lead:0"
    assert first.due_at == DUE
    assert "Incident 1 (SEV1) Checkout down: status update overdue since 15:00 UTC" in first.body
    lines = [message for kind, message in timeline(runtime, incident_id) if kind == "update_overdue"]
    assert lines == [
        "comms lead alice paged: update overdue",
        "commander bob paged: update overdue",
        "overdue-update policy level 1: carol paged: update overdue",
        "overdue-update policy level 2: dave paged: update overdue",
    ]


def test_a_pass_run_twice_pages_nobody_twice(runtime: Runtime) -> None:
    incident_id = declare(runtime)
    assert run_overdue_updates(runtime, DUE).paged == 1
    assert run_overdue_updates(runtime, DUE).paged == 0
    assert run_overdue_updates(runtime, DUE + timedelta(seconds=3)).paged == 0
    # A worker restarted later finds every stage it had queued and pages only what is new.
    tick(runtime, DUE + 6 * M)
    tick(runtime, DUE + 6 * M)
    assert paged(runtime) == [("alice", "comms_lead"), ("bob", "commander")]
    assert [k for k, _ in timeline(runtime, incident_id)].count("update_overdue") == 2


def test_nothing_is_paged_when_an_update_was_posted(runtime: Runtime) -> None:
    incident_id = declare(runtime)
    update(runtime, incident_id, DUE - 2 * M)
    assert incident(runtime, incident_id).next_update_due_at == DUE - 2 * M + EVERY
    for minutes in (0, 5, 10, 25):
        tick(runtime, DUE + minutes * M)
    assert paged(runtime) == []


def test_posting_an_update_cancels_the_pending_pages_and_stops_the_ladder(runtime: Runtime) -> None:
    incident_id = declare(runtime, comms_lead="erin")
    tick(runtime, DUE)
    statuses = {row.method: row.status for row in pages(runtime)}
    assert statuses == {"sms": "sent", "voice": "pending"}
    update(runtime, incident_id, DUE + 30 * timedelta(seconds=1), public=False)
    assert {row.method: row.status for row in pages(runtime)} == {"sms": "sent", "voice": "cancelled"}
    for minutes in (1, 5, 10, 25):
        tick(runtime, DUE + minutes * M)
    assert [handle for handle, _ in paged(runtime)] == ["erin", "erin"]  # no commander, no policy
    kinds = [kind for kind, _ in timeline(runtime, incident_id)]
    assert kinds == ["update_overdue", "update", "update_ladder_stopped"]
    assert timeline(runtime, incident_id)[1] == ("update", "internal update: Rolling back")
    assert "1 pending pages cancelled" in timeline(runtime, incident_id)[2][1]


def test_the_next_due_instant_restarts_the_ladder_with_new_keys(runtime: Runtime) -> None:
    incident_id = declare(runtime)
    tick(runtime, DUE)
    update(runtime, incident_id, DUE + M)
    tick(runtime, DUE + M + EVERY)
    keys = [row.idempotency_key for row in pages(runtime)]
    assert keys == [
        f"incident-update:{incident_id}:20260302T150000Z:comms_lead:0",
        f"incident-update:{incident_id}:20260302T153100Z:comms_lead:0",
    ]


def test_without_comms_lead_the_commander_is_paged_at_due_and_without_roles_the_policy(
    runtime: Runtime,
) -> None:
    declare(runtime, comms_lead=None)
    declare(runtime, comms_lead=None, commander=None)
    tick(runtime, DUE)
    assert sorted(paged(runtime)) == [("bob", "commander"), ("carol", "policy-0")]


def test_a_drills_pages_and_timeline_say_drill(runtime: Runtime) -> None:
    incident_id = declare(runtime, drill=True)
    tick(runtime, DUE)
    (page,) = pages(runtime)
    assert page.body.startswith("[DRILL] Incident 1 (SEV1)")
    assert ("update_overdue", "[DRILL] comms lead alice paged: update overdue") in timeline(
        runtime, incident_id
    )


def test_someone_who_cannot_be_paged_is_recorded_once_and_the_ladder_goes_on(runtime: Runtime) -> None:
    incident_id = declare(runtime, comms_lead="walt")
    for seconds in (0, 1, 2):
        tick(runtime, DUE + timedelta(seconds=seconds))
    tick(runtime, DUE + 5 * M)
    lines = [message for kind, message in timeline(runtime, incident_id) if kind.startswith("update_overdue")]
    assert lines == [
        "comms lead walt cannot be paged (no usable contact method): update overdue",
        "commander bob paged: update overdue",
    ]


def test_a_resolved_incident_is_never_paged(runtime: Runtime) -> None:
    declare(runtime, status="resolved")
    tick(runtime, DUE + 30 * M)
    assert paged(runtime) == []


def test_an_update_is_stored_on_the_timeline_and_listed(runtime: Runtime) -> None:
    incident_id = declare(runtime)
    update(runtime, incident_id, T0 + 7 * M, "We found the bad deploy", status="identified")
    found = incident(runtime, incident_id)
    assert (found.status, found.last_update_at, found.next_update_due_at) == (
        "identified",
        T0 + 7 * M,
        T0 + 7 * M + EVERY,
    )
    with session_scope(runtime.engine, read_only=True) as session:
        (row,) = updates_of(session, incident_id)
        assert (row.message, row.public, row.status, row.author) == (
            "We found the bad deploy",
            True,
            "identified",
            "alice",
        )
    assert ("update", "public update: We found the bad deploy") in timeline(runtime, incident_id)


@pytest.mark.parametrize(
    ("text", "status", "error", "words"),
    [
        ("  ", None, InvalidInput, "needs text"),
        ("ok", "fixed", InvalidInput, "unknown status 'fixed'"),
    ],
)
def test_bad_updates_are_refused_and_change_nothing(
    runtime: Runtime, text: str, status: str | None, error: type[Exception], words: str
) -> None:
    incident_id = declare(runtime)
    with pytest.raises(error, match=words):
        update(runtime, incident_id, T0 + M, text, status=status)
    assert _unchanged(runtime, incident_id)


def test_an_update_on_a_closed_incident_is_a_conflict(runtime: Runtime) -> None:
    incident_id = declare(runtime, status="closed")
    with pytest.raises(Conflict, match="incident 1 is closed"):
        update(runtime, incident_id, T0 + M)
    assert _unchanged(runtime, incident_id)
    with pytest.raises(NotFound, match="no incident 999"):
        update(runtime, 999, T0 + M)


def _unchanged(runtime: Runtime, incident_id: int) -> bool:
    with session_scope(runtime.engine, read_only=True) as session:
        rows = list(session.exec(select(StatusUpdate)))
    found = incident(runtime, incident_id)
    return rows == [] and found.last_update_at is None and timeline(runtime, incident_id) == []


def test_an_update_that_resolves_ends_the_cadence_and_a_refused_move_changes_nothing(
    runtime: Runtime,
) -> None:
    incident_id = declare(runtime, comms_lead="erin")
    tick(runtime, DUE)  # erin's text sent, her call pending
    with pytest.raises(InvalidInput, match="resolve the incident before closing it"):
        update(runtime, incident_id, DUE + 10 * timedelta(seconds=1), status="closed")
    assert {row.status for row in pages(runtime)} == {"sent", "pending"}
    update(runtime, incident_id, DUE + 10 * timedelta(seconds=1), "Fixed", status="resolved")
    found = incident(runtime, incident_id)
    assert (found.status, found.next_update_due_at) == ("resolved", None)
    assert {row.status for row in pages(runtime)} == {"sent", "cancelled"}
    tick(runtime, DUE + 30 * M)
    assert len(pages(runtime)) == 2


def test_a_policy_level_pages_each_of_its_people_under_a_key_of_their_own(
    runtime: Runtime, tmp_path: Path
) -> None:
    policy = "levels:\n  - notify: [user:dave, user:carol, user:walt]\n    escalate_after: 5m\n"
    several = support.console_runtime(
        runtime.engine, support.write_config(tmp_path / "several", {}, {"incident-comms": policy})
    )
    several = replace(several, config=replace(several.config, incidents=runtime.config.incidents))
    incident_id = declare(several, comms_lead=None, commander=None)
    tick(several, DUE)
    tick(several, DUE + M)
    keys = sorted(row.idempotency_key for row in pages(several))
    prefix = f"incident-update:{incident_id}:20260302T150000Z:policy-0"
    assert keys == [f"{prefix}:carol:0", f"{prefix}:dave:0"]
    assert [m for k, m in timeline(several, incident_id) if k == "update_overdue"] == [
        "overdue-update policy level 1: dave, carol paged: update overdue (walt cannot be paged)"
    ]


def test_a_severity_change_that_moves_the_due_instant_cancels_the_old_ladders_pending_pages(
    runtime: Runtime,
) -> None:
    incident_id = declare(runtime, comms_lead="erin")
    tick(runtime, DUE)  # erin: a text now, a call in a minute
    with session_scope(runtime.engine) as session:
        change_severity(
            session, runtime.config.incidents, incident_id, "SEV2", reason="smaller", actor="bob", now=DUE
        )
    assert {row.method: row.status for row in pages(runtime)} == {"sms": "sent", "voice": "cancelled"}
