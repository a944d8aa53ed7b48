"""plan_alert: the engine's decide step for one alert, from plain facts to the rows it writes (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pager.core.alert import Ack, AlertState, Timer, Trigger
from pager.core.escalation import DecisionInputs, decide, needs_on_call
from pager.core.page_text import page_text
from pager.core.paging_plan import (
    MISSING_POLICY_RETRY,
    AlertFacts,
    EffectiveRule,
    Facts,
    Person,
    ServiceFacts,
    plan_alert,
)
from pager.core.policy import EscalationPolicy, Level, NotificationRule, parse_target

T0 = datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
MIN = timedelta(minutes=1)
ALICE, BOB = parse_target("schedule:checkout"), parse_target("user:bob")
POLICY = EscalationPolicy(
    id="checkout",
    name="Checkout",
    levels=(Level((ALICE,), 5 * MIN), Level((BOB,), 5 * MIN)),
    repeat=0,
    ack_timeout=timedelta(0),
    auto_resolve=None,
)
SERVICE = ServiceFacts("checkout-api", "Checkout API", "checkout", "https://runbooks.example/checkout")
SMS_THEN_VOICE = (
    EffectiveRule(NotificationRule("sms", timedelta(0)), "+15555550101"),
    EffectiveRule(NotificationRule("voice", 2 * MIN), "+15555550102"),
)


def facts(people: dict[str, Person], on_call: tuple[str, ...] = ("alice",), policy: bool = True) -> Facts:
    rules = {handle: person.rules for handle, person in people.items()}
    return Facts(
        services={SERVICE.id: SERVICE},
        policies={POLICY.id: POLICY} if policy else {},
        inputs=DecisionInputs({ALICE: on_call, BOB: ("bob",)}, rules),
        people=people,
    )


NEW = AlertFacts(42, SERVICE.id, "checkout 5xx above 2%", None)


def test_a_new_alert_orders_one_page_per_rule_step_at_its_address() -> None:
    plan = plan_alert(NEW, Trigger(), T0, facts({"alice": Person(7, SMS_THEN_VOICE)}))
    assert [(p.key, p.user_id, p.address, p.due_at) for p in plan.pages] == [
        ("42:c1:l1:v1:alice:sms:0", 7, "+15555550101", T0),
        ("42:c1:l1:v1:alice:voice:1", 7, "+15555550102", T0 + 2 * MIN),
    ]
    assert [line.kind for line in plan.timeline] == ["triggered", "level_paged"]
    assert plan.timeline[1].data == {"loop": 1, "level": 1, "users": ["alice"]}
    assert plan.columns["status"] == "triggered" and plan.columns["next_action_at"] == T0 + 5 * MIN
    assert plan.cancel is None and plan.unreachable == ()


def test_people_without_an_address_get_a_cannot_page_line_saying_why() -> None:
    nobody = plan_alert(NEW, Trigger(), T0, facts({}))
    no_methods = plan_alert(NEW, Trigger(), T0, facts({"alice": Person(7)}))
    assert nobody.pages == () and no_methods.pages == ()
    assert nobody.timeline[-1].message == "cannot page alice: no such user"
    assert no_methods.timeline[-1].message == "cannot page alice: no contact methods"
    assert no_methods.timeline[-1].data == {"user": "alice"}
    assert no_methods.unreachable == (("alice", "no contact methods"),)


def test_a_rule_step_that_does_not_match_the_address_list_is_not_sent_to_the_wrong_method() -> None:
    # The decision's rules say sms then voice; the person's addresses now hold sms only.
    stale = facts({"alice": Person(7, SMS_THEN_VOICE)})
    only_sms = Facts(stale.services, stale.policies, stale.inputs, {"alice": Person(7, SMS_THEN_VOICE[:1])})
    plan = plan_alert(NEW, Trigger(), T0, only_sms)
    assert [p.step.method for p in plan.pages] == ["sms"]
    assert plan.timeline[-1].message == "cannot page alice by voice: the rule step is gone"
    assert plan.timeline[-1].data == {"user": "alice", "step": 1}


def test_only_changed_state_columns_are_written() -> None:
    first = plan_alert(NEW, Trigger(), T0, facts({"alice": Person(7, SMS_THEN_VOICE)})).decision
    assert first is not None
    alert = AlertFacts(42, SERVICE.id, NEW.summary, first.state)
    plan = plan_alert(alert, Ack("alice"), T0 + MIN, facts({}))
    assert set(plan.columns) == {
        "status",
        "next_action_at",
        "last_event_at",
        "acknowledged_at",
        "acknowledged_by",
        "escalation_state",
        "updated_at",
    }
    assert plan.cancel == "acknowledged"


def test_a_policy_that_is_not_loaded_retries_in_a_minute_and_pages_nobody() -> None:
    plan = plan_alert(NEW, Timer(), T0, facts({"alice": Person(7, SMS_THEN_VOICE)}, policy=False))
    assert plan.decision is None and plan.pages == ()
    assert plan.columns == {"next_action_at": T0 + MISSING_POLICY_RETRY, "updated_at": T0}
    assert plan.timeline[0].kind == "policy_missing"
    assert "'checkout' is not loaded" in plan.timeline[0].message


def test_the_plan_is_the_decision_of_the_state_machine() -> None:
    people = {"alice": Person(7, SMS_THEN_VOICE)}
    plan = plan_alert(NEW, Trigger(), T0, facts(people))
    assert plan.decision == decide(POLICY, None, Trigger(), T0, facts(people).inputs)


def test_ack_and_repeated_triggers_do_not_need_who_is_on_call() -> None:
    state = AlertState("triggered", "paging", 1, 1, 1, triggered_at=T0, last_event_at=T0)
    assert needs_on_call(None, Trigger())
    assert needs_on_call(state, Timer())
    assert not needs_on_call(state, Ack("alice"))
    assert not needs_on_call(state, Trigger())
    assert not needs_on_call(state.changed(status="resolved"), Timer())


def test_page_words_by_method() -> None:
    sms = page_text("sms", 42, "checkout-api", "Checkout API", "checkout 5xx", None)
    email = page_text(
        "email", 42, "checkout-api", "Checkout API", "checkout 5xx", "https://rb", [("Ack", "u")]
    )
    bare = page_text("email", 42, "checkout-api", "Checkout API", "checkout 5xx", None, None)
    assert sms.subject == "" and sms.body.startswith("ALERT 42 checkout-api: checkout 5xx")
    assert email.subject == "[pager] ALERT 42 checkout-api: checkout 5xx"
    assert email.body.endswith("\n\nAck: u") and "Runbook: https://rb" in email.body
    assert "pager alert ack 42" in bare.body and "Ack:" not in bare.body
