"""plan_claim: which claimed pages go out now and which wait (pure), and what the loader must read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from pager.core.delivery_plan import (
    DEFER,
    THROTTLE_PER_MINUTE,
    THROTTLE_WINDOW,
    THROTTLED,
    VOICE_BUSY,
    AddressQueue,
    ClaimFacts,
    may_overflow,
    plan_claim,
)

T0 = datetime(2026, 3, 8, 8, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    id: int
    method: str
    address: str
    last_error: str | None = None


def test_a_second_call_to_a_number_waits_for_the_first() -> None:
    rows = [Row(1, "voice", "+1555"), Row(2, "voice", "+1555"), Row(3, "voice", "+1666")]
    plan = plan_claim(rows, ClaimFacts({}, frozenset()), T0)
    assert [r.id for r in plan.send] == [1, 3]
    (hold,) = plan.holds
    assert (hold.page.id, hold.until, hold.reason, hold.announce) == (2, T0 + DEFER, VOICE_BUSY, True)
    busy = plan_claim(
        [Row(4, "voice", "+1666", f"deferred: {VOICE_BUSY}")], ClaimFacts({}, frozenset({"+1666"})), T0
    )
    assert busy.send == () and busy.holds[0].announce is False  # said once per page


def test_pages_over_the_throttle_queue_one_slot_each() -> None:
    address = "+1555"
    sent_earlier = tuple(T0 - timedelta(seconds=50 - i) for i in range(THROTTLE_PER_MINUTE - 1))
    rows = [Row(i, "sms", address) for i in range(1, 4)]
    facts = ClaimFacts(
        {address: THROTTLE_PER_MINUTE - 1}, frozenset(), {address: AddressQueue(sent_earlier, None, 0)}
    )
    plan = plan_claim(rows, facts, T0)
    assert [r.id for r in plan.send] == [1]  # the 20th page of the minute
    assert [h.reason for h in plan.holds] == [THROTTLED, THROTTLED]
    # The first held page waits for the oldest attempt's slot, the next for the one after it.
    assert [h.until for h in plan.holds] == [
        sent_earlier[0] + THROTTLE_WINDOW,
        sent_earlier[1] + THROTTLE_WINDOW,
    ]


@given(
    counts=st.dictionaries(st.sampled_from("abc"), st.integers(0, THROTTLE_PER_MINUTE + 2)),
    claimed=st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from(["sms", "voice", "email"])), max_size=30
    ),
)
def test_every_address_held_by_the_throttle_was_loaded(
    counts: dict[str, int], claimed: list[tuple[str, str]]
) -> None:
    rows = [Row(i, method, address) for i, (address, method) in enumerate(claimed)]
    loaded = may_overflow(rows, counts)
    queues = {a: AddressQueue((T0,), None, 0) for a in loaded}
    plan = plan_claim(rows, ClaimFacts(counts, frozenset(), queues), T0)
    assert {h.page.address for h in plan.holds if h.reason == THROTTLED} <= loaded
    assert len(plan.send) + len(plan.holds) == len(rows)
    for address in "abc":  # never more than the throttle in one minute
        assert counts.get(address, 0) + sum(r.address == address for r in plan.send) <= max(
            THROTTLE_PER_MINUTE, counts.get(address, 0)
        )
