"""Shifts over time: who is on call at an instant, final shifts in a window, and the calendar feeds.

Feeds (docs/calendar.md): a person's feed has every shift they hold, primary or secondary, in every
schedule; a schedule's feed has both roles of that schedule. Both cover 15 days back and one year
ahead, with the overrides stored in the database applied.

Stable bytes, so ETags repeat: the window and every DTSTAMP are anchored on `now` floored to the
hour. Within one hour the same schedules and overrides give byte-identical feeds (and the same
ETag, so a client's If-None-Match gets a 304); the feed changes on the hour, when an override is
added or removed, or when the config changes.

A calendar token opens exactly one feed. An unknown or revoked token, or a token for another feed,
is NotFound — the same answer as a feed that does not exist, so a token never reveals which feeds do.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import quote

from sqlmodel import Session

from pager.adapters.ical_feed import CalendarShift, calendar_shifts, render_calendar
from pager.config.loader import LoadedConfig
from pager.core.durations import DurationError, parse_duration
from pager.core.localtime import require_aware
from pager.core.model import ROLES, FinalShift, OnCall, Role, Schedule
from pager.core.schedule import final_shifts, resolve_on_call
from pager.db.session import session_scope
from pager.db.tables import CalendarToken
from pager.db.tokens import calendar_tokens_of_schedule, calendar_tokens_of_user
from pager.db.users import find_user_by_handle
from pager.services.calendars.feed_cache import Feed
from pager.services.calendars.overrides import overrides_for
from pager.services.errors import InvalidInput, NotFound
from pager.services.people.tokens import create_calendar_token, find_calendar_token, revoke_calendar_token
from pager.services.people.users import require_user
from pager.services.runtime import Runtime

FEED_BACK = timedelta(days=15)
FEED_AHEAD = timedelta(days=365)
MAX_ALARM = timedelta(days=7)
# Longest window the shifts query answers in one call (a feed's window is 380 days).
MAX_SHIFTS_WINDOW = timedelta(days=400)
FeedKind = Literal["user", "schedule"]
_NO_FEED = "no such calendar feed (unknown, revoked, or a token for another feed)"


# --- on call and shifts ------------------------------------------------------------------------


def require_schedule(config: LoadedConfig, schedule_id: str) -> Schedule:
    """The loaded schedule `schedule_id`, or NotFound."""
    schedule = config.schedules.get(schedule_id)
    if schedule is None:
        raise NotFound(f"no schedule {schedule_id!r}")
    return schedule


def on_call_at(session: Session, config: LoadedConfig, schedule_id: str, at: datetime) -> OnCall:
    """Who holds each role of `schedule_id` at instant `at`, stored overrides included."""
    schedule = require_schedule(config, schedule_id)
    at = require_aware(at)
    overrides = overrides_for(session, schedule.id, at, at + timedelta(seconds=1))
    return resolve_on_call(schedule, at, overrides)


def schedule_shifts(
    session: Session,
    config: LoadedConfig,
    schedule_id: str,
    start: datetime,
    end: datetime,
    roles: Sequence[Role] = ROLES,
) -> list[FinalShift]:
    """Final shifts of `roles` in [start, end) with stored overrides, by start then role."""
    schedule = require_schedule(config, schedule_id)
    start, end = require_aware(start), require_aware(end)
    if end <= start:
        raise InvalidInput("the window must end after it starts (`to` > `from`)")
    if end - start > MAX_SHIFTS_WINDOW:
        raise InvalidInput(f"the window may be at most {MAX_SHIFTS_WINDOW.days} days long")
    overrides = overrides_for(session, schedule.id, start, end)
    found = [shift for role in roles for shift in final_shifts(schedule, role, start, end, overrides)]
    return sorted(found, key=lambda s: (s.start, ROLES.index(s.role)))


# --- feeds -------------------------------------------------------------------------------------


def feed_anchor(now: datetime) -> datetime:
    """`now` floored to the hour: the instant a feed is generated at (see the module docstring)."""
    return require_aware(now).replace(minute=0, second=0, microsecond=0)


def feed_window(now: datetime) -> tuple[datetime, datetime]:
    """The span a feed generated at `now` covers: [anchor - 15 days, anchor + 365 days)."""
    anchor = feed_anchor(now)
    return anchor - FEED_BACK, anchor + FEED_AHEAD


def parse_alarm(text: str | None) -> timedelta | None:
    """The `?alarm=` value (`15m`, `1h`, ... up to 7 days) as a timedelta; None when not asked for."""
    if text is None or not text.strip():
        return None
    try:
        alarm = parse_duration(text)
    except DurationError as exc:
        raise InvalidInput(f"alarm: {exc}") from None
    if alarm > MAX_ALARM:
        raise InvalidInput(f"alarm: at most {MAX_ALARM.days} days before a shift")
    return alarm


def user_feed(runtime: Runtime, handle: str, token: str, now: datetime, alarm: str | None = None) -> Feed:
    """The feed of every shift `handle` holds in any schedule; NotFound unless `token` opens it.

    Served from `runtime.feed_cache` while its inputs are unchanged (pager.services.calendars.feed_cache).
    """
    start, end = feed_window(now)
    config = runtime.config
    schedule_ids = sorted(config.schedules)
    with session_scope(runtime.engine, read_only=True) as session:
        user = find_user_by_handle(session, handle)
        row = find_calendar_token(session, token)
        if user is None or row is None or row.user_id is None or row.user_id != user.id:
            raise NotFound(_NO_FEED)
        reminder = parse_alarm(alarm)
        overrides = {sid: tuple(overrides_for(session, sid, start, end)) for sid in schedule_ids}
    name = f"On call: {user.name} ({user.handle})"

    def render() -> Feed:
        entries: list[CalendarShift] = []
        for schedule_id in schedule_ids:
            schedule = config.schedules[schedule_id]
            for role in ROLES:
                held = [
                    shift
                    for shift in final_shifts(schedule, role, start, end, overrides[schedule_id])
                    if shift.user == handle
                ]
                entries.extend(calendar_shifts(schedule, held))
        return _feed(entries, name, handle, now, reminder)

    key = ("user", handle, name, start, reminder, tuple(overrides.items()))
    return runtime.feed_cache.get_or_render(config, key, render)


def schedule_feed(
    runtime: Runtime, schedule_id: str, token: str, now: datetime, alarm: str | None = None
) -> Feed:
    """The feed of both roles of `schedule_id`; NotFound unless `token` opens it (cached as user_feed)."""
    start, end = feed_window(now)
    config = runtime.config
    schedule = config.schedules.get(schedule_id)
    with session_scope(runtime.engine, read_only=True) as session:
        row = find_calendar_token(session, token)
        if schedule is None or row is None or row.schedule_id != schedule.id:
            raise NotFound(_NO_FEED)
        reminder = parse_alarm(alarm)
        overrides = tuple(overrides_for(session, schedule.id, start, end))
    found = schedule

    def render() -> Feed:
        entries = [
            entry
            for role in ROLES
            for entry in calendar_shifts(found, final_shifts(found, role, start, end, overrides))
        ]
        return _feed(entries, f"On call: {found.name}", found.id, now, reminder)

    key = ("schedule", schedule.id, start, reminder, overrides)
    return runtime.feed_cache.get_or_render(config, key, render)


def _feed(
    entries: Sequence[CalendarShift], name: str, feed_id: str, now: datetime, alarm: timedelta | None
) -> Feed:
    body = render_calendar(entries, name=name, alarm=alarm, generated_at=feed_anchor(now))
    etag = '"' + hashlib.sha256(body).hexdigest()[:40] + '"'
    safe_id = "".join(ch for ch in feed_id if ch not in '"\\/\r\n') or "calendar"
    return Feed(body=body, etag=etag, filename=f"{safe_id}.ics", name=name)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """True when an If-None-Match header names `etag` (weak comparison, RFC 9110 §13.1.2) or is `*`."""
    if not if_none_match:
        return False
    candidates = [part.strip() for part in if_none_match.split(",")]
    return any(c == "*" or c.removeprefix("W/") == etag for c in candidates)


# --- feed tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedTarget:
    """The feed a calendar token opens: a person's (`kind` "user", `id` their handle) or a schedule's."""

    kind: FeedKind
    id: str


def feed_url(public_url: str, target: FeedTarget, token: str) -> str:
    """The full URL of `target`'s feed opened by `token`."""
    folder = "users" if target.kind == "user" else "schedules"
    return f"{public_url.rstrip('/')}/calendar/{folder}/{quote(target.id, safe='')}.ics?token={quote(token)}"


def create_feed_token(
    session: Session, target: FeedTarget, now: datetime, config: LoadedConfig | None = None
) -> tuple[CalendarToken, str]:
    """A new token for `target`'s feed (row, plaintext); NotFound for an unknown user or schedule.

    A schedule's feed needs the loaded `config` (the schedule must be in it); a person's does not.
    """
    if target.kind == "user":
        return create_calendar_token(session, now=now, user_id=require_user(session, target.id).id)
    if config is None:
        raise ValueError("a token for a schedule's feed needs the loaded config")
    return create_calendar_token(session, now=now, schedule_id=require_schedule(config, target.id).id)


def feed_tokens(session: Session, target: FeedTarget) -> list[CalendarToken]:
    """Every token ever made for `target`'s feed (revoked ones included), oldest first.

    NotFound for an unknown user; a schedule that is no longer in the config still has its old
    tokens listed.
    """
    if target.kind == "user":
        return calendar_tokens_of_user(session, require_user(session, target.id).id)
    return calendar_tokens_of_schedule(session, target.id)


def revoke_feed_token(session: Session, target: FeedTarget, token_id: int, now: datetime) -> CalendarToken:
    """Revoke token `token_id` of `target`'s feed; NotFound when it is not one of that feed's."""
    if token_id not in {row.id for row in feed_tokens(session, target)}:
        raise NotFound(f"no calendar token {token_id} for {target.kind} {target.id!r}")
    return revoke_calendar_token(session, token_id, now)
