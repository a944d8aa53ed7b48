"""The demo's past incidents (`pager demo`): a resolved SEV0 with every role, status updates, a
published postmortem and action items (one overdue), and a SEV2 drill, so that a new user sees a
populated incident history. Written through the incident services themselves, as people would have,
at instants before `now`. Idempotent: nothing is added when the demo's incidents are there.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from pager.core.incident_model import IncidentRules
from pager.db.incidents import newest_incidents
from pager.db.users import find_user_by_handle
from pager.services.incidents.action_items import add_action_item, complete_action_item
from pager.services.incidents.changes import add_note, change_status, set_milestone
from pager.services.incidents.declaring import declare
from pager.services.incidents.postmortems import edit_postmortem, move_postmortem, open_postmortem
from pager.services.incidents.roles import assign_role
from pager.services.incidents.updates import post_update_on

OUTAGE_TITLE = "Checkout API failing for all customers"
DRILL_TITLE = "Game day: payments gateway fails over"
DEMO_TITLES = (OUTAGE_TITLE, DRILL_TITLE)
# The people the demo's incidents name (the shipped schedules' handles; see services/demo.py).
OUTAGE_PEOPLE = {
    "commander": "alice",
    "scribe": "bob",
    "comms_lead": "carol",
    "executive_sponsor": "dave",
    "sme": "erin",
}
DRILL_PEOPLE = {"commander": "hana", "scribe": "ivan"}
STATUS_REASONS = {"identified": "a gateway config push", "monitoring": "config rolled back everywhere"}
# (minutes after the declaration, public update, status moved to a minute before): one at least
# every 15 minutes, as SEV0 asks.
OUTAGE_UPDATES: tuple[tuple[int, str, str | None], ...] = (
    (8, "Checkout is failing for all customers. We are investigating.", None),
    (20, "Still failing; we are looking at the last configuration change.", None),
    (26, "Cause found: a gateway configuration change. Rolling it back.", "identified"),
    (38, "Rollback done in two regions of three.", None),
    (46, "Checkout works again in every region; we are watching error rates.", "monitoring"),
    (58, "Error rates are back to normal. Watching for another 20 minutes.", None),
    (72, "No errors for 30 minutes. Last update unless something changes.", None),
)


def seed_demo_incidents(session: Session, rules: IncidentRules, now: datetime) -> int:
    """Add the demo's past incidents unless they are there (or their people are not); returns how
    many incidents were added, in the caller's transaction."""
    existing = {
        incident.title for incident in newest_incidents(session, open_only=False, drills=True, limit=500)
    }
    if existing & set(DEMO_TITLES):
        return 0
    handles = {*OUTAGE_PEOPLE.values(), *DRILL_PEOPLE.values()}
    if any(find_user_by_handle(session, handle) is None for handle in handles):
        return 0
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    _outage(session, rules, day - timedelta(days=9) + timedelta(hours=14, minutes=5), now)
    _drill(session, rules, day - timedelta(days=4) + timedelta(hours=15))
    return 2


def _outage(session: Session, rules: IncidentRules, declared: datetime, now: datetime) -> None:
    """SEV0: every role, a public update at least every 15 minutes, identified -> monitoring ->
    resolved -> closed, a published postmortem, three action items (one done, one overdue, one open)."""

    def at(minutes: float) -> datetime:
        return declared + timedelta(minutes=minutes)

    incident = declare(
        session,
        rules,
        title=OUTAGE_TITLE,
        severity="SEV0",
        services=["checkout-api", "checkout-web"],
        commander=OUTAGE_PEOPLE["commander"],
        customer_impact=True,
        actor="alice",
        now=declared,
    )
    assert incident.id is not None
    incident_id = incident.id
    for minutes, role in ((3, "scribe"), (4, "comms_lead"), (6, "executive_sponsor"), (10, "sme")):
        reason = "owns the gateway config" if role == "sme" else ""
        assign_role(
            session, incident_id, role, OUTAGE_PEOPLE[role], reason=reason, actor="alice", now=at(minutes)
        )
    set_milestone(session, rules, incident_id, "impact_started", at(-15), actor="alice", now=at(5))
    for minutes, text, status in OUTAGE_UPDATES:
        if status is not None:
            change_status(
                session, rules, incident_id, status, message=text, actor="alice", now=at(minutes - 1)
            )
        post_update_on(session, incident_id, text, True, None, "carol", at(minutes), rules)
    add_note(
        session,
        incident_id,
        "5xx on every checkout-api pod since 13:50; the last change was a gateway config push",
        actor="bob",
        now=at(15),
    )
    change_status(session, rules, incident_id, "resolved", actor="alice", now=at(80))
    postmortem = open_postmortem(session, incident, rules, at(80), by="alice")
    items = [
        ("Validate gateway config before it is pushed", "bob", (declared + timedelta(days=7)).date()),
        ("Alert on the checkout error ratio above 2%", "erin", (now - timedelta(days=2)).date()),
        ("Runbook: roll back a gateway config", "carol", (now + timedelta(days=10)).date()),
    ]
    added = [
        add_action_item(session, incident_id, title=title, owner=owner, due=due, by="alice", now=at(60 * 24))
        for title, owner, due in items
    ]
    body = postmortem.body.replace(
        "_Who was affected and how: customers, requests, money, data._",
        "Every checkout failed for 95 minutes (from 13:50 UTC): about 41,000 orders were not placed.",
    ).replace(
        "_Why it happened; keep asking why._",
        "A gateway config with a missing upstream was pushed to every region at once; nothing validated it, "
        "and the canary region took the same push.",
    )
    edit_postmortem(session, incident_id, body, by="bob", now=at(60 * 24 * 2))
    move_postmortem(session, incident_id, "in_review", by="alice", now=at(60 * 24 * 2 + 30))
    move_postmortem(session, incident_id, "published", by="dave", now=at(60 * 24 * 3))
    change_status(session, rules, incident_id, "closed", actor="alice", now=at(60 * 24 * 3 + 60))
    complete_action_item(session, added[0].id, by="bob", now=at(60 * 24 * 5))


def _drill(session: Session, rules: IncidentRules, declared: datetime) -> None:
    """SEV2 drill: commander and scribe, a note, resolved, its postmortem a draft, one action item."""
    incident = declare(
        session,
        rules,
        title=DRILL_TITLE,
        severity="SEV2",
        services=["payments-gateway"],
        commander=DRILL_PEOPLE["commander"],
        drill=True,
        actor="hana",
        now=declared,
    )
    assert incident.id is not None
    assign_role(
        session,
        incident.id,
        "scribe",
        DRILL_PEOPLE["scribe"],
        actor="hana",
        now=declared + timedelta(minutes=2),
    )
    add_note(
        session,
        incident.id,
        "Failover to the standby region took 4 minutes",
        actor="ivan",
        now=declared + timedelta(minutes=20),
    )
    change_status(session, rules, incident.id, "resolved", actor="hana", now=declared + timedelta(minutes=40))
    open_postmortem(session, incident, rules, declared + timedelta(minutes=40), by="hana")
    add_action_item(
        session,
        incident.id,
        title="Automate the failover runbook",
        owner="ivan",
        due=(declared + timedelta(days=14)).date(),
        by="hana",
        now=declared + timedelta(hours=1),
    )
