"""A person's notification rules: read them (stored, else the defaults) and set them.

Rules page only verified contact methods; the defaults are built from the verified methods a
person has (`pager.core.policy.default_rules_over`). See docs/escalation.md, "Notification rules".
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from pager.core.policy import NotificationRule, PolicyError, format_after, parse_rule_steps
from pager.db.users import contact_methods_of, notification_rules_of, replace_notification_rules
from pager.services.errors import InvalidInput
from pager.services.people.users import effective_rules, require_user


def rules_document(rules: Sequence[NotificationRule]) -> list[dict[str, Any]]:
    """`[{"method": "sms", "after": "0m"}, ...]`: the rules as the CLI and the API show them."""
    return [{"method": rule.method, "after": format_after(rule.delay)} for rule in rules]


def rules_of(session: Session, handle: str) -> tuple[list[NotificationRule], bool]:
    """The user's rules in step order and whether they are the defaults (none stored)."""
    user = require_user(session, handle)
    assert user.id is not None
    steps = effective_rules(session, user.id)
    return [step.rule for step in steps], not notification_rules_of(session, user.id)


def set_rules(session: Session, handle: str, texts: Sequence[str], now: datetime) -> list[NotificationRule]:
    """Replace the user's rules with `texts` (`sms:0m`, ...); InvalidInput, nothing changed, when a step
    is malformed or names a method the person has no verified contact for."""
    user = require_user(session, handle)
    assert user.id is not None
    try:
        rules = parse_rule_steps(texts)
    except PolicyError as exc:
        raise InvalidInput(str(exc)) from None
    verified: dict[str, int] = {}
    for method in contact_methods_of(session, user.id):
        if method.verified and method.id is not None:
            verified.setdefault(method.kind, method.id)
    missing = sorted({rule.method for rule in rules if rule.method not in verified}, key=rules_order(rules))
    if missing:
        raise InvalidInput(
            f"{handle} has no verified {' or '.join(missing)} contact method; add one first"
            " (`pager user update`, or verify one added through the API)"
        )
    ordered = sorted(enumerate(rules), key=lambda item: (item[1].delay, item[0]))
    replace_notification_rules(
        session,
        user.id,
        [(verified[rule.method], int(rule.delay.total_seconds())) for _, rule in ordered],
        now,
    )
    return [rule for _, rule in ordered]


def rules_order(rules: Sequence[NotificationRule]) -> Any:
    """Sort key: the order methods first appear in `rules`."""
    first = {rule.method: i for i, rule in reversed(list(enumerate(rules)))}
    return lambda method: first[method]
