"""The engine's apply step: write what `pager.core.paging_plan.plan_alert` decided, in the open transaction.

Alert columns, timeline lines and outbox rows are buffered and written together (one statement
each, executemany) before the transaction commits; a plan that cancels pending pages first writes
what is buffered, so pages ordered earlier in the transaction are cancelled too. The words of each
page are rendered here by `pager.core.page_text.page_text`; only the one-click links of an email,
signed with the server's key, are made here.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from pager.core.page_text import PageText, page_text
from pager.core.paging_plan import AlertFacts, AlertPlan, PageOrder, ServiceFacts
from pager.db.alerts import add_timeline_entry, insert_timeline_entries
from pager.db.commit_hooks import add_commit_hooks
from pager.db.outbox import cancel_pending_outbox, upsert_outbox
from pager.db.row_updates import update_rows
from pager.db.tables import Alert
from pager.services.operations.response_metrics import ResponseTimes
from pager.services.phone.email_links import LinkAction, link_url, make_link_token
from pager.services.runtime import Runtime
from pager.settings import signing_key

log = logging.getLogger("pager.engine")

_LINKS: tuple[tuple[str, LinkAction], ...] = (("Acknowledge", "ack"), ("Resolve", "resolve"))


class AlertWriter:
    """Buffers one transaction's alert writes and writes them before it commits (or on `flush`).

    Alerts held as ORM objects (a one-off action locked the row) are changed in place; others are
    updated by id. Without `bulk`, timeline lines are added at once instead of buffered.
    """

    def __init__(self, session: Session, runtime: Runtime, now: datetime, *, bulk: bool) -> None:
        self.session, self.runtime, self.now = session, runtime, now
        self._alert_changes: dict[int, dict[str, Any]] = {}  # by alert id, in the order first changed
        self._timeline: list[dict[str, Any]] | None = [] if bulk else None
        self._pages: dict[str, dict[str, Any]] = {}  # outbox rows to write, by idempotency key
        self._responses = ResponseTimes()  # acks and resolves, observed once committed
        add_commit_hooks(session, self)

    def apply(
        self, plan: AlertPlan, alert: AlertFacts, service: ServiceFacts | None, row: Alert | None
    ) -> None:
        """Write `plan` for `alert` (`row`: the alert's ORM object, when the caller holds one)."""
        self.set_columns(plan.alert_id, row, dict(plan.columns))
        self._responses.note(alert.service_id, alert.state, plan.columns)
        for line in plan.timeline:
            self.timeline(line.alert_id, line.kind, line.message, dict(line.data) or None)
        for order in plan.pages:
            self._queue(order, alert, service)
        if plan.cancel is not None:
            self.flush()  # rows queued earlier in this transaction are pending too
            cancelled = cancel_pending_outbox(self.session, plan.alert_id, self.now)
            if cancelled:
                message = f"{cancelled} pending page(s) cancelled ({plan.cancel})"
                self.timeline(plan.alert_id, "pages_cancelled", message)

    def set_columns(self, alert_id: int, row: Alert | None, columns: dict[str, Any]) -> None:
        """Set alert columns: on `row` in place, or buffered as an update by id."""
        if row is not None:
            for name, value in columns.items():
                setattr(row, name, value)
            self.session.add(row)
        elif alert_id in self._alert_changes:  # decided again (a group's repeated trigger): one row
            self._alert_changes[alert_id] |= columns  # as the updates one after another would
        else:
            self._alert_changes[alert_id] = {"id": alert_id, **columns}

    def retry_later(self, alert_id: int, row: Alert | None, delay: timedelta) -> None:
        """Move the alert's timer `delay` on, leaving everything else as it is."""
        self.set_columns(alert_id, row, {"next_action_at": self.now + delay, "updated_at": self.now})

    def timeline(self, alert_id: int, kind: str, message: str, data: dict[str, Any] | None = None) -> None:
        """One timeline line at `now`."""
        if self._timeline is None:
            add_timeline_entry(
                self.session, alert_id=alert_id, at=self.now, kind=kind, message=message, data=data
            )
        else:
            entry = {"alert_id": alert_id, "at": self.now, "kind": kind, "message": message}
            self._timeline.append({**entry, "data": data or {}})

    def flush(self) -> None:
        """Write what is buffered: alert columns, timeline lines, then outbox rows.

        Pages are upserted: new keys inserted, existing ones untouched unless still pending and now
        due earlier (a delivery-failure fallback brings a step forward).
        """
        if self._alert_changes:
            changes, self._alert_changes = list(self._alert_changes.values()), {}
            update_rows(self.session, Alert, changes)
        if self._timeline:
            insert_timeline_entries(self.session, self._timeline)
            self._timeline = []
        if self._pages:
            rows, self._pages = list(self._pages.values()), {}
            upsert_outbox(self.session, rows)

    def discard(self) -> None:
        """Forget what is buffered: its decision was rolled back (a failed savepoint)."""
        self._alert_changes = {}
        self._timeline = [] if self._timeline is not None else None
        self._pages = {}
        self._responses.discard()

    def before_commit(self) -> None:
        """The transaction is about to commit: write what is buffered."""
        self.flush()

    def after_commit(self) -> None:
        """The transaction committed: observe the response times it recorded."""
        self._responses.observe()

    def after_rollback(self) -> None:
        """The transaction rolled back: what it recorded never happened."""
        self._responses.discard()

    def _queue(self, order: PageOrder, alert: AlertFacts, service: ServiceFacts | None) -> None:
        queued = self._pages.get(order.key)
        if queued is not None:
            queued["due_at"] = min(queued["due_at"], order.due_at)
            return
        step = order.step
        text = self._text(order, alert, service)
        self._pages[order.key] = {
            "idempotency_key": order.key,
            "alert_id": order.alert_id,
            "user_id": order.user_id,
            "user_handle": step.user,
            "cycle": step.cycle,
            "loop": step.loop,
            "level": step.level,
            "step": step.step,
            "method": step.method,
            "address": order.address,
            "subject": text.subject,
            "body": text.body,
            "status": "pending",
            "due_at": order.due_at,
            "attempts": 0,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _text(self, order: PageOrder, alert: AlertFacts, service: ServiceFacts | None) -> PageText:
        name = service.name if service is not None else alert.service_id
        runbook = service.runbook if service is not None else None
        method = order.step.method
        links: list[tuple[str, str]] | None = None
        if method == "email":
            links = self._links(alert.id, order.step.user)
        return page_text(method, alert.id, alert.service_id, name, alert.summary, runbook, links)

    def _links(self, alert_id: int, user: str) -> list[tuple[str, str]] | None:
        secret, public = signing_key(self.runtime.settings), self.runtime.settings.public_url
        if secret is None:
            # Only a command-line process can get here (serve and worker refuse to start without a
            # key): the page still goes out, without links nobody could check.
            log.warning("email_links_omitted alert=%d reason=no_usable_secret_key", alert_id)
            return None
        return [
            (label, link_url(public, make_link_token(secret, alert_id, action, user)))
            for label, action in _LINKS
        ]
