"""The status page's pure rules (pager/core/status_page.py, docs/status-page.md): component states
from open incidents, what of an incident is shown, the 90-day history and its order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from pager.core.status_page import (
    ComponentRef,
    IncidentFacts,
    UpdateFacts,
    build_status_page,
    effect_on_components,
    impact_of,
    is_shown,
    worst,
)

NOW = datetime(2026, 3, 4, 15, 20, tzinfo=UTC)
API = ComponentRef("api", "API")
WEB = ComponentRef("web", "Web front end")
DB = ComponentRef("db", "Databases")
COMPONENTS = (API, DB, WEB)


def incident(number: int, **fields: Any) -> IncidentFacts:
    values: dict[str, Any] = {
        "id": number,
        "number": number,
        "severity": "SEV1",
        "status": "investigating",
        "drill": False,
        "customer_impact": True,
        "declared_at": NOW - timedelta(hours=1),
        "resolved_at": None,
        "service_ids": ("api",),
    } | fields
    return IncidentFacts(**values)


def update(
    update_id: int, incident_id: int, minutes_ago: int, public: bool = True, **fields: Any
) -> UpdateFacts:
    values: dict[str, Any] = {
        "id": update_id,
        "incident_id": incident_id,
        "at": NOW - timedelta(minutes=minutes_ago),
        "message": f"update {update_id}",
        "public": public,
        "status": None,
    } | fields
    return UpdateFacts(**values)


def states(*incidents: IncidentFacts, updates: tuple[UpdateFacts, ...] = ()) -> dict[str, str]:
    page = build_status_page(NOW, COMPONENTS, incidents, updates, 25)
    return {c.id: c.state for c in page.components}


@pytest.mark.parametrize(
    ("severity", "impact", "expected"),
    [
        ("SEV0", True, "critical"),
        ("SEV1", True, "major"),
        ("SEV2", True, "minor"),
        ("SEV0", False, "none"),
        ("SEV2", False, "none"),
    ],
)
def test_impact_comes_from_severity_and_customer_impact(severity: str, impact: bool, expected: str) -> None:
    assert impact_of(severity, impact) == expected


@pytest.mark.parametrize(
    ("severity", "status", "impact", "expected"),
    [
        ("SEV0", "investigating", True, "major_outage"),
        ("SEV0", "identified", True, "major_outage"),
        ("SEV1", "investigating", True, "partial_outage"),
        ("SEV2", "identified", True, "degraded_performance"),
        ("SEV0", "monitoring", True, "degraded_performance"),  # the fix is in: at most degraded
        ("SEV2", "monitoring", True, "degraded_performance"),
        ("SEV0", "investigating", False, "operational"),  # customers not affected
        ("SEV0", "resolved", True, "operational"),
        ("SEV0", "closed", True, "operational"),
    ],
)
def test_the_effect_of_an_incident_on_its_components(
    severity: str, status: str, impact: bool, expected: str
) -> None:
    assert effect_on_components(severity, status, impact) == expected


def test_the_worst_state_wins() -> None:
    assert worst([]) == "operational"
    assert worst(["degraded_performance", "major_outage", "partial_outage"]) == "major_outage"
    assert worst(["operational", "degraded_performance"]) == "degraded_performance"


def test_each_component_takes_the_worst_open_incident_that_affects_it() -> None:
    found = states(
        incident(1, severity="SEV2", service_ids=("api", "web")),
        incident(2, severity="SEV1", service_ids=("api",)),
        incident(3, severity="SEV0", status="resolved", service_ids=("db",)),
    )
    assert found == {"api": "partial_outage", "web": "degraded_performance", "db": "operational"}


def test_a_drill_changes_no_state_and_never_appears() -> None:
    drill = incident(1, severity="SEV0", drill=True, service_ids=("api", "db", "web"))
    page = build_status_page(NOW, COMPONENTS, [drill], [update(1, 1, 5)], 25)
    assert page.state == "operational"
    assert {c.state for c in page.components} == {"operational"}
    assert page.open_incidents == () and page.history == ()
    assert page.public_updates() == []


def test_internal_updates_never_appear() -> None:
    page = build_status_page(
        NOW,
        COMPONENTS,
        [incident(1)],
        [update(1, 1, 30), update(2, 1, 20, public=False), update(3, 1, 10)],
        25,
    )
    (shown,) = page.open_incidents
    assert [u.id for u in shown.updates] == [3, 1]  # newest first, the internal one left out
    assert [u.id for _, u in page.public_updates()] == [3, 1]


def test_an_incident_shows_only_with_customer_impact_or_a_public_update() -> None:
    quiet = incident(1, customer_impact=False)
    assert not is_shown(quiet, has_public_update=False)
    assert is_shown(quiet, has_public_update=True)
    assert is_shown(incident(2), has_public_update=False)
    assert not is_shown(incident(3, drill=True), has_public_update=True)
    page = build_status_page(
        NOW,
        COMPONENTS,
        [quiet, incident(2, customer_impact=False), incident(3)],
        [update(1, 2, 5), update(2, 1, 5, public=False)],
        25,
    )
    assert [i.number for i in page.open_incidents] == [3, 2]
    # A public update without customer impact is shown, and leaves the components operational.
    assert page.open_incidents[1].impact == "none"
    assert page.open_incidents[1].headline == "Incident affecting API"


def test_what_an_incident_shows_is_never_its_title_severity_or_people() -> None:
    page = build_status_page(NOW, COMPONENTS, [incident(7, service_ids=("web", "api", "gone"))], [], 25)
    (shown,) = page.open_incidents
    assert shown.headline == "Partial outage: API, Web front end"  # no title; an unknown service dropped
    assert [c.id for c in shown.components] == ["api", "web"]
    assert set(vars(shown)) == {
        "number",
        "status",
        "impact",
        "started_at",
        "resolved_at",
        "components",
        "updates",
        "more_updates",
    }


def test_the_history_holds_90_days_by_the_day_they_started_newest_first() -> None:
    day = timedelta(days=1)
    past = [
        incident(1, status="closed", declared_at=NOW - 90 * day - timedelta(seconds=1)),  # too old
        incident(2, status="closed", declared_at=NOW - 90 * day, resolved_at=NOW - 89 * day),
        incident(3, status="resolved", declared_at=datetime(2026, 3, 2, 9, tzinfo=UTC)),
        incident(4, status="closed", declared_at=datetime(2026, 3, 2, 23, 59, tzinfo=UTC)),
        incident(5, status="closed", declared_at=datetime(2026, 3, 3, 0, 0, tzinfo=UTC)),
        incident(6, status="closed", drill=True, declared_at=datetime(2026, 3, 3, 1, tzinfo=UTC)),
    ]
    page = build_status_page(NOW, COMPONENTS, past, [], 25)
    assert [(d.day, [i.number for i in d.incidents]) for d in page.history] == [
        (date(2026, 3, 3), [5]),
        (date(2026, 3, 2), [4, 3]),
        (date(2025, 12, 4), [2]),
    ]
    assert {i.status for d in page.history for i in d.incidents} == {"resolved"}  # closed reads resolved
    assert page.history_since == NOW - 90 * day
    assert page.open_incidents == ()
    assert page.state == "operational"


def test_an_old_incident_still_open_is_current_whatever_its_age() -> None:
    page = build_status_page(NOW, COMPONENTS, [incident(1, declared_at=NOW - timedelta(days=200))], [], 25)
    assert [i.number for i in page.open_incidents] == [1]


def test_updates_are_bounded_and_say_when_older_ones_exist() -> None:
    updates = [update(n, 1, 100 - n) for n in range(1, 5)]
    page = build_status_page(NOW, COMPONENTS, [incident(1)], updates, 3)
    (shown,) = page.open_incidents
    assert [u.id for u in shown.updates] == [4, 3, 2]
    assert shown.more_updates
    exact = build_status_page(NOW, COMPONENTS, [incident(1)], updates[:3], 3)
    assert not exact.open_incidents[0].more_updates


def test_the_overall_state_and_the_feed_order() -> None:
    page = build_status_page(
        NOW,
        COMPONENTS,
        [
            incident(1, severity="SEV0", service_ids=("db",)),
            incident(2, status="resolved", declared_at=NOW - timedelta(days=2)),
        ],
        [update(10, 1, 30), update(11, 2, 60 * 47), update(12, 1, 5), update(13, 2, 60 * 40)],
        25,
    )
    assert page.state == "major_outage"
    assert page.label == "Major outage"
    assert [u.id for _, u in page.public_updates()] == [12, 10, 13, 11]
    assert page.open_incidents[0].components == (DB,)
