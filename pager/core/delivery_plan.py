"""Delivery's decide step: which claimed pages go out now and which wait, and until when (pure).

The per-address throttle: at most THROTTLE_PER_MINUTE pages to one address per rolling minute, and
one voice call to a number at a time. Pages over it wait; they are never dropped.

Pages held back for one address wait in a queue, in the order they were held back, each put back
once, for its own slot: every one of the address's latest THROTTLE_PER_MINUTE attempts frees a
slot a window after it was made, and a page sent in that slot frees it again a window later. So a
storm's held-back pages fall due one slot at a time, not all of them at every freed slot, and a
window that frees many slots at once is used at once.

The loader (pager.services.delivery) reads `ClaimFacts` for the claimed rows first: recent counts
per address, numbers with a call in flight, and, for each address the claim may push over the
throttle (`may_overflow`), its latest attempts and the end of its queue.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

THROTTLE_PER_MINUTE = 20  # pages to one address per rolling minute; the rest wait, never dropped
THROTTLE_WINDOW = timedelta(minutes=1)
THROTTLED = f"more than {THROTTLE_PER_MINUTE} pages to this address in the last minute"
VOICE_BUSY = "a call to this number is still in flight"
DEFER = timedelta(seconds=5)  # how long a page behind a call in flight waits before it is tried again
_TICK = timedelta(microseconds=1)  # instants are stored to the microsecond


class Claimable(Protocol):
    """What the decision reads of one claimed outbox row (pager.db.outbox.ClaimedPage has it)."""

    @property
    def method(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def last_error(self) -> str | None: ...


P = TypeVar("P", bound=Claimable)


@dataclass(frozen=True)
class AddressQueue:
    """An address the claim may push over the throttle: its latest attempts inside the window (not
    counting the claimed rows) and the latest instant a held page waits for, with how many wait then."""

    recent: tuple[datetime, ...]
    end: datetime | None
    taken_at_end: int


@dataclass(frozen=True)
class ClaimFacts:
    """Everything the decision reads besides the claimed rows."""

    recent_counts: Mapping[str, int]
    busy_voice: frozenset[str]
    queues: Mapping[str, AddressQueue] = field(default_factory=dict)


@dataclass(frozen=True)
class Hold(Generic[P]):
    """Put the page back as pending until `until`; `announce`: its timeline says so (once per page)."""

    page: P
    until: datetime
    reason: str
    announce: bool

    @property
    def error(self) -> str:
        return f"deferred: {self.reason}"


@dataclass(frozen=True)
class ClaimPlan(Generic[P]):
    """The claimed pages to send now, in claim order, and those put back."""

    send: tuple[P, ...]
    holds: tuple[Hold[P], ...]


def may_overflow(pages: Sequence[Claimable], recent_counts: Mapping[str, int]) -> set[str]:
    """Addresses this claim could take over the throttle: the loader reads their queues."""
    claimed = Counter(page.address for page in pages)
    return {a for a, n in claimed.items() if recent_counts.get(a, 0) + n > THROTTLE_PER_MINUTE}


def plan_claim(pages: Sequence[P], facts: ClaimFacts, now: datetime) -> ClaimPlan[P]:
    """Send each claimed page now unless its address is over the throttle or has a call in flight."""
    recent = dict(facts.recent_counts)
    busy_voice = set(facts.busy_voice)
    sent: Counter[str] = Counter()
    queues: dict[str, tuple[list[datetime], Iterator[datetime]]] = {}
    send: list[P] = []
    holds: list[Hold[P]] = []
    for page in pages:
        if page.method == "voice" and page.address in busy_voice:
            holds.append(_hold(page, now + DEFER, VOICE_BUSY))
            continue
        if recent.get(page.address, 0) >= THROTTLE_PER_MINUTE:
            turn_came = page.last_error == f"deferred: {THROTTLED}"
            holds.append(_hold(page, _slot(page.address, facts, now, sent, queues, turn_came), THROTTLED))
            continue
        if page.method == "voice":
            busy_voice.add(page.address)
        recent[page.address] = recent.get(page.address, 0) + 1
        sent[page.address] += 1
        send.append(page)
    return ClaimPlan(tuple(send), tuple(holds))


def _hold(page: P, until: datetime, reason: str) -> Hold[P]:
    return Hold(page, until, reason, announce=page.last_error != f"deferred: {reason}")


def _slot(
    address: str,
    facts: ClaimFacts,
    now: datetime,
    sent: Counter[str],
    queues: dict[str, tuple[list[datetime], Iterator[datetime]]],
    turn_came: bool,
) -> datetime:
    """When a page to `address`, held back now, is next tried: a new page joins the end of the
    address's queue; one whose turn came but found the window still full (a page sent meanwhile
    took its slot) keeps its place at the front, waiting only for the next freed slot."""
    if address not in queues:
        queue = facts.queues.get(address, AddressQueue((), None, 0))
        recent = list(queue.recent) + [now] * sent[address] or [now]
        queues[address] = (recent, free_slots(recent, queue.end, queue.taken_at_end))
    recent, slots = queues[address]
    if turn_came:
        return next_free_slot(recent)
    return next(slots)


def free_slots(recent: Sequence[datetime], end: datetime | None, taken_at_end: int) -> Iterator[datetime]:
    """The slots of `next_free_slot` for pages joining an address's queue one after another (each
    page's slot becoming the queue's end), in O(log n) a page rather than a pass over `recent`.

    Every one of the latest attempts frees a slot a window after it and every window after that;
    the pages take those slots in time order, from the first free one at or after `end`.
    """
    latest = sorted(recent)[-THROTTLE_PER_MINUTE:]
    if end is None:
        upcoming = [at + THROTTLE_WINDOW for at in latest]
    else:
        window = THROTTLE_WINDOW // _TICK
        upcoming = [at + max(1, -(-((end - at) // _TICK) // window)) * THROTTLE_WINDOW for at in latest]
    heapq.heapify(upcoming)
    taken = taken_at_end if end is not None else 0
    while taken and upcoming[0] == end:  # slots at `end` that pages already wait for
        heapq.heapreplace(upcoming, upcoming[0] + THROTTLE_WINDOW)
        taken -= 1
    while True:
        slot = upcoming[0]
        heapq.heapreplace(upcoming, slot + THROTTLE_WINDOW)
        yield slot


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
