"""The engine's load step: everything a batch of decisions reads, into plain values, before any is made.

`load_facts` reads the services the alerts belong to, who each target of their policies means at
`now` (schedules with their stored overrides), the maintenance hold on a service when an alert opens or
its hold may end, and every person those decisions may page, and hands
them to `pager.core.paging_plan.plan_alert` as `Facts`. A `FactsCache` keeps what one escalation pass
or one group of triggers has read already, so a batch reads only what is new to it.

Each kind of fact is one statement per batch, whatever the batch's size (docs/architecture.md, "The
engine"): the people in one query (with whether they are deactivated), the maintenance windows of
every service whose hold is needed in one query, a schedule's overrides with the deactivated handles.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from pager.core.alert import DeliveryFailed, Event
from pager.core.escalation import DecisionInputs, needs_hold, needs_on_call, targets_of
from pager.core.maintenance import AdHocWindow, Hold, hold_at
from pager.core.model import ROLES, OnCall, Override, Schedule
from pager.core.overrides import deactivation_removals
from pager.core.paging_plan import NO_SUCH_USER, AlertFacts, Facts, Person, ServiceFacts
from pager.core.policy import EscalationPolicy, Target
from pager.core.schedule import resolve_on_call, steady_on_call
from pager.db import trigger_queries
from pager.db.catalog import service_column_rows
from pager.db.maintenance import windows_of_services
from pager.db.overrides import overrides_and_deactivated, overrides_overlapping
from pager.services.people.users import everyone, people
from pager.services.runtime import Runtime

SECOND = timedelta(seconds=1)


@dataclass
class FactsCache:
    """Facts already read by this pass or group of triggers; anything missing is read when needed.

    `people` may be filled up front (`load_everyone`) for a pass that decides many alerts; a person
    added since is still read on demand, so nobody new is ever refused. A cache lives for one pass or
    one transaction's group of triggers, never longer: a window, an override or a deactivation made
    by another process is read by the next one.
    """

    services: dict[str, ServiceFacts | None] = field(default_factory=dict)
    on_call: dict[datetime, dict[Target, tuple[str, ...]]] = field(default_factory=dict)  # by instant
    targets: dict[str, tuple[EscalationPolicy, frozenset[Target]]] = field(default_factory=dict)
    # By schedule: its overrides meeting [start, end) with the deactivated people's removals.
    overrides: dict[str, tuple[datetime, datetime, list[Override]]] = field(default_factory=dict)
    # By schedule: who holds its roles throughout [start, end), for a group's later instants.
    steady: dict[str, tuple[datetime, datetime, Schedule, OnCall]] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    deactivated: set[str] = field(default_factory=set)  # the handles in `people` that are deactivated
    # By service: its ad-hoc maintenance windows ending after the instant they were read at.
    windows: dict[str, tuple[datetime, tuple[AdHocWindow, ...]]] = field(default_factory=dict)
    holds: dict[tuple[str, datetime], Hold | None] = field(default_factory=dict)  # by service, instant
    inactive: frozenset[str] | None = None  # every deactivated handle, once read
    until: datetime | None = None  # the latest instant its decisions are made at, when later than `now`
    _everyone: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load_everyone(self, session: Session) -> None:
        """Every service and every person, once (the threads of a pass share one cache)."""
        with self._lock:
            if self._everyone:
                return
            self.services |= {row[0]: ServiceFacts(*row) for row in service_column_rows(session)}
            found, inactive = everyone(session)
            self.people |= found
            self.deactivated |= inactive
            self.inactive = inactive
            self._everyone = True

    def add_windows(self, service_id: str, instant: datetime, windows: list[AdHocWindow]) -> None:
        """`service_id`'s ad-hoc windows ending after `instant`, read with its row (a trigger's)."""
        self.windows[service_id] = (instant, tuple(windows))


def load_facts(
    session: Session,
    runtime: Runtime,
    now: datetime,
    items: Sequence[tuple[AlertFacts, Event]],
    cache: FactsCache,
) -> Facts:
    """What deciding each (alert, event) of `items` at `now` reads, as plain values."""
    policies = runtime.config.policies
    handles: set[str] = set()
    on_call: dict[Target, tuple[str, ...]] = {}
    named: list[Target] = []  # `user:` targets: a deactivated person means nobody, known once read
    covered: set[str] = set()  # policies whose targets are in `on_call` already
    held: dict[str, ServiceFacts] = {}  # services whose hold at `now` is read
    for alert, event in items:
        service = _service(session, alert.service_id, cache)
        if service is not None and needs_hold(alert.state, event):
            held[service.id] = service
        policy = policies.get(service.policy_id) if service is not None else None
        if policy is not None and policy.id not in covered and needs_on_call(alert.state, event):
            covered.add(policy.id)
            for target in _targets(policy, cache):
                if target in on_call:
                    continue
                if target.kind == "user":
                    named.append(target)
                    on_call[target] = (target.ref,)
                else:
                    on_call[target] = _on_call(session, runtime, target, now, cache)
                handles |= set(on_call[target])
        if isinstance(event, DeliveryFailed):
            handles.add(event.user)
    holds = _holds(session, runtime, list(held.values()), now, cache)
    found = _people(session, handles, cache)
    for target in named:
        if _is_deactivated(target.ref, cache):
            on_call[target] = ()
    rules = {handle: person.rules for handle, person in found.items()}
    services = {alert.service_id: cache.services[alert.service_id] for alert, _ in items}
    return Facts(
        services={key: value for key, value in services.items() if value is not None},
        policies=policies,
        inputs=DecisionInputs(on_call, rules),
        people=found,
        holds=holds,
    )


def _holds(
    session: Session, runtime: Runtime, services: list[ServiceFacts], now: datetime, cache: FactsCache
) -> dict[str, Hold]:
    """The maintenance hold at `now` on each of `services` that has one: their ad-hoc windows (one
    query for those not read yet) and their policy files' recurring ones."""
    unread = [
        service.id
        for service in services
        if (service.id, now) not in cache.holds
        and (service.id not in cache.windows or cache.windows[service.id][0] > now)
    ]
    if unread:
        read = windows_of_services(session, unread, now)
        for service_id in unread:
            cache.add_windows(service_id, now, read.get(service_id, []))
    holds: dict[str, Hold] = {}
    for service in services:
        key = (service.id, now)
        if key not in cache.holds:
            ad_hoc = [window for window in cache.windows[service.id][1] if window.end > now]
            policy = runtime.config.policies.get(service.policy_id)
            declared = [ref for ref in policy.services if ref.id == service.id] if policy is not None else []
            recurring = declared[0].maintenance if declared else ()
            cache.holds[key] = hold_at(now, ad_hoc, recurring)
        hold = cache.holds[key]
        if hold is not None:
            holds[service.id] = hold
    return holds


def _targets(policy: EscalationPolicy, cache: FactsCache) -> frozenset[Target]:
    """`targets_of(policy)`, worked out once per policy object a cache sees (a reload makes new ones)."""
    cached = cache.targets.get(policy.id)
    if cached is None or cached[0] is not policy:
        cached = cache.targets[policy.id] = (policy, frozenset(targets_of(policy)))
    return cached[1]


def _service(session: Session, service_id: str, cache: FactsCache) -> ServiceFacts | None:
    if service_id not in cache.services:
        columns = trigger_queries.find_service_columns(session, service_id=service_id, key=None)
        cache.services[service_id] = None if columns is None else ServiceFacts(*columns)
    return cache.services[service_id]


def _people(session: Session, handles: set[str], cache: FactsCache) -> dict[str, Person]:
    """The people with `handles`, those not in `cache` read in one query."""
    unread = [handle for handle in handles if handle not in cache.people]
    if unread:
        found, deactivated = people(session, unread)
        cache.deactivated |= deactivated
        for handle in unread:
            cache.people[handle] = found.get(handle, NO_SUCH_USER)
    return {handle: cache.people[handle] for handle in handles}


def _is_deactivated(handle: str, cache: FactsCache) -> bool:
    """Whether `handle`, read into `cache.people`, is deactivated."""
    return handle in (cache.inactive if cache.inactive is not None else cache.deactivated)


def on_call_for(
    session: Session, runtime: Runtime, targets: Sequence[Target], now: datetime, cache: FactsCache
) -> tuple[str, ...]:
    """Who a level's `targets` mean at `now`, in paging order without repeats (for pages that are not
    an alert's, e.g. an overdue status update's policy)."""
    found: list[str] = []
    for target in targets:
        if target.kind == "user":  # the person themself, unless deactivated
            _people(session, {target.ref}, cache)
            if not _is_deactivated(target.ref, cache):
                found.append(target.ref)
        else:
            found.extend(_on_call(session, runtime, target, now, cache))
    return tuple(dict.fromkeys(found))


def _on_call(
    session: Session, runtime: Runtime, target: Target, now: datetime, cache: FactsCache
) -> tuple[str, ...]:
    """Who the schedule `target` names means at `now`: its holder with overrides.

    Both roles of a schedule come from one `resolve_on_call`, kept for the next target naming it.
    """
    known = cache.on_call.setdefault(now, {})
    if target not in known:
        schedule = runtime.config.schedules.get(target.ref)
        on_call = None
        if schedule is not None:  # an unknown schedule has nobody on call; `pager check` reports it
            on_call = _resolved(session, schedule, now, cache)
        for role in ROLES:
            holder = getattr(on_call, role, None) if on_call is not None else None
            known[Target("schedule", target.ref, role)] = (holder,) if holder else ()
    return known[target]


def _resolved(session: Session, schedule: Schedule, now: datetime, cache: FactsCache) -> OnCall:
    """`resolve_on_call` at `now`; for a group of triggers (`cache.until` later than `now`), worked
    out once for the window its overrides were read for when nobody changes hands inside it (the
    group's instants are microseconds apart: resolving each one was ~5 % of a new alert's time)."""
    steady = cache.steady.get(schedule.id)
    if steady is not None and steady[0] <= now < steady[1] and steady[2] is schedule:
        return steady[3]
    overrides = _overrides(session, schedule.id, now, cache)
    if cache.until is not None and cache.until > now:
        end = cache.overrides[schedule.id][1]  # the window `overrides` cover: [.., end)
        held = steady_on_call(schedule, now, end, overrides)
        if held is not None:
            cache.steady[schedule.id] = (now, end, schedule, held)
            return held
    return resolve_on_call(schedule, now, overrides)


def _overrides(session: Session, schedule_id: str, now: datetime, cache: FactsCache) -> list[Override]:
    """The overrides of `schedule_id` at `now`, then a removal over all time for each deactivated
    person (as `calendars.overrides.overrides_for` gives them): read with the deactivated handles when
    the cache has none yet, and over [now, `cache.until`] for a group of triggers."""
    cached = cache.overrides.get(schedule_id)
    if cached is not None and cached[0] <= now and now + SECOND <= cached[1]:
        return cached[2]
    end = max(now, cache.until or now) + SECOND
    if cache.inactive is None:
        stored, inactive = overrides_and_deactivated(session, schedule_id, now, end)
        cache.inactive = frozenset(inactive)
    else:
        stored = overrides_overlapping(session, schedule_id, now, end)
    found = stored + deactivation_removals(schedule_id, cache.inactive)
    cache.overrides[schedule_id] = (now, end, found)
    return found
