"""Reconciling pages whose outcome is uncertain (docs/delivery.md, "Reconciliation").

A page whose send came back `unknown`, or that stayed `sending` past the lease (a worker died
mid-call), is checked with its provider before anything is sent again: the provider has it ->
`sent`; it has no record -> sent again, unless the alert was acknowledged or resolved meanwhile
(`cancelled`); it cannot be asked -> still `unknown`, asked again later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pager.adapters.delivery import PROVIDER_TIMEOUT_SECONDS
from pager.core.delivery_plan import DEFER
from pager.db.outbox import any_uncertain_outbox, claim_uncertain_outbox
from pager.db.session import session_scope
from pager.db.tables import Alert, OutboxMessage
from pager.services.alerting.paging import AlertTransaction
from pager.services.delivery.claiming import BATCH, page_of, unknown_method
from pager.services.delivery.pump import CLAIM_AHEAD_MAX_WAIT
from pager.services.delivery.reports import SETTLED_BY_REPORT
from pager.services.runtime import Runtime

RECONCILE_EVERY = timedelta(seconds=1)  # the worker's `reconcile` job; leases are measured in seconds
# The longest a live send stays `sending`: a page claimed ahead waits for a sender, then the call.
MIN_SENDING_LEASE_SECONDS = CLAIM_AHEAD_MAX_WAIT + PROVIDER_TIMEOUT_SECONDS


def sending_lease_problem(lease_seconds: float) -> str | None:
    """Why `PAGER_SENDING_LEASE_SECONDS` could page someone twice, or None.

    A lease shorter than a live send can take lets reconciliation ask the provider about a page
    still in flight: Twilio has no record of it yet, so it is sent again.
    """
    if lease_seconds >= MIN_SENDING_LEASE_SECONDS:
        return None
    return (
        f"PAGER_SENDING_LEASE_SECONDS is {lease_seconds:g} s, shorter than a live send can take "
        f"({CLAIM_AHEAD_MAX_WAIT:g} s waiting for a sender + the providers' {PROVIDER_TIMEOUT_SECONDS:g} s "
        "timeout): a slow page still in flight could be reconciled and sent twice"
    )


def reconcile_uncertain(runtime: Runtime, now: datetime, *, batch: int = BATCH) -> int:
    """Ask the provider about pages whose outcome is unknown; resend only those it has no record of."""
    lease = timedelta(seconds=runtime.settings.sending_lease_seconds)
    # The job runs every second: almost always there is nothing to do, and a read finds that out
    # without the writer lock a trigger may be waiting for (SQLite).
    with session_scope(runtime.engine, read_only=True) as session:
        if not any_uncertain_outbox(session, now, lease_expired_before=now - lease):
            return 0
    with session_scope(runtime.engine) as session:
        rows = claim_uncertain_outbox(
            session,
            now,
            lease_expired_before=now - lease,
            hold_until=now + lease,
            limit=batch,
        )
        snapshots = [(row.id, page_of(row), row.last_attempt_at or now) for row in rows]
    for row_id, page, attempted_at in snapshots:
        found: str | None = None
        error: str | None = None
        if page is not None:
            try:
                found = runtime.notifiers[page.method].reconcile(page, attempted_at)
            except Exception as exc:  # the provider could not be asked: still unknown, ask again later
                error = f"{type(exc).__name__}: {exc}"
        with session_scope(runtime.engine) as session:
            # Locked: a delivery report for this page may be settling it right now.
            row = session.get(OutboxMessage, row_id, with_for_update=True, populate_existing=True)
            assert row is not None
            work = AlertTransaction(session, runtime, now)
            what = f"{row.method} to {row.user_handle}"
            alert = session.get(Alert, row.alert_id) if row.alert_id is not None else None
            if row.status in SETTLED_BY_REPORT:
                work.timeline(
                    row.alert_id, "page_reconciled", f"{what}: its delivery report came first: {row.status}"
                )
                continue
            if page is None:  # impossible by the table's CHECK: no provider to ask, nothing to send with
                row.status, row.last_error = "failed", unknown_method(row.method)
                work.timeline(row.alert_id, "page_failed", f"{what} failed for good: {row.last_error}")
            elif error is not None:
                row.next_attempt_at = now + DEFER
                work.timeline(row.alert_id, "page_unknown", f"{what}: cannot check yet ({error})")
            elif found is not None:
                row.status, row.provider_id = "sent", found
                work.timeline(row.alert_id, "page_reconciled", f"{what}: provider has it ({found})")
            elif alert is not None and alert.status != "triggered":
                row.status = "cancelled"
                work.timeline(row.alert_id, "page_reconciled", f"{what}: never sent; alert is {alert.status}")
            else:
                row.status, row.next_attempt_at = "pending", now
                work.timeline(row.alert_id, "page_reconciled", f"{what}: provider has no record; resending")
            row.updated_at = now
            session.add(row)
    return len(snapshots)
