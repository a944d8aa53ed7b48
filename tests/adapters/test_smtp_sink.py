"""The SMTP sink: a real aiosmtpd server on loopback, fed by smtplib."""

from __future__ import annotations

import smtplib
import threading
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from pager.testing.smtp_sink import SmtpSink

PAGER = "pager@example.org"


def mail(to: str, subject: str = "ALERT 42 checkout-api: High error rate") -> EmailMessage:
    message = EmailMessage()
    message["From"] = PAGER
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Acknowledge: https://pager.example.org/ack/tökén\n")
    return message


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as running:
        yield running


def connect(sink: SmtpSink) -> smtplib.SMTP:
    return smtplib.SMTP(sink.host, sink.port, timeout=5)


def test_sent_mail_arrives_parsed(sink: SmtpSink) -> None:
    with connect(sink) as smtp:
        smtp.send_message(mail("alice@example.org"))

    [received] = sink.messages
    assert isinstance(received, EmailMessage)
    assert received["Subject"] == "ALERT 42 checkout-api: High error rate"
    assert received["To"] == "alice@example.org"
    assert received.get_content() == "Acknowledge: https://pager.example.org/ack/tökén\n"
    [delivery] = sink.deliveries
    assert (delivery.mail_from, delivery.rcpt_tos) == (PAGER, ("alice@example.org",))
    assert sink.url == f"smtp://127.0.0.1:{sink.port}"


def test_permanent_refusal_of_the_only_recipient(sink: SmtpSink) -> None:
    sink.refuse("Bob@Example.org")
    with connect(sink) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused) as raised:
        smtp.send_message(mail("bob@example.org"))
    [(code, reply)] = raised.value.recipients.values()
    assert code == 550
    assert reply.startswith(b"5.1.1")
    assert sink.messages == []


def test_refused_recipient_does_not_stop_the_others(sink: SmtpSink) -> None:
    sink.refuse("bob@example.org", 550)
    with connect(sink) as smtp:
        refused = smtp.sendmail(
            PAGER, ["alice@example.org", "bob@example.org"], mail("team@example.org").as_bytes()
        )
    assert set(refused) == {"bob@example.org"}
    assert [d.rcpt_tos for d in sink.deliveries] == [("alice@example.org",)]


def test_temporary_refusal_then_acceptance(sink: SmtpSink) -> None:
    sink.refuse("carol@example.org", 451, count=1)
    with connect(sink) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as raised:
            smtp.send_message(mail("carol@example.org"))
        assert [code for code, _ in raised.value.recipients.values()] == [451]
        smtp.send_message(mail("carol@example.org", subject="retry"))
    assert [m["Subject"] for m in sink.messages] == ["retry"]


def test_clear_refusals_accepts_again(sink: SmtpSink) -> None:
    sink.refuse("dave@example.org", 550)
    sink.clear_refusals()
    with connect(sink) as smtp:
        smtp.send_message(mail("dave@example.org"))
    assert len(sink.messages) == 1


def test_wait_for_is_bounded_and_sees_concurrent_senders(sink: SmtpSink) -> None:
    assert not sink.wait_for(1, timeout=0.05)

    def send(index: int) -> None:
        with connect(sink) as smtp:
            smtp.send_message(mail(f"user{index}@example.org", subject=f"page {index}"))

    senders = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for sender in senders:
        sender.start()
    assert sink.wait_for(8, timeout=5)
    for sender in senders:
        sender.join()
    assert sorted(m["Subject"] for m in sink.messages) == sorted(f"page {i}" for i in range(8))


def test_credentials_are_required_and_checked() -> None:
    with SmtpSink(credentials=("pager", "s3cret")) as sink:
        assert sink.url == f"smtp://pager:s3cret@127.0.0.1:{sink.port}?insecure_auth=1"  # it has no TLS
        with connect(sink) as smtp, pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.send_message(mail("alice@example.org"))
        assert refused.value.smtp_code == 530
        with connect(sink) as smtp, pytest.raises(smtplib.SMTPAuthenticationError) as denied:
            smtp.login("pager", "wrong")
        assert denied.value.smtp_code == 535
        with connect(sink) as smtp:
            smtp.login("pager", "s3cret")
            smtp.send_message(mail("alice@example.org"))
        assert len(sink.messages) == 1


def test_stop_frees_the_port() -> None:
    with SmtpSink() as sink:
        port = sink.port
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=1)
