"""An alert as the escalation state machine sees it: its state, the events, the commands.

See docs/escalation.md, "States", "Events and rules" and "What `decide` returns".

Plain frozen values; pager.core.escalation.decide turns (state, event) into a Decision. The DB layer
persists AlertState as columns or as `to_document()` JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pager.core.localtime import require_aware
from pager.core.policy import Method

# `suppressed`: opened while a maintenance window held its service; pages nobody until the hold ends.
Status = Literal["triggered", "acknowledged", "resolved", "suppressed"]
# Where a triggered alert is on the ladder; kept as it was while acknowledged (manual escalate reads it).
Stage = Literal["paging", "no_one_on_call", "exhausted"]
# How urgent the sender says an alert is (the PagerDuty Events API v2 vocabulary).
AlertSeverity = Literal["critical", "error", "warning", "info"]
DecisionOutcome = Literal["applied", "ignored", "already_acknowledged", "already_resolved"]


@dataclass(frozen=True)
class PagedLevel:
    """Level `level` of loop `loop` paged `users` at `at` (pages of the alert's current cycle only)."""

    loop: int
    level: int
    at: datetime
    users: tuple[str, ...]


_INSTANTS = (
    "triggered_at",
    "last_event_at",
    "escalate_at",
    "retrigger_at",
    "auto_resolve_at",
    "acknowledged_at",
    "resolved_at",
    "snoozed_until",
    "held_until",
)


@dataclass(frozen=True)
class AlertState:
    """Everything `decide` needs to know about one alert; persist it as columns or `to_document()`.

    `cycle` counts fresh starts of the ladder (1, then +1 on each re-trigger after an ack timeout and on
    each manual escalate past the end of the last loop); with `loop` and `level` it keeps idempotency
    keys unique.
    Deadlines: `escalate_at` (triggered: level timeout or no-one retry), `retrigger_at` (acknowledged,
    ack_timeout or the end of a snooze), `auto_resolve_at` (open, no new event), `held_until`
    (suppressed: the end of the maintenance hold); `next_action_at` is the earliest.
    `snoozed_until` is set while the acknowledgement is a snooze (then `retrigger_at` is the same
    instant); `held_by` names the maintenance window holding a suppressed alert.
    """

    status: Status
    stage: Stage
    cycle: int
    loop: int
    level: int
    triggered_at: datetime
    last_event_at: datetime
    escalate_at: datetime | None = None
    retrigger_at: datetime | None = None
    auto_resolve_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    pages: tuple[PagedLevel, ...] = ()
    snoozed_until: datetime | None = None
    held_until: datetime | None = None
    held_by: str | None = None
    held_window: int | None = None

    @property
    def next_action_at(self) -> datetime | None:
        """When the worker must call `decide` with a Timer next (None: never, until another event)."""
        deadlines = (self.escalate_at, self.retrigger_at, self.auto_resolve_at, self.held_until)
        due = [t for t in deadlines if t is not None]
        return min(due, default=None)

    def changed(self, **changes: Any) -> AlertState:
        """A copy with `changes` (what `dataclasses.replace` does, without its per-call introspection:
        the engine makes several copies per decision)."""
        unknown = changes.keys() - _STATE_FIELDS
        if unknown:
            raise TypeError(f"AlertState has no field {sorted(unknown)[0]!r}")
        copy = object.__new__(AlertState)
        copy.__dict__.update(self.__dict__, **changes)
        return copy

    def to_document(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO instants); `next_action_at` is included for convenience."""
        # An alert's instants repeat (triggered = last event = first page; next action = escalate):
        # each distinct UTC one is formatted once. Equal instants at other offsets are written
        # differently, so only UTC ones are shared. Inline, not a helper: this runs per decision.
        texts: dict[datetime, str] = {}
        doc = dict(self.__dict__)
        for name in _INSTANTS:
            instant = doc[name]
            if instant is not None:
                text = texts.get(instant) if instant.tzinfo is UTC else None
                if text is None:
                    text = instant.isoformat()
                    if instant.tzinfo is UTC:
                        texts[instant] = text
                doc[name] = text
        pages = []
        for page in self.pages:
            at = page.at
            text = texts.get(at) if at.tzinfo is UTC else None
            pages.append(
                {
                    "loop": page.loop,
                    "level": page.level,
                    "at": text or at.isoformat(),
                    "users": list(page.users),
                }
            )
        doc["pages"] = pages
        next_action_at = self.next_action_at
        if next_action_at is None:
            doc["next_action_at"] = None
        else:
            text = texts.get(next_action_at) if next_action_at.tzinfo is UTC else None
            doc["next_action_at"] = text or next_action_at.isoformat()
        return doc

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> AlertState:
        """The state `to_document()` wrote (extra keys such as `next_action_at` are ignored)."""
        missing = _REQUIRED_FIELDS - doc.keys()
        if missing:
            raise TypeError(f"AlertState document lacks {sorted(missing)[0]!r}")
        # Built as `changed` builds its copies, not through the frozen __init__ (a field at a time):
        # every claimed alert of an escalation batch is read through here.
        values = dict(_STATE_DEFAULTS)
        for name in _STATE_FIELD_ORDER:
            if name in doc:
                values[name] = doc[name]
        for name in _INSTANTS:
            raw = values[name]
            if raw is not None:
                instant = datetime.fromisoformat(raw)
                values[name] = instant if instant.tzinfo is UTC else require_aware(instant)
        values["pages"] = tuple(
            PagedLevel(
                int(p["loop"]), int(p["level"]), _aware(datetime.fromisoformat(p["at"])), tuple(p["users"])
            )
            for p in doc.get("pages", ())
        )
        state = object.__new__(cls)
        state.__dict__.update(values)
        return state


_STATE_FIELD_ORDER = tuple(f.name for f in fields(AlertState))
_STATE_FIELDS = frozenset(_STATE_FIELD_ORDER)
_STATE_DEFAULTS = {f.name: f.default for f in fields(AlertState) if f.default is not MISSING}
_REQUIRED_FIELDS = _STATE_FIELDS - _STATE_DEFAULTS.keys()


def _aware(instant: datetime) -> datetime:
    return instant if instant.tzinfo is UTC else require_aware(instant)


# Events -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    """A trigger: opens the alert (state None) or, on an open alert, is a deduplicated repeat."""


@dataclass(frozen=True)
class Timer:
    """The worker's wake-up, due when `now >= state.next_action_at`; early or repeated ones are no-ops."""


@dataclass(frozen=True)
class Ack:
    """Acknowledge; `by` is a user handle, None for an integration event."""

    by: str | None = None


@dataclass(frozen=True)
class Resolve:
    """Resolve; `by` is a user handle, None for an integration event."""

    by: str | None = None


@dataclass(frozen=True)
class Escalate:
    """Manual escalate: the next level is paged now."""

    by: str | None = None


@dataclass(frozen=True)
class Snooze:
    """Acknowledge now and trigger again from level 1 after `length` (unless resolved meanwhile)."""

    length: timedelta
    by: str | None = None


@dataclass(frozen=True)
class HoldEnded:
    """A maintenance window of the alert's service ended early (`pager maintenance end`): `window`
    names it; the hold is worked out again (another window may still hold the alert)."""

    by: str | None = None
    window: str | None = None


@dataclass(frozen=True)
class DeliveryFailed:
    """A page failed for good (the delivery layer retried transient errors); its idempotency-key parts."""

    user: str
    method: Method
    cycle: int
    loop: int
    level: int
    step: int
    reason: str = ""


Event = Trigger | Timer | Ack | Resolve | Escalate | DeliveryFailed | Snooze | HoldEnded


# Commands -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationStep:
    """One rule step of a page: send by `method` at `due_at` (an outbox row keyed by `key` + the alert)."""

    user: str
    method: Method
    step: int
    due_at: datetime
    cycle: int
    loop: int
    level: int

    @property
    def key(self) -> tuple[int, int, int, str, str, int]:
        """Idempotency-key parts (the alert id is the caller's): cycle, loop, level, user, method, step."""
        return (self.cycle, self.loop, self.level, self.user, self.method, self.step)

    def idempotency_key(self, alert_id: int | str) -> str:
        """The outbox key `<alert>:c<cycle>:l<loop>:v<level>:<user>:<method>:<step>`."""
        return f"{alert_id}:c{self.cycle}:l{self.loop}:v{self.level}:{self.user}:{self.method}:{self.step}"


@dataclass(frozen=True)
class Notify:
    """Page `user`: make sure an outbox row exists for each step, due no later than its `due_at`.

    A row that already exists is left alone, or brought forward when it is still pending and the new
    `due_at` is earlier (a delivery-failure fallback); a crash between decide and commit is harmless.
    """

    user: str
    steps: tuple[NotificationStep, ...]


@dataclass(frozen=True)
class CancelPendingNotifications:
    """Rule steps stop: cancel every outbox row of the alert not yet being sent."""

    reason: Literal["acknowledged", "resolved"]


TimelineKind = Literal[
    "triggered",
    "trigger_repeated",
    "level_paged",
    "level_skipped",
    "no_one_on_call",
    "exhausted",
    "acknowledged",
    "resolved",
    "auto_resolved",
    "retriggered",
    "escalated",
    "delivery_failed",
    "ignored",
    "snoozed",
    "snooze_ended",
    "suppressed",
    "hold_ended",
]


@dataclass(frozen=True)
class AppendTimeline:
    """One thing that happened, for the alert's timeline; `loop`/`level`/`users` when a level is involved."""

    kind: TimelineKind
    message: str
    at: datetime
    actor: str | None = None
    loop: int | None = None
    level: int | None = None
    users: tuple[str, ...] = ()


Command = Notify | CancelPendingNotifications | AppendTimeline


@dataclass(frozen=True)
class Decision:
    """The new state, the commands in the order they happened, and how the event was taken."""

    state: AlertState
    commands: tuple[Command, ...] = ()
    outcome: DecisionOutcome = "applied"

    @property
    def next_wakeup(self) -> datetime | None:
        """The state's `next_action_at`: when to call `decide` with a Timer."""
        return self.state.next_action_at

    @property
    def timeline(self) -> tuple[AppendTimeline, ...]:
        """The timeline entries among the commands."""
        return tuple(c for c in self.commands if isinstance(c, AppendTimeline))

    @property
    def notifications(self) -> tuple[Notify, ...]:
        """The pages among the commands."""
        return tuple(c for c in self.commands if isinstance(c, Notify))
