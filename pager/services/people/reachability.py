"""Test pages: one notice to a person's verified method(s) now, to prove pager can reach them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from pager.core.localtime import format_instant
from pager.db.users import contact_methods_of
from pager.services.delivery.notices import Notice, queue_notice
from pager.services.errors import InvalidInput
from pager.services.people.users import require_user


def test_page(session: Session, handle: str, method: str | None, now: datetime) -> list[Notice]:
    """Queue a test page to each verified method of the user (of kind `method` only, when given).

    InvalidInput when the person is deactivated or has no verified method of that kind.
    """
    user = require_user(session, handle)
    if method is not None and method not in ("sms", "voice", "email"):
        raise InvalidInput(f"method must be sms, voice or email, not {method!r}")
    if user.deactivated_at is not None:
        raise InvalidInput(f"{handle} is deactivated; reactivate them first")
    targets = [
        m for m in contact_methods_of(session, user.id or 0) if m.verified and method in (None, m.kind)
    ]
    if not targets:
        what = f"verified {method} contact method" if method else "verified contact method"
        raise InvalidInput(f"{handle} has no {what} to page")
    notices = []
    for target in targets:
        assert target.id is not None and user.id is not None
        notice = Notice(
            key=f"test-page:{target.id}:{format_instant(now)}",
            user_id=user.id,
            user_handle=user.handle,
            method=target.kind,
            address=target.address,
            body=f"pager test page for {user.handle}: pager can reach you by {target.kind} here.",
            subject="pager test page" if target.kind == "email" else "",
        )
        queue_notice(session, notice, now)
        notices.append(notice)
    return notices
