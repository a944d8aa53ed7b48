"""Schedule data as the calculator sees it: plain frozen values, built by pager.config or tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Literal

from pager.core.durations import ShiftLength

Role = Literal["primary", "secondary"]
ROLES: tuple[Role, Role] = ("primary", "secondary")
OverrideKind = Literal["add", "remove", "replace"]
OVERRIDE_KINDS: tuple[OverrideKind, ...] = ("add", "remove", "replace")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()


@dataclass(frozen=True)
class Restriction:
    """A weekly window of local wall time in which a layer has someone.

    `days` are weekday numbers (0 = Monday) on which the window *starts*. `end <= start` means the
    window runs overnight into the next day (`end == start`: a full 24 hours).
    """

    days: frozenset[int]
    start: time
    end: time


@dataclass(frozen=True)
class RotationLayer:
    """Members take turns; handoffs come every `shift` or at each occurrence of `handoff_rrule`.

    `start` is naive local wall time in the schedule's zone: members[0]'s first shift starts there.
    Exactly one of `shift` and `handoff_rrule` is set.
    """

    name: str
    members: tuple[str, ...]
    start: datetime
    shift: ShiftLength | None = None
    handoff_rrule: str | None = None
    restrictions: tuple[Restriction, ...] = ()
    role: Role = "primary"


@dataclass(frozen=True)
class IcalLayer:
    """Each VEVENT occurrence puts the user whose handle is its SUMMARY on call for its span."""

    name: str
    ics_text: str
    role: Role = "primary"
    source: str = ""  # file name, for messages


Layer = RotationLayer | IcalLayer


@dataclass(frozen=True)
class Schedule:
    """A schedule: an IANA zone and layers, later layers winning wherever they have someone."""

    id: str
    name: str
    time_zone: str
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class Override:
    """A change to who holds `role` of `schedule` in `[start, end)` (UTC instants).

    - `add`: `user` holds the role, beating every layer.
    - `remove`: `user` does not hold the role; where a layer would give it to them, the next member of
      that layer's rotation who is not removed stands in, else the layers below decide.
    - `replace`: wherever `instead_of` would hold the role, `user` does.

    Where several are in force at one instant they apply in the order given (creation order), each
    to the answer of those before it. A swap is two `replace` overrides.
    """

    schedule: str
    role: Role
    start: datetime
    end: datetime
    user: str
    kind: OverrideKind = "add"
    instead_of: str | None = None


@dataclass(frozen=True)
class OnCall:
    """Who holds each role at `at`, and what decided it (`override`, `layer:<name>`, `next-in:<name>`)."""

    schedule: str
    at: datetime
    primary: str | None
    secondary: str | None
    primary_source: str | None = None
    secondary_source: str | None = None


@dataclass(frozen=True)
class FinalShift:
    """A span `[start, end)` in which `user` holds `role`; consecutive spans of one person are merged."""

    role: Role
    user: str
    start: datetime
    end: datetime
    sources: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Handoff:
    """The next instant at which a role changes hands."""

    role: Role
    at: datetime
    from_user: str | None
    to_user: str | None
