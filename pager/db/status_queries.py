"""The public status page's reads (docs/status-page.md): incidents that may be shown and their public
updates, each bounded. The caller owns the session; nothing here writes.

Drills and internal updates are filtered out here, and again by the pure rules
(`pager.core.status_page`), so neither layer alone can publish them.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, and_, exists, func, or_, text
from sqlmodel import Session, col, select

from pager.core.incident_model import OPEN_STATUSES
from pager.db.incident_tables import Incident, StatusUpdate
from pager.db.session import is_postgres

# A status page read that takes longer than this is cancelled (Postgres), so that a table lock held
# elsewhere cannot keep its connection and thread for long.
STATEMENT_TIMEOUT_MS = 5000


def snapshot_engine(engine: Engine) -> Engine:
    """`engine` for one consistent read: on Postgres its transactions are REPEATABLE READ and read
    only (every statement of the page sees one snapshot); SQLite's deferred read is one already."""
    if engine.url.get_backend_name() != "postgresql":
        return engine
    return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)


def limit_statement_time(session: Session) -> None:
    """On Postgres, cancel any statement of this transaction that runs past STATEMENT_TIMEOUT_MS."""
    if is_postgres(session):
        session.execute(text(f"SET LOCAL statement_timeout = {int(STATEMENT_TIMEOUT_MS)}"))


def _may_be_shown() -> ColumnElement[bool]:
    """Not a drill, and customers affected or a public update posted."""
    has_public_update = exists().where(
        col(StatusUpdate.incident_id) == col(Incident.id), col(StatusUpdate.public).is_(True)
    )
    return and_(
        col(Incident.drill).is_(False), or_(col(Incident.customer_impact).is_(True), has_public_update)
    )


def shown_open_incidents(session: Session, limit: int) -> list[Incident]:
    """Up to `limit` open incidents that may be shown, newest declared first."""
    query = (
        select(Incident)
        .where(col(Incident.status).in_(OPEN_STATUSES), _may_be_shown())
        .order_by(col(Incident.declared_at).desc(), col(Incident.id).desc())
        .limit(limit)
    )
    return list(session.exec(query))


def shown_past_incidents(session: Session, since: datetime, limit: int) -> list[Incident]:
    """Up to `limit` resolved or closed incidents declared at or after `since` that may be shown,
    newest declared first."""
    query = (
        select(Incident)
        .where(
            col(Incident.status).not_in(OPEN_STATUSES),
            col(Incident.declared_at) >= since,
            _may_be_shown(),
        )
        .order_by(col(Incident.declared_at).desc(), col(Incident.id).desc())
        .limit(limit)
    )
    return list(session.exec(query))


def newest_public_updates(
    session: Session, incident_ids: Collection[int], per_incident: int
) -> list[StatusUpdate]:
    """The newest `per_incident` public updates of each of `incident_ids` (one statement)."""
    if not incident_ids:
        return []
    ranked = (
        select(
            col(StatusUpdate.id).label("update_id"),
            func.row_number()
            .over(
                partition_by=col(StatusUpdate.incident_id),
                order_by=(col(StatusUpdate.at).desc(), col(StatusUpdate.id).desc()),
            )
            .label("rank"),
        )
        .where(col(StatusUpdate.incident_id).in_(list(incident_ids)), col(StatusUpdate.public).is_(True))
        .subquery()
    )
    query = (
        select(StatusUpdate)
        .join(ranked, ranked.c.update_id == col(StatusUpdate.id))
        .where(ranked.c.rank <= per_incident)
        .order_by(col(StatusUpdate.incident_id), col(StatusUpdate.at).desc(), col(StatusUpdate.id).desc())
    )
    return list(session.exec(query))
