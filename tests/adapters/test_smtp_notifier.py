"""SMTP email notifier against the in-repo aiosmtpd sink, PAGER_SMTP_URL parsing, console notifier."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from pager.adapters.console import ConsoleNotifier
from pager.adapters.delivery import DeliveryOutcome, DeliveryResult, Method, Page
from pager.adapters.smtp_email import SmtpEmailNotifier, SmtpTarget, SmtpUrlInvalid, parse_smtp_url
from pager.testing.smtp_sink import SmtpSink

SENDER = "pager@example.org"
ALICE = "alice@example.org"
BODY = "ALERT 42 checkout-api: High error rate"
KEY = "42:c1:l1:v1:alice:email:0"
# Signed tokens are long: the lines carrying them exceed 78 characters.
TOKEN = "eyJhIjo0MiwiYWN0IjoiYWNrIiwiZXhwIjoxNzk1NDUyNDAwfQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbi0wMTIzNDU2Nzg5"
LINKS = {
    "acknowledge": f"https://pager.example.org/ack/{TOKEN}-a",
    "resolve": f"https://pager.example.org/ack/{TOKEN}-r",
    "escalate": f"https://pager.example.org/ack/{TOKEN}-e",
}


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


def notifier(url: str) -> SmtpEmailNotifier:
    return SmtpEmailNotifier(parse_smtp_url(url), SENDER, timeout=5)


def page(
    to: str = ALICE, body: str = BODY, subject: str = "[pager] ALERT 42 triggered", key: str = KEY
) -> Page:
    return Page(
        idempotency_key=key, alert_id=42, method="email", address=to, body=body, subject=subject, links=LINKS
    )


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- delivery ------------------------------------------------------------------------------------------


def test_email_is_delivered_with_headers_body_and_one_click_links(sink: SmtpSink) -> None:
    result = notifier(sink.url).send(page())

    [delivery] = sink.deliveries
    assert (delivery.mail_from, delivery.rcpt_tos) == (SENDER, (ALICE,))
    received = delivery.message
    assert (received["From"], received["To"]) == (SENDER, ALICE)
    assert received["Subject"] == "[pager] ALERT 42 triggered"
    assert received["Message-ID"] == "<42.c1.l1.v1.alice.email.0@pager>"
    assert received.get_content() == (
        f"{BODY}\n\n"
        f"Acknowledge: {LINKS['acknowledge']}\n"
        f"Resolve: {LINKS['resolve']}\n"
        f"Escalate: {LINKS['escalate']}\n"
    )
    assert result == DeliveryResult(DeliveryOutcome.SENT, provider_id="<42.c1.l1.v1.alice.email.0@pager>")


def test_message_id_follows_the_idempotency_key(sink: SmtpSink) -> None:
    # A re-send after an unknown outcome carries the same Message-ID, so mail clients show one page.
    email = notifier(sink.url)
    first = email.send(page())
    again = email.send(page())
    other = email.send(page(key="42:c1:l2:v1:alice:email:0"))

    ids = [m["Message-ID"] for m in sink.messages]
    assert ids == [first.provider_id, again.provider_id, other.provider_id]
    assert ids[0] == ids[1] != ids[2]


def test_without_a_subject_the_first_line_of_the_body_is_used(sink: SmtpSink) -> None:
    body = "ALERT 43 payments: Card declines above 5%\nRunbook: https://wiki.example.com/payments"

    result = notifier(sink.url).send(page(body=body, subject=""))

    assert result.outcome is DeliveryOutcome.SENT
    [received] = sink.messages
    assert received["Subject"] == "ALERT 43 payments: Card declines above 5%"
    assert received.get_content().startswith(body + "\n\n")


def test_a_long_subjectless_body_gives_a_78_character_subject(sink: SmtpSink) -> None:
    body = "ALERT 44 search: " + "x" * 100

    assert notifier(sink.url).send(page(body=body, subject="")).outcome is DeliveryOutcome.SENT

    [received] = sink.messages
    assert received["Subject"] == body[:78]


def test_smtp_keeps_no_record_to_reconcile_against(sink: SmtpSink) -> None:
    email = notifier(sink.url)
    assert email.send(page()).outcome is DeliveryOutcome.SENT
    assert email.reconcile(page(), attempted_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC)) is None


# -- refusals and failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "outcome"), [(550, DeliveryOutcome.PERMANENT), (451, DeliveryOutcome.TRANSIENT)]
)
def test_refused_recipient_is_classified_by_reply_code(
    sink: SmtpSink, code: int, outcome: DeliveryOutcome
) -> None:
    sink.refuse(ALICE, code)

    result = notifier(sink.url).send(page())

    assert (result.outcome, result.error_code, result.provider_id) == (outcome, code, None)
    assert result.error is not None and result.error.startswith(f"smtp {code}: {str(code)[0]}.")
    assert sink.messages == []


def test_temporary_refusal_then_the_retry_is_delivered(sink: SmtpSink) -> None:
    sink.refuse(ALICE, 451, count=1)
    email = notifier(sink.url)

    assert email.send(page()).outcome is DeliveryOutcome.TRANSIENT
    assert email.send(page()).outcome is DeliveryOutcome.SENT
    assert len(sink.messages) == 1


def test_refused_connection_is_transient() -> None:
    result = notifier(f"smtp://127.0.0.1:{closed_port()}").send(page())

    assert result.outcome is DeliveryOutcome.TRANSIENT
    assert result.provider_id is None
    assert result.error is not None and result.error.startswith("smtp connect:")


# -- authentication ------------------------------------------------------------------------------------


def test_login_with_percent_encoded_credentials_from_the_url() -> None:
    user, password = "pager@example.org", "p@ss:w/rd%"
    with SmtpSink(credentials=(user, password)) as sink:
        credentials = f"{quote(user, safe='')}:{quote(password, safe='')}"
        url = f"smtp://{credentials}@{sink.host}:{sink.port}?insecure_auth=1"

        result = notifier(url).send(page())

        assert result.outcome is DeliveryOutcome.SENT
        assert [m["To"] for m in sink.messages] == [ALICE]


def test_login_with_the_sink_url() -> None:
    with SmtpSink(credentials=("pager", "s3cret")) as sink:
        assert notifier(sink.url).send(page()).outcome is DeliveryOutcome.SENT
        assert len(sink.messages) == 1


@pytest.mark.parametrize(("auth", "code"), [("pager:wrong@", 535), ("", 530)], ids=["bad-password", "none"])
def test_rejected_or_missing_login_is_permanent(auth: str, code: int) -> None:
    with SmtpSink(credentials=("pager", "s3cret")) as sink:
        result = notifier(f"smtp://{auth}{sink.host}:{sink.port}?insecure_auth=1").send(page())

        assert (result.outcome, result.error_code) == (DeliveryOutcome.TRANSIENT, code)
        assert sink.messages == []


# -- PAGER_SMTP_URL ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "target"),
    [
        (
            "smtp://pager:s3cret@mail.example.org:2525?starttls=1",
            SmtpTarget("mail.example.org", 2525, "pager", "s3cret", starttls=True, tls=False),
        ),
        (
            "smtp://mail.example.org",
            SmtpTarget("mail.example.org", 25, None, None, starttls=False, tls=False),
        ),
        (
            "smtp://u:p@mail.example.org:587?starttls=true",
            SmtpTarget("mail.example.org", 587, "u", "p", starttls=True, tls=False),
        ),
        (
            "smtp://u:p@mail.example.org:587?starttls=0&insecure_auth=1",
            SmtpTarget("mail.example.org", 587, "u", "p", starttls=False, tls=False),
        ),
        (
            "SMTP://u:p@mail.example.org:587?insecure_auth=true",
            SmtpTarget("mail.example.org", 587, "u", "p", starttls=False, tls=False),
        ),
        (
            "smtps://pager%40example.org:p%40ss%3Aw%2Frd@smtp.example.org",
            SmtpTarget("smtp.example.org", 465, "pager@example.org", "p@ss:w/rd", starttls=False, tls=True),
        ),
        (
            "smtp://relay@127.0.0.1:1025?insecure_auth=1",
            SmtpTarget("127.0.0.1", 1025, "relay", None, starttls=False, tls=False),
        ),
    ],
)
def test_parse_smtp_url(url: str, target: SmtpTarget) -> None:
    assert parse_smtp_url(url) == target


@pytest.mark.parametrize(
    "url",
    [
        "",
        "mail.example.org:25",
        "http://mail.example.org:25",
        "smtp://",
        "smtp:///no-host",
        "smtp://user:pass@:25",
        "smtp://mail.example.org:port",
        "smtp://mail.example.org:70000",
    ],
)
def test_parse_smtp_url_rejects_bad_urls(url: str) -> None:
    with pytest.raises(SmtpUrlInvalid):
        parse_smtp_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://pager:hunter2-pw@mail.example.org:25",
        "hunter2-pw@mail.example.org:25",
        "pager:hunter2-pw@mail.example.org",
        "smtp://pager:hunter2-pw@:25?starttls=1",
        "smtp://pager:hunter2-pw@mail.example.org:25x?starttls=1",
        "smtp://pager:hunter2-pw@mail.example.org:99999?starttls=1",
        "smtp://pager:hunter2-pw#@mail.example.org:587?starttls=1",  # `#` not encoded: a fragment
        "smtp://pager:hunter2-pw@[mail.example.org:587?starttls=1",
        "smtp://pager:hunter2-pw@mail.example.org:25",  # credentials without TLS
    ],
)
def test_a_refused_url_never_shows_its_password(url: str) -> None:
    with pytest.raises(SmtpUrlInvalid) as refused:
        parse_smtp_url(url)
    message = str(refused.value)
    assert message.startswith("PAGER_SMTP_URL ")
    for part in ("hunter2", "hun", "ter2", "pw"):
        assert part not in message


@pytest.mark.parametrize(
    "url",
    ["smtp://pager:s3cret@mail.example.org:25", "smtp://pager@mail.example.org", "smtp://u:p@h?starttls=0"],
)
def test_credentials_without_tls_are_refused_unless_the_url_says_insecure_auth(url: str) -> None:
    with pytest.raises(SmtpUrlInvalid, match=r"no TLS.*starttls=1.*smtps://.*insecure_auth=1"):
        parse_smtp_url(url)
    separator = "&" if "?" in url else "?"
    target = parse_smtp_url(f"{url}{separator}insecure_auth=1")
    assert target.username in ("pager", "u") and not (target.starttls or target.tls)


# -- console -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["sms", "voice", "email"])
def test_console_logs_the_page_and_counts_it_sent(caplog: pytest.LogCaptureFixture, method: Method) -> None:
    console = ConsoleNotifier(method)
    sent = Page(f"42:c1:l1:v1:alice:{method}:0", 42, method, "+13125550101", 'Disk "full"\non db-1')
    unsent = Page(f"42:c1:l1:v1:bob:{method}:0", 42, method, "+13125550102", "never sent")

    with caplog.at_level(logging.INFO, logger="pager.page"):
        result = console.send(sent)

    assert result == DeliveryResult(DeliveryOutcome.SENT, provider_id=f"console:42:c1:l1:v1:alice:{method}:0")
    [record] = caplog.records
    assert record.name == "pager.page"
    line = record.getMessage()
    assert "\n" not in line  # one page, one log line
    assert f"method={method} " in line
    assert "to=+13125550101 " in line
    assert "alert=42 " in line
    assert f"key=42:c1:l1:v1:alice:{method}:0 " in line
    assert line.endswith('body="Disk \\"full\\"\\non db-1"')
    attempted_at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert console.reconcile(sent, attempted_at) == result.provider_id
    assert console.reconcile(unsent, attempted_at) is None
