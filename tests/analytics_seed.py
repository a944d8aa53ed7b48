"""A seeded month-end weekend for the response report and the exports (docs/analytics.md).

The window is [2026-03-28T00:00Z, 2026-03-31T00:00Z): Europe/Berlin moves its clocks from 02:00 CET
to 03:00 CEST on 2026-03-29 (01:00 UTC). berta lives in Berlin and holds the `berlin` schedule every
local day 20:00-08:00; uma has no zone set (UTC) and is on no schedule. Rows are written as the
engine would have left them; the answers are worked out by hand in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from pager.db.incident_tables import ActionItem, Incident, IncidentAlert, IncidentEvent, IncidentService
from pager.db.session import session_scope
from pager.db.tables import Alert, OutboxMessage, TimelineEntry, User
from pager.services.alerting import catalog
from pager.services.people import users
from pager.services.runtime import Runtime
from tests import support

FROM = datetime(2026, 3, 28, tzinfo=UTC)
TO = datetime(2026, 3, 31, tzinfo=UTC)
SEEDED_AT = datetime(2026, 3, 1, tzinfo=UTC)

SCHEDULES = {
    "berlin": """\
        time_zone: Europe/Berlin
        layers:
          - name: evenings
            members: [berta]
            start: 2026-01-05T20:00
            shift: 1d
            restrictions:
              - {days: [mon, tue, wed, thu, fri, sat, sun], from: "20:00", to: "08:00"}
        """,
}
POLICIES = {
    "main": """\
        levels:
          - notify: [schedule:berlin]
            escalate_after: 10m
          - notify: [user:uma]
            escalate_after: 10m
        services:
          - {id: api, name: API}
          - {id: web, name: Web}
        """,
}


def at(text: str) -> datetime:
    """`2026-03-28T10:00:05` read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Page:
    user: str
    method: str
    sent: str | None  # when it was handed to the provider (None: never)
    delivered: str | None = None
    status: str = ""  # defaults: delivered when `delivered`, sent when `sent`, else cancelled

    def row_status(self) -> str:
        return self.status or ("delivered" if self.delivered else "sent" if self.sent else "cancelled")


@dataclass
class SeedAlert:
    name: str
    service: str
    triggered: str
    acks: tuple[tuple[str, str], ...] = ()  # (timeline kind, instant)
    resolved: str | None = None
    pages: list[Page] = field(default_factory=list)


ALERTS = [
    # Acknowledged at 10:03, then again at 10:20 after a retrigger: the first one counts.
    SeedAlert(
        "A1",
        "api",
        "2026-03-28T10:00:00",
        (("acknowledged", "2026-03-28T10:03:00"), ("acknowledged", "2026-03-28T10:20:00")),
        "2026-03-28T10:30:00",
        [
            Page("berta", "sms", "2026-03-28T10:00:05", "2026-03-28T10:00:12"),
            Page("berta", "email", "2026-03-28T10:00:06"),
            Page("berta", "voice", "2026-03-28T10:01:00", "2026-03-28T10:01:30"),
        ],
    ),
    # 01:50 CET; the voice call goes out at 03:05 CEST, just after the clocks jumped. A snooze acks.
    SeedAlert(
        "A2",
        "api",
        "2026-03-29T00:50:00",
        (("snoozed", "2026-03-29T01:10:00"),),
        "2026-03-29T02:00:00",
        [
            Page("berta", "sms", "2026-03-29T00:50:10", "2026-03-29T00:50:20"),
            Page("berta", "voice", "2026-03-29T01:05:00", "2026-03-29T01:05:40"),
        ],
    ),
    # Daytime: berta is off shift, uma is paged next and acks; uma's email leaves after the ack.
    SeedAlert(
        "A3",
        "api",
        "2026-03-29T12:00:00",
        (("acknowledged", "2026-03-29T12:12:00"),),
        None,
        [
            Page("berta", "sms", "2026-03-29T12:00:03", "2026-03-29T12:00:09"),
            Page("uma", "sms", "2026-03-29T12:10:00", "2026-03-29T12:10:05"),
            Page("uma", "email", "2026-03-29T12:15:00"),
        ],
    ),
    # 07:30 CEST (06:30 had the clocks not moved): not night, still berta's shift. Never acked.
    SeedAlert(
        "A4",
        "api",
        "2026-03-29T05:30:00",
        (),
        "2026-03-29T06:00:00",
        [Page("berta", "voice", "2026-03-29T05:30:30")],
    ),
    # 23:30 in Berlin, 21:30 for uma. berta's SMS was refused and her call cancelled: no pages.
    SeedAlert(
        "A5",
        "api",
        "2026-03-30T21:30:00",
        (("acknowledged", "2026-03-30T21:31:00"),),
        "2026-03-30T21:45:00",
        [
            Page("uma", "sms", "2026-03-30T21:30:02", "2026-03-30T21:30:04"),
            Page("berta", "sms", None, status="failed"),
            Page("berta", "voice", None),
        ],
    ),
    SeedAlert(
        "A6",
        "web",
        "2026-03-28T23:00:00",
        (("acknowledged", "2026-03-28T23:20:00"),),
        "2026-03-28T23:40:00",
        [Page("uma", "email", "2026-03-28T23:00:01")],
    ),
    # The drill's alert: left out everywhere.
    SeedAlert(
        "A7",
        "api",
        "2026-03-28T12:00:00",
        (("acknowledged", "2026-03-28T12:01:00"),),
        "2026-03-28T12:30:00",
        [Page("berta", "sms", "2026-03-28T12:00:05", "2026-03-28T12:00:07")],
    ),
    # Triggered before the window: not an alert of the report, but its page (01:00:30 CET) is load.
    SeedAlert(
        "A8",
        "api",
        "2026-03-27T23:59:00",
        (("acknowledged", "2026-03-28T00:01:00"),),
        "2026-03-28T00:05:00",
        [Page("berta", "sms", "2026-03-28T00:00:30", "2026-03-28T00:00:40")],
    ),
]


@dataclass
class SeedIncident:
    number: int
    severity: str
    declared: str
    impact_started: str | None = None
    acknowledged: str | None = None
    resolved: str | None = None
    service: str = "api"
    drill: bool = False
    alerts: tuple[str, ...] = ()


INCIDENTS = [
    SeedIncident(
        1,
        "SEV1",
        "2026-03-28T10:05:00",
        "2026-03-28T09:55:00",
        "2026-03-28T10:10:00",
        "2026-03-28T11:55:00",
        alerts=("A1",),
    ),
    SeedIncident(2, "SEV0", "2026-03-29T01:00:00", None, "2026-03-29T01:02:30", "2026-03-29T03:00:00"),
    SeedIncident(3, "SEV1", "2026-03-30T08:00:00", service="web"),
    SeedIncident(
        4,
        "SEV2",
        "2026-03-28T12:00:00",
        None,
        "2026-03-28T12:01:00",
        "2026-03-28T12:30:00",
        drill=True,
        alerts=("A7",),
    ),
    SeedIncident(5, "SEV0", "2026-03-31T00:00:00"),  # declared at `to`: outside
]


def seeded_runtime(engine: Engine, config_dir: Path) -> Runtime:
    """A runtime on the seeded database (config written to `config_dir`)."""
    support.write_config(config_dir, SCHEDULES, POLICIES)
    runtime = support.console_runtime(engine, config_dir)
    with session_scope(engine) as session:
        catalog.sync_services(session, runtime.config, SEEDED_AT)
        people = {}
        for number, (handle, zone) in enumerate((("berta", "Europe/Berlin"), ("uma", None))):
            person = users.add_user(
                session,
                handle=handle,
                name=handle.title(),
                now=SEEDED_AT,
                sms=f"+1555000000{number}",
                voice=f"+1555100000{number}",
                email=f"{handle}@example.com",
            )
            person.time_zone = zone
            session.add(person)
            people[handle] = person
        session.flush()
        alert_ids = {seed.name: _add_alert(session, seed, people) for seed in ALERTS}
        for seed in INCIDENTS:
            _add_incident(session, seed, alert_ids, people["berta"])
    return runtime


def _add_alert(session: Session, seed: SeedAlert, people: dict[str, User]) -> int:
    triggered = at(seed.triggered)
    last_ack = at(seed.acks[-1][1]) if seed.acks else None
    resolved = at(seed.resolved) if seed.resolved else None
    alert = Alert(
        service_id=seed.service,
        dedup_key=seed.name,
        summary=f"{seed.name} happened",
        status="resolved" if resolved else "acknowledged" if last_ack else "triggered",
        created_at=triggered,
        updated_at=triggered,
        last_event_at=triggered,
        acknowledged_at=last_ack,
        acknowledged_by="berta" if last_ack else None,
        resolved_at=resolved,
    )
    session.add(alert)
    session.flush()
    assert alert.id is not None
    lines = [("triggered", triggered)] + [(kind, at(instant)) for kind, instant in seed.acks]
    if resolved:
        lines.append(("resolved", resolved))
    for kind, instant in lines:
        session.add(TimelineEntry(alert_id=alert.id, at=instant, kind=kind, message=f"{seed.name} {kind}"))
    for step, page in enumerate(seed.pages):
        sent = at(page.sent) if page.sent else None
        session.add(
            OutboxMessage(
                idempotency_key=f"{alert.id}:{step}",
                alert_id=alert.id,
                user_id=people[page.user].id,
                user_handle=page.user,
                method=page.method,  # type: ignore[arg-type]
                address=f"{page.user}-{page.method}",
                body=f"{seed.name} happened",
                cycle=1,
                loop=1,
                level=1,
                step=step,
                status=page.row_status(),  # type: ignore[arg-type]
                created_at=triggered,
                due_at=triggered,
                attempts=1 if sent else 0,
                last_attempt_at=sent,
                provider_id=f"P-{alert.id}-{step}" if sent else None,
                updated_at=at(page.delivered) if page.delivered else (sent or triggered),
            )
        )
    return alert.id


def _add_incident(session: Session, seed: SeedIncident, alert_ids: dict[str, int], owner: User) -> None:
    declared = at(seed.declared)
    incident = Incident(
        number=seed.number,
        title=f"Incident {seed.number}",
        severity=seed.severity,  # type: ignore[arg-type]
        status="resolved" if seed.resolved else "investigating",
        drill=seed.drill,
        declared_by="berta",
        impact_started_at=at(seed.impact_started) if seed.impact_started else None,
        declared_at=declared,
        acknowledged_at=at(seed.acknowledged) if seed.acknowledged else None,
        resolved_at=at(seed.resolved) if seed.resolved else None,
        created_at=declared,
        updated_at=declared,
    )
    session.add(incident)
    session.flush()
    assert incident.id is not None and owner.id is not None
    session.add(IncidentService(incident_id=incident.id, service_id=seed.service))
    for name in seed.alerts:
        session.add(
            IncidentAlert(
                incident_id=incident.id, alert_id=alert_ids[name], linked_at=declared, linked_by="berta"
            )
        )
    session.add(
        IncidentEvent(
            incident_id=incident.id,
            at=declared,
            kind="declared",
            actor="berta",
            message=f'declared, with "quotes", a comma\nand a new line ({seed.severity})',
            data={"severity": seed.severity},
        )
    )
    session.add(
        ActionItem(
            incident_id=incident.id,
            title=f"Follow up on {seed.number}",
            owner_user_id=owner.id,
            due_on=date(2026, 4, 10),
            created_by="berta",
            created_at=declared + timedelta(hours=1),
        )
    )
