"""The pure incident rules (pager.core.incident_lifecycle): status moves, the milestones they stamp,
milestone order, missing roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pager.core.incident_lifecycle import (
    IncidentClosed,
    LifecycleError,
    check_milestones,
    check_status_move,
    missing_roles,
    required_roles,
    status_milestones,
)
from pager.core.incident_model import (
    INCIDENT_STATUSES,
    MILESTONES,
    OPEN_STATUSES,
    IncidentRules,
    SeverityRules,
)

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def allowed(current: str, target: str) -> bool:
    try:
        check_status_move(current, target)
    except LifecycleError:
        return False
    return True


def test_the_allowed_moves() -> None:
    table = {(c, t) for c in INCIDENT_STATUSES for t in INCIDENT_STATUSES if allowed(c, t)}
    open_moves = {(c, t) for c in OPEN_STATUSES for t in (*OPEN_STATUSES, "resolved") if c != t}
    assert table == open_moves | {("resolved", "investigating"), ("resolved", "closed")}


@pytest.mark.parametrize("target", INCIDENT_STATUSES)
def test_closed_is_final(target: str) -> None:
    with pytest.raises(IncidentClosed):
        check_status_move("closed", target)


def test_unknown_statuses_are_named() -> None:
    with pytest.raises(LifecycleError, match="unknown status 'done'"):
        check_status_move("investigating", "done")


def test_statuses_stamp_their_milestone_once() -> None:
    empty: dict[str, datetime | None] = dict.fromkeys(MILESTONES)
    assert status_milestones("investigating", "identified", empty, T0) == {"identified": T0}
    assert status_milestones("identified", "monitoring", empty, T0) == {"mitigated": T0}
    stamped = {**empty, "identified": T0}
    assert status_milestones("monitoring", "identified", stamped, T0 + timedelta(1)) == {}
    assert status_milestones("monitoring", "resolved", empty, T0) == {"resolved": T0}
    assert status_milestones("resolved", "investigating", {**empty, "resolved": T0}, T0) == {"resolved": None}
    assert status_milestones("resolved", "closed", {**empty, "resolved": T0}, T0) == {"closed": T0}


def test_a_status_never_stamps_before_a_later_milestone() -> None:
    mitigated: dict[str, datetime | None] = {**dict.fromkeys(MILESTONES), "mitigated": T0}
    assert status_milestones("monitoring", "identified", mitigated, T0 + timedelta(minutes=5)) == {}


def test_milestones_must_keep_their_order() -> None:
    check_milestones({"impact_started": T0 - timedelta(hours=2), "detected": T0, "declared": T0}, T0)
    with pytest.raises(LifecycleError, match=r"milestone declared at .* is earlier than detected"):
        check_milestones({"detected": T0, "declared": T0 - timedelta(seconds=1)}, T0)
    with pytest.raises(LifecycleError, match=r"milestone detected at .* is earlier than impact_started"):
        check_milestones({"impact_started": T0, "detected": T0 - timedelta(minutes=1)}, T0)
    with pytest.raises(LifecycleError, match="in the future"):
        check_milestones({"declared": T0 + timedelta(seconds=1)}, T0)
    with pytest.raises(LifecycleError, match="unknown milestone 'fixed'"):
        check_milestones({"fixed": T0}, T0)


RULES = IncidentRules(
    severities={
        "SEV0": SeverityRules(timedelta(minutes=15), ("commander",)),
        "SEV1": SeverityRules(timedelta(minutes=30), ("commander", "scribe")),
        "SEV2": SeverityRules(None, ()),
    }
)


def test_required_and_missing_roles() -> None:
    assert required_roles("SEV0", RULES) == ("commander", "executive_sponsor")  # SEV0 always has a sponsor
    assert required_roles("SEV2", RULES) == ()
    assert missing_roles("SEV1", {"scribe", "sme"}, RULES) == ("commander",)
    assert missing_roles("SEV0", {"commander", "executive_sponsor"}, RULES) == ()
    assert required_roles("SEV0", IncidentRules()) == (
        "commander",
        "scribe",
        "comms_lead",
        "executive_sponsor",
    )


moves = st.lists(
    st.tuples(st.sampled_from(INCIDENT_STATUSES), st.integers(min_value=0, max_value=3600)), max_size=30
)


@given(moves, st.integers(min_value=0, max_value=7200))
def test_any_allowed_walk_keeps_the_milestones_in_order(walk: list[tuple[str, int]], backdate: int) -> None:
    """Whatever moves a team makes, at instants that only go forward, the stamped milestones stay in
    order; closed is never left; reopening always clears resolved."""
    status = "investigating"
    now = T0
    milestones: dict[str, datetime | None] = dict.fromkeys(MILESTONES)
    milestones.update(impact_started=T0 - timedelta(seconds=backdate), detected=T0, declared=T0)
    for target, step in walk:
        now += timedelta(seconds=step)
        if not allowed(status, target):
            continue
        changes = status_milestones(status, target, milestones, now)
        milestones.update(changes)
        if status == "resolved" and target == "investigating":
            assert milestones["resolved"] is None
        status = target
        check_milestones(milestones, now)
        if status in ("resolved", "closed"):
            assert milestones[status] == now
    if status != "closed":
        assert milestones["closed"] is None


@given(
    st.dictionaries(
        st.sampled_from(MILESTONES),
        st.integers(min_value=-10_000, max_value=10_000).map(lambda s: T0 + timedelta(seconds=s)),
    )
)
def test_check_milestones_accepts_exactly_the_ordered_past_ones(chosen: dict[str, datetime]) -> None:
    ordered = [chosen[name] for name in MILESTONES if name in chosen]
    expected = ordered == sorted(ordered) and all(at <= T0 for at in ordered)
    try:
        check_milestones(chosen, T0)
    except LifecycleError:
        assert not expected
    else:
        assert expected
