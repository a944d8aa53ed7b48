"""Config reload: a good change is picked up, a bad one is refused with path:line and the last good kept."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from sqlalchemy import Engine

from pager.services.operations.config_watch import ConfigWatcher
from pager.services.runtime import Runtime
from tests.services.test_engine import write_config
from tests.support import console_runtime


def make_runtime(config_dir: Path, engine: Engine) -> Runtime:
    return console_runtime(engine, config_dir)


def touch_later(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a different mtime for sure


@pytest.mark.database
def test_good_change_reloads_bad_change_keeps_last_good(
    tmp_path: Path, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    config_dir = write_config(tmp_path / "config")
    runtime = make_runtime(config_dir, engine)
    watcher = ConfigWatcher(runtime)
    assert watcher.check_now() is None  # nothing changed

    team = config_dir / "schedules" / "team.yaml"
    touch_later(team, team.read_text().replace("[alice, bob]", "[alice, bob, carol]"))
    assert watcher.check_now() is True
    assert runtime.config.schedules["team"].layers[0].members == ("alice", "bob", "carol")  # type: ignore[union-attr]

    good = runtime.config
    with caplog.at_level(logging.ERROR, logger="pager.runtime"):
        touch_later(team, team.read_text().replace("America/Chicago", "America/Chicag"))
        assert watcher.check_now() is False
    assert runtime.config is good
    assert f"{team}:1: unknown time zone 'America/Chicag'" in caplog.text
