"""A `pager worker` running on its own (no `pager serve` in its process) picks up a config change
without a restart or a SIGHUP: it is the process that pages. A new service gets its row (and its
integration key), a new heartbeat its monitor, within seconds."""

from __future__ import annotations

import pytest
from sqlmodel import select

from pager.db.session import session_scope
from pager.db.tables import HeartbeatMonitor, Service
from tests.e2e.conftest import PagingSetup, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.database]

EXTRA = """name: Batch
levels:
  - notify: [schedule:team]
    escalate_after: 5m
services:
  - id: batch
    name: Batch jobs
    heartbeats:
      - {name: nightly, every: 24h}
"""


def test_a_lone_worker_reloads_a_changed_config_and_syncs_its_rows(paging: PagingSetup) -> None:
    worker = paging.start_worker()
    paging.wait_ready(worker)
    (paging.config_dir / "escalation_policies" / "batch.yaml").write_text(EXTRA, encoding="utf-8")

    def synced() -> bool:
        with session_scope(paging.runtime.engine, read_only=True) as session:
            service = session.get(Service, "batch")
            monitor = session.exec(select(HeartbeatMonitor).where(HeartbeatMonitor.name == "nightly")).first()
            return service is not None and monitor is not None

    wait_until("the worker to sync the new service and heartbeat", synced, timeout=15)
    assert "config_reloaded" in worker.log(), paging.logs()
