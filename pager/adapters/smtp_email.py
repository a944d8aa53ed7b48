"""Email pages over SMTP (`smtp://user:pass@host:port?starttls=1`, or `smtps://` for implicit TLS)."""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from pager.adapters.delivery import PROVIDER_TIMEOUT_SECONDS, DeliveryOutcome, DeliveryResult, Method, Page
from pager.settings import SettingInvalid

_SHAPE = "smtp://user:pass@host:port?starttls=1 or smtps://user:pass@host:port"
_TRUE = ("1", "true", "yes")


class SmtpUrlInvalid(SettingInvalid):
    """PAGER_SMTP_URL cannot be used; the message never repeats the URL (it may hold a password)."""


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to connect, parsed from PAGER_SMTP_URL."""

    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    tls: bool


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse `smtp://user:pass@host:port?starttls=1` (or `smtps://` for implicit TLS).

    A URL with credentials must use TLS (`starttls=1` or `smtps://`) unless it says `insecure_auth=1`:
    otherwise the password would cross the network in clear. SmtpUrlInvalid says what is wrong
    without quoting the URL, which may hold the password.
    """
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in ("smtp", "smtps"):
        shown = f"starts with {scheme}://" if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme) else "has none"
        raise SmtpUrlInvalid(f"PAGER_SMTP_URL must start with smtp:// or smtps:// (it {shown}); use {_SHAPE}")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # urllib's message quotes the port, which a mistyped password can end up in
        raise SmtpUrlInvalid(
            "PAGER_SMTP_URL cannot be parsed: is its port a number from 1 to 65535, and are @ : / ? # "
            f"in the user name or password percent-encoded (%40 %3A %2F %3F %23)? Use {_SHAPE}"
        ) from None
    if not host:
        raise SmtpUrlInvalid(f"PAGER_SMTP_URL names no host; use {_SHAPE}")
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["0"])[0].lower() in _TRUE
    insecure_auth = query.get("insecure_auth", ["0"])[0].lower() in _TRUE
    tls = parts.scheme == "smtps"
    username = unquote(parts.username) if parts.username else None
    if username and not (tls or starttls or insecure_auth):
        raise SmtpUrlInvalid(
            "PAGER_SMTP_URL has credentials but no TLS, so the password would be sent in clear: add "
            "?starttls=1 or use smtps://. Only for a relay you trust on a private network, add "
            "?insecure_auth=1 to log in without TLS."
        )
    return SmtpTarget(
        host=host,
        port=port or (465 if tls else 25),
        username=username,
        password=unquote(parts.password) if parts.password else None,
        starttls=starttls,
        tls=tls,
    )


_ACCOUNT_CODES = frozenset({530, 534, 535})


class SmtpEmailNotifier:
    """Sends one email per page with one-click links; SMTP 5xx is permanent, 4xx transient."""

    method: Method = "email"

    def __init__(self, target: SmtpTarget, sender: str, timeout: float = PROVIDER_TIMEOUT_SECONDS) -> None:
        self.target = target
        self.sender = sender
        self.timeout = timeout

    def _compose(self, page: Page) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = page.address
        # A header may not hold a line break (the email package raises): keep the first line.
        first_line = next(iter((page.subject or page.body).splitlines()), "")
        message["Subject"] = first_line if page.subject else first_line[:78]
        message["Message-ID"] = f"<{page.idempotency_key.replace(':', '.')}@pager>"
        lines = [page.body, ""]
        lines.extend(f"{action.capitalize()}: {url}" for action, url in page.links.items())
        message.set_content("\n".join(lines))
        return message

    def send(self, page: Page) -> DeliveryResult:
        message = self._compose(page)
        try:
            smtp_class = smtplib.SMTP_SSL if self.target.tls else smtplib.SMTP
            with smtp_class(self.target.host, self.target.port, timeout=self.timeout) as smtp:
                if self.target.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.target.username:
                    smtp.login(self.target.username, self.target.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reason = next(iter(exc.recipients.values()))
            return _by_code(code, reason)
        except smtplib.SMTPResponseException as exc:
            return _by_code(exc.smtp_code, exc.smtp_error)
        except (ConnectionRefusedError, smtplib.SMTPConnectError) as exc:
            return DeliveryResult(DeliveryOutcome.TRANSIENT, error=f"smtp connect: {exc}")
        except (OSError, smtplib.SMTPException) as exc:
            return DeliveryResult(DeliveryOutcome.UNKNOWN, error=f"smtp: {type(exc).__name__}: {exc}")
        return DeliveryResult(DeliveryOutcome.SENT, provider_id=str(message["Message-ID"]))

    def reconcile(self, page: Page, attempted_at: datetime) -> str | None:
        # SMTP keeps no queryable record. Re-sending with the same Message-ID is safe: mail
        # clients collapse duplicates by Message-ID, while a lost page is not safe.
        return None


def _by_code(code: int, reason: bytes | str) -> DeliveryResult:
    text = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
    # 530/535 are our own login failing, not the recipient: retry, fall back only when retries run out.
    permanent = 500 <= code < 600 and code not in _ACCOUNT_CODES
    outcome = DeliveryOutcome.PERMANENT if permanent else DeliveryOutcome.TRANSIENT
    return DeliveryResult(outcome, error=f"smtp {code}: {text}", error_code=code)
