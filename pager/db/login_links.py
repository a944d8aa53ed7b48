"""Console login links already used (table `console_login_links`): a link works once.

A link itself is a signed, expiring token (pager.services.console.login); only the SHA-256 of a used
one is stored here, with when it was used, so a second use finds its hash taken.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col

from pager.db.columns import instant_field
from pager.db.session import is_postgres


class UsedLoginLink(SQLModel, table=True):
    """The hash of a console login link that was used (it never works again)."""

    __tablename__ = "console_login_links"

    link_hash: str = Field(primary_key=True, max_length=64)
    used_at: datetime = instant_field(index=True)


def claim_login_link(session: Session, link_hash: str, now: datetime) -> bool:
    """Record the link as used in the session's transaction; False when it already was.

    The insert is the check (ON CONFLICT DO NOTHING, RETURNING only when a row went in): of two
    requests using one link at once, the second waits for the first and finds it taken.
    """
    dialect = postgresql if is_postgres(session) else sqlite
    statement = (
        dialect.insert(UsedLoginLink)
        .values(link_hash=link_hash, used_at=now)
        .on_conflict_do_nothing(index_elements=["link_hash"])
        .returning(col(UsedLoginLink.link_hash))
    )
    return session.execute(statement).first() is not None


def prune_used_login_links(session: Session, before: datetime) -> int:
    """Forget links used before `before` (expired long since); how many were forgotten."""
    result = session.execute(delete(UsedLoginLink).where(col(UsedLoginLink.used_at) < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
