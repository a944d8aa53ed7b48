"""Which page a delivery report (a Twilio status callback) is about, including one that arrives first.

Twilio can report on a message or call before the worker has recorded the send's outcome, i.e.
before the page's row holds the provider id the report names, or while a send whose outcome was
unknown is being reconciled. The callback URL names the page (`?page=<idempotency key>`), so such a
report still finds its page, settles it (and takes the provider id), and the worker's record of
the send, or of the reconciliation, then leaves that outcome alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from pager.db.tables import OutboxMessage

SETTLED_BY_REPORT = ("delivered", "failed")  # what a report makes of a page still being sent
# A page still being sent, or whose send's outcome was unknown (a timeout) and is being reconciled.
AWAITING_OUTCOME = ("sending", "unknown")


def reported_page(session: Session, provider_id: str, page_key: str | None) -> OutboxMessage | None:
    """The page (locked) a report names: by provider id, else by its key while its send is recorded.

    A page found by key that already has another provider id was sent again (a later attempt):
    the report is about an attempt that no longer counts, and finds nothing.
    """
    row = _locked_first(session, col(OutboxMessage.provider_id) == provider_id)
    if row is not None or page_key is None:
        return row
    row = _locked_first(session, col(OutboxMessage.idempotency_key) == page_key)
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
    query = (
        select(OutboxMessage.id, OutboxMessage.status)
        .where(col(OutboxMessage.id).in_(list(row_ids)), col(OutboxMessage.status).in_(SETTLED_BY_REPORT))
        .with_for_update()
    )
    return {row_id: status for row_id, status in session.exec(query) if row_id is not None}


def _locked_first(session: Session, condition: ColumnElement[bool]) -> OutboxMessage | None:
    query = select(OutboxMessage).where(condition).with_for_update().execution_options(populate_existing=True)
    return session.exec(query).first()
