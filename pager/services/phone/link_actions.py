"""Acting on an alert from a one-click email link (docs/phone-and-email.md, "Email links").

Signed, expiring, single-use tokens: a GET shows what the link would do (mail scanners follow links),
only a POST acts. A used link's nonce is kept on the alert's timeline (kind `link_used`), so a
replay is refused; only someone the alert paged may act by link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel import Session

from pager.core.alert import Ack, Resolve
from pager.db.alerts import lock_alert, timeline_entries_of_kind
from pager.db.outbox import was_paged
from pager.db.session import session_scope
from pager.db.tables import Alert
from pager.db.users import find_user_by_handle
from pager.services.alerting.paging import AlertTransaction
from pager.services.phone.email_links import (
    LINK_LIFETIME_SECONDS,
    LinkAction,
    LinkClaim,
    LinkExpired,
    LinkInvalid,
    read_link_token,
)
from pager.services.phone.replies import confirmation
from pager.services.runtime import Runtime
from pager.settings import signing_key

log = logging.getLogger("pager.phone")

LINK_USED = "link_used"


LinkProblem = Literal["invalid", "expired", "used", "gone", "not_paged"]


class LinkRefused(Exception):
    """A link that cannot be acted on; `problem` says why, the message says it to the person."""

    def __init__(self, problem: LinkProblem, message: str) -> None:
        super().__init__(message)
        self.problem: LinkProblem = problem


@dataclass(frozen=True)
class LinkView:
    """What the confirmation page shows: the alert as it is now and what the link would do."""

    alert_id: int
    action: LinkAction
    user: str
    service_id: str
    summary: str
    status: str
    acknowledged_by: str | None
    resolved_by: str | None


@dataclass(frozen=True)
class LinkResult:
    """What using a link did, in words for the person."""

    alert_id: int
    action: LinkAction
    outcome: str
    message: str


def _claim(runtime: Runtime, token: str, max_age: int) -> LinkClaim:
    secret = signing_key(runtime.settings)
    if secret is None:  # serve refuses to start without a key; a runtime built otherwise checks nothing
        log.warning("link_refused reason=no_usable_secret_key")
        raise LinkRefused("invalid", "This link is not valid.")
    try:
        return read_link_token(secret, token, max_age)
    except LinkInvalid as exc:
        problem: LinkProblem = "expired" if isinstance(exc, LinkExpired) else "invalid"
        raise LinkRefused(problem, f"{str(exc).capitalize()}.") from None


def _used(session: Session, claim: LinkClaim) -> bool:
    used = timeline_entries_of_kind(session, claim.alert_id, LINK_USED)
    return any(entry.data.get("nonce") == claim.nonce for entry in used)


def _check(session: Session, claim: LinkClaim, alert: Alert | None) -> Alert:
    if alert is None:
        raise LinkRefused("gone", f"Alert {claim.alert_id} no longer exists.")
    user = find_user_by_handle(session, claim.user)
    if user is None or user.id is None:
        raise LinkRefused("invalid", f"The person this link was sent to ({claim.user}) no longer exists.")
    # A genuine signature is not enough: only someone this alert paged may act on it by link.
    if not was_paged(session, claim.alert_id, user.id):
        raise LinkRefused("not_paged", f"{claim.user} was not paged for alert {claim.alert_id}.")
    if _used(session, claim):
        raise LinkRefused("used", "This link has already been used; each link works once.")
    return alert


def inspect_link(runtime: Runtime, token: str, *, max_age: int = LINK_LIFETIME_SECONDS) -> LinkView:
    """What `token` would do, without doing it (mail scanners follow links); LinkRefused if it can't."""
    claim = _claim(runtime, token, max_age)
    with session_scope(runtime.engine, read_only=True) as session:
        alert = _check(session, claim, session.get(Alert, claim.alert_id))
        return LinkView(
            claim.alert_id,
            claim.action,
            claim.user,
            alert.service_id,
            alert.summary,
            alert.status,
            alert.acknowledged_by,
            alert.resolved_by,
        )


def use_link(
    runtime: Runtime, token: str, now: datetime, *, max_age: int = LINK_LIFETIME_SECONDS
) -> LinkResult:
    """Act on `token` once: the action, its `link_used` mark and the check for an earlier one share one
    transaction under the alert's row lock, so two clicks at once cannot both act."""
    claim = _claim(runtime, token, max_age)
    with session_scope(runtime.engine) as session:
        alert = _check(session, claim, lock_alert(session, claim.alert_id))
        work = AlertTransaction(session, runtime, now)
        event = Ack(claim.user) if claim.action == "ack" else Resolve(claim.user)
        decision = work.handle(alert, event)
        outcome = decision.outcome if decision is not None else "policy_missing"
        if decision is not None:  # a link that could not act stays usable
            work.timeline(
                claim.alert_id,
                LINK_USED,
                f"email link to {claim.action} used by {claim.user}",
                {"nonce": claim.nonce, "user": claim.user, "action": claim.action},
            )
        message = confirmation(alert, claim.action, outcome)
    log.info(
        "link_used alert=%d action=%s by=%s outcome=%s", claim.alert_id, claim.action, claim.user, outcome
    )
    return LinkResult(claim.alert_id, claim.action, outcome, message)
