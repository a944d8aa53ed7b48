"""Who is paged when an incident's status update is overdue, and when (docs/incidents.md,
"Status updates").

Pure: the worker's loader hands in one incident's plain facts (its due instant, its comms lead and
commander, the overdue-update policy's levels with who is on call for each) and `now`; this says which
stages are due and not handled yet, and the next instant the incident needs the worker again.

The ladder, counted from the instant the update fell due:
- the comms lead at once;
- the commander 5 minutes later (at once when there is no comms lead);
- the policy's levels from 10 minutes after due (at once when there is neither role holder): level k
  at that start plus the delays (`escalate_after`) of the earlier levels that had somebody on call;
  a level with nobody on call is skipped at once, never waited for.
Each stage is paged once per due instant: its cause key (`update_cause_key`) names the incident, the
due instant and the stage, and posting an update moves the due instant (new keys) and cancels what
is still pending under `incident-update:<id>`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

COMMANDER_AFTER = timedelta(minutes=5)
POLICY_AFTER = timedelta(minutes=10)

STAGE_COMMS_LEAD = "comms_lead"
STAGE_COMMANDER = "commander"


def policy_stage(index: int) -> str:
    """The stage name of the policy's level `index` (0-based): `policy-0`, `policy-1`, ..."""
    return f"policy-{index}"


@dataclass(frozen=True)
class LadderLevel:
    """One level of the overdue-update policy: who is on call for it now, and how long it is given
    before the next level (its `escalate_after`)."""

    delay: timedelta
    handles: tuple[str, ...]


@dataclass(frozen=True)
class OverdueIncident:
    """What deciding one incident's overdue ladder reads, as plain values."""

    incident_id: int
    number: int
    title: str
    severity: str
    drill: bool
    due_at: datetime  # the incident's next_update_due_at
    comms_lead: str | None
    commander: str | None
    levels: tuple[LadderLevel, ...] = ()
    handled: frozenset[str] = frozenset()  # stages already paged (or recorded unpageable) for due_at


@dataclass(frozen=True)
class Stage:
    """One rung of the ladder: page `handles` at `at` for `stage` with `text`."""

    stage: str
    at: datetime
    handles: tuple[str, ...]
    cause_key: str
    text: str


@dataclass(frozen=True)
class LadderDecision:
    """The stages to page now (due and not handled yet) and when this incident next needs the worker
    (the earliest stage still in the future; None when the ladder has nothing left)."""

    due: tuple[Stage, ...]
    wake_at: datetime | None


def compact_utc(instant: datetime) -> str:
    """`20260302T150000Z`: an instant in cause keys."""
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def update_cause_prefix(incident_id: int) -> str:
    """What every overdue-update page of the incident starts with (posting an update cancels these)."""
    return f"incident-update:{incident_id}"


def update_cause_key(incident_id: int, due_at: datetime, stage: str) -> str:
    """`incident-update:<id>:<due compact UTC>:<stage>`: one stage of one overdue update."""
    return f"{update_cause_prefix(incident_id)}:{compact_utc(due_at)}:{stage}"


def overdue_text(facts: OverdueIncident) -> str:
    """The words of every page of the ladder (plain ASCII: it fits an SMS as it is)."""
    since = facts.due_at.astimezone(UTC).strftime("%H:%M")
    return (
        f"Incident {facts.number} ({facts.severity}) {facts.title}: status update overdue since "
        f'{since} UTC. Post one: pager incident update {facts.incident_id} "..."'
    )


def ladder(facts: OverdueIncident) -> list[tuple[str, datetime, tuple[str, ...]]]:
    """Every stage of the ladder as (stage, instant, handles), in order; levels with nobody left out."""
    rungs: list[tuple[str, datetime, tuple[str, ...]]] = []
    due = facts.due_at
    if facts.comms_lead is not None:
        rungs.append((STAGE_COMMS_LEAD, due, (facts.comms_lead,)))
    if facts.commander is not None:
        at = due + COMMANDER_AFTER if facts.comms_lead is not None else due
        rungs.append((STAGE_COMMANDER, at, (facts.commander,)))
    nobody = facts.comms_lead is None and facts.commander is None
    at = due if nobody else due + POLICY_AFTER
    for index, level in enumerate(facts.levels):
        handles = _unique(level.handles)
        if not handles:
            continue  # nobody on call: skipped at once, its delay never waited for
        rungs.append((policy_stage(index), at, handles))
        at += level.delay
    return rungs


def decide_overdue(facts: OverdueIncident, now: datetime) -> LadderDecision:
    """The stages of `facts`'s ladder due at `now` and not handled yet, and the next wake-up."""
    text = overdue_text(facts)
    due: list[Stage] = []
    later: list[datetime] = []
    for stage, at, handles in ladder(facts):
        if at > now:
            later.append(at)
        elif stage not in facts.handled:
            key = update_cause_key(facts.incident_id, facts.due_at, stage)
            due.append(Stage(stage, at, handles, key, text))
    return LadderDecision(tuple(due), min(later) if later else None)


def earliest_wake(decisions: Collection[LadderDecision]) -> datetime | None:
    """The earliest `wake_at` of several incidents' decisions (None: none needs waking)."""
    found = [decision.wake_at for decision in decisions if decision.wake_at is not None]
    return min(found) if found else None


def _unique(handles: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(handles))
