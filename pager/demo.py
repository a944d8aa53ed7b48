"""`make run` until the HTTP service exists: who is on call now and the next handoff, per schedule."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pager.commands.schedules import render_table
from pager.config.schedules import load_schedules
from pager.core.localtime import format_instant
from pager.core.schedule import next_handoff, resolve_on_call
from pager.settings import get_settings


def on_call_table(config_dir: Path, now: datetime) -> tuple[str, list[str]]:
    """The table of every schedule under `config_dir` at `now`, and the config problems found."""
    schedules, errors = load_schedules(config_dir)
    rows: list[list[str]] = []
    for schedule_id, schedule in sorted(schedules.items()):
        on_call = resolve_on_call(schedule, now)
        handoff = next_handoff(schedule, now, "primary")
        if handoff is None:
            when, who = "none within a year", ""
        else:
            when = f"{format_instant(handoff.at)} (in {_until(handoff.at - now)})"
            who = f"{handoff.from_user or 'nobody'} -> {handoff.to_user or 'nobody'}"
        rows.append(
            [schedule_id, schedule.time_zone, on_call.primary or "-", on_call.secondary or "-", when, who]
        )
    headers = ["SCHEDULE", "ZONE", "PRIMARY", "SECONDARY", "NEXT PRIMARY HANDOFF (UTC)", "WHO"]
    return render_table(headers, rows), [str(e) for e in errors]


def main() -> int:
    """Print the on-call table for the configured directory (PAGER_CONFIG_DIR, default `.`) now."""
    config_dir = get_settings().config_dir
    if not (config_dir / "schedules").is_dir():
        print(f"error: no schedules/ directory in {config_dir}", file=sys.stderr)
        return 1
    now = datetime.now(UTC).replace(microsecond=0)
    table, errors = on_call_table(config_dir, now)
    for error in errors:
        print(error, file=sys.stderr)
    print(f"On call at {format_instant(now)} (schedules in {(config_dir / 'schedules').resolve()})\n")
    print(table)
    return 1 if errors else 0


def _until(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m"


if __name__ == "__main__":
    sys.exit(main())
