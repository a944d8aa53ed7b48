"""The console notifier keeps only the latest pages in memory; reconcile answers from those."""

from __future__ import annotations

from datetime import UTC, datetime

from pager.adapters.console import ConsoleNotifier
from pager.adapters.delivery import Page

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def page(key: str) -> Page:
    return Page(key, 1, "sms", "+15550000001", f"ALERT 1 {key}")


def test_only_the_latest_pages_are_kept_and_reconcile_knows_exactly_those() -> None:
    notifier = ConsoleNotifier("sms", kept=3)
    for key in ("a", "b", "a", "c", "d"):
        notifier.send(page(key))
    assert [p.idempotency_key for p in notifier.sent] == ["a", "c", "d"]
    # "a" was sent twice: its older copy left, the newer one is still kept.
    assert [notifier.reconcile(page(key), AT) for key in "abcd"] == [
        "console:a",
        None,
        "console:c",
        "console:d",
    ]
    notifier.send(page("e"))
    assert notifier.reconcile(page("a"), AT) is None
