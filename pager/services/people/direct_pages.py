"""Paging one person through their own notification rules, for a cause that is not an alert.

An incident role handed to someone with `--page`, an overdue status update, an unpublished
postmortem, an overdue action item: each pages a named person the way they asked to be paged (each
rule step `delay` after the page, by its method), through the outbox as notices (docs/delivery.md,
"Notices"), so a page decided twice is sent once. A notice has no acknowledgement: what ends the
pages of one cause is `cancel_direct_pages` with the cause's key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from pager.db.outbox import cancel_pending_by_key_prefix
from pager.services.delivery.notices import Notice, queue_notice
from pager.services.people.users import person

DRILL_MARK = "[DRILL]"


def page_person(
    session: Session,
    handle: str,
    cause_key: str,
    text: str,
    now: datetime,
    *,
    subject: str = "",
    drill: bool = False,
    low_urgency: timedelta | None = None,
) -> list[Notice]:
    """Queue a page of `handle` for `cause_key` (`kind:...`), one notice per rule step, in the
    caller's transaction. Returns the notices queued now ([] when this cause was paged before, or
    the person is unknown, deactivated or has no usable rule: the caller records that).

    `drill` marks every message "[DRILL]". `low_urgency` (a reminder, not an emergency): the
    person's email steps go at once and every other step that much later than its own delay, so a
    cause ended meanwhile (`cancel_direct_pages`) never rings a phone.
    """
    target = person(session, handle)
    if target.user_id is None or not target.steps:
        return []
    body = f"{DRILL_MARK} {text}" if drill else text
    title = subject or text.splitlines()[0][:120]
    if drill:
        title = f"{DRILL_MARK} {title}"
    queued = []
    for index, step in enumerate(target.steps):
        delay = step.rule.delay
        if low_urgency is not None:
            delay = timedelta(0) if step.rule.method == "email" else low_urgency + delay
        notice = Notice(
            key=f"{cause_key}:{index}",
            user_id=target.user_id,
            user_handle=handle,
            method=step.rule.method,
            address=step.address,
            body=body,
            subject=title if step.rule.method == "email" else "",
            due_at=now + delay,
        )
        if queue_notice(session, notice, now):
            queued.append(notice)
    return queued


def cancel_direct_pages(session: Session, cause_key: str, now: datetime) -> int:
    """Cancel the pages of `cause_key` not sent yet (e.g. an update was posted); returns how many."""
    return cancel_pending_by_key_prefix(session, f"{cause_key}:", now)
