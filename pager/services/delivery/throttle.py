"""The per-address throttle: at most THROTTLE_PER_MINUTE pages to one address per rolling minute,
and one voice call to a number at a time. Pages over it wait; they are never dropped.

Pages held back for one address wait in a queue, in the order they were held back, each put back
once, for its own slot: every one of the address's latest THROTTLE_PER_MINUTE attempts frees a
slot a window after it was made, and a page sent in that slot frees it again a window later. So a
storm's held-back pages fall due one slot at a time, not all of them at every freed slot, and a
window that frees many slots at once is used at once.

Each read runs in the claiming transaction, on every claim (the queries: pager.db.outbox_throttle).
They go through the indexes of migrations 0002 and 0003 on an address's pages, so their cost
follows what they find, not how many pages were ever sent or are held back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from pager.db.outbox_throttle import (
    attempt_counts_since,
    latest_attempts_since,
    numbers_called,
    pending_queue_end,
)

THROTTLE_PER_MINUTE = 20  # pages to one address per rolling minute; the rest wait, never dropped
THROTTLE_WINDOW = timedelta(minutes=1)
THROTTLED = f"more than {THROTTLE_PER_MINUTE} pages to this address in the last minute"
_COUNTED = ("sending", "sent", "delivered", "unknown")  # attempts that count against the throttle
_IN_FLIGHT = ("sending", "unknown")
_TICK = timedelta(microseconds=1)  # instants are stored to the microsecond


def recent_counts(session: Session, now: datetime, addresses: set[str], exclude: set[int]) -> dict[str, int]:
    """Pages to each of `addresses` in the minute before `now`, not counting the rows in `exclude`."""
    return attempt_counts_since(session, now - THROTTLE_WINDOW, addresses, _COUNTED, exclude)


def recent_attempts(session: Session, now: datetime, address: str, exclude: set[int]) -> list[datetime]:
    """When the latest THROTTLE_PER_MINUTE pages to `address` inside the rolling minute were tried,
    not counting the rows in `exclude`."""
    since = now - THROTTLE_WINDOW
    return latest_attempts_since(session, since, address, _COUNTED, exclude, THROTTLE_PER_MINUTE)


def voice_in_flight(session: Session, exclude: set[int]) -> set[str]:
    """Numbers with a call in flight (or of unknown outcome), not counting the rows in `exclude`."""
    return numbers_called(session, _IN_FLIGHT, exclude)


def queue_end(session: Session, address: str) -> tuple[datetime | None, int]:
    """The latest instant a pending page to `address` waits for, and how many wait for it."""
    return pending_queue_end(session, address)


def next_free_slot(
    recent: Sequence[datetime], end: datetime | None = None, taken_at_end: int = 0
) -> datetime:
    """The first free slot for a page joining an address's queue: at or after `end`, the latest
    instant a page already waits for (at `end` itself only if its `taken_at_end` pages leave room).

    `recent` are the address's latest attempts inside the window (at least one). Each frees a slot
    a window after it, and again every window after that, since a page sent in a slot is itself an
    attempt. With no queue (`end` None) this is when the window first has room.
    """
    latest = sorted(recent)[-THROTTLE_PER_MINUTE:]
    if end is None:
        return latest[0] + THROTTLE_WINDOW
    window = THROTTLE_WINDOW // _TICK
    # Each attempt's slots, from the first at or after `end` (integer microseconds: exact equality).
    upcoming = Counter(r + max(1, -(-((end - r) // _TICK) // window)) * THROTTLE_WINDOW for r in latest)
    if upcoming[end] > taken_at_end:
        return end
    return min(slot if slot > end else slot + THROTTLE_WINDOW for slot in upcoming)


class HeldPages:
    """Where pages over the throttle wait, decided within one claim (it caches each address's reads).

    `claimed` are the claim's rows: they are marked `sending` but not all of them will be sent, so
    the reads leave them out, and the claim reports each one it does send with `sent`.
    """

    def __init__(self, session: Session, now: datetime, claimed: set[int]) -> None:
        self.session, self.now, self.claimed = session, now, claimed
        self._sent: Counter[str] = Counter()
        self._recent: dict[str, list[datetime]] = {}
        self._ends: dict[str, tuple[datetime | None, int]] = {}

    def sent(self, address: str) -> None:
        """A page of this claim goes to `address` now."""
        self._sent[address] += 1

    def hold_until(self, address: str, *, turn_came: bool) -> datetime:
        """When a page to `address`, held back now, is next tried: a new page joins the end of the
        address's queue; one whose turn came but found the window still full (a page sent meanwhile
        took its slot) keeps its place at the front, waiting only for the next freed slot."""
        if address not in self._recent:
            stored = recent_attempts(self.session, self.now, address, self.claimed)
            self._recent[address] = stored + [self.now] * self._sent[address] or [self.now]
            self._ends[address] = queue_end(self.session, address)
        recent = self._recent[address]
        if turn_came:
            return next_free_slot(recent)
        end, taken = self._ends[address]
        slot = next_free_slot(recent, end, taken)
        self._ends[address] = (slot, taken + 1 if slot == end else 1)
        return slot
