"""The response report (docs/analytics.md): how fast alerts and incidents are answered and who
carries the pages, computed from plain facts read by `pager.services.analytics.report`.

Every figure is defined in docs/analytics.md; this module is that page as code. Means are exact
(microseconds summed as integers) and rounded half up at the end: seconds to one decimal, hours to
two. A mean over nothing is None (JSON null).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pager.core.incident_model import INCIDENT_SEVERITIES
from pager.core.localtime import format_instant
from pager.core.night_hours import is_night, night_time

REPORT_METHODS: tuple[str, ...] = ("sms", "voice", "email")
Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class AlertFact:
    """An alert triggered in the window: its first acknowledgement and its resolution, if any."""

    id: int
    triggered_at: datetime
    first_ack_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class PageFact:
    """A page of an alert that the provider accepted (`sent_at`: handed over; `delivered_at`: its
    delivery report, None when none came)."""

    alert_id: int
    user: str
    method: str
    sent_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class IncidentFact:
    """An incident declared in the window; `started_at` is impact_started when set, else declared."""

    severity: str
    started_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class ResponderFact:
    """A person: their zone and every span they were on call in any schedule, any role."""

    user: str
    zone: ZoneInfo
    on_call: tuple[Span, ...] = ()


@dataclass(frozen=True)
class ReportFacts:
    start: datetime
    end: datetime
    alerts: Sequence[AlertFact]
    # Pages of the window's alerts (for the ack path) and pages handed over in the window (load).
    alert_pages: Sequence[PageFact]
    window_pages: Sequence[PageFact]
    incidents: Sequence[IncidentFact]
    drills_excluded: int
    people: Mapping[str, ResponderFact] = field(default_factory=dict)


def mean_seconds(durations: Iterable[timedelta]) -> float | None:
    """The mean in seconds, rounded half up to 0.1 s; None for no durations."""
    return _mean(durations, Decimal("0.1"), 1)


def rounded_hours(duration: timedelta) -> float:
    """`duration` in hours, rounded half up to 0.01 h."""
    micros = Decimal(_micros(duration)) / Decimal(3_600_000_000)
    return float(micros.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _micros(duration: timedelta) -> int:
    return (duration.days * 86_400 + duration.seconds) * 1_000_000 + duration.microseconds


def _mean(durations: Iterable[timedelta], step: Decimal, scale_s: int) -> float | None:
    values = [_micros(d) for d in durations]
    if not values:
        return None
    mean = Decimal(sum(values)) / Decimal(len(values)) / Decimal(1_000_000 * scale_s)
    return float(mean.quantize(step, rounding=ROUND_HALF_UP))


def build_report(facts: ReportFacts) -> dict[str, Any]:
    """The report document (docs/analytics.md, "The report")."""
    return {
        "from": format_instant(facts.start),
        "to": format_instant(facts.end),
        "drills_excluded": facts.drills_excluded,
        "alerts": alert_figures(facts.alerts, facts.alert_pages),
        "incidents": incident_figures(facts.incidents),
        "responders": responder_figures(facts),
    }


def alert_figures(alerts: Sequence[AlertFact], pages: Sequence[PageFact]) -> dict[str, Any]:
    acked = [a for a in alerts if a.first_ack_at is not None]
    resolved = [a for a in alerts if a.resolved_at is not None]
    pages_of: dict[int, list[PageFact]] = {}
    for page in pages:
        pages_of.setdefault(page.alert_id, []).append(page)
    return {
        "count": len(alerts),
        "mtta_s": mean_seconds(a.first_ack_at - a.triggered_at for a in acked if a.first_ack_at),
        "mttr_s": mean_seconds(a.resolved_at - a.triggered_at for a in resolved if a.resolved_at),
        "ack_path": ack_path(acked, pages_of, None),
        "by_method": {method: ack_path(acked, pages_of, method) for method in REPORT_METHODS},
    }


def ack_path(
    acked: Sequence[AlertFact], pages_of: Mapping[int, Sequence[PageFact]], method: str | None
) -> dict[str, float | None]:
    """Trigger -> first page (of `method`, or of any) handed over at or before the first ack ->
    its delivery -> the ack, averaged over the acknowledged alerts that had such a page."""
    to_page: list[timedelta] = []
    to_delivered: list[timedelta] = []
    to_ack: list[timedelta] = []
    for alert in acked:
        assert alert.first_ack_at is not None
        ack = alert.first_ack_at
        before_ack = [
            p for p in pages_of.get(alert.id, ()) if p.sent_at <= ack and method in (None, p.method)
        ]
        if not before_ack:
            continue
        first = min(before_ack, key=lambda p: (p.sent_at, p.method))
        to_page.append(first.sent_at - alert.triggered_at)
        if first.delivered_at is not None:
            to_delivered.append(first.delivered_at - alert.triggered_at)
        to_ack.append(ack - alert.triggered_at)
    return {
        "to_first_page_s": mean_seconds(to_page),
        "to_delivered_s": mean_seconds(to_delivered),
        "to_ack_s": mean_seconds(to_ack),
    }


def incident_figures(incidents: Sequence[IncidentFact]) -> dict[str, Any]:
    figures = _incident_means(incidents)
    figures["by_severity"] = {
        severity: _incident_means([i for i in incidents if i.severity == severity])
        for severity in INCIDENT_SEVERITIES
    }
    return figures


def _incident_means(incidents: Sequence[IncidentFact]) -> dict[str, Any]:
    return {
        "count": len(incidents),
        "mtta_s": mean_seconds(
            i.acknowledged_at - i.started_at for i in incidents if i.acknowledged_at is not None
        ),
        "mttr_s": mean_seconds(i.resolved_at - i.started_at for i in incidents if i.resolved_at is not None),
    }


def responder_figures(facts: ReportFacts) -> list[dict[str, Any]]:
    """One entry per person paged or on call in the window, by handle."""
    pages_of: dict[str, list[PageFact]] = {}
    for page in facts.window_pages:
        pages_of.setdefault(page.user, []).append(page)
    handles = sorted({*pages_of, *(p.user for p in facts.people.values() if p.on_call)})
    utc = ZoneInfo("UTC")
    figures = []
    for handle in handles:
        person = facts.people.get(handle, ResponderFact(handle, utc))
        paged = pages_of.get(handle, [])
        on_call = merged_spans(facts.start, facts.end, person.on_call)
        figures.append(
            {
                "user": handle,
                "pages": len(paged),
                "night_pages": sum(1 for p in paged if is_night(p.sent_at, person.zone)),
                "off_shift_pages": sum(1 for p in paged if not _within(p.sent_at, on_call)),
                "on_call_hours": rounded_hours(sum((end - start for start, end in on_call), timedelta(0))),
                "night_on_call_hours": rounded_hours(
                    sum((night_time(start, end, person.zone) for start, end in on_call), timedelta(0))
                ),
            }
        )
    return figures


def merged_spans(start: datetime, end: datetime, spans: Iterable[Span]) -> list[Span]:
    """`spans` clipped to [start, end), overlapping or touching ones merged, in order."""
    clipped = sorted((max(s, start), min(e, end)) for s, e in spans if min(e, end) > max(s, start))
    merged: list[Span] = []
    for s, e in clipped:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _within(at: datetime, spans: Sequence[Span]) -> bool:
    return any(start <= at < end for start, end in spans)
