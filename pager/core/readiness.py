"""Is pager able to page right now? The decision, from figures read elsewhere (no I/O, `now` passed in).

Ready means: the database answers, some worker completed a pass of both its loops recently, and
nothing due waits much longer than it should. A worker that is stopped, frozen or stuck stops beating
(its heartbeat carries its slower loop's last completed pass), so readiness turns red within
BEAT_STALE_AFTER even though its process is still there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# No worker completed a loop pass within this: nobody is deciding escalations or sending pages.
# A healthy loop passes at least once a second (the tick), so 15 s is many missed passes, not a blip.
BEAT_STALE_AFTER = timedelta(seconds=15)
# A page or an escalation timer this late means the worker is alive but not keeping up (or stuck on
# it). Normal lateness is well under a second; retries and holds move a page's ready time forward.
OVERDUE_AFTER = timedelta(seconds=30)


@dataclass(frozen=True)
class Figures:
    """What readiness is decided from, as read from the database (or why it could not be read)."""

    database_error: str | None = None
    newest_beat: datetime | None = None  # newest `beat_at` of any worker
    oldest_due_page: datetime | None = None  # earliest ready time of a pending/unknown page
    oldest_due_timer: datetime | None = None  # earliest open alert's `next_action_at` or monitor `due_at`


@dataclass(frozen=True)
class Check:
    """One check's verdict: `name` is database, worker, pages or timers."""

    name: str
    ok: bool
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"check": self.name, "ok": self.ok, "message": self.message}


@dataclass(frozen=True)
class Readiness:
    """Every check made; ready when all passed."""

    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if not check.ok)


def assess(figures: Figures, now: datetime) -> Readiness:
    """The verdict on `figures` at `now`. Without a database nothing else can be checked."""
    if figures.database_error is not None:
        return Readiness((Check("database", False, f"database unreachable: {figures.database_error}"),))
    return Readiness(
        (
            Check("database", True, "the database answers"),
            _worker_check(figures.newest_beat, now),
            _overdue_check("pages", "page", figures.oldest_due_page, now),
            _overdue_check("timers", "escalation timer", figures.oldest_due_timer, now),
        )
    )


def _worker_check(newest_beat: datetime | None, now: datetime) -> Check:
    limit = _seconds(BEAT_STALE_AFTER)
    if newest_beat is None:
        return Check("worker", False, "no worker is running (no heartbeat)")
    age = _seconds(now - newest_beat)
    if now - newest_beat > BEAT_STALE_AFTER:
        message = f"no worker completed a loop in the last {limit} s (newest {age} s ago)"
        return Check("worker", False, message)
    return Check("worker", True, f"a worker completed its loops {age} s ago")


def _overdue_check(name: str, what: str, due: datetime | None, now: datetime) -> Check:
    limit = _seconds(OVERDUE_AFTER)
    late = 0.0 if due is None else _seconds(now - due)
    if due is not None and now - due > OVERDUE_AFTER:
        return Check(name, False, f"the oldest due {what} is {late} s overdue (limit {limit} s)")
    return Check(name, True, f"nothing due waits more than {limit} s")


def _seconds(span: timedelta) -> float:
    # One decimal: the message is for people, and clocks of different hosts differ by more anyway.
    return max(0.0, round(span.total_seconds(), 1))
