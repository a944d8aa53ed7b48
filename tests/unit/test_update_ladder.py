"""The overdue status-update ladder (pure): comms lead at the due instant, commander 5 minutes later,
the policy's levels from 10 minutes after due; missing roles and empty levels skipped at once; each
stage once per due instant; the next wake-up is the earliest stage still ahead."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, note, settings
from hypothesis import strategies as st

from pager.core.update_ladder import (
    LadderLevel,
    OverdueIncident,
    decide_overdue,
    earliest_wake,
    overdue_text,
    update_cause_key,
)

DUE = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def facts(**changes: object) -> OverdueIncident:
    base = OverdueIncident(
        incident_id=7,
        number=12,
        title="Checkout down",
        severity="SEV1",
        drill=False,
        due_at=DUE,
        comms_lead="alice",
        commander="bob",
        levels=(LadderLevel(15 * M, ("carol",)), LadderLevel(15 * M, ("dave", "erin"))),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def due_at(incident: OverdueIncident, minutes: float) -> list[tuple[str, datetime, tuple[str, ...]]]:
    decision = decide_overdue(incident, DUE + minutes * M)
    return [(s.stage, s.at, s.handles) for s in decision.due]


def test_nothing_before_the_due_instant_and_a_wake_up_at_it() -> None:
    decision = decide_overdue(facts(), DUE - timedelta(seconds=1))
    assert decision.due == ()
    assert decision.wake_at == DUE


def test_the_full_ladder_at_its_instants() -> None:
    incident = facts()
    assert due_at(incident, 0) == [("comms_lead", DUE, ("alice",))]
    assert decide_overdue(incident, DUE).wake_at == DUE + 5 * M
    assert [s for s, _, _ in due_at(incident, 5)] == ["comms_lead", "commander"]
    assert decide_overdue(incident, DUE + 5 * M).wake_at == DUE + 10 * M
    assert due_at(incident, 10)[-1] == ("policy-0", DUE + 10 * M, ("carol",))
    assert decide_overdue(incident, DUE + 10 * M).wake_at == DUE + 25 * M
    assert due_at(incident, 25)[-1] == ("policy-1", DUE + 25 * M, ("dave", "erin"))
    assert decide_overdue(incident, DUE + 25 * M).wake_at is None  # nothing left: no wake-up


def test_handled_stages_are_not_paged_again_but_the_wake_up_stays() -> None:
    incident = facts(handled=frozenset({"comms_lead"}))
    assert due_at(incident, 0) == []
    assert decide_overdue(incident, DUE).wake_at == DUE + 5 * M
    assert [s for s, _, _ in due_at(facts(handled=frozenset({"comms_lead"})), 6)] == ["commander"]


def test_no_comms_lead_pages_the_commander_at_the_due_instant() -> None:
    incident = facts(comms_lead=None)
    assert due_at(incident, 0) == [("commander", DUE, ("bob",))]
    assert decide_overdue(incident, DUE).wake_at == DUE + 10 * M


def test_no_role_holder_pages_the_policy_at_once() -> None:
    incident = facts(comms_lead=None, commander=None)
    assert due_at(incident, 0) == [("policy-0", DUE, ("carol",))]
    assert decide_overdue(incident, DUE).wake_at == DUE + 15 * M


def test_a_level_with_nobody_on_call_is_skipped_at_once() -> None:
    levels = (LadderLevel(15 * M, ()), LadderLevel(20 * M, ("dave",)), LadderLevel(5 * M, ("erin",)))
    incident = facts(levels=levels)
    assert due_at(incident, 10)[-1] == ("policy-1", DUE + 10 * M, ("dave",))
    assert decide_overdue(incident, DUE + 10 * M).wake_at == DUE + 30 * M
    assert due_at(incident, 30)[-1] == ("policy-2", DUE + 30 * M, ("erin",))


def test_no_policy_stops_after_the_commander() -> None:
    incident = facts(levels=())
    assert decide_overdue(incident, DUE + 5 * M).wake_at is None
    assert decide_overdue(facts(levels=(), comms_lead=None, commander=None), DUE).due == ()


def test_the_cause_keys_and_the_words() -> None:
    (stage,) = decide_overdue(facts(), DUE).due
    assert stage.cause_key == "incident-update:7:20260302T150000Z:comms_lead"
    assert update_cause_key(7, DUE, "policy-1") == "incident-update:7:20260302T150000Z:policy-1"
    assert stage.text == overdue_text(facts())
    assert "Incident 12 (SEV1) Checkout down: status update overdue since 15:00 UTC" in stage.text
    assert stage.text.endswith('Post one: pager incident update 7 "..."')  # the id the commands take
    assert stage.text.isascii()


def test_earliest_wake_of_several() -> None:
    decisions = [decide_overdue(facts(), DUE), decide_overdue(facts(due_at=DUE + M), DUE)]
    assert earliest_wake(decisions) == DUE + M
    assert earliest_wake([decide_overdue(facts(levels=()), DUE + 6 * M)]) is None


# --- the property: the function agrees with a walk of the ladder minute by minute ---------------------


def oracle(incident: OverdueIncident, now: datetime) -> tuple[list[tuple[str, datetime]], datetime | None]:
    """Walk minute by minute from the due instant, as a person following the written rules would:
    what has been paged by `now` (not handled before), and the first page that comes after `now`."""
    paged: list[tuple[str, datetime]] = []
    state, next_at, level = "comms", DUE, 0
    roles = incident.comms_lead is not None or incident.commander is not None
    end = DUE + 10 * M + sum((lv.delay for lv in incident.levels), timedelta(0)) + 2 * M
    t = DUE
    while t <= end:
        moved = True
        while moved:
            moved = False
            if state == "comms" and t >= next_at:
                if incident.comms_lead is not None:
                    paged.append(("comms_lead", t))
                    state, next_at = "commander", t + 5 * M
                else:
                    state = "commander"
                moved = True
            elif state == "commander" and t >= next_at:
                if incident.commander is not None:
                    paged.append(("commander", t))
                state, next_at = "policy", (DUE + 10 * M if roles else DUE)
                moved = True
            elif state == "policy" and level < len(incident.levels) and t >= next_at:
                current = incident.levels[level]
                if current.handles:
                    paged.append((f"policy-{level}", t))
                    next_at = t + current.delay
                level += 1
                moved = True
        t += M
    done = [(s, at) for s, at in paged if at <= now and s not in incident.handled]
    ahead = [at for _, at in paged if at > now]
    return done, (min(ahead) if ahead else None)


handles = st.lists(st.sampled_from(["carol", "dave", "erin"]), max_size=2).map(tuple)
levels = st.lists(st.builds(LadderLevel, st.integers(1, 30).map(lambda m: m * M), handles), max_size=4)
stages = st.sampled_from(["comms_lead", "commander", "policy-0", "policy-1", "policy-2", "policy-3"])


@settings(max_examples=300, deadline=None)
@given(
    comms_lead=st.one_of(st.none(), st.just("alice")),
    commander=st.one_of(st.none(), st.just("bob")),
    levels=levels.map(tuple),
    handled=st.frozensets(stages),
    minutes=st.integers(-2, 140),
    seconds=st.integers(0, 59),
)
def test_matches_a_minute_by_minute_walk(
    comms_lead: str | None,
    commander: str | None,
    levels: tuple[LadderLevel, ...],
    handled: frozenset[str],
    minutes: int,
    seconds: int,
) -> None:
    incident = facts(comms_lead=comms_lead, commander=commander, levels=levels, handled=handled)
    now = DUE + minutes * M + timedelta(seconds=seconds)
    decision = decide_overdue(incident, now)
    expected_due, expected_wake = oracle(incident, now)
    note(f"expected {expected_due} wake {expected_wake}")
    assert [(s.stage, s.at) for s in decision.due] == expected_due
    assert decision.wake_at == expected_wake
    assert all(s.handles for s in decision.due)
