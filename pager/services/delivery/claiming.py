"""Claiming due pages for sending (docs/delivery.md, "Claimed").

Due rows to send are marked `sending`, with their exact text, and that is committed before any
provider call. A page held back (the per-address throttle, a call to that number still in flight)
stays pending with a time to try again, one write; a page whose method no notifier has is failed
for good, never sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, get_args

from sqlmodel import Session

from pager.adapters.delivery import Method, Page
from pager.core.alert import DeliveryFailed
from pager.core.delivery_plan import plan_claim
from pager.db.backlog import PENDING_PAGE_STATUSES, earliest_page_ready
from pager.db.outbox import ClaimedPage, due_outbox, mark_sending, serialize_claims
from pager.db.row_updates import update_rows
from pager.db.session import session_scope
from pager.db.tables import OutboxMessage
from pager.services.alerting.paging import AlertTransaction
from pager.services.delivery import throttle
from pager.services.runtime import Runtime

BATCH = 100
METHODS: tuple[Method, ...] = get_args(Method)


@dataclass(frozen=True)
class Attempt:
    """A claimed row's snapshot: what is being sent, to whom, and which rule step of which escalation."""

    row_id: int
    page: Page
    attempts: int
    user: str
    cycle: int
    loop: int
    level: int
    step: int

    def failed(self, reason: str) -> DeliveryFailed:
        """The state machine's event for this page failing for good."""
        return DeliveryFailed(
            self.user, self.page.method, self.cycle, self.loop, self.level, self.step, reason
        )


def page_of(row: OutboxMessage | ClaimedPage) -> Page | None:
    """The provider-facing page for an outbox row; None when no notifier has its method."""
    method = next((known for known in METHODS if known == row.method), None)
    if method is None:
        return None
    return Page(row.idempotency_key, row.alert_id, method, row.address, row.body, row.subject)


def unknown_method(method: str) -> str:
    """The error stored on a page whose method no notifier has."""
    return f"unknown method {method!r}: not sent"


class Claim(NamedTuple):
    """What one claim took: the pages to send now, how many it put back (held), and `next_due`, the
    earliest instant a pending page may be sent once this claim is committed (None: none pending;
    `now` itself, unread, when the claim took a full batch: more may be due already)."""

    attempts: list[Attempt]
    put_back: int
    next_due: datetime | None


def claim_pages(runtime: Runtime, now: datetime, batch: int) -> tuple[list[Attempt], int]:
    """Claim up to `batch` due pages: those to send now, and how many were put back (held)."""
    attempts, put_back, _ = claim(runtime, now, batch)
    return attempts, put_back


def claim(runtime: Runtime, now: datetime, batch: int, *, due_known: bool = False) -> Claim:
    """`claim_pages`, and when the next pending page falls due, read in the same transaction.

    Load (the due rows, then what the throttle reads of their addresses), decide
    (`core.delivery_plan.plan_claim`), apply (those sent marked `sending`, holds given their time,
    timeline lines), in one transaction. A held page is written once: in a storm to one person
    nearly every page claimed is held, and each write keeps SQLite's one writer from ingest.

    The delivery loop sleeps until `next_due` (or a wake-up). Read here, after this claim's own
    writes, it spares the loop a transaction of its own after every pass (docs/delivery.md, "When
    the delivery loop wakes"). `due_known`: the caller has just read that a page is due by `now`.
    """
    with session_scope(runtime.engine) as session:
        # Most passes find nothing due: the other worker took the page the wake-up was for. One
        # read answers them, before the claim lock and the rows.
        if not due_known:
            ready = pending_ready(session)
            if not due_by(ready, now):
                return Claim([], 0, ready)
        serialize_claims(session)
        rows = due_outbox(session, now, limit=batch)
        if not rows:
            return Claim([], 0, pending_ready(session))
        work = AlertTransaction(session, runtime, now, bulk=True)
        failed: list[dict[str, object]] = []
        sendable: list[tuple[ClaimedPage, Page]] = []
        for row in rows:
            page = page_of(row)
            if page is None:  # impossible by the table's CHECK; never guess a method
                error = unknown_method(row.method)
                failed.append({"id": row.id, "status": "failed", "last_error": error, "updated_at": now})
                work.timeline(
                    row.alert_id, "page_failed", f"{row.method} to {row.user_handle} failed for good: {error}"
                )
            else:
                sendable.append((row, page))
        pages = {row.id: page for row, page in sendable}
        candidates = [row for row, _ in sendable]
        plan = plan_claim(candidates, throttle.load_claim_facts(session, now, candidates), now)
        deferred: list[dict[str, object]] = []
        for hold in plan.holds:
            row = hold.page
            # Stamped as tried, as a page marked `sending` is: its person is being paged for the
            # alert, so an SMS reply from them may act on it (db.outbox.first_paged_user).
            until = {"next_attempt_at": hold.until, "last_attempt_at": now}
            deferred.append({"id": row.id, **until, "last_error": hold.error, "updated_at": now})
            if hold.announce:  # the timeline says it once per page
                wait = f"{(hold.until - now).total_seconds():.0f}s"
                message = f"{row.method} to {row.user_handle} deferred {wait}: {hold.reason}"
                work.timeline(row.alert_id, "page_deferred", message)
        attempts: list[Attempt] = []
        for row in plan.send:
            user = row.user_handle
            work.timeline(
                row.alert_id,
                "page_attempt",
                f"{row.method} to {user} ({row.address}): attempt {row.attempts}",
                {"user": user, "method": row.method, "key": row.idempotency_key},
            )
            coordinates = (row.cycle, row.loop, row.level, row.step)
            attempts.append(Attempt(row.id, pages[row.id], row.attempts, user, *coordinates))
        mark_sending(session, [row.id for row in plan.send], now)
        update_rows(session, OutboxMessage, deferred)
        update_rows(session, OutboxMessage, failed)
        # A full batch leaves the senders busy (the loop waits for one, not for a due instant) and
        # perhaps more due: that read would be one per claim of a burst, for nothing.
        return Claim(attempts, len(deferred), pending_ready(session) if len(rows) < batch else now)


def pending_ready(session: Session) -> datetime | None:
    """The earliest instant a pending page may be sent (None: none pending), in `session`'s
    transaction. Pending pages only: uncertain ones are the reconcile job's, never claimed."""
    return earliest_page_ready(session, statuses=PENDING_PAGE_STATUSES)


def due_by(ready: datetime | None, now: datetime) -> bool:
    """Whether a page whose earliest ready instant is `ready` (`pending_ready`) may be sent at `now`."""
    return ready is not None and ready <= now
