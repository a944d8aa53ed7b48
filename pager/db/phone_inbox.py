"""The SMS pages sent to one person (table `outbox`, method sms), newest first, with each alert's
summary: what the demo's phone panel shows. The caller owns the session."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from pager.db.tables import Alert, OutboxMessage, User

# (page id, queued at, alert id, the alert's summary, text as sent, status): the panel's columns only,
# not the ORM rows (building 20 OutboxMessage objects per person was most of the panel's read).
SmsPageRow = tuple[int, datetime, int | None, str | None, str, str]


def people_with_handles(session: Session, handles: Collection[str]) -> list[tuple[int, str, str]]:
    """(id, handle, name) of the users among `handles`, by handle; one query."""
    query = (
        select(User.id, User.handle, User.name)
        .where(col(User.handle).in_(list(handles)))
        .order_by(col(User.handle))
    )
    return [(user_id or 0, handle, name) for user_id, handle, name in session.exec(query)]


def sms_pages_to(session: Session, user_id: int, limit: int) -> list[SmsPageRow]:
    """At most `limit` SMS pages to user `user_id`, newest first, each with its alert's summary (None
    for a notice, which belongs to no alert). A walk down ix_outbox_user_id_created_at (migration 0016)."""
    query = (
        sql_select(
            col(OutboxMessage.id),
            col(OutboxMessage.created_at),
            col(OutboxMessage.alert_id),
            col(Alert.summary),
            col(OutboxMessage.body),
            col(OutboxMessage.status),
        )
        .join(Alert, col(Alert.id) == col(OutboxMessage.alert_id), isouter=True)
        .where(col(OutboxMessage.user_id) == user_id, col(OutboxMessage.method) == "sms")
        .order_by(col(OutboxMessage.created_at).desc(), col(OutboxMessage.id).desc())
        .limit(limit)
    )
    return [
        (page_id or 0, at, alert_id, summary, body, status)
        for page_id, at, alert_id, summary, body, status in session.connection().execute(query)
    ]


def sms_page_to(session: Session, user_id: int, page_id: int) -> OutboxMessage | None:
    """SMS page `page_id` when it was sent to user `user_id`, else None."""
    query = select(OutboxMessage).where(
        OutboxMessage.id == page_id, OutboxMessage.user_id == user_id, OutboxMessage.method == "sms"
    )
    return session.exec(query).first()
