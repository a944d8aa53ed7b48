"""`pager incident update ID TEXT [--public] [--status STATUS]` as users run it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.e2e.test_cli_engine import Pager, add_team, config_dir, db_url, pager

__all__ = ["config_dir", "db_url", "pager"]  # the fixtures this module uses

pytestmark = [pytest.mark.e2e, pytest.mark.database]


def test_posting_updates_moves_the_due_instant_and_the_status(pager: Pager) -> None:
    add_team(pager)
    doc = pager.json(
        "incident", "declare", "--title", "Checkout down", "--severity", "SEV1", "--impact", "--by", "ann"
    )
    incident = str(doc["id"])
    out = pager.ok("incident", "update", incident, "Looking at the deploy", "--by", "ann")
    assert out.startswith(f"internal update posted on incident {incident}; next update due ")
    posted = pager.json("incident", "update", incident, "Rolled back", "--public", "--status", "monitoring")
    assert (posted["text"], posted["public"], posted["status"]) == ("Rolled back", True, "monitoring")
    shown = pager.json("incident", "show", incident)
    assert shown["status"] == "monitoring"
    due = datetime.fromisoformat(posted["next_update_due"])
    assert due - datetime.fromisoformat(posted["at"]) == timedelta(minutes=30)  # SEV1's cadence
    assert shown["next_update_due"] == posted["next_update_due"]
    assert [line["text"] for line in shown["timeline"] if line["kind"] == "update"] == [
        "internal update: Looking at the deploy",
        "public update: Rolled back",
    ]
    assert "no update due" in pager.ok("incident", "update", incident, "Fixed", "--status", "resolved")


def test_refused_updates_say_why_and_change_nothing(pager: Pager) -> None:
    add_team(pager)
    incident = str(pager.json("incident", "declare", "--title", "T", "--severity", "SEV2", "--impact")["id"])
    before = pager.json("incident", "show", incident)
    assert "needs text" in pager.error("incident", "update", incident, "  ")
    assert "unknown status 'fixed'" in pager.error("incident", "update", incident, "x", "--status", "fixed")
    assert "no incident 99" in pager.error("incident", "update", "99", "x")
    assert pager.json("incident", "show", incident) == before
    pager.ok("incident", "status", incident, "resolved")
    pager.ok("incident", "status", incident, "closed")
    assert "is closed" in pager.error("incident", "update", incident, "late")
