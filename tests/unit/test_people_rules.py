"""Pure rules about people: default notification rules, the rules grammar, deactivation as removals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pager.core.model import Override, RotationLayer, Schedule
from pager.core.overrides import deactivation_removals
from pager.core.policy import (
    NotificationRule,
    PolicyError,
    Target,
    default_rules_over,
    format_after,
    on_call_resolver,
    parse_rule_steps,
)
from pager.core.rotation import ShiftLength
from pager.core.schedule import final_shifts, resolve_on_call

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def rules(*pairs: tuple[str, timedelta]) -> tuple[NotificationRule, ...]:
    return tuple(NotificationRule(method, delay) for method, delay in pairs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("methods", "expected"),
    [
        ({"sms", "voice", "email"}, rules(("sms", 0 * M), ("voice", M), ("email", 0 * M))),
        ({"voice"}, rules(("voice", 0 * M))),  # a voice-only person is called at once
        ({"voice", "email"}, rules(("voice", 0 * M), ("email", M))),
        ({"email", "sms"}, rules(("sms", 0 * M), ("email", M))),
        ({"email"}, rules(("email", 0 * M))),
        (set(), ()),
    ],
)
def test_defaults_are_built_from_the_methods_a_person_has(
    methods: set[str], expected: tuple[NotificationRule, ...]
) -> None:
    assert default_rules_over(methods) == expected


def test_rule_steps_parse_in_order_and_format_back() -> None:
    parsed = parse_rule_steps(["sms:0m", "voice:2m", "email:90s", "sms:1h", "voice:0"])
    assert parsed == rules(
        ("sms", 0 * M), ("voice", 2 * M), ("email", 90 * M / 60), ("sms", 60 * M), ("voice", 0 * M)
    )
    assert [format_after(rule.delay) for rule in parsed] == ["0m", "2m", "90s", "1h", "0m"]
    assert format_after(timedelta(days=1)) == "1d"


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "at least one rule step"),
        (["sms"], "bad rule step 'sms'"),
        (["pager:1m"], "bad rule step 'pager:1m'"),
        (["sms:-1m"], "bad duration"),
        (["sms:soon"], "bad duration 'soon'"),
        (["sms:2d"], "at most 1d"),
        (["sms:999999999999999d"], "bad rule step"),
    ],
)
def test_bad_rule_steps_are_named(steps: list[str], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_rule_steps(steps)


TEAM = Schedule(
    id="team",
    name="Team",
    time_zone="UTC",
    layers=(RotationLayer("daily", ("ann", "ben", "cat"), datetime(2026, 1, 5, 9), ShiftLength(1, "d")),),
)


def test_a_deactivated_person_is_removed_everywhere_as_a_removal_would() -> None:
    holder = resolve_on_call(TEAM, NOW).primary
    assert holder is not None
    removals = deactivation_removals("team", [holder])
    on_call = resolve_on_call(TEAM, NOW, removals)
    assert on_call.primary not in (None, holder) and on_call.secondary != holder
    # years away, and even where an override put them on: the removal comes last
    added = Override("team", "primary", NOW, NOW + timedelta(hours=1), holder)
    assert resolve_on_call(TEAM, NOW, [added, *removals]).primary != holder
    far = final_shifts(TEAM, "primary", NOW + timedelta(days=3650), NOW + timedelta(days=3680), removals)
    assert holder not in {shift.user for shift in far}


def test_a_user_target_naming_someone_inactive_means_nobody() -> None:
    resolve = on_call_resolver({}, (), inactive={"dana"})
    assert resolve((Target("user", "dana"), Target("user", "erin")), NOW) == ["erin"]
