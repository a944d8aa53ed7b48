"""`pager demo` seeds a few past incidents through the incident services: a resolved SEV0 with every
role, status updates, a published postmortem and action items (one overdue), and a SEV2 drill; a
second run adds nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from pager.db.incident_tables import ActionItem, Incident, IncidentEvent, Postmortem, StatusUpdate
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.demo import seed_demo
from pager.services.incidents.action_items import list_action_items
from pager.services.incidents.postmortems import postmortem_document
from pager.services.incidents.views import list_incidents, show_incident
from tests.support import console_runtime

pytestmark = pytest.mark.database

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)


def counts(engine: Engine) -> dict[str, int]:
    with session_scope(engine, read_only=True) as session:
        return {
            table.__tablename__: len(session.exec(select(table)).all())
            for table in (Incident, IncidentEvent, StatusUpdate, Postmortem, ActionItem, OutboxMessage)
        }


def test_the_demo_seeds_past_incidents_once(engine: Engine) -> None:
    runtime = console_runtime(engine, REPO)
    seed_demo(runtime, NOW)
    first = counts(engine)
    assert first["incidents"] == 2 and first["postmortems"] == 2 and first["action_items"] == 4
    assert first["incident_updates"] == 7
    assert first["outbox"] == 0  # nobody was paged while the past was written
    seed_demo(runtime, NOW)
    assert counts(engine) == first
    rules = runtime.config.incidents
    with session_scope(engine, read_only=True) as session:
        listed = list_incidents(session, rules, open_only=False, drills=False)
        assert [i["title"] for i in listed] == ["Checkout API failing for all customers"]
        with_drills = list_incidents(session, rules, open_only=False, drills=True)
        drill: dict[str, Any] = next(i for i in with_drills if i["drill"])
        assert (drill["severity"], drill["status"]) == ("SEV2", "resolved")
        outage = show_incident(session, rules, listed[0]["id"])
        assert (outage["severity"], outage["status"], outage["missing_roles"]) == ("SEV0", "closed", [])
        assert outage["roles"] == {
            "commander": "alice",
            "scribe": "bob",
            "comms_lead": "carol",
            "executive_sponsor": "dave",
            "sme": ["erin"],
        }
        postmortem = postmortem_document(session, outage["id"])
        assert postmortem["status"] == "published"
        assert "about 41,000 orders were not placed" in postmortem["body"]
        assert postmortem["mttr_seconds"] == 95 * 60
        assert postmortem_document(session, drill["id"])["status"] == "draft"
        overdue = list_action_items(session, NOW, overdue=True)
        assert [(i.title, i.owner) for i in overdue] == [
            ("Alert on the checkout error ratio above 2%", "erin")
        ]
        open_items = list_action_items(session, NOW)
        assert [i.title for i in open_items] == [
            "Alert on the checkout error ratio above 2%",
            "Runbook: roll back a gateway config",
        ]
        assert len(list_action_items(session, NOW, drill=True)) == 3
