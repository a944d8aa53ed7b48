"""Heartbeat monitors: a job beats a URL every `every`; no beat for `every + grace` is a missed beat.

See docs/heartbeats.md. Pure rules only: what a declared monitor is, its state at an instant, when it
falls due, and the alert a missed beat opens. The worker's own liveness beat is something else
(pager.core.readiness, pager.services.operations.heartbeat).

A monitor is armed by its first beat: one that never beat is `never` and raises nothing, because
its URL only exists once the monitor is created, so the job cannot have beaten before someone set
it up. From the first beat on, a beat more than `every + grace` after the last one is a miss.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

MonitorState = Literal["healthy", "late", "never"]

# A monitor's name: lower-case words joined by single hyphens (`nightly-backup`).
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_NAME = 64


@dataclass(frozen=True)
class HeartbeatSpec:
    """A heartbeat declared on a service: expected every `every`, late after `every + grace`."""

    name: str
    every: timedelta
    grace: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if not SLUG_RE.match(self.name) or len(self.name) > MAX_NAME:
            raise ValueError(f"heartbeat name {self.name!r} is not a slug")
        if self.every <= timedelta(0) or self.grace < timedelta(0):
            raise ValueError("a heartbeat needs every > 0 and grace >= 0")


def due_after_beat(beat_at: datetime, every: timedelta, grace: timedelta) -> datetime:
    """When a monitor that beat at `beat_at` misses its next beat."""
    return beat_at + every + grace


def state_at(
    last_beat_at: datetime | None, every: timedelta, grace: timedelta, now: datetime, *, missed: bool = False
) -> MonitorState:
    """`never` (no beat yet), `late` (the last beat is more than every + grace old, or its miss is
    raised and no beat came since) or `healthy`."""
    if last_beat_at is None:
        return "never"
    return "late" if missed or now >= due_after_beat(last_beat_at, every, grace) else "healthy"


def rearmed_due_at(
    last_beat_at: datetime | None, missed_at: datetime | None, every: timedelta, grace: timedelta
) -> datetime | None:
    """The timer a monitor should hold: none before its first beat or while its miss is raised."""
    if last_beat_at is None or missed_at is not None:
        return None
    return due_after_beat(last_beat_at, every, grace)


def is_missed(due_at: datetime | None, now: datetime) -> bool:
    """Whether a monitor holding the timer `due_at` has missed its beat at `now`."""
    return due_at is not None and due_at <= now


def missed_dedup_key(name: str) -> str:
    """The dedup key of the alert a monitor's miss opens: one per monitor, apart from every sender's."""
    return f"heartbeat:{name}"


def missed_summary(name: str) -> str:
    """The summary of the alert a missed beat opens."""
    return f"heartbeat {name} missed"
