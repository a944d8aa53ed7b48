"""The response report (docs/analytics.md): one read-only transaction loads the window's facts,
`pager.core.response_report.build_report` computes the figures.

People's on-call spans come from the real shifts: every loaded schedule's final shifts, both roles,
with the stored overrides (deactivated people removed), as `pager shifts` shows them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine
from sqlmodel import Session

from pager.config.loader import LoadedConfig
from pager.core.localtime import require_aware
from pager.core.model import ROLES
from pager.core.response_report import ReportFacts, ResponderFact, Span, build_report
from pager.core.schedule import final_shifts
from pager.db import report_queries
from pager.db.session import session_scope
from pager.db.users import deactivated_handles
from pager.services.alerting.catalog import require_service
from pager.services.calendars.overrides import overrides_for
from pager.services.errors import InvalidInput

# As long as a shifts query may be: the on-call hours walk every schedule over the window.
MAX_REPORT_WINDOW = timedelta(days=400)
UTC_ZONE = ZoneInfo("UTC")


def check_window(
    start: datetime, end: datetime, longest: timedelta | None = None
) -> tuple[datetime, datetime]:
    """[start, end) as aware instants; InvalidInput when it is empty or longer than `longest`."""
    start, end = require_aware(start), require_aware(end)
    if end <= start:
        raise InvalidInput("`to` must be after `from`")
    if longest is not None and end - start > longest:
        raise InvalidInput(f"the window may be at most {longest.days} days long")
    return start, end


def report_of(
    session: Session, config: LoadedConfig, start: datetime, end: datetime, service: str | None = None
) -> dict[str, Any]:
    """The report of [start, end) in the caller's transaction; NotFound for an unknown `service`."""
    start, end = check_window(start, end, MAX_REPORT_WINDOW)
    if service is not None:
        require_service(session, service)
    facts = ReportFacts(
        start=start,
        end=end,
        alerts=report_queries.window_alerts(session, start, end, service),
        alert_pages=report_queries.pages_of_window_alerts(session, start, end, service),
        window_pages=report_queries.pages_handed_over_in(session, start, end, service),
        incidents=report_queries.window_incidents(session, start, end, service),
        drills_excluded=report_queries.drills_in(session, start, end, service),
        people=people_on_call(session, config, start, end),
    )
    return build_report(facts)


def response_report(
    engine: Engine, config: LoadedConfig, start: datetime, end: datetime, service: str | None = None
) -> dict[str, Any]:
    """The report of [start, end), read in one read-only transaction of its own."""
    with session_scope(engine, read_only=True) as session:
        return report_of(session, config, start, end, service)


def people_on_call(
    session: Session, config: LoadedConfig, start: datetime, end: datetime
) -> dict[str, ResponderFact]:
    """Every person with their zone (UTC when unset or unknown) and their on-call spans in [start, end)."""
    inactive = deactivated_handles(session)
    spans: dict[str, list[Span]] = {}
    for schedule in config.schedules.values():
        overrides = overrides_for(session, schedule.id, start, end, inactive)
        for role in ROLES:
            for shift in final_shifts(schedule, role, start, end, overrides):
                spans.setdefault(shift.user, []).append((shift.start, shift.end))
    zones = report_queries.user_zones(session)
    return {
        handle: ResponderFact(handle, zone_of(zones.get(handle)), tuple(spans.get(handle, ())))
        for handle in {*zones, *spans}
    }


def zone_of(name: str | None) -> ZoneInfo:
    """The zone called `name`; UTC when there is none or it is unknown."""
    if not name:
        return UTC_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC_ZONE
