"""Brute-force oracle for rotations and schedules, written straight from docs/schedules.md
("Time rules", "Who is on call: the rules").

Deliberately slow and literal: every handoff is computed from `start`, every lookup steps handoff by
handoff from k = 0, and wall times are turned into instants by trying the offsets the zone actually
uses. It shares nothing with pager.core's calculator except the model dataclasses, so the property
tests compare two independent readings of those rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr
from hypothesis import strategies as st

from pager.core.durations import ShiftLength
from pager.core.model import Override, Restriction, RotationLayer, Schedule

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
# No zone is more than 14 h from UTC, so every offset valid for a wall time is in force somewhere
# within 15 h either side of that wall time read as UTC; no offset lasts less than 2 h, so sampling
# that span every 2 h sees them all.
_OFFSET_SEARCH = 15
_OFFSET_SAMPLES = range(-_OFFSET_SEARCH, _OFFSET_SEARCH + 2, 2)
# Handoffs whose naive wall time is this far past the wall time of t cannot be at or before t.
_BEYOND = timedelta(days=3)


def offset_at(instant: datetime, tz: ZoneInfo) -> timedelta:
    """The UTC offset `tz` shows at `instant`."""
    offset = instant.astimezone(tz).utcoffset()
    assert offset is not None
    return offset


def wall_at(instant: datetime, tz: ZoneInfo) -> datetime:
    """The naive wall time `tz` shows at `instant`."""
    return instant.astimezone(tz).replace(tzinfo=None)


def localize(wall: datetime, tz: ZoneInfo) -> datetime:
    """RFC 5545 §3.3.5: the instant of naive `wall` in `tz`, found by trying offsets.

    Exists once: that instant. Exists twice (fall back): the earlier. Does not exist (spring forward):
    read with the offset in force just before the clocks jumped over it.
    """
    as_utc = wall.replace(tzinfo=UTC)
    candidates = {offset_at(as_utc + h * HOUR, tz) for h in _OFFSET_SAMPLES}
    readings = [as_utc - offset for offset in candidates if wall_at(as_utc - offset, tz) == wall]
    if readings:
        return min(readings)
    # A gap: walk forward a minute at a time to the first instant whose wall time is past `wall`;
    # the offset a minute earlier is the one before the transition.
    instant = as_utc - _OFFSET_SEARCH * HOUR
    while wall_at(instant, tz) < wall:
        instant += MINUTE
    return as_utc - offset_at(instant - MINUTE, tz)


def naive_handoff(start: datetime, shift: ShiftLength, k: int) -> datetime:
    """Naive local wall time of handoff k: `start + k × shift`, computed from `start`."""
    if shift.unit == "h":
        return start + timedelta(hours=k * shift.amount)
    if shift.unit == "d":
        return start + timedelta(days=k * shift.amount)
    if shift.unit == "w":
        return start + timedelta(weeks=k * shift.amount)
    return start + relativedelta(months=k * shift.amount)  # clamps to the month's last day


class OracleRotation:
    """A rotation evaluated by listing its handoffs from k = 0 onwards."""

    def __init__(
        self, start: datetime, tz: ZoneInfo, shift: ShiftLength | None = None, rrule: str | None = None
    ) -> None:
        assert (shift is None) != (rrule is None)
        self.start = start
        self.tz = tz
        self.shift = shift
        self.rrule = rrule
        self._walls = self._naive_walls()
        self.naive: list[datetime] = []  # naive wall time of handoff k
        self.instants: list[datetime] = []  # instant of handoff k

    def _naive_walls(self) -> Iterator[datetime]:
        if self.shift is not None:
            k = 0
            while True:
                yield naive_handoff(self.start, self.shift, k)
                k += 1
        else:
            assert self.rrule is not None
            yield self.start  # member 0 holds from start (DTSTART)
            for occurrence in rrulestr(self.rrule, dtstart=self.start):
                if occurrence > self.start:
                    yield occurrence

    def _extend_past(self, wall_limit: datetime) -> None:
        """List handoffs until one's naive wall time is past `wall_limit`."""
        while not self.naive or self.naive[-1] <= wall_limit:
            wall = next(self._walls)
            self.naive.append(wall)
            self.instants.append(localize(wall, self.tz))

    def handoff(self, k: int) -> datetime:
        """Instant of handoff k."""
        while len(self.instants) <= k:
            self._extend_past(self.naive[-1] if self.naive else self.start)
        return self.instants[k]

    def index_at(self, t: datetime) -> int | None:
        """The highest k whose handoff instant is <= t (None before any)."""
        self._extend_past(wall_at(t, self.tz) + _BEYOND)
        best: int | None = None
        for k, instant in enumerate(self.instants):
            if instant <= t:
                best = k
        return best

    def handoffs_between(self, a: datetime, b: datetime) -> list[tuple[datetime, int]]:
        """Handoffs that really happen (someone holds from them) with a <= instant < b."""
        self._extend_past(wall_at(b, self.tz) + _BEYOND)
        found: list[tuple[datetime, int]] = []
        earliest_later: datetime | None = None  # min instant of the handoffs after k
        for k in range(len(self.instants) - 1, -1, -1):
            instant = self.instants[k]
            # Handoff k vanishes when a later handoff lands at or before it (DST ate the shift).
            if (earliest_later is None or instant < earliest_later) and a <= instant < b:
                found.append((instant, k))
            if earliest_later is None or instant < earliest_later:
                earliest_later = instant
        return found[::-1]


@lru_cache(maxsize=64)
def rotation_for(layer: RotationLayer, tz: ZoneInfo) -> OracleRotation:
    """The oracle rotation of a layer (kept: it only ever lists more of the same handoffs)."""
    return OracleRotation(layer.start, tz, shift=layer.shift, rrule=layer.handoff_rrule)


def in_windows(restrictions: Sequence[Restriction], tz: ZoneInfo, t: datetime) -> bool:
    """Whether t falls in one of the weekly windows (always, when there are none)."""
    if not restrictions:
        return True
    today = wall_at(t, tz).date()
    for day_offset in range(-2, 2):
        day = today + timedelta(days=day_offset)
        for restriction in restrictions:
            if day.weekday() not in restriction.days:
                continue
            opens = localize(datetime.combine(day, restriction.start), tz)
            end_day = day if restriction.end > restriction.start else day + timedelta(days=1)
            closes = localize(datetime.combine(end_day, restriction.end), tz)
            if opens <= t < closes:
                return True
    return False


def window_edges(
    restrictions: Sequence[Restriction], tz: ZoneInfo, a: datetime, b: datetime
) -> list[datetime]:
    """Every window opening/closing instant in [a, b) (where a restricted layer can change)."""
    edges: list[datetime] = []
    day: date = wall_at(a, tz).date() - timedelta(days=2)
    last = wall_at(b, tz).date() + timedelta(days=2)
    while day <= last:
        for restriction in restrictions:
            if day.weekday() not in restriction.days:
                continue
            end_day = day if restriction.end > restriction.start else day + timedelta(days=1)
            for wall in (
                datetime.combine(day, restriction.start),
                datetime.combine(end_day, restriction.end),
            ):
                instant = localize(wall, tz)
                if a <= instant < b:
                    edges.append(instant)
        day += timedelta(days=1)
    return edges


@dataclass(frozen=True)
class LayerHolder:
    """Who a rotation layer has at an instant, and which handoff put them there."""

    user: str
    layer: RotationLayer
    k: int


def layer_holder(layer: RotationLayer, tz: ZoneInfo, t: datetime) -> LayerHolder | None:
    """The member a layer has at t: nobody outside its windows or before its first handoff."""
    if not in_windows(layer.restrictions, tz, t):
        return None
    k = rotation_for(layer, tz).index_at(t)
    if k is None:
        return None
    return LayerHolder(layer.members[k % len(layer.members)], layer, k)


@dataclass(frozen=True)
class OracleOnCall:
    """The oracle's answer: users and what decided them (same source strings as OnCall)."""

    primary: str | None
    secondary: str | None
    primary_source: str | None
    secondary_source: str | None


def on_call(schedule: Schedule, t: datetime, overrides: Sequence[Override] = ()) -> OracleOnCall:
    """Who holds primary and secondary at t (rotation layers only).

    Overrides, read literally from docs/schedules.md ("Overrides"): those in force at t act in the
    order given. `remove` people are out of every rotation of their role: where a layer has one of
    them, its next member (in rotation order) who is not removed holds instead, and a layer left with
    nobody counts as empty. Then, in order, `add` sets the holder, `replace` swaps `instead_of` for
    `user` when `instead_of` holds, and `remove` sends the holder back to the layers' answer.
    """
    tz = ZoneInfo(schedule.time_zone)
    in_force = [o for o in overrides if o.start <= t < o.end]
    removed = {
        role: {o.user for o in in_force if o.role == role and o.kind == "remove"}
        for role in ("primary", "secondary")
    }
    plain = {role: _top_holder(schedule, tz, t, role, set()) for role in ("primary", "secondary")}
    top = {role: _top_holder(schedule, tz, t, role, removed[role]) for role in ("primary", "secondary")}

    def layers_answer(role: str) -> tuple[str | None, str | None]:
        holder = top[role]
        if holder is None:
            return None, None
        source = "override" if holder != plain[role] else f"layer:{holder.layer.name}"
        return holder.user, source

    primary, primary_source = _in_order(layers_answer("primary"), in_force, "primary")

    secondary_base = layers_answer("secondary")
    primary_layer = top["primary"]
    if top["secondary"] is None and primary_layer is not None:
        members = primary_layer.layer.members
        after = [members[(primary_layer.k + step) % len(members)] for step in range(1, len(members))]
        chosen = next(
            (m for m in after if m != primary and m not in removed["primary"] | removed["secondary"]), None
        )
        unchanged = next((m for m in after if m != primary), None)
        if chosen is not None:
            source = f"next-in:{primary_layer.layer.name}" if chosen == unchanged else "override"
            secondary_base = (chosen, source)
    secondary, secondary_source = _in_order(secondary_base, in_force, "secondary")
    return OracleOnCall(primary, secondary, primary_source, secondary_source)


def _top_holder(
    schedule: Schedule, tz: ZoneInfo, t: datetime, role: str, removed: set[str]
) -> LayerHolder | None:
    """The last layer of `role` with someone at t who is not removed (their rotation's stand-in)."""
    found: LayerHolder | None = None
    for layer in schedule.layers:
        assert isinstance(layer, RotationLayer), "the oracle only knows rotation layers"
        if layer.role != role:
            continue
        holder = layer_holder(layer, tz, t)
        if holder is not None and holder.user in removed:
            members = layer.members
            holder = next(
                (
                    LayerHolder(members[(holder.k + step) % len(members)], layer, holder.k + step)
                    for step in range(1, len(members))
                    if members[(holder.k + step) % len(members)] not in removed
                ),
                None,
            )
        if holder is not None:
            found = holder  # later layers win wherever they have someone
    return found


def _in_order(
    base: tuple[str | None, str | None], in_force: Sequence[Override], role: str
) -> tuple[str | None, str | None]:
    answer = base
    for override in in_force:
        if override.role != role:
            continue
        if override.kind == "add":
            answer = (override.user, "override")
        elif override.kind == "replace":
            if answer[0] == override.instead_of:
                answer = (override.user, "override")
        elif answer[0] == override.user:  # remove
            answer = base
    return answer


def change_points(
    schedule: Schedule, a: datetime, b: datetime, overrides: Sequence[Override] = ()
) -> list[datetime]:
    """Every instant in [a, b) at which the on-call answer may change, sorted."""
    tz = ZoneInfo(schedule.time_zone)
    points: set[datetime] = {a}
    for layer in schedule.layers:
        assert isinstance(layer, RotationLayer)
        points.update(instant for instant, _ in rotation_for(layer, tz).handoffs_between(a, b))
        points.update(window_edges(layer.restrictions, tz, a, b))
    for override in overrides:
        points.update(edge for edge in (override.start, override.end) if a <= edge < b)
    return sorted(points)


_SCAN_STEP = timedelta(days=2)


def transitions(tz: ZoneInfo, first_year: int, last_year: int) -> list[datetime]:
    """Instants (to the second) at which `tz` changes offset, found by scanning day by day.

    Used by the tests to aim random wall times at clock changes; misses a change undone within two days.
    """
    found: list[datetime] = []
    day = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    before = offset_at(day, tz)
    while day < end:
        after = offset_at(day + _SCAN_STEP, tz)
        if after != before:
            low, high = day, day + _SCAN_STEP  # offset(low) == before, offset(high) != before
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if offset_at(middle, tz) == before:
                    low = middle
                else:
                    high = middle
            found.append(high)
            before = after
        day += _SCAN_STEP
    return found


# --- Random cases shared by the property tests --------------------------------------------------

# Odd ones: Lord_Howe (30-minute DST), Troll (2 h), Apia/Fakaofo (skipped 2011-12-30), Kiritimati
# (skipped 1994-12-31), Casablanca (DST suspended for Ramadan), Dublin (negative DST), Havana/Beirut
# (change at midnight), Caracas/Pyongyang (half-hour offset moves).
ZONES = (
    *("America/Chicago", "Europe/London", "Australia/Lord_Howe", "Antarctica/Troll", "Pacific/Apia"),
    *("Pacific/Fakaofo", "Pacific/Kiritimati", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham"),
    *("Africa/Casablanca", "Asia/Tehran", "America/Sao_Paulo", "Europe/Dublin", "Europe/Berlin"),
    *("America/New_York", "America/Los_Angeles", "America/Phoenix", "America/Havana", "America/Santiago"),
    *("America/Asuncion", "America/Nuuk", "Atlantic/Azores", "Asia/Kolkata", "Asia/Tokyo"),
    *("Australia/Sydney", "Australia/Adelaide", "Pacific/Auckland", "Pacific/Norfolk", "Asia/Gaza"),
    *("Asia/Beirut", "Europe/Moscow", "Africa/Cairo", "America/Scoresbysund", "Asia/Amman"),
    *("Europe/Kyiv", "America/Caracas", "Asia/Pyongyang", "UTC"),
)
FIRST_YEAR, LAST_YEAR = 1990, 2060
_CHANGES: dict[str, list[datetime]] = {}


def clock_changes(zone_name: str) -> list[datetime]:
    """The zone's offset changes from FIRST_YEAR to LAST_YEAR (computed once per zone)."""
    if zone_name not in _CHANGES:
        _CHANGES[zone_name] = transitions(ZoneInfo(zone_name), FIRST_YEAR, LAST_YEAR)
    return _CHANGES[zone_name]


def shift_back(wall: datetime, shift: ShiftLength, count: int) -> datetime:
    """`wall` moved back by `count` shifts of naive local time (months clamp to the month's end)."""
    if shift.unit == "mo":
        return wall - relativedelta(months=count * shift.amount)
    return wall - naive_handoff(datetime(2000, 1, 1), shift, count) + datetime(2000, 1, 1)


_FIRST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
_SPAN_SECONDS = int((datetime(LAST_YEAR, 12, 31, tzinfo=UTC) - _FIRST).total_seconds())
_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Asked:
    """An instant to ask about and the wall-clock hint for where the rotation's start should sit."""

    tz: ZoneInfo
    at: datetime
    change_wall: datetime | None  # wall time at a nearby clock change, if aimed at one


@st.composite
def asked_instants(draw: st.DrawFn) -> Asked:
    """A zone and a UTC instant, uniform over 1990..2060 or within a day and a half of a clock change."""
    zone_name = draw(st.sampled_from(ZONES))
    tz = ZoneInfo(zone_name)
    changes = clock_changes(zone_name)
    aim_at_change = draw(st.booleans())
    if changes and aim_at_change:
        change = changes[draw(st.integers(0, len(changes) - 1))]
        at = change + timedelta(minutes=15 * draw(st.integers(-144, 144)))
        at += _SECOND * draw(st.sampled_from((0, 0, -1, 1)))
        return Asked(tz, at, wall_at(change, tz))
    return Asked(tz, _FIRST + _SECOND * draw(st.integers(0, _SPAN_SECONDS)), None)


_TIME_OF_DAY = st.sampled_from(("change", "change", "quarter", "keep"))
_HALF_HOURS_AROUND = st.integers(-4, 4)
_HOURS = st.sampled_from((0, 1, 2, 3, 9, 12, 22, 23)) | st.integers(0, 23)
_MINUTES = st.sampled_from((0, 15, 30, 45))


def time_of_day(draw: st.DrawFn, anchor: datetime, asked: Asked) -> datetime:
    """Move `anchor` to a wall time of day around the clock change, on a quarter hour, or leave it."""
    choice = draw(_TIME_OF_DAY)
    if choice == "change" and asked.change_wall is not None:
        wall = asked.change_wall + timedelta(minutes=30 * draw(_HALF_HOURS_AROUND))
        return anchor.replace(hour=wall.hour, minute=wall.minute, second=0, microsecond=0)
    if choice in ("change", "quarter"):
        return anchor.replace(hour=draw(_HOURS), minute=draw(_MINUTES), second=0, microsecond=0)
    return anchor.replace(microsecond=0)
