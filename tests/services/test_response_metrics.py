"""pager_alert_ack_seconds and pager_alert_resolve_seconds (docs/analytics.md, "Prometheus"): observed
through the real engine when an alert becomes acknowledged or resolved, once, after the commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from pager.db.session import session_scope
from pager.services.alerting import alerts
from pager.services.runtime import Runtime
from tests.services.test_engine import T0, runtime, trigger

__all__ = ["runtime"]

pytestmark = pytest.mark.database


def sample(name: str, suffix: str) -> float:
    return REGISTRY.get_sample_value(f"{name}_{suffix}", {"service": "api"}) or 0.0


def figures() -> dict[str, float]:
    return {
        f"{name}_{suffix}": sample(f"pager_alert_{name}_seconds", suffix)
        for name in ("ack", "resolve")
        for suffix in ("count", "sum")
    }


def test_an_ack_and_a_resolve_are_observed_from_the_trigger(runtime: Runtime) -> None:
    before = figures()
    alert_id = trigger(runtime)
    alerts.act_on_alert(runtime, alert_id, "ack", by="alice", now=T0 + timedelta(seconds=90))
    alerts.act_on_alert(runtime, alert_id, "ack", by="bob", now=T0 + timedelta(seconds=95))  # again: no
    alerts.act_on_alert(runtime, alert_id, "resolve", by="alice", now=T0 + timedelta(minutes=20))
    after = figures()
    assert {name: after[name] - before[name] for name in after} == {
        "ack_count": 1,
        "ack_sum": 90.0,
        "resolve_count": 1,
        "resolve_sum": 20 * 60.0,
    }


def test_a_resolve_without_an_ack_is_observed_as_a_resolve_only(runtime: Runtime) -> None:
    before = figures()
    alert_id = trigger(runtime)
    alerts.act_on_alert(runtime, alert_id, "resolve", by="alice", now=T0 + timedelta(minutes=3))
    after = figures()
    assert (after["ack_count"] - before["ack_count"], after["resolve_sum"] - before["resolve_sum"]) == (
        0,
        180.0,
    )


def test_a_rolled_back_ack_observes_nothing(runtime: Runtime) -> None:
    before = figures()
    alert_id = trigger(runtime)
    with pytest.raises(RuntimeError), session_scope(runtime.engine) as session:
        alerts.act_in_transaction(
            session, runtime, alert_id, "ack", by="alice", now=T0 + timedelta(seconds=30)
        )
        raise RuntimeError("the caller failed after the ack was decided")
    assert figures()["ack_count"] == before["ack_count"]
    alerts.act_on_alert(runtime, alert_id, "ack", by="alice", now=T0 + timedelta(seconds=40))
    assert figures()["ack_sum"] - before["ack_sum"] == 40.0
