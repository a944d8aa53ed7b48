"""The console notifier keeps only the latest pages in memory; reconcile answers from those."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

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


def test_a_readable_notifier_indents_the_body_under_the_unchanged_structured_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    email = Page(
        "k1", 7, "email", "bob@example.com", "Alert 7 fired.\n\nAcknowledge: https://x/ack/t", "ALERT 7"
    )
    with caplog.at_level(logging.INFO, logger="pager.page"):
        ConsoleNotifier("email").send(email)
        ConsoleNotifier("email", readable=True).send(email)
    plain, readable = (record.getMessage() for record in caplog.records)
    structured = 'page method=email to=bob@example.com alert=7 key=k1 body="Alert 7 fired.\\n\\nAcknowledge: https://x/ack/t"'
    assert plain == structured
    assert readable.splitlines() == [
        structured,
        "    Subject: ALERT 7",
        "    ",
        "    Alert 7 fired.",
        "    ",
        "    Acknowledge: https://x/ack/t",
    ]
