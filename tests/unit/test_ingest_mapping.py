"""Payload → action mapping and the per-key throttle, without a database or HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pager.services.ingest.events import (
    alertmanager_action,
    generic_action,
    grafana_action,
    group_dedup_key,
    pagerduty_action,
    severity_from_labels,
)
from pager.services.ingest.keys import Throttle
from pager.services.ingest.payloads import (
    AlertmanagerWebhook,
    GenericAlert,
    GrafanaWebhook,
    MalformedBody,
    PagerDutyEvent,
    PayloadInvalid,
    parse_payload,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ingest"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def doc(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(raw(name))
    return loaded


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def problems(error: pytest.ExceptionInfo[PayloadInvalid]) -> list[str]:
    return [p.field for p in error.value.problems]


def test_pagerduty_trigger_maps_every_field_into_the_alert() -> None:
    action = pagerduty_action(parse_payload(PagerDutyEvent, raw("pagerduty_v2_trigger.json")))
    assert (action.action, action.dedup_key, action.severity, action.source) == (
        "trigger",
        "disk-full/db-1",
        "critical",
        "db-1.example.com",
    )
    assert action.details["group"] == "prod-datastores"
    assert action.details["timestamp"] == "2026-11-23T10:05:00.000+00:00"
    assert action.details["client_url"] == "https://monitoring.example.com"
    assert "images" not in action.details  # empty lists are left out


@pytest.mark.parametrize(
    ("name", "verb"),
    [("pagerduty_v2_acknowledge.json", "acknowledge"), ("pagerduty_v2_resolve.json", "resolve")],
)
def test_pagerduty_acknowledge_and_resolve_need_only_the_dedup_key(name: str, verb: str) -> None:
    action = pagerduty_action(parse_payload(PagerDutyEvent, raw(name)))
    assert (action.action, action.dedup_key) == (verb, "disk-full/db-1")


def test_pagerduty_rules_beyond_the_schema_name_their_field() -> None:
    ack = parse_payload(PagerDutyEvent, encode({"routing_key": "k" * 32, "event_action": "acknowledge"}))
    with pytest.raises(PayloadInvalid) as missing_key:
        pagerduty_action(ack)
    assert problems(missing_key) == ["dedup_key"]
    trigger = parse_payload(PagerDutyEvent, encode({"routing_key": "k" * 32, "event_action": "trigger"}))
    with pytest.raises(PayloadInvalid) as missing_payload:
        pagerduty_action(trigger)
    assert problems(missing_payload) == ["payload"]


def test_strict_parsing_names_each_bad_field_and_does_not_coerce() -> None:
    event = doc("pagerduty_v2_trigger.json")
    event["payload"]["severity"] = "CRITICAL"
    event["payload"]["summary"] = 7
    event["routing_key"] = "short"
    with pytest.raises(PayloadInvalid) as error:
        parse_payload(PagerDutyEvent, encode(event))
    assert sorted(problems(error)) == ["payload.severity", "payload.summary", "routing_key"]


def test_not_json_is_malformed_and_not_an_object_is_invalid() -> None:
    with pytest.raises(MalformedBody):
        parse_payload(PagerDutyEvent, b"{")
    with pytest.raises(PayloadInvalid) as error:
        parse_payload(GenericAlert, b'"firing"')
    assert problems(error) == ["body"]


def test_alertmanager_group_key_hash_is_what_its_pagerduty_receiver_sends() -> None:
    webhook = doc("alertmanager-0.25_captured_webhook_firing.json")
    receiver_event = doc("alertmanager-0.25_captured_pagerduty_trigger.json")
    assert group_dedup_key(webhook["groupKey"]) == receiver_event["dedup_key"]


def test_alertmanager_firing_group_keeps_its_members_and_worst_severity() -> None:
    action = alertmanager_action(parse_payload(AlertmanagerWebhook, raw("alertmanager_firing.json")))
    assert action.action == "trigger"
    assert action.summary == "[FIRING:2] 5xx ratio above 5% for 5 minutes"
    assert action.severity == "critical"
    assert action.source == "checkout"  # the common `job` label (instances differ)
    assert [m["fingerprint"] for m in action.details["alerts"]] == ["c6a2b3f1e9d8a7b6", "0d1e2f3a4b5c6d7e"]
    assert action.details["group_key"] == '{}:{alertname="HighErrorRate"}'


def test_alertmanager_resolved_group_resolves_by_the_same_key() -> None:
    firing = alertmanager_action(parse_payload(AlertmanagerWebhook, raw("alertmanager_firing.json")))
    resolved = alertmanager_action(parse_payload(AlertmanagerWebhook, raw("alertmanager_resolved.json")))
    assert (resolved.action, resolved.dedup_key) == ("resolve", firing.dedup_key)


def test_alertmanager_summary_falls_back_to_alertname_and_labels() -> None:
    webhook = doc("alertmanager_firing.json")
    webhook["commonAnnotations"] = {}
    webhook["alerts"] = webhook["alerts"][:1]
    action = alertmanager_action(parse_payload(AlertmanagerWebhook, encode(webhook)))
    assert action.summary == "HighErrorRate (job=checkout, service=checkout-api, severity=critical)"


def test_alertmanager_description_is_used_when_there_is_no_summary() -> None:
    webhook = doc("alertmanager_firing.json")
    webhook["commonAnnotations"] = {"description": "  many\n errors  "}
    webhook["alerts"] = webhook["alerts"][:1]
    assert alertmanager_action(parse_payload(AlertmanagerWebhook, encode(webhook))).summary == "many errors"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([{"severity": "critical"}], "critical"),
        ([{"severity": "page"}], "critical"),
        ([{"severity": "High"}], "error"),
        ([{"severity": "warning"}, {"severity": "info"}], "warning"),
        ([{"severity": "info"}, {"severity": "critical"}], "critical"),
        ([{"priority": "P3"}], "warning"),
        ([{"severity": "none"}], "info"),
        ([{"severity": "whatever"}], "error"),
        ([{}], "error"),
    ],
)
def test_severity_labels_map_onto_pager_severities(labels: list[dict[str, str]], expected: str) -> None:
    assert severity_from_labels(labels) == expected


def test_grafana_firing_uses_annotations_and_keeps_title_and_values() -> None:
    action = grafana_action(parse_payload(GrafanaWebhook, raw("grafana_firing.json")))
    assert (action.action, action.summary, action.severity) == (
        "trigger",
        "CPU above 90% for 10 minutes",
        "warning",
    )
    assert action.dedup_key == group_dedup_key(doc("grafana_firing.json")["groupKey"])
    assert action.details["alerts"][0]["valueString"] == "[ var='A' labels={instance=web-1} value=92.5 ]"
    assert action.details["title"] == "[FIRING:1] HighCPU Infrastructure (web-1 warning)"


@pytest.mark.parametrize(("state", "verb"), [("ok", "resolve"), ("alerting", "trigger")])
def test_grafana_state_decides_when_status_is_absent(state: str, verb: str) -> None:
    webhook = doc("grafana_firing.json")
    del webhook["status"]
    webhook["state"] = state
    assert grafana_action(parse_payload(GrafanaWebhook, encode(webhook))).action == verb


def test_grafana_summary_falls_back_to_its_title() -> None:
    webhook = doc("grafana_firing.json")
    webhook["commonAnnotations"] = {}
    assert grafana_action(parse_payload(GrafanaWebhook, encode(webhook))).summary == webhook["title"]


def test_grafana_without_status_or_known_state_is_invalid() -> None:
    webhook = doc("grafana_firing.json")
    del webhook["status"]
    webhook["state"] = "pending"
    with pytest.raises(PayloadInvalid) as error:
        grafana_action(parse_payload(GrafanaWebhook, encode(webhook)))
    assert problems(error) == ["status"]


def test_generic_form() -> None:
    fired = generic_action(parse_payload(GenericAlert, encode({"status": "firing", "summary": "Job failed"})))
    assert (fired.action, fired.dedup_key, fired.severity, fired.source) == (
        "trigger",
        None,
        "critical",
        "generic",
    )
    resolved = generic_action(parse_payload(GenericAlert, encode({"status": "resolved", "dedup_key": "j"})))
    assert (resolved.action, resolved.dedup_key) == ("resolve", "j")
    for body, field in (({"status": "firing"}, "summary"), ({"status": "resolved"}, "dedup_key")):
        with pytest.raises(PayloadInvalid) as error:
            generic_action(parse_payload(GenericAlert, encode(body)))
        assert problems(error) == [field]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = FakeClock()
    throttle = Throttle(rate_per_minute=60, burst=120, clock=clock)
    assert [throttle.take("a") for _ in range(120)] == [0.0] * 120
    assert throttle.take("a") == pytest.approx(1.0)
    assert throttle.take("b") == 0.0  # keys have their own buckets
    clock.now += 0.5
    assert throttle.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert throttle.take("a") == 0.0
    assert throttle.take("a") > 0.0
    clock.now += 3600
    assert [throttle.take("a") for _ in range(121)].count(0.0) == 120  # refill is capped at the burst


def test_throttle_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="rate_per_minute"):
        Throttle(rate_per_minute=0)
