"""The engine's load step: everything a batch of decisions reads, into plain values, before any is made.

`load_facts` reads the services the alerts belong to, who each target of their policies means at
`now` (schedules with their stored overrides), the maintenance hold on a service when an alert opens or
its hold may end, and every person those decisions may page, and hands
them to `pager.core.paging_plan.plan_alert` as `Facts`. A `FactsCache` keeps what one escalation pass
or one group of triggers has read already, so a batch reads only what is new to it.
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
from pager.core.model import ROLES, Override
from pager.core.paging_plan import AlertFacts, Facts, Person, ServiceFacts
from pager.core.policy import EscalationPolicy, Target
from pager.core.schedule import resolve_on_call
from pager.db import trigger_queries
from pager.db.catalog import service_column_rows
from pager.db.maintenance import windows_ending_after
from pager.db.users import deactivated_handles
from pager.services.calendars.overrides import overrides_for
from pager.services.people.users import everyone, person
from pager.services.runtime import Runtime


@dataclass
class FactsCache:
    """Facts already read by this pass or group of triggers; anything missing is read when needed.

    `people` may be filled up front (`load_everyone`) for a pass that decides many alerts; a person
    added since is still read on demand, so nobody new is ever refused.
    """

    services: dict[str, ServiceFacts | None] = field(default_factory=dict)
    on_call: dict[datetime, dict[Target, tuple[str, ...]]] = field(default_factory=dict)  # by instant
    targets: dict[str, tuple[EscalationPolicy, frozenset[Target]]] = field(default_factory=dict)
    overrides: dict[tuple[str, datetime], list[Override]] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    holds: dict[tuple[str, datetime], Hold | None] = field(default_factory=dict)  # by service, instant
    inactive: frozenset[str] | None = None  # deactivated handles, read once when first needed
    _everyone: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load_everyone(self, session: Session) -> None:
        """Every service and every person, once (the threads of a pass share one cache)."""
        with self._lock:
            if self._everyone:
                return
            self.services |= {row[0]: ServiceFacts(*row) for row in service_column_rows(session)}
            self.people |= everyone(session)
            self._everyone = True


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
    covered: set[str] = set()  # policies whose targets are in `on_call` already
    holds: dict[str, Hold] = {}
    for alert, event in items:
        service = _service(session, alert.service_id, cache)
        if service is not None and needs_hold(alert.state, event):
            hold = _hold(session, runtime, service, now, cache)
            if hold is not None:
                holds[service.id] = hold
        policy = policies.get(service.policy_id) if service is not None else None
        if policy is not None and policy.id not in covered and needs_on_call(alert.state, event):
            covered.add(policy.id)
            for target in _targets(policy, cache):
                if target not in on_call:
                    on_call[target] = _on_call(session, runtime, target, now, cache)
                    handles |= set(on_call[target])
        if isinstance(event, DeliveryFailed):
            handles.add(event.user)
    people = {handle: _person(session, handle, cache) for handle in handles}
    rules = {handle: found.rules for handle, found in people.items()}
    services = {alert.service_id: cache.services[alert.service_id] for alert, _ in items}
    return Facts(
        services={key: value for key, value in services.items() if value is not None},
        policies=policies,
        inputs=DecisionInputs(on_call, rules),
        people=people,
        holds=holds,
    )


def _hold(
    session: Session, runtime: Runtime, service: ServiceFacts, now: datetime, cache: FactsCache
) -> Hold | None:
    """The maintenance hold on `service` at `now`: its ad-hoc windows and its policy file's recurring
    ones."""
    service_id = service.id
    if (service_id, now) not in cache.holds:
        ad_hoc = [
            AdHocWindow(row.id or 0, row.start_at, row.end_at, row.reason)
            for row in windows_ending_after(session, service_id, now)
        ]
        policy = runtime.config.policies.get(service.policy_id)
        declared = [ref for ref in policy.services if ref.id == service_id] if policy is not None else []
        recurring = declared[0].maintenance if declared else ()
        cache.holds[(service_id, now)] = hold_at(now, ad_hoc, recurring)
    return cache.holds[(service_id, now)]


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


def _person(session: Session, handle: str, cache: FactsCache) -> Person:
    if handle not in cache.people:
        cache.people[handle] = person(session, handle)
    return cache.people[handle]


def on_call_for(
    session: Session, runtime: Runtime, targets: Sequence[Target], now: datetime, cache: FactsCache
) -> tuple[str, ...]:
    """Who a level's `targets` mean at `now`, in paging order without repeats (for pages that are not
    an alert's, e.g. an overdue status update's policy)."""
    found = [handle for target in targets for handle in _on_call(session, runtime, target, now, cache)]
    return tuple(dict.fromkeys(found))


def _on_call(
    session: Session, runtime: Runtime, target: Target, now: datetime, cache: FactsCache
) -> tuple[str, ...]:
    """Who `target` means at `now`: a user is themself; a schedule role, its holder with overrides.

    Both roles of a schedule come from one `resolve_on_call`, kept for the next target naming it.
    """
    known = cache.on_call.setdefault(now, {})
    if target not in known:
        if target.kind == "user":  # a deactivated person means nobody: the level may be skipped
            known[target] = () if target.ref in _inactive(session, cache) else (target.ref,)
            return known[target]
        schedule = runtime.config.schedules.get(target.ref)
        on_call = None
        if schedule is not None:  # an unknown schedule has nobody on call; `pager check` reports it
            on_call = resolve_on_call(schedule, now, _overrides(session, target.ref, now, cache))
        for role in ROLES:
            holder = getattr(on_call, role, None) if on_call is not None else None
            known[Target("schedule", target.ref, role)] = (holder,) if holder else ()
    return known[target]


def _overrides(session: Session, schedule_id: str, now: datetime, cache: FactsCache) -> list[Override]:
    if (schedule_id, now) not in cache.overrides:
        found = overrides_for(
            session, schedule_id, now, now + timedelta(seconds=1), _inactive(session, cache)
        )
        cache.overrides[(schedule_id, now)] = found
    return cache.overrides[(schedule_id, now)]


def _inactive(session: Session, cache: FactsCache) -> frozenset[str]:
    if cache.inactive is None:
        cache.inactive = frozenset(deactivated_handles(session))
    return cache.inactive
