"""Escalation policies and notification rules as the state machine sees them.

See docs/escalation.md, "The policy file" and "Notification rules".

Plain frozen values built by pager.config (from escalation_policies/*.yaml) or by tests. The
constructors check the invariants the state machine relies on and raise `PolicyError` (a ValueError);
the config loader turns that into `path:line: message`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pager.core.durations import DurationError, parse_duration
from pager.core.heartbeat_monitors import HeartbeatSpec
from pager.core.maintenance import RecurringWindow
from pager.core.model import ROLES, Override, Role, Schedule
from pager.core.schedule import resolve_on_call

TargetKind = Literal["schedule", "user"]
Method = Literal["sms", "voice", "email"]
METHODS: tuple[Method, Method, Method] = ("sms", "voice", "email")
MAX_REPEAT = 9

# An id or handle: what a schedule file stem or a user handle may look like.
_NAME = r"[A-Za-z0-9][A-Za-z0-9._@+-]*"
_TARGET_RE = re.compile(rf"^(?P<kind>schedule|user):(?P<ref>{_NAME})(?:/(?P<role>[a-z]+))?$")


class PolicyError(ValueError):
    """An escalation policy, level, target or notification rule that breaks docs/escalation.md's rules."""


@dataclass(frozen=True)
class Target:
    """Whom a level notifies: the holder of `role` in schedule `ref`, or the user whose handle is `ref`."""

    kind: TargetKind
    ref: str
    role: Role = "primary"

    def __post_init__(self) -> None:
        if self.kind not in ("schedule", "user"):
            raise PolicyError(f"bad target kind {self.kind!r}: expected schedule or user")
        if not re.fullmatch(_NAME, self.ref):
            raise PolicyError(f"bad target reference {self.ref!r}")
        if self.role not in ROLES:
            raise PolicyError(f"bad role {self.role!r}: expected primary or secondary")
        if self.kind == "user" and self.role != "primary":
            raise PolicyError(f"user:{self.ref} cannot take a role; roles belong to schedules")

    def __str__(self) -> str:
        if self.kind == "user":
            return f"user:{self.ref}"
        return f"schedule:{self.ref}" + ("" if self.role == "primary" else f"/{self.role}")


def parse_target(text: str) -> Target:
    """Parse `schedule:ID`, `schedule:ID/primary`, `schedule:ID/secondary` or `user:HANDLE`."""
    raw = str(text).strip()
    match = _TARGET_RE.match(raw)
    if not match:
        raise PolicyError(
            f"bad target {text!r}: expected schedule:ID, schedule:ID/secondary or user:HANDLE "
            "(e.g. schedule:checkout, user:dana)"
        )
    kind: TargetKind = "schedule" if match.group("kind") == "schedule" else "user"
    role = match.group("role")
    if role is None:
        return Target(kind, match.group("ref"))
    if kind == "user":
        raise PolicyError(f"bad target {text!r}: a user has no role; write user:{match.group('ref')}")
    if role not in ROLES:
        raise PolicyError(f"bad target {text!r}: role must be primary or secondary, not {role!r}")
    return Target(kind, match.group("ref"), "primary" if role == "primary" else "secondary")


@dataclass(frozen=True)
class Level:
    """One rung of the ladder: its targets are paged together, then `escalate_after` without ack moves on."""

    targets: tuple[Target, ...]
    escalate_after: timedelta

    def __post_init__(self) -> None:
        if self.escalate_after <= timedelta(0):
            raise PolicyError(f"escalate_after must be longer than zero, not {self.escalate_after}")


@dataclass(frozen=True)
class ServiceRef:
    """A service the policy covers; its integration key lives in the database, not in the file."""

    id: str
    name: str
    runbook: str | None = None
    heartbeats: tuple[HeartbeatSpec, ...] = ()
    maintenance: tuple[RecurringWindow, ...] = ()  # weekly windows in which its new alerts page nobody


@dataclass(frozen=True)
class EscalationPolicy:
    """A ladder of levels run `repeat + 1` times, plus the acknowledgement and auto-resolve timeouts.

    `ack_timeout == 0` means an acknowledgement never times out; `auto_resolve is None` means an
    alert is never resolved for lack of events.
    """

    id: str
    name: str
    levels: tuple[Level, ...]
    repeat: int = 0
    ack_timeout: timedelta = timedelta(0)
    auto_resolve: timedelta | None = None
    services: tuple[ServiceRef, ...] = ()

    def __post_init__(self) -> None:
        if not self.levels:
            raise PolicyError(f"policy {self.id!r} has no levels; give at least one")
        if isinstance(self.repeat, bool) or not 0 <= self.repeat <= MAX_REPEAT:
            raise PolicyError(f"repeat must be a whole number from 0 to {MAX_REPEAT}, not {self.repeat!r}")
        if self.ack_timeout < timedelta(0):
            raise PolicyError(f"ack_timeout must not be negative, not {self.ack_timeout}")
        if self.auto_resolve is not None and self.auto_resolve <= timedelta(0):
            raise PolicyError(f"auto_resolve must be longer than zero, not {self.auto_resolve}")

    @property
    def loops(self) -> int:
        """How many times the ladder runs in total before escalation is exhausted."""
        return self.repeat + 1


@dataclass(frozen=True)
class NotificationRule:
    """Page by `method`, `delay` after the user was paged at a level (rule step: index in the list)."""

    method: Method
    delay: timedelta

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise PolicyError(f"bad notification method {self.method!r}: expected sms, voice or email")
        if self.delay < timedelta(0):
            raise PolicyError(f"notification delay must not be negative, not {self.delay}")


DEFAULT_RULES: tuple[NotificationRule, ...] = (
    NotificationRule("sms", timedelta(0)),
    NotificationRule("voice", timedelta(minutes=1)),
    NotificationRule("email", timedelta(0)),
)
# A rule step waits at most this long after the person was paged.
MAX_RULE_DELAY = timedelta(days=1)
# In the defaults, the method after a person's first one waits this long; every other one goes at once.
DEFAULT_SECOND_DELAY = timedelta(minutes=1)


def default_rules_over(methods: Collection[str]) -> tuple[NotificationRule, ...]:
    """The defaults for someone who never set rules, over the methods they have (in METHODS order):
    the first at +0, the next at +1m, the rest at +0. A voice-only person is called at once."""
    present = [method for method in METHODS if method in methods]
    return tuple(
        NotificationRule(method, DEFAULT_SECOND_DELAY if i == 1 else timedelta(0))
        for i, method in enumerate(present)
    )


def parse_rule_steps(texts: Sequence[str]) -> tuple[NotificationRule, ...]:
    """`["sms:0m", "voice:2m"]` as rules, in the order given; PolicyError naming the bad one."""
    if not texts:
        raise PolicyError("give at least one rule step, e.g. sms:0m voice:2m email:5m")
    rules = []
    for text in texts:
        method, sep, after = str(text).strip().partition(":")
        if not sep or method not in METHODS:
            raise PolicyError(
                f"bad rule step {text!r}: expected METHOD:AFTER with sms, voice or email (e.g. sms:0m)"
            )
        try:
            delay = parse_duration(after, allow_zero=True)
        except (DurationError, OverflowError) as exc:
            raise PolicyError(f"bad rule step {text!r}: {exc}") from None
        if delay > MAX_RULE_DELAY:
            raise PolicyError(f"bad rule step {text!r}: a step may wait at most 1d")
        rules.append(NotificationRule(method, delay))
    return tuple(rules)


def format_after(delay: timedelta) -> str:
    """A rule's delay as the rules grammar writes it: `0m`, `90s`, `2m`, `1h`, `1d` (whole units)."""
    seconds = int(delay.total_seconds())
    if seconds == 0:
        return "0m"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# Given a level's targets and the instant, the handles on call (the engine backs this with
# pager.core.schedule.resolve_on_call; tests pass plain functions). Order matters: it is paging order.
ResolveTargets = Callable[[tuple[Target, ...], datetime], Sequence[str]]
# A user's notification rules, in rule-step order.
RulesFor = Callable[[str], Sequence[NotificationRule]]


def default_rules(user: str) -> Sequence[NotificationRule]:
    """DEFAULT_RULES for everyone: what a dry run without a database, and most tests, use."""
    return DEFAULT_RULES


def on_call_resolver(
    schedules: Mapping[str, Schedule],
    overrides: Sequence[Override] = (),
    inactive: Collection[str] = frozenset(),
) -> ResolveTargets:
    """The ResolveTargets the engine and the dry run share: schedule roles via resolve_on_call, users as is.

    A `user:` target naming someone `inactive` (deactivated) means nobody; schedules leave them out
    through the `remove` overrides in `overrides` (pager.core.overrides.deactivation_removals).

    A schedule missing from `schedules` has nobody on call (the level is skipped and the timeline says
    so) rather than failing the alert; catching the typo is `pager check`'s job.
    """

    def resolve(targets: tuple[Target, ...], at: datetime) -> list[str]:
        handles: list[str] = []
        for target in targets:
            if target.kind == "user":
                if target.ref not in inactive:
                    handles.append(target.ref)
                continue
            schedule = schedules.get(target.ref)
            if schedule is None:
                continue
            on_call = resolve_on_call(schedule, at, overrides)
            holder = on_call.primary if target.role == "primary" else on_call.secondary
            if holder is not None:
                handles.append(holder)
        return list(dict.fromkeys(handles))

    return resolve
