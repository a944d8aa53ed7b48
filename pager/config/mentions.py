"""Where the config files name people: schedule members and `user:` targets, with their lines.

`pager check` uses it to warn about files that name someone deactivated in the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pager.config.loader import LoadedConfig
from pager.config.policies import policy_files
from pager.config.schedules import schedule_files


@dataclass(frozen=True)
class Mention:
    """`handle` is named in `path` at `line` (1 when the line cannot be told), as `what`."""

    path: Path
    line: int
    handle: str
    what: str


def mentions(config_dir: Path, config: LoadedConfig) -> list[Mention]:
    """Every person the loaded schedules (rotation members) and policies (`user:` targets) name."""
    found: list[Mention] = []
    for path in schedule_files(config_dir):
        schedule = config.schedules.get(path.stem)
        if schedule is None:
            continue
        handles = {member for layer in schedule.layers for member in getattr(layer, "members", ())}
        for handle in sorted(handles):
            found.append(Mention(path, _line_of(path, handle), handle, f"schedule {schedule.id}"))
    for path in policy_files(config_dir):
        policy = config.policies.get(path.stem)
        if policy is None:
            continue
        handles = {t.ref for level in policy.levels for t in level.targets if t.kind == "user"}
        for handle in sorted(handles):
            found.append(Mention(path, _line_of(path, f"user:{handle}"), handle, f"policy {policy.id}"))
    return found


def _line_of(path: Path, word: str) -> int:
    pattern = re.compile(rf"(?<![\w.@+-]){re.escape(word)}(?![\w.@+-])")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 1
    return next((number for number, text in enumerate(lines, start=1) if pattern.search(text)), 1)
