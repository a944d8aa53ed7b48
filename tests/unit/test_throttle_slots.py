"""Where pages over the per-address throttle wait: `next_free_slot`, against a brute-force oracle,
and `free_slots` (what a claim uses) against `next_free_slot`.

The oracle lists every slot the address's latest attempts free (each attempt a window later, and
every window after that) and sorts them: the k-th page to join an empty queue must get the k-th.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

from hypothesis import given, note, settings
from hypothesis import strategies as st

from pager.core.delivery_plan import THROTTLE_PER_MINUTE, THROTTLE_WINDOW, free_slots, next_free_slot

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
WINDOW = THROTTLE_WINDOW


def queue(recent: list[datetime], pages: int) -> list[datetime]:
    """The slots `pages` pages get, joining the queue one after another (as a claim places them)."""
    end: datetime | None = None
    taken = 0
    slots = []
    for _ in range(pages):
        slot = next_free_slot(recent, end, taken)
        taken = taken + 1 if slot == end else 1
        end = slot
        slots.append(slot)
    return slots


def oracle(recent: list[datetime], pages: int) -> list[datetime]:
    latest = sorted(recent)[-THROTTLE_PER_MINUTE:]
    windows = pages // len(latest) + 2
    every_slot = sorted(at + k * WINDOW for at in latest for k in range(1, windows + 1))
    return every_slot[:pages]


def test_twenty_pages_at_once_free_twenty_slots_a_window_later() -> None:
    recent = [T0] * THROTTLE_PER_MINUTE
    assert queue(recent, 25) == [T0 + WINDOW] * 20 + [T0 + 2 * WINDOW] * 5


def test_pages_a_second_apart_free_their_slots_a_second_apart() -> None:
    recent = [T0 + timedelta(seconds=s) for s in range(THROTTLE_PER_MINUTE)]
    slots = queue(recent, 22)
    assert slots[:20] == [T0 + WINDOW + timedelta(seconds=s) for s in range(20)]
    assert slots[20:] == [T0 + 2 * WINDOW, T0 + 2 * WINDOW + timedelta(seconds=1)]


def test_only_the_latest_attempts_count_when_more_than_the_limit_are_in_the_window() -> None:
    # 25 attempts (a race let five more through): room comes back when the window is under the limit.
    recent = [T0 + timedelta(seconds=s) for s in range(25)]
    assert next_free_slot(recent) == T0 + WINDOW + timedelta(seconds=5)


def test_a_queue_ending_between_slots_is_joined_at_the_next_slot() -> None:
    # The queue's last page waits for a retry's backoff, not for a slot.
    recent = [T0 + timedelta(seconds=10 * s) for s in range(THROTTLE_PER_MINUTE)]
    end = T0 + WINDOW + timedelta(seconds=15)
    assert next_free_slot(recent, end, 1) == T0 + WINDOW + timedelta(seconds=20)


def test_a_full_slot_at_the_end_of_the_queue_sends_the_next_page_to_the_next_slot() -> None:
    recent = [T0] * 19 + [T0 + timedelta(seconds=30)]
    assert next_free_slot(recent, T0 + WINDOW, 18) == T0 + WINDOW
    assert next_free_slot(recent, T0 + WINDOW, 19) == T0 + WINDOW + timedelta(seconds=30)


@settings(max_examples=1_000)  # the rotation calculator's 10,000 would spend a minute here
@given(
    offsets=st.lists(st.integers(0, 59_999_999), min_size=1, max_size=30),
    pages=st.integers(1, 70),
)
def test_pages_joining_a_queue_get_the_freed_slots_in_order(offsets: list[int], pages: int) -> None:
    recent = [T0 + timedelta(microseconds=us) for us in offsets]
    note(f"recent={recent}")
    assert queue(recent, pages) == oracle(recent, pages)


@settings(max_examples=1_000)
@given(
    offsets=st.lists(st.integers(0, 59_999_999), min_size=1, max_size=30),
    end_us=st.integers(-60_000_000, 180_000_000),
)
def test_a_slot_is_never_before_the_window_has_room_nor_before_the_queue_end(
    offsets: list[int], end_us: int
) -> None:
    recent = [T0 + timedelta(microseconds=us) for us in offsets]
    end = T0 + WINDOW + timedelta(microseconds=end_us)
    slot = next_free_slot(recent, end, 1)
    latest = sorted(recent)[-THROTTLE_PER_MINUTE:]
    assert slot >= next_free_slot(recent) and slot >= end
    # It is one of the freed slots: a window (or several) after one of the latest attempts.
    assert any((slot - at) % WINDOW == timedelta(0) and slot > at for at in latest)


@settings(max_examples=1_000)
@given(
    offsets=st.lists(st.integers(0, 59_999_999), min_size=1, max_size=30),
    end_us=st.none() | st.integers(-120_000_000, 180_000_000),  # from before the attempts
    on_a_slot=st.integers(0, 3),
    taken=st.integers(0, 25),
    pages=st.integers(1, 70),
)
def test_free_slots_gives_what_next_free_slot_gives_page_after_page(
    offsets: list[int], end_us: int | None, on_a_slot: int, taken: int, pages: int
) -> None:
    """The claim places a storm's pages with `free_slots` (a heap): the same slots, one after another,
    as `next_free_slot` for each page in turn, from any queue end and any number waiting there."""
    recent = [T0 + timedelta(microseconds=us) for us in offsets]
    end = None if end_us is None else T0 + WINDOW + timedelta(microseconds=end_us)
    if end is not None and on_a_slot:  # a queue ending on an attempt's own slot, pages sharing it
        end = sorted(recent)[-on_a_slot % len(recent) - 1] + WINDOW * on_a_slot
    taken = taken if end is not None else 0
    note(f"recent={recent} end={end} taken={taken}")
    slots = list(islice(free_slots(recent, end, taken), pages))
    for slot in slots:
        assert slot == next_free_slot(recent, end, taken)
        taken = taken + 1 if slot == end else 1
        end = slot
