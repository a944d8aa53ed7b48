"""Outgoing webhooks end to end (docs/integrations.md): a real `pager worker` process tails the
timeline and posts to a real local receiver, which verifies the Standard Webhooks signature with the
reference library, answers 500 once and then 200, and sees the retry with the same webhook-id.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from pager.db.session import session_scope
from pager.services.alerting.alerts import act_on_alert, trigger_alert
from pager.services.integrations.webhooks import add_webhook
from tests.e2e.conftest import PagingSetup, wait_until
from tests.webhook_receiver import receiver

pytestmark = [pytest.mark.e2e, pytest.mark.database]

EVENTS = ["alert.triggered", "alert.acknowledged"]


def test_a_worker_posts_signed_alert_events_in_order_and_retries_with_the_same_id(
    paging: PagingSetup,
) -> None:
    with receiver(answers=[500]) as hook:
        with session_scope(paging.runtime.engine) as session:
            secret = add_webhook(session, hook.url, EVENTS, "standard", datetime.now(UTC)).secret
        worker = paging.start_worker()
        paging.wait_ready(worker)
        alert_id = trigger_alert(
            paging.runtime, service_id="web", summary="Disk full", now=datetime.now(UTC)
        ).alert_id
        # Acked once the first attempt is in (and the pages long sent): acking at the very instant the
        # worker claims its pages once deadlocked on the outbox on Postgres (left for the paging path).
        wait_until("the first attempt", lambda: len(hook.requests) >= 1 or None, timeout=30)
        act_on_alert(paging.runtime, alert_id, "ack", by="ann", now=datetime.now(UTC))
        # The settle time (5 s) plus a retry (1 s) plus the job's cadence (1 s): well within 30 s.
        wait_until("three posts", lambda: len(hook.requests) >= 3 or None, timeout=30)
        requests = list(hook.requests)
    verifier = Webhook(secret)
    bodies = [verifier.verify(r.body, r.headers) for r in requests]  # raises on a bad signature
    assert [b["type"] for b in bodies] == ["alert.triggered", "alert.triggered", "alert.acknowledged"]
    assert requests[0].headers["webhook-id"] == requests[1].headers["webhook-id"]
    assert requests[1].headers["webhook-id"] != requests[2].headers["webhook-id"]
    assert bodies[0]["data"]["alert_id"] == alert_id and bodies[0]["data"]["summary"] == "Disk full"
    assert "whsec_" not in worker.log() and secret not in worker.log()
