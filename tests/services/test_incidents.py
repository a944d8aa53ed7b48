"""Incident records through the real services and database (docs/incidents.md): declaring, the
merged timeline, roles with history, milestones in order, the lifecycle, drills, bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.alerting import alerts
from pager.services.errors import Conflict, DomainError, InvalidInput, NotFound
from pager.services.incidents.changes import (
    add_note,
    change_severity,
    change_status,
    set_customer_impact,
    set_milestone,
)
from pager.services.incidents.roles import assign_role
from pager.services.incidents.views import list_incidents
from pager.services.operations.config_watch import config_fingerprint
from pager.services.runtime import Runtime
from tests.services.incident_fixtures import T0, declared, run, runtime, shown, snapshot, trigger

__all__ = ["runtime"]

pytestmark = pytest.mark.database


def test_declaring_from_an_acknowledged_alert_links_it_and_makes_its_acker_commander(
    runtime: Runtime,
) -> None:
    alert_id = trigger(runtime, "checkout-api", "5xx", T0)
    alerts.act_on_alert(runtime, alert_id, "ack", by="bob", now=T0 + timedelta(minutes=2))
    at = T0 + timedelta(minutes=10)
    incident_id = declared(runtime, at, services=[], alerts=[alert_id], customer_impact=True)
    doc = shown(runtime, incident_id)
    assert doc["number"] == 1 and doc["status"] == "investigating" and doc["severity"] == "SEV1"
    assert doc["services"] == ["checkout-api"] and doc["alerts"] == [alert_id]
    assert doc["roles"] == {
        "commander": "bob",
        "scribe": None,
        "comms_lead": None,
        "executive_sponsor": None,
        "sme": [],
    }
    assert doc["missing_roles"] == []  # incidents.yaml: SEV1 requires the commander only
    assert doc["milestones"]["detected"] == T0.isoformat()  # the alert's trigger, earlier than declared
    assert doc["milestones"]["declared"] == at.isoformat()
    assert doc["milestones"]["acknowledged"] == at.isoformat()  # bob took command at the declaration
    assert doc["next_update_due"] == (at + timedelta(minutes=30)).isoformat()
    kinds = [(line["kind"], line["actor"]) for line in doc["timeline"]]
    assert kinds[0] == ("alert.triggered", "system")
    assert ("alert.acknowledged", "bob") in kinds
    assert kinds[-3:] == [("declared", "alice"), ("alert_linked", "alice"), ("role_assigned", "alice")]
    instants = [line["at"] for line in doc["timeline"]]
    assert instants == sorted(instants)
    assert all(set(line) == {"at", "kind", "actor", "text"} for line in doc["timeline"])


def test_numbers_follow_each_other_and_an_alert_joins_one_open_incident_only(runtime: Runtime) -> None:
    alert_id = trigger(runtime, "checkout-api", "5xx", T0)
    first = declared(runtime, alerts=[alert_id])
    second = declared(runtime, services=["search"])
    assert (shown(runtime, first)["number"], shown(runtime, second)["number"]) == (1, 2)
    before = snapshot(runtime)
    with pytest.raises(Conflict, match=f"alert {alert_id} already belongs to open incident 1"):
        declared(runtime, alerts=[alert_id])
    assert snapshot(runtime) == before


def test_role_handover_keeps_history_and_smes_are_many(runtime: Runtime) -> None:
    incident_id = declared(runtime, commander="alice")
    later = T0 + timedelta(minutes=20)
    run(
        runtime,
        lambda s: assign_role(
            s, incident_id, "commander", "bob", reason="alice is off shift", actor="alice", now=later
        ),
    )
    run(runtime, lambda s: assign_role(s, incident_id, "sme", "carol", actor="bob", now=later))
    run(runtime, lambda s: assign_role(s, incident_id, "sme", "dana", actor="bob", now=later))
    doc = shown(runtime, incident_id)
    assert doc["roles"]["commander"] == "bob" and doc["roles"]["sme"] == ["carol", "dana"]
    alice, bob = doc["role_history"][:2]
    assert (alice["user"], alice["ended_at"], alice["ended_by"], alice["end_reason"]) == (
        "alice",
        later.isoformat(),
        "alice",
        "alice is off shift",
    )
    assert (bob["user"], bob["started_at"], bob["ended_at"], bob["assigned_by"]) == (
        "bob",
        later.isoformat(),
        None,
        "alice",
    )
    [handover] = [line for line in doc["timeline"] if line["kind"] == "role_handed_over"]
    assert handover["text"] == "commander handed over from alice to bob by alice: alice is off shift"
    with pytest.raises(Conflict, match="bob already holds commander"):
        run(runtime, lambda s: assign_role(s, incident_id, "commander", "bob", actor="bob", now=later))


def test_a_role_page_goes_through_the_persons_rules_with_the_assignment_key(runtime: Runtime) -> None:
    incident_id = declared(runtime, drill=True)
    assignment = run(
        runtime,
        lambda s: assign_role(s, incident_id, "comms_lead", "carol", page=True, actor="alice", now=T0),
    )
    with session_scope(runtime.engine, read_only=True) as session:
        rows = list(session.exec(select(OutboxMessage)))
    assert rows and {r.idempotency_key.rsplit(":", 1)[0] for r in rows} == {f"incident-role:{assignment.id}"}
    assert {r.user_handle for r in rows} == {"carol"}
    assert all(
        r.body.startswith("[DRILL] Incident 1 (SEV1) Checkout errors: you are the communications lead")
        for r in rows
    )
    assert any(line["kind"] == "role_paged" for line in shown(runtime, incident_id)["timeline"])


def test_missing_roles_follow_the_severity_and_sev0_always_needs_a_sponsor(runtime: Runtime) -> None:
    incident_id = declared(runtime, severity="SEV2")
    assert shown(runtime, incident_id)["missing_roles"] == []
    run(
        runtime,
        lambda s: change_severity(s, runtime.config.incidents, incident_id, "SEV0", actor="bob", now=T0),
    )
    # incidents.yaml asks SEV0 for commander and comms_lead; an executive sponsor is always required
    assert shown(runtime, incident_id)["missing_roles"] == ["commander", "comms_lead", "executive_sponsor"]
    run(runtime, lambda s: assign_role(s, incident_id, "executive_sponsor", "dana", actor="bob", now=T0))
    assert shown(runtime, incident_id)["missing_roles"] == ["commander", "comms_lead"]
    [listed] = run(runtime, lambda s: list_incidents(s, runtime.config.incidents))
    assert listed["missing_roles"] == ["commander", "comms_lead"]


def test_severity_change_moves_the_update_due_instant(runtime: Runtime) -> None:
    incident_id = declared(runtime, severity="SEV2", customer_impact=True)
    assert shown(runtime, incident_id)["next_update_due"] == (T0 + timedelta(minutes=60)).isoformat()
    later = T0 + timedelta(minutes=5)
    rules = runtime.config.incidents
    run(
        runtime,
        lambda s: change_severity(
            s, rules, incident_id, "SEV0", reason="all regions", actor="bob", now=later
        ),
    )
    doc = shown(runtime, incident_id)
    assert doc["severity"] == "SEV0"
    assert doc["next_update_due"] == (T0 + timedelta(minutes=15)).isoformat()
    assert doc["timeline"][-1]["text"] == "severity changed from SEV2 to SEV0 by bob: all regions"


def test_customer_impact_set_later_starts_the_cadence_from_then_and_cleared_stops_it(
    runtime: Runtime,
) -> None:
    incident_id = declared(runtime, severity="SEV2")  # as an automatic declare opens one: no impact
    assert shown(runtime, incident_id)["next_update_due"] is None
    rules = runtime.config.incidents
    later = T0 + timedelta(hours=2)
    run(
        runtime,
        lambda s: set_customer_impact(
            s, rules, incident_id, True, reason="EU checkout", actor="bob", now=later
        ),
    )
    doc = shown(runtime, incident_id)
    assert doc["customer_impact"] is True
    assert doc["next_update_due"] == (later + timedelta(minutes=60)).isoformat()  # not overdue at once
    assert doc["timeline"][-1]["text"] == "affects customers (set by bob): EU checkout"
    with pytest.raises(InvalidInput, match="already affects customers"):
        run(runtime, lambda s: set_customer_impact(s, rules, incident_id, True, actor="bob", now=later))
    run(runtime, lambda s: set_customer_impact(s, rules, incident_id, False, actor="bob", now=later))
    assert shown(runtime, incident_id)["next_update_due"] is None


def test_milestones_keep_their_order_and_impact_start_may_be_backdated(runtime: Runtime) -> None:
    incident_id = declared(runtime)
    rules = runtime.config.incidents
    now = T0 + timedelta(minutes=30)
    backdated = T0 - timedelta(hours=1)
    run(
        runtime,
        lambda s: set_milestone(s, rules, incident_id, "impact_started", backdated, actor="bob", now=now),
    )
    assert shown(runtime, incident_id)["milestones"]["impact_started"] == backdated.isoformat()
    before = snapshot(runtime)
    refused = [
        ("impact_started", T0 + timedelta(minutes=1), "earlier than impact_started|is earlier than"),
        ("detected", T0 - timedelta(hours=2), "milestone detected at .* is earlier than impact_started"),
        ("identified", now + timedelta(minutes=1), "in the future"),
        ("resolved", T0 + timedelta(minutes=5), "set by moving the incident to resolved"),
        ("fixed", T0, "unknown milestone 'fixed'"),
    ]
    for name, at, message in refused:
        with pytest.raises(InvalidInput, match=message):
            run(
                runtime,
                lambda s, n=name, a=at: set_milestone(s, rules, incident_id, n, a, actor="bob", now=now),
            )
    assert snapshot(runtime) == before


def test_the_lifecycle_stamps_milestones_reopens_and_ends_closed(runtime: Runtime) -> None:
    incident_id = declared(runtime, customer_impact=True)
    rules = runtime.config.incidents

    def move(status: str, minutes: int) -> dict[str, Any]:
        at = T0 + timedelta(minutes=minutes)
        run(runtime, lambda s: change_status(s, rules, incident_id, status, message="", actor="bob", now=at))
        return shown(runtime, incident_id)

    assert move("identified", 5)["milestones"]["identified"] == (T0 + timedelta(minutes=5)).isoformat()
    assert move("monitoring", 10)["milestones"]["mitigated"] == (T0 + timedelta(minutes=10)).isoformat()
    back = move("identified", 12)  # a regression keeps the first instants
    assert back["milestones"]["identified"] == (T0 + timedelta(minutes=5)).isoformat()
    resolved = move("resolved", 20)
    assert resolved["milestones"]["resolved"] == (T0 + timedelta(minutes=20)).isoformat()
    assert resolved["next_update_due"] is None
    reopened = move("investigating", 25)
    assert reopened["milestones"]["resolved"] is None
    assert reopened["next_update_due"] is not None
    move("resolved", 30)
    closed = move("closed", 40)
    assert closed["milestones"]["closed"] == (T0 + timedelta(minutes=40)).isoformat()
    assert [line["text"] for line in closed["timeline"] if line["kind"] == "status_changed"][-2:] == [
        "status moved from investigating to resolved by bob",
        "status moved from resolved to closed by bob",
    ]
    before = snapshot(runtime)
    later = T0 + timedelta(hours=1)
    changes = [
        lambda s: change_status(s, rules, incident_id, "investigating", actor="bob", now=later),
        lambda s: change_severity(s, rules, incident_id, "SEV0", actor="bob", now=later),
        lambda s: assign_role(s, incident_id, "scribe", "carol", actor="bob", now=later),
        lambda s: add_note(s, incident_id, "late thought", actor="bob", now=later),
        lambda s: set_milestone(s, rules, incident_id, "identified", T0, actor="bob", now=later),
    ]
    for change in changes:
        with pytest.raises(Conflict, match="closed"):
            run(runtime, change)
    assert snapshot(runtime) == before


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        ("investigating", "closed", "resolve the incident before closing it"),
        ("investigating", "investigating", "already investigating"),
        ("investigating", "fixed", "unknown status 'fixed'"),
    ],
)
def test_moves_the_lifecycle_refuses_change_nothing(
    runtime: Runtime, current: str, target: str, message: str
) -> None:
    incident_id = declared(runtime)
    rules = runtime.config.incidents
    before = snapshot(runtime)
    with pytest.raises(InvalidInput, match=message):
        run(runtime, lambda s: change_status(s, rules, incident_id, target, actor="bob", now=T0))
    assert snapshot(runtime) == before


def test_notes_are_timeline_lines_of_their_author(runtime: Runtime) -> None:
    incident_id = declared(runtime)
    run(
        runtime,
        lambda s: add_note(
            s, incident_id, "rolled back deploy 412", actor="carol", now=T0 + timedelta(seconds=5)
        ),
    )
    last = shown(runtime, incident_id)["timeline"][-1]
    assert (last["kind"], last["actor"], last["text"]) == ("note", "carol", "rolled back deploy 412")


def test_drills_are_left_out_of_lists_unless_asked_and_marked_on_their_timeline(runtime: Runtime) -> None:
    real = declared(runtime, title="Real")
    drill = declared(runtime, title="Practice", drill=True, services=["search"])
    rules = runtime.config.incidents
    assert [r["id"] for r in run(runtime, lambda s: list_incidents(s, rules))] == [real]
    assert [r["id"] for r in run(runtime, lambda s: list_incidents(s, rules, drills=True))] == [drill, real]
    run(runtime, lambda s: change_status(s, rules, real, "resolved", actor="bob", now=T0))
    assert [
        r["id"] for r in run(runtime, lambda s: list_incidents(s, rules, open_only=True, drills=True))
    ] == [drill]
    assert all(line["text"].startswith("[DRILL] ") for line in shown(runtime, drill)["timeline"])


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"severity": "SEV9"}, InvalidInput, "unknown severity 'SEV9'"),
        ({"services": ["nope"]}, InvalidInput, "no service 'nope'"),
        ({"alerts": [999]}, InvalidInput, "no alert 999"),
        ({"commander": "zed"}, InvalidInput, "no user 'zed'"),
        ({"title": "  "}, InvalidInput, "title must not be empty"),
    ],
)
def test_a_bad_declaration_changes_nothing(
    runtime: Runtime, options: dict[str, Any], error: type[DomainError], message: str
) -> None:
    before = snapshot(runtime)
    with pytest.raises(error, match=message):
        declared(runtime, **options)
    assert snapshot(runtime) == before


def test_bad_changes_name_the_problem_and_change_nothing(runtime: Runtime) -> None:
    incident_id = declared(runtime)
    rules = runtime.config.incidents
    before = snapshot(runtime)
    cases = [
        (
            lambda s: assign_role(s, incident_id, "captain", "bob", actor="bob", now=T0),
            InvalidInput,
            "unknown role",
        ),
        (
            lambda s: assign_role(s, incident_id, "scribe", "zed", actor="bob", now=T0),
            InvalidInput,
            "no user 'zed'",
        ),
        (
            lambda s: change_severity(s, rules, incident_id, "sev1", actor="bob", now=T0),
            InvalidInput,
            "unknown severity",
        ),
        (
            lambda s: add_note(s, incident_id, " ", actor="bob", now=T0),
            InvalidInput,
            "note must not be empty",
        ),
        (lambda s: add_note(s, 999, "hello", actor="bob", now=T0), NotFound, "no incident 999"),
    ]
    for change, error, message in cases:
        with pytest.raises(error, match=message):
            run(runtime, change)
    assert snapshot(runtime) == before


def test_a_bad_incidents_yaml_is_refused_on_reload_and_a_good_one_taken(runtime: Runtime) -> None:
    path = runtime.config_dir / "incidents.yaml"
    seen = config_fingerprint(runtime.config_dir)
    before = runtime.config
    path.write_text("declare:\n  - {service: payments, alert_severity: critical, severity: SEV1}\n")
    assert config_fingerprint(runtime.config_dir) != seen  # the watcher notices incidents.yaml
    assert runtime.reload_config() is False
    assert runtime.config is before
    path.write_text("severities:\n  SEV1: {update_every: 5m}\n")
    assert runtime.reload_config() is True
    assert runtime.config.incidents.severities["SEV1"].update_every == timedelta(minutes=5)
    assert runtime.config.incidents.declare == ()
