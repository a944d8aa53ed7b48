"""Who is on call: layers, overrides, the secondary rule, final shifts and the next handoff.

The rules are in docs/schedules.md, "Who is on call: the rules".

- Later layers win wherever they have someone; overrides beat every layer for their role.
- Overrides in force apply in creation order to the layers' answer: `add` puts its user on, `replace`
  swaps one person for another, `remove` takes its user out of the layers (the next member of the
  same rotation who is not removed stands in; else a lower layer decides).
- Secondary: the last secondary layer with someone; else the next member after the primary in the
  rotation layer that decided the primary (skipping whoever ends up primary, so one person never
  holds both roles by derivation); none for a one-member layer or an iCal layer.
- Final shifts are cut at every instant where any input can change and each piece is evaluated by
  the same point lookup, so shifts and point lookups cannot disagree.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pager.core.ical_layer import IcalIndex, IcalLayerError, ical_index
from pager.core.localtime import require_aware, zone
from pager.core.model import (
    FinalShift,
    Handoff,
    IcalLayer,
    OnCall,
    Override,
    Role,
    RotationLayer,
    Schedule,
)
from pager.core.restrictions import RestrictionWindows
from pager.core.rotation import Rotation, RotationError

_Holder = tuple[str | None, str | None]  # (user, source)
# How far next_handoff looks by default, and the shorter windows it tries first.
HANDOFF_REACH = timedelta(days=400)
_HANDOFF_HORIZONS = (timedelta(days=2), timedelta(days=35))


class ScheduleError(ValueError):
    """A schedule that cannot be evaluated (unknown zone, bad rotation, bad .ics)."""


@dataclass(frozen=True)
class LayerHit:
    """A layer's answer at an instant: `user` holds it as rotation index `k` (None for iCal layers)."""

    layer: int
    user: str
    k: int | None


class CompiledLayer:
    """One layer ready for lookups."""

    def __init__(self, index: int, layer: RotationLayer | IcalLayer, tz: ZoneInfo) -> None:
        self.index = index
        self.layer = layer
        self.name = layer.name
        self.role: Role = layer.role
        self.rotation: Rotation | None = None
        self.windows: RestrictionWindows | None = None
        self.ical: IcalIndex | None = None
        if isinstance(layer, RotationLayer):
            if not layer.members:
                raise ScheduleError(f"layer {layer.name!r} has no members")
            self.rotation = Rotation(layer.start, tz, layer.shift, layer.handoff_rrule)
            if layer.restrictions:
                self.windows = RestrictionWindows(layer.restrictions, tz)
        else:
            self.ical = ical_index(layer.ics_text, tz)

    def hit(self, t: datetime) -> LayerHit | None:
        """Who this layer puts on call at t, if anyone."""
        if self.ical is not None:
            user = self.ical.holder_at(t)
            return None if user is None else LayerHit(self.index, user, None)
        assert self.rotation is not None and isinstance(self.layer, RotationLayer)
        if self.windows is not None and not self.windows.active(t):
            return None
        k = self.rotation.index_at(t)
        if k is None:
            return None
        members = self.layer.members
        return LayerHit(self.index, members[k % len(members)], k)

    def boundaries_between(self, a: datetime, b: datetime) -> list[datetime]:
        """Instants in [a, b) where this layer's answer may change."""
        if self.ical is not None:
            return self.ical.boundaries_between(a, b)
        assert self.rotation is not None
        points = [instant for instant, _ in self.rotation.handoffs_between(a, b)]
        if self.windows is not None:
            points.extend(self.windows.boundaries_between(a, b))
        return points

    def next_member(self, hit: LayerHit, not_users: Collection[str | None] | str | None) -> str | None:
        """The first member after `hit` in rotation order who is not among `not_users`."""
        stand_in = self.stand_in(hit, _as_set(not_users))
        return None if stand_in is None else stand_in.user

    def stand_in(self, hit: LayerHit, skipped: Collection[str | None]) -> LayerHit | None:
        """The first member after `hit` in rotation order not in `skipped`, as a hit (None for iCal)."""
        if hit.k is None or not isinstance(self.layer, RotationLayer):
            return None
        members = self.layer.members
        for step in range(1, len(members)):
            candidate = members[(hit.k + step) % len(members)]
            if candidate not in skipped:
                return LayerHit(self.index, candidate, hit.k + step)
        return None


def _as_set(users: Collection[str | None] | str | None) -> Collection[str | None]:
    if users is None or isinstance(users, str):
        return {users}
    return users


class CompiledSchedule:
    """A schedule with its layers compiled; build with `compile_schedule` (cached)."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        try:
            self.tz = zone(schedule.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"unknown time zone {schedule.time_zone!r}") from None
        try:
            self.layers = [CompiledLayer(i, layer, self.tz) for i, layer in enumerate(schedule.layers)]
        except (RotationError, IcalLayerError) as exc:
            raise ScheduleError(str(exc)) from None

    def top_hit(self, role: Role, t: datetime, removed: Collection[str] = ()) -> LayerHit | None:
        """The answer of the last layer of `role` that has someone at t who is not `removed`.

        A layer whose member is removed gives the next member of its rotation who is not removed;
        an iCal layer (or one whose members are all removed) has nobody, so a lower layer decides.
        """
        for layer in reversed(self.layers):
            if layer.role == role:
                hit = layer.hit(t)
                if hit is not None and hit.user in removed:
                    hit = layer.stand_in(hit, removed)
                if hit is not None:
                    return hit
        return None

    def resolve(self, t: datetime, overrides: Sequence[Override]) -> OnCall:
        """Point lookup at t (aware UTC) with this schedule's overrides already filtered."""
        active = [o for o in overrides if o.start <= t < o.end]
        removed_primary = {o.user for o in active if o.role == "primary" and o.kind == "remove"}
        removed_secondary = {o.user for o in active if o.role == "secondary" and o.kind == "remove"}

        primary_hit = self.top_hit("primary", t, removed_primary)
        base: _Holder = (None, None)
        if primary_hit is not None:
            base = (primary_hit.user, self._layer_source(primary_hit, "primary", t, removed_primary))
        primary, primary_source = _apply_overrides(base, active, "primary")

        secondary_hit = self.top_hit("secondary", t, removed_secondary)
        base = (None, None)
        if secondary_hit is not None:
            base = (secondary_hit.user, self._layer_source(secondary_hit, "secondary", t, removed_secondary))
        elif primary_hit is not None:
            deciding = self.layers[primary_hit.layer]
            user = deciding.next_member(primary_hit, {primary, *removed_primary, *removed_secondary})
            if user is not None:
                changed = user != deciding.next_member(primary_hit, primary)
                base = (user, "override" if changed else f"next-in:{deciding.name}")
        secondary, secondary_source = _apply_overrides(base, active, "secondary")
        return OnCall(self.schedule.id, t, primary, secondary, primary_source, secondary_source)

    def _layer_source(self, hit: LayerHit, role: Role, t: datetime, removed: Collection[str]) -> str:
        """`layer:<name>`, or `override` where a removal changed the layers' answer."""
        if removed and self.top_hit(role, t) != hit:
            return "override"
        return f"layer:{self.layers[hit.layer].name}"

    def boundaries_between(self, a: datetime, b: datetime, overrides: Sequence[Override]) -> list[datetime]:
        """Sorted instants in [a, b), starting with a, where the answer may change."""
        points = {a}
        for layer in self.layers:
            points.update(layer.boundaries_between(a, b))
        for override in overrides:
            points.update(p for p in (override.start, override.end) if a <= p < b)
        return sorted(points)


def _apply_overrides(base: _Holder, active: Sequence[Override], role: Role) -> _Holder:
    """Apply the overrides in force, in order, to the layers' answer `base` (removals already in it)."""
    holder = base
    for override in active:
        if override.role != role:
            continue
        replaces = override.kind == "replace" and holder[0] == override.instead_of
        if override.kind == "add" or replaces:
            holder = (override.user, "override")
        elif override.kind == "remove" and holder[0] == override.user:
            holder = base  # back to the layers' answer without the removed people
    return holder


@lru_cache(maxsize=256)
def compile_schedule(schedule: Schedule) -> CompiledSchedule:
    """Compile (and cache) `schedule`; raises ScheduleError when it cannot be evaluated."""
    return CompiledSchedule(schedule)


def _own_overrides(
    schedule: Schedule, overrides: Sequence[Override], start: datetime, end: datetime
) -> list[Override]:
    """`schedule`'s overrides meeting [start, end), in UTC and in their order: the others cannot change
    who holds a role inside the window (a year of them would otherwise be walked at every instant)."""
    own = []
    for override in overrides:
        if override.schedule != schedule.id:
            continue
        override_start, override_end = require_aware(override.start), require_aware(override.end)
        if override_end <= start or override_start >= end:
            continue
        own.append(replace(override, start=override_start, end=override_end))
    return own


def resolve_on_call(schedule: Schedule, at: datetime, overrides: Sequence[Override] = ()) -> OnCall:
    """Who is primary and secondary at instant `at`, and what decided each."""
    at = require_aware(at)
    own = _own_overrides(schedule, overrides, at, at + timedelta(microseconds=1))
    return compile_schedule(schedule).resolve(at, own)


def steady_on_call(
    schedule: Schedule, start: datetime, end: datetime, overrides: Sequence[Override] = ()
) -> OnCall | None:
    """Who is primary and secondary at every instant of [start, end) (as at `start`), or None when
    either may change hands inside it (a layer's or an override's boundary lies in it).

    A group of triggers decided at instants microseconds apart asks this once instead of resolving
    each instant (pager.services.alerting.decision_facts).
    """
    start, end = require_aware(start), require_aware(end)
    compiled = compile_schedule(schedule)
    own = _own_overrides(schedule, overrides, start, end)
    if compiled.boundaries_between(start, end, own) != [start]:
        return None
    return compiled.resolve(start, own)


def _role_user(on_call: OnCall, role: Role) -> tuple[str | None, str | None]:
    if role == "primary":
        return on_call.primary, on_call.primary_source
    return on_call.secondary, on_call.secondary_source


def final_shifts(
    schedule: Schedule, role: Role, start: datetime, end: datetime, overrides: Sequence[Override] = ()
) -> list[FinalShift]:
    """The final shifts of `role` in [start, end): merged per person, clipped, gaps left out."""
    start, end = require_aware(start), require_aware(end)
    if end <= start:
        return []
    compiled = compile_schedule(schedule)
    own = _own_overrides(schedule, overrides, start, end)
    points = compiled.boundaries_between(start, end, own)
    shifts: list[FinalShift] = []
    for i, point in enumerate(points):
        piece_end = points[i + 1] if i + 1 < len(points) else end
        user, source = _role_user(compiled.resolve(point, own), role)
        if user is None:
            continue
        last = shifts[-1] if shifts else None
        if last is not None and last.user == user and last.end == point:
            sources = last.sources if source in last.sources or source is None else (*last.sources, source)
            shifts[-1] = FinalShift(role, user, last.start, piece_end, sources)
        else:
            shifts.append(FinalShift(role, user, point, piece_end, (source,) if source else ()))
    return shifts


def next_handoff(
    schedule: Schedule,
    after: datetime,
    role: Role = "primary",
    overrides: Sequence[Override] = (),
    within: timedelta = HANDOFF_REACH,
) -> Handoff | None:
    """The first instant strictly after `after` at which `role` changes hands, looking at most `within`
    ahead (HANDOFF_REACH, ~400 days, by default): None when it does not change hands in that time.
    `overrides` must hold every override meeting that window.

    A handoff to nobody (a gap starts) is a handoff too: `to_user` is None.
    """
    after = require_aware(after)
    current, _ = _role_user(resolve_on_call(schedule, after, overrides), role)
    window_start = after + timedelta(microseconds=1)
    for horizon in [*(h for h in _HANDOFF_HORIZONS if h < within), within]:
        cursor = window_start
        for shift in final_shifts(schedule, role, window_start, after + horizon, overrides):
            if shift.start > cursor and current is not None:
                return Handoff(role, cursor, current, None)
            if shift.user != current:
                return Handoff(role, shift.start, current, shift.user)
            cursor = shift.end
        if cursor < after + horizon and current is not None:
            return Handoff(role, cursor, current, None)
    return None
