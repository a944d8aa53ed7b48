"""The SMS pages sent to one person (table `outbox`, method sms), newest first, with each alert's
summary: what the demo's phone panel shows. The caller owns the session."""

from __future__ import annotations

from sqlmodel import Session, col, select

from pager.db.tables import Alert, OutboxMessage


def sms_pages_to(session: Session, user_id: int, limit: int) -> list[tuple[OutboxMessage, str | None]]:
    """At most `limit` SMS pages to user `user_id`, newest first, each with its alert's summary (None
    for a notice, which belongs to no alert)."""
    query = (
        select(OutboxMessage, Alert.summary)
        .join(Alert, col(Alert.id) == col(OutboxMessage.alert_id), isouter=True)
        .where(OutboxMessage.user_id == user_id, OutboxMessage.method == "sms")
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(limit)
    )
    return [(row, summary) for row, summary in session.exec(query)]


def sms_page_to(session: Session, user_id: int, page_id: int) -> OutboxMessage | None:
    """SMS page `page_id` when it was sent to user `user_id`, else None."""
    query = select(OutboxMessage).where(
        OutboxMessage.id == page_id, OutboxMessage.user_id == user_id, OutboxMessage.method == "sms"
    )
    return session.exec(query).first()
