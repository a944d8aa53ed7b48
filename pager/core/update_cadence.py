"""When an incident's next status update is due (docs/incidents.md, "Status updates").

While an incident is open and customers are affected, an update is due `update_every` after the last
one (or after the declaration, before the first). Everything that can move the due instant — an
update posted, the severity changed (a new cadence), the impact flag set or cleared, the status
moved — recomputes it with `next_update_due` and stores it on the incident, where the worker's
durable timer reads it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pager.core.incident_model import OPEN_STATUSES


def next_update_due(
    *,
    status: str,
    customer_impact: bool,
    declared_at: datetime,
    last_update_at: datetime | None,
    update_every: timedelta | None,
) -> datetime | None:
    """The instant the next status update is due; None while none is (closed, resolved, no customer
    impact, or a severity without a cadence). Drills keep their cadence: they exercise the real path."""
    if status not in OPEN_STATUSES or not customer_impact or update_every is None:
        return None
    return (last_update_at or declared_at) + update_every
