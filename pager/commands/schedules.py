"""Schedule commands: check, oncall, shifts, coverage (docs/schedules.md; docs/cli.md).

`oncall`, `shifts` and `coverage` apply the overrides stored in the database when there is one.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from pager.commands.common import fail, print_json, state, stored_handles, stored_overrides
from pager.config.errors import ConfigError
from pager.config.loader import LoadedConfig, load_config
from pager.config.mentions import mentions
from pager.config.schedules import load_schedule_file, schedule_files
from pager.core.coverage import Coverage, find_gaps, measure_coverage
from pager.core.localtime import NaiveInstantError, format_instant, parse_instant, zone
from pager.core.model import ROLES, FinalShift, Role, Schedule
from pager.core.schedule import ScheduleError, final_shifts, resolve_on_call

COVERAGE_HORIZON = timedelta(days=30)
_SCHEDULE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

AtOption = Annotated[str | None, typer.Option("--at", help="ISO 8601 instant with offset (default: now).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
FromOption = Annotated[
    str | None, typer.Option("--from", help="Window start, ISO 8601 with offset (default: now).")
]


def register(app: typer.Typer) -> None:
    """Add the schedule commands to `app`."""
    app.command("check")(check)
    app.command("oncall")(oncall)
    app.command("shifts")(shifts)
    app.command("coverage")(coverage)


def check(
    ctx: typer.Context,
    require_coverage: Annotated[
        bool,
        typer.Option(
            "--require-coverage",
            help="Also fail when a schedule has a primary gap in 30 days (stored overrides included).",
        ),
    ] = False,
    start: FromOption = None,
) -> None:
    """Validate every schedule and policy file; print `path:line: message` per problem, exit 1 if any."""
    config_dir = state(ctx).config_dir
    if not (config_dir / "schedules").is_dir():
        fail(f"no schedules/ directory in {config_dir} (set --config-dir or PAGER_CONFIG_DIR)")
    config = load_config(config_dir)
    schedules, errors = config.schedules, list(config.errors)
    if require_coverage:
        window_start = _instant("--from", start)
        for schedule in schedules.values():
            errors.extend(_primary_gaps(config_dir, schedule, window_start))
    for warning in _people_warnings(config_dir, config):
        print(warning, file=sys.stderr)
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        files = len({e.path for e in errors})
        print(f"{len(errors)} problem(s) in {files} file(s)", file=sys.stderr)
        raise typer.Exit(1)
    print(f"OK: {len(schedules)} schedules, {len(config.policies)} policies, {len(config.services)} services")


def _people_warnings(config_dir: Path, config: LoadedConfig) -> list[str]:
    """`path:line: warning: ...` for each file naming a deactivated person (they are skipped) or a
    handle with no user in the database (nobody is paged for it)."""
    known, inactive, unreachable = stored_handles()
    if unreachable is not None:
        return [unreachable]
    warnings = []
    for m in mentions(config_dir, config):
        if m.handle in inactive:
            warnings.append(
                f"{m.path}:{m.line}: warning: {m.what} names deactivated user {m.handle}; they are skipped"
            )
        elif known is not None and m.handle not in known:
            warnings.append(
                f"{m.path}:{m.line}: warning: {m.what} names {m.handle}, who is not a user here;"
                f" nobody is paged for them until `pager user add {m.handle}`"
            )
    return warnings


def oncall(
    ctx: typer.Context,
    schedule_id: Annotated[str, typer.Argument(metavar="SCHEDULE", help="Schedule id (its file name stem).")],
    at: AtOption = None,
    as_json: JsonOption = False,
) -> None:
    """Who is primary and secondary at an instant (overrides stored in the database included)."""
    schedule = _load_one(state(ctx).config_dir, schedule_id)
    instant = _instant("--at", at)
    overrides = stored_overrides([schedule.id], instant, instant + timedelta(seconds=1))
    try:
        on_call = resolve_on_call(schedule, instant, overrides)
    except ScheduleError as exc:
        fail(str(exc))
    if as_json:
        print_json(
            {
                "schedule": schedule.id,
                "at": format_instant(instant),
                "primary": on_call.primary,
                "secondary": on_call.secondary,
            }
        )
        return
    rows = [
        ["schedule", f"{schedule.id} ({schedule.name})"],
        ["at", f"{format_instant(instant)}  ({_local(instant, schedule)})"],
        ["primary", _who(on_call.primary, on_call.primary_source)],
        ["secondary", _who(on_call.secondary, on_call.secondary_source)],
    ]
    print(render_table(None, rows))


def shifts(
    ctx: typer.Context,
    schedule_id: Annotated[str, typer.Argument(metavar="SCHEDULE", help="Schedule id (its file name stem).")],
    start: Annotated[str, typer.Option("--from", help="Window start, ISO 8601 with offset.")],
    end: Annotated[str, typer.Option("--to", help="Window end (exclusive), ISO 8601 with offset.")],
    role: Annotated[Role | None, typer.Option("--role", help="Only this role (default: both).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Final shifts in a window: consecutive spans of one person merged, clipped to the window."""
    schedule = _load_one(state(ctx).config_dir, schedule_id)
    window_start, window_end = _instant("--from", start), _instant("--to", end)
    if window_end <= window_start:
        fail("--to must be later than --from")
    overrides = stored_overrides([schedule.id], window_start, window_end)
    found: list[FinalShift] = []
    try:
        for wanted in [role] if role else list(ROLES):
            found.extend(final_shifts(schedule, wanted, window_start, window_end, overrides))
    except ScheduleError as exc:
        fail(str(exc))
    found.sort(key=lambda s: (s.start, ROLES.index(s.role)))
    if as_json:
        print_json(
            [
                {
                    "role": s.role,
                    "user": s.user,
                    "start": format_instant(s.start),
                    "end": format_instant(s.end),
                }
                for s in found
            ]
        )
        return
    if not found:
        print(f"nobody holds {role or 'any role'} of {schedule.id} in that window")
        return
    rows = [
        [
            s.role,
            s.user,
            format_instant(s.start),
            format_instant(s.end),
            _local(s.start, schedule),
            _hours(s.end - s.start),
        ]
        for s in found
    ]
    print(
        render_table(
            ["ROLE", "USER", "START (UTC)", "END (UTC)", f"LOCAL START ({schedule.time_zone})", "HOURS"], rows
        )
    )


def coverage(
    ctx: typer.Context,
    schedule_id: Annotated[str, typer.Argument(metavar="SCHEDULE", help="Schedule id (its file name stem).")],
    days: Annotated[int, typer.Option("--days", min=1, max=3660, help="Window length in days.")] = 90,
    start: FromOption = None,
    as_json: JsonOption = False,
) -> None:
    """Gaps where nobody is primary or secondary, and each person's on-call and night hours."""
    schedule = _load_one(state(ctx).config_dir, schedule_id)
    window_start = _instant("--from", start)
    window_end = window_start + timedelta(days=days)
    overrides = stored_overrides([schedule.id], window_start, window_end)
    try:
        report = measure_coverage(schedule, window_start, window_end, overrides)
    except ScheduleError as exc:
        fail(str(exc))
    if as_json:
        print_json(coverage_document(report, schedule))
        return
    print(
        f"{schedule.id} ({schedule.time_zone}) from {format_instant(report.start)} "
        f"to {format_instant(report.end)} ({days} days); night = 22:00-07:00 local"
    )
    for role, role_coverage in report.roles.items():
        gaps = role_coverage.gaps
        print(f"\n{role}: {len(gaps)} gap(s)" if gaps else f"\n{role}: no gaps")
        if gaps:
            gap_rows = [[format_instant(g.start), format_instant(g.end), _hours(g.length)] for g in gaps]
            print(render_table(["GAP START (UTC)", "GAP END (UTC)", "HOURS"], gap_rows, indent=2))
        if role_coverage.people:
            people_rows = [[p.user, _hours(p.on_call), _hours(p.night)] for p in role_coverage.people]
            print(render_table(["USER", "HOURS", "NIGHT HOURS"], people_rows, indent=2))
            print(
                f"  spread: {_hours(role_coverage.spread)} h on call, "
                f"{_hours(role_coverage.night_spread)} h at night (most minus least loaded)"
            )


def coverage_document(report: Coverage, schedule: Schedule) -> dict[str, Any]:
    """The JSON shape of `pager coverage --json`."""
    gaps = [
        {
            "role": gap.role,
            "start": format_instant(gap.start),
            "end": format_instant(gap.end),
            "seconds": int(gap.length.total_seconds()),
        }
        for role_coverage in report.roles.values()
        for gap in role_coverage.gaps
    ]
    load = {
        role: {
            "covered_seconds": int(rc.covered.total_seconds()),
            "spread_hours": _hours_value(rc.spread),
            "night_spread_hours": _hours_value(rc.night_spread),
            "people": [
                {
                    "user": p.user,
                    "hours": _hours_value(p.on_call),
                    "night_hours": _hours_value(p.night),
                    "seconds": int(p.on_call.total_seconds()),
                    "night_seconds": int(p.night.total_seconds()),
                }
                for p in rc.people
            ],
        }
        for role, rc in report.roles.items()
    }
    return {
        "schedule": report.schedule,
        "time_zone": schedule.time_zone,
        "from": format_instant(report.start),
        "to": format_instant(report.end),
        "gaps": gaps,
        "load": load,
    }


def render_table(headers: Sequence[str] | None, rows: Sequence[Sequence[str]], indent: int = 0) -> str:
    """Left-aligned columns separated by two spaces."""
    table = [list(headers)] if headers else []
    table.extend(list(row) for row in rows)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))] if table else []
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    return "\n".join(" " * indent + line for line in lines)


def _primary_gaps(config_dir: Path, schedule: Schedule, start: datetime) -> list[ConfigError]:
    end = start + COVERAGE_HORIZON
    path = config_dir / "schedules" / f"{schedule.id}.yaml"
    overrides = stored_overrides([schedule.id], start, end)
    try:
        gaps = find_gaps("primary", final_shifts(schedule, "primary", start, end, overrides), start, end)
    except ScheduleError as exc:
        return [ConfigError(path, 1, str(exc))]
    return [
        ConfigError(
            path,
            1,
            f"nobody is primary from {format_instant(g.start)} to {format_instant(g.end)} "
            f"({_hours(g.length)} h) within {COVERAGE_HORIZON.days} days of {format_instant(start)}",
        )
        for g in gaps
    ]


def _load_one(config_dir: Path, schedule_id: str) -> Schedule:
    path = config_dir / "schedules" / f"{schedule_id}.yaml"
    if not _SCHEDULE_ID_RE.match(schedule_id) or not path.is_file():
        known = ", ".join(p.stem for p in schedule_files(config_dir)) or "none"
        fail(f"unknown schedule {schedule_id!r} in {config_dir / 'schedules'} (known: {known})")
    schedule, errors = load_schedule_file(path)
    if schedule is None:
        for error in errors:
            print(error, file=sys.stderr)
        fail(f"schedule {schedule_id!r} is invalid; run `pager check`")
    return schedule


def _instant(option: str, text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        return parse_instant(text)
    except NaiveInstantError as exc:
        fail(f"{option}: {exc}")


def _local(instant: datetime, schedule: Schedule) -> str:
    local = instant.astimezone(zone(schedule.time_zone))
    return local.strftime("%a %Y-%m-%d %H:%M %Z")


def _who(user: str | None, source: str | None) -> str:
    if user is None:
        return "(nobody)"
    return f"{user}  [{source}]" if source else user


def _hours(length: timedelta) -> str:
    return f"{length.total_seconds() / 3600:.1f}"


def _hours_value(length: timedelta) -> float:
    return round(length.total_seconds() / 3600, 4)
