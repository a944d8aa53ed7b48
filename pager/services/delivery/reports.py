"""Which page a delivery report (a Twilio status callback) is about, including one that arrives first.

Twilio can report on a message or call before the worker has recorded the send's outcome, i.e.
before the page's row holds the provider id the report names, or while a send whose outcome was
unknown is being reconciled. The callback URL names the page (`?page=<idempotency key>`), so such a
report still finds its page, settles it (and takes the provider id), and the worker's record of
the send, or of the reconciliation, then leaves that outcome alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import Session

from pager.db.outbox import lock_page_by_key, lock_page_by_provider_id, lock_statuses_among
from pager.db.tables import OutboxMessage

SETTLED_BY_REPORT = ("delivered", "failed")  # what a report makes of a page still being sent
# A page still being sent, or whose send's outcome was unknown (a timeout) and is being reconciled.
AWAITING_OUTCOME = ("sending", "unknown")


def reported_page(session: Session, provider_id: str, page_key: str | None) -> OutboxMessage | None:
    """The page (locked) a report names: by provider id, else by its key while its send is recorded.

    A page found by key that already has another provider id was sent again (a later attempt):
    the report is about an attempt that no longer counts, and finds nothing.
    """
    row = lock_page_by_provider_id(session, provider_id)
    if row is not None or page_key is None:
        return row
    row = lock_page_by_key(session, page_key)
    if row is None:
        return None
    if row.provider_id == provider_id:
        # The worker recorded the send meanwhile: on Postgres the lookup by id saw the row before
        # that commit, and this one waited for it.
        return row
    return row if row.provider_id is None and row.status in AWAITING_OUTCOME else None


def settled_by_report(session: Session, row_ids: Iterable[int]) -> dict[int, str]:
    """Of these pages being sent, those a report already settled, with what it made of them (locked,
    so a report arriving now waits for the worker's record)."""
    return lock_statuses_among(session, row_ids, SETTLED_BY_REPORT)
