"""Provider requests already acted on (table `handled_provider_requests`): a replay finds its key taken."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from pager.db.session import is_postgres
from pager.db.tables import HandledProviderRequest

MAX_KEY_LENGTH = 200  # the column's width


def claim_request(session: Session, request_key: str, now: datetime) -> bool:
    """Record `request_key` as handled in the session's transaction; False when it already was.

    The insert itself is the check (ON CONFLICT DO NOTHING on the primary key, RETURNING the key only
    when a row went in): of two transactions claiming one key at once, the second waits for the first
    and finds the key taken if it commits.
    """
    if len(request_key) > MAX_KEY_LENGTH:
        raise ValueError(f"request key longer than {MAX_KEY_LENGTH} characters")
    dialect = postgresql if is_postgres(session) else sqlite
    statement = (
        dialect.insert(HandledProviderRequest)
        .values(request_key=request_key, handled_at=now)
        .on_conflict_do_nothing(index_elements=["request_key"])
        .returning(col(HandledProviderRequest.request_key))  # psycopg reports no rowcount here
    )
    return session.execute(statement).first() is not None


def prune_handled_requests(session: Session, before: datetime) -> int:
    """Forget the keys handled before `before`; how many were forgotten."""
    statement = delete(HandledProviderRequest).where(col(HandledProviderRequest.handled_at) < before)
    result = session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]
