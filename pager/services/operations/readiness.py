"""Readiness as /readyz (of `pager serve` and of `pager worker --metrics-port`) reports it.

Reads the figures in one short read-only transaction and leaves the verdict to pager.core.readiness.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from pager.core.readiness import Figures, Readiness, assess
from pager.db import backlog, heartbeats
from pager.db.heartbeat_monitors import earliest_monitor_due
from pager.db.session import session_scope

log = logging.getLogger("pager.readiness")

# A database slower than this to answer the readiness queries counts as not answering (Postgres).
QUERY_LIMIT = timedelta(seconds=2)


def figures_of(session: Session) -> Figures:
    """The readiness figures, read in `session` (single-probe index reads); a heartbeat monitor's
    timer counts as an escalation timer: the same loop raises it."""
    heartbeats.bound_statements(session, QUERY_LIMIT)
    return Figures(
        newest_beat=heartbeats.newest_beat(session),
        oldest_due_page=backlog.earliest_page_ready(session),
        oldest_due_timer=_earliest(backlog.earliest_alert_timer(session), earliest_monitor_due(session)),
    )


def _earliest(*instants: datetime | None) -> datetime | None:
    found = [instant for instant in instants if instant is not None]
    return min(found) if found else None


def read_figures(engine: Engine) -> Figures:
    """The readiness figures; a database that fails to answer is reported in `database_error`."""
    try:
        with session_scope(engine, read_only=True) as session:
            return figures_of(session)
    except Exception as exc:  # whatever the driver raises, the answer is "the database does not answer"
        log.warning("readiness_database_failed error=%s", type(exc).__name__)
        return Figures(database_error=type(exc).__name__)


def check_readiness(engine: Engine, now: datetime) -> Readiness:
    """Is pager able to page at `now`? (see pager.core.readiness)"""
    return assess(read_figures(engine), now)
