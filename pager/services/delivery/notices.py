"""Notices: messages to a person that belong to no alert (docs/delivery.md, "Notices").

A contact method's verification code, a test page, a handoff message, a shift reminder. They travel
the same outbox as pages (claimed, throttled per address, retried, reconciled, status reports), so a
notice is never lost or sent twice; they have no alert, hence no timeline (their outcomes are logged)
and no escalation to fall back in. A voice notice is read out twice and gathers no key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from pager.db.outbox import insert_outbox_row
from pager.db.tables import ContactKind

log = logging.getLogger("pager.delivery")

# Notices use the escalation coordinates of no page (a page's cycle is always 1 or more).
NO_ESCALATION = {"cycle": 0, "loop": 0, "level": 0, "step": 0}


@dataclass(frozen=True)
class Notice:
    """One message to one person's address; `key` names it for good (e.g. `handoff:team:primary:...`).

    Keys share the outbox's idempotency keys with pages (`alert-...`): start them with the notice's
    kind and a colon.
    """

    key: str
    user_id: int
    user_handle: str
    method: ContactKind
    address: str
    body: str
    subject: str = ""
    due_at: datetime | None = None  # None: now


def queue_notice(session: Session, notice: Notice, now: datetime) -> bool:
    """Queue `notice` in the caller's transaction; False (and nothing changes) when its key was queued
    before, so a notice decided twice (a retried job, two workers) is sent once."""
    if ":" not in notice.key:
        raise ValueError(f"notice key {notice.key!r} must start with its kind and a colon")
    inserted = insert_outbox_row(
        session,
        {
            "idempotency_key": notice.key,
            "alert_id": None,
            "user_id": notice.user_id,
            "user_handle": notice.user_handle,
            "method": notice.method,
            "address": notice.address,
            "body": notice.body,
            "subject": notice.subject if notice.method == "email" else "",
            **NO_ESCALATION,
            "status": "pending",
            "due_at": notice.due_at or now,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    log.info(
        "notice_queued key=%s user=%s method=%s new=%s",
        notice.key,
        notice.user_handle,
        notice.method,
        inserted,
    )
    return inserted
