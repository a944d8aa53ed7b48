"""An override `remove` as a user makes it, seen by `pager oncall` and by a real `pager worker`.

The conftest's team has one member, ann; the policy pages the team's primary, then cat 3 s later.
With ann removed from the primary role for the hour, `pager oncall` names nobody, and a trigger
pages cat at once (a level with nobody on it is never waited out) and ann not at all.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import ANN, CAT, PagingSetup, clean_environment, pager_command, wait_until
from tests.e2e.test_worker_e2e import evidence, received_pages, trigger

pytestmark = [pytest.mark.e2e, pytest.mark.database]


def run_pager(paging: PagingSetup, *args: str) -> str:
    env = clean_environment(PAGER_DATABASE_URL=paging.database_url, PAGER_CONFIG_DIR=str(paging.config_dir))
    done = subprocess.run(
        pager_command(*args), env=env, cwd=paging.tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_override_remove_changes_who_oncall_names_and_who_the_worker_pages(paging: PagingSetup) -> None:
    paging.wait_ready(paging.start_worker())
    now = datetime.now(UTC).replace(microsecond=0)
    at = now.isoformat()
    assert json.loads(run_pager(paging, "oncall", "team", "--at", at, "--json"))["primary"] == "ann"

    start, end = (now - timedelta(minutes=1)).isoformat(), (now + timedelta(hours=1)).isoformat()
    run_pager(paging, "override", "remove", "team", "--user", "ann", "--from", start, "--to", end)
    assert json.loads(run_pager(paging, "oncall", "team", "--at", at, "--json"))["primary"] is None

    alert_id, triggered_at = trigger(paging)
    why = evidence(paging, alert_id, triggered_at)

    def cat_paged() -> bool:
        return any(p.to in (CAT["sms"], CAT["email"]) for p in received_pages(paging))

    wait_until("cat's page", cat_paged, timeout=2.5)  # level 2 is due at +3 s: this is not that
    first = min(p.at for p in received_pages(paging) if p.to in (CAT["sms"], CAT["email"]))
    assert (first - triggered_at).total_seconds() < 2.0, why
    wait_until("the ladder to end", lambda: "exhausted" in evidence(paging, alert_id, triggered_at), 10)
    assert not [p for p in received_pages(paging) if p.to in (ANN["sms"], ANN["email"])], why
