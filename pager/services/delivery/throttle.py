"""Delivery's load step: what deciding a claim needs to know about its addresses (pager.core.delivery_plan).

Each read runs in the claiming transaction, on every claim (the queries: pager.db.outbox_throttle).
They go through the indexes of migrations 0015 and 0003 on an address's pages, so their cost
follows what they find, not how many pages were ever sent or are held back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from pager.core.delivery_plan import (
    THROTTLE_PER_MINUTE,
    THROTTLE_WINDOW,
    AddressQueue,
    ClaimFacts,
    may_overflow,
)
from pager.db.outbox import ClaimedPage
from pager.db.outbox_throttle import (
    attempt_counts_since,
    latest_attempts_since,
    numbers_called,
    pending_queue_end,
)

_IN_FLIGHT = ("sending", "unknown")


def load_claim_facts(session: Session, now: datetime, pages: Sequence[ClaimedPage]) -> ClaimFacts:
    """Counts, calls in flight and, where the claim may go over the throttle, the address's queue.

    The claimed pages are still `pending` while the claim decides, so none of these reads counts them.
    """
    counts = recent_counts(session, now, {page.address for page in pages})
    calls = any(page.method == "voice" for page in pages)
    busy = numbers_called(session, _IN_FLIGHT) if calls else set()
    queues = {
        address: AddressQueue(
            tuple(recent_attempts(session, now, address)), *queue_end(session, now, address)
        )
        for address in sorted(may_overflow(pages, counts))
    }
    return ClaimFacts(counts, frozenset(busy), queues)


def recent_counts(session: Session, now: datetime, addresses: set[str]) -> dict[str, int]:
    """Pages to each of `addresses` attempted in the minute before `now`."""
    return attempt_counts_since(session, now - THROTTLE_WINDOW, addresses)


def recent_attempts(session: Session, now: datetime, address: str) -> list[datetime]:
    """When the latest THROTTLE_PER_MINUTE pages to `address` inside the rolling minute were tried."""
    return latest_attempts_since(session, now - THROTTLE_WINDOW, address, THROTTLE_PER_MINUTE)


def queue_end(session: Session, now: datetime, address: str) -> tuple[datetime | None, int]:
    """The latest instant after `now` a pending page to `address` waits for, and how many wait for it,
    counted up to THROTTLE_PER_MINUTE (an instant never frees more slots than that).

    An end already passed is no queue: every slot the recent attempts free is after `now` (they were
    made inside the last window), so it changes no decision. That leaves out the claimed pages too,
    still pending while the claim decides, their own times come.
    """
    return pending_queue_end(session, now, address, THROTTLE_PER_MINUTE)
