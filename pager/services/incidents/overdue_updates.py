"""The worker's pass over overdue status updates (docs/incidents.md, "Status updates").

Load (the open incidents whose `next_update_due_at` has passed, in one query; their comms lead and
commander; who is on call for each level of `overdue_update_policy`, through the alert engine's own
on-call resolution; the stages already paged for that due instant, read back from the outbox's
idempotency keys), decide (`core.update_ladder.decide_overdue`, pure), apply (each due stage paged
with `page_person` and written on the incident's timeline, in one transaction that first re-checks,
its row locked, that the incident is still overdue at that same instant).

All state is in the database: the due instant on the incident and the outbox keys
`incident-update:<id>:<due>:<stage>`. A pass repeated, or run again by a worker restarted after
kill -9, finds the stages already queued and pages nobody twice; posting an update moves the due
instant and cancels what is pending. The worker sleeps until the earliest `wake_at` it returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from pager.core.incident_model import OPEN_STATUSES
from pager.core.update_ladder import (
    STAGE_COMMANDER,
    STAGE_COMMS_LEAD,
    LadderLevel,
    OverdueIncident,
    Stage,
    compact_utc,
    decide_overdue,
    earliest_wake,
    update_cause_prefix,
)
from pager.db.incident_tables import Incident
from pager.db.incident_timeline import add_incident_event
from pager.db.incident_updates import (
    current_role_holders,
    earliest_update_due_after,
    incident_events_of_kind,
    outbox_keys_with_prefix,
    overdue_incidents,
)
from pager.db.incidents import lock_incident
from pager.db.session import session_scope
from pager.services.alerting.alerts import wake_worker
from pager.services.alerting.decision_facts import FactsCache, on_call_for
from pager.services.people.direct_pages import page_person
from pager.services.people.users import person
from pager.services.runtime import Runtime

log = logging.getLogger("pager.incidents")

PAGED_KIND = "update_overdue"  # a stage paged
UNREACHABLE_KIND = "update_overdue_unreachable"  # a stage whose people have no usable rule


@dataclass(frozen=True)
class OverduePass:
    """What one pass did: how many people it paged, and when the worker should look again."""

    paged: int
    wake_at: datetime | None


def run_overdue_updates(runtime: Runtime, now: datetime) -> OverduePass:
    """Page every stage of every overdue ladder due at `now` that was not paged yet."""
    with session_scope(runtime.engine, read_only=True) as session:
        overdue = load_overdue(session, runtime, now)
        upcoming = earliest_update_due_after(session, now)
    decisions = [(facts, decide_overdue(facts, now)) for facts in overdue]
    wake_at = _earliest(earliest_wake([decision for _, decision in decisions]), upcoming)
    due = [(facts, decision.due) for facts, decision in decisions if decision.due]
    if not due:
        return OverduePass(0, wake_at)
    paged = 0
    with session_scope(runtime.engine) as session:
        for facts, stages in due:
            paged += _apply(session, facts, stages, now)
    if paged:
        wake_worker(runtime)
    return OverduePass(paged, wake_at)


def load_overdue(session: Session, runtime: Runtime, now: datetime) -> list[OverdueIncident]:
    """The plain facts of every incident whose update is overdue at `now`."""
    incidents = [row for row in overdue_incidents(session, now) if row.id is not None]
    if not incidents:
        return []
    holders = current_role_holders(
        session, [row.id for row in incidents if row.id], ("comms_lead", "commander")
    )
    levels = _policy_levels(session, runtime, now)
    found = []
    for row in incidents:
        assert row.id is not None and row.next_update_due_at is not None
        due_at = _aware(row.next_update_due_at)
        facts = OverdueIncident(
            incident_id=row.id,
            number=row.number,
            title=row.title,
            severity=row.severity,
            drill=row.drill,
            due_at=due_at,
            comms_lead=holders.get((row.id, "comms_lead")),
            commander=holders.get((row.id, "commander")),
            levels=levels,
            handled=_handled(session, row.id, due_at),
        )
        found.append(facts)
    return found


def _policy_levels(session: Session, runtime: Runtime, now: datetime) -> tuple[LadderLevel, ...]:
    """The overdue-update policy's levels with who is on call for each at `now` (none: no policy)."""
    policy_id = runtime.config.incidents.overdue_update_policy
    policy = runtime.config.policies.get(policy_id) if policy_id else None
    if policy is None:
        return ()
    cache = FactsCache()
    return tuple(
        LadderLevel(level.escalate_after, on_call_for(session, runtime, level.targets, now, cache))
        for level in policy.levels
    )


def _handled(session: Session, incident_id: int, due_at: datetime) -> frozenset[str]:
    """The stages of this due instant already paged (their outbox keys) or found unreachable."""
    prefix = f"{update_cause_prefix(incident_id)}:{compact_utc(due_at)}:"
    stages = {key[len(prefix) :].split(":", 1)[0] for key in outbox_keys_with_prefix(session, prefix)}
    due = compact_utc(due_at)
    for event in incident_events_of_kind(session, incident_id, UNREACHABLE_KIND):
        if event.data.get("due") == due:
            stages.add(str(event.data.get("stage")))
    return frozenset(stages)


def _apply(session: Session, facts: OverdueIncident, stages: tuple[Stage, ...], now: datetime) -> int:
    """Page `stages` of one incident, unless an update was posted since the load (then nothing)."""
    incident = lock_incident(session, facts.incident_id)
    if not _still_overdue(incident, facts, now):
        return 0
    paged = 0
    for stage in stages:
        queued: list[str] = []
        unreachable: list[str] = []
        for handle in stage.handles:
            cause = stage.cause_key if len(stage.handles) == 1 else f"{stage.cause_key}:{handle}"
            notices = page_person(
                session,
                handle,
                cause,
                stage.text,
                now,
                subject=f"Incident {facts.number}: status update overdue",
                drill=facts.drill,
            )
            if notices:
                queued.append(handle)
            elif not person(session, handle).steps:
                unreachable.append(handle)
        paged += len(queued)
        _record(session, facts, stage, queued, unreachable, now)
    return paged


def _record(
    session: Session,
    facts: OverdueIncident,
    stage: Stage,
    queued: list[str],
    unreachable: list[str],
    now: datetime,
) -> None:
    """One timeline line per stage paged, one per stage nobody of which could be paged."""
    who = _stage_words(stage.stage)
    drill = "[DRILL] " if facts.drill else ""
    data = {"due": compact_utc(facts.due_at), "stage": stage.stage, "cause": stage.cause_key}
    if queued:
        missed = f" ({', '.join(unreachable)} cannot be paged)" if unreachable else ""
        message = f"{drill}{who} {', '.join(queued)} paged: update overdue{missed}"
        add_incident_event(
            session, facts.incident_id, now, PAGED_KIND, "system", message, data | {"paged": queued}
        )
        log.warning(
            "incident_update_overdue incident=%d stage=%s paged=%s", facts.incident_id, stage.stage, queued
        )
    if unreachable and not queued:
        names = ", ".join(unreachable)
        message = f"{drill}{who} {names} cannot be paged (no usable contact method): update overdue"
        add_incident_event(
            session,
            facts.incident_id,
            now,
            UNREACHABLE_KIND,
            "system",
            message,
            data | {"unreachable": unreachable},
        )


def _still_overdue(incident: Incident | None, facts: OverdueIncident, now: datetime) -> bool:
    if incident is None or incident.next_update_due_at is None:
        return False
    due = _aware(incident.next_update_due_at)
    return incident.status in OPEN_STATUSES and due == facts.due_at <= now


def _stage_words(stage: str) -> str:
    if stage == STAGE_COMMS_LEAD:
        return "comms lead"
    if stage == STAGE_COMMANDER:
        return "commander"
    return f"overdue-update policy level {int(stage.rsplit('-', 1)[1]) + 1}:"


def _earliest(*instants: datetime | None) -> datetime | None:
    found = [instant for instant in instants if instant is not None]
    return min(found) if found else None


def _aware(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant
