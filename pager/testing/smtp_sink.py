"""A real SMTP server (aiosmtpd) on loopback that keeps every mail it accepts, with injectable refusals."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

_DEFAULT_REPLIES = {
    550: "5.1.1 Recipient address rejected: User unknown",
    451: "4.3.0 Temporary failure, please try again later",
}


@dataclass(frozen=True)
class Delivery:
    """One accepted mail: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


@dataclass
class _Refusal:
    recipient: str
    reply: str
    remaining: int | None  # None: forever


class SmtpSink:
    """SMTP server on 127.0.0.1 (free port) collecting mail; use as a context manager.

    With `credentials` it offers AUTH PLAIN/LOGIN without TLS and refuses MAIL from a session that
    did not authenticate (530).
    """

    def __init__(self, *, host: str = "127.0.0.1", credentials: tuple[str, str] | None = None) -> None:
        self.host = host
        self.port = 0
        self._credentials = credentials
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._deliveries: list[Delivery] = []
        self._refusals: list[_Refusal] = []
        self._controller: _BoundController | None = None

    def start(self) -> SmtpSink:
        """Bind a free port and serve in aiosmtpd's background thread."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Bound here rather than by aiosmtpd, which cannot use port 0 (it connects to its own port).
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        extra: dict[str, Any] = {}
        if self._credentials is not None:
            extra = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = _BoundController(self, sock, **extra)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop the server and free the port."""
        if self._controller is not None:
            self._controller.stop()
        self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`smtp://[user:pass@]127.0.0.1:PORT`, the shape of PAGER_SMTP_URL.

        With credentials it ends in `?insecure_auth=1`: the sink offers no TLS, and pager logs in
        without TLS only when the URL says so.
        """
        if self._credentials is None:
            return f"smtp://{self.host}:{self.port}"
        return "smtp://{}:{}@{}:{}?insecure_auth=1".format(*self._credentials, self.host, self.port)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every accepted mail with its envelope, in arrival order."""
        with self._lock:
            return list(self._deliveries)

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted mail, parsed, in arrival order."""
        return [delivery.message for delivery in self.deliveries]

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until at least `count` mails were accepted or `timeout` seconds passed."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._deliveries) >= count, timeout)

    def refuse(
        self, recipient: str, code: int = 550, reply: str | None = None, *, count: int | None = None
    ) -> None:
        """Answer RCPT TO `recipient` with `code` (550 permanent, 451 temporary, ...).

        Applies to the next `count` attempts for that recipient (None: all of them).
        """
        text = reply or _DEFAULT_REPLIES.get(code, "Refused")
        with self._lock:
            self._refusals.append(_Refusal(recipient.lower(), f"{code} {text}", count))

    def clear_refusals(self) -> None:
        """Accept every recipient again."""
        with self._lock:
            self._refusals.clear()

    # -- aiosmtpd handler hooks (run on the server's event loop thread) ------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self._credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        with self._lock:
            for refusal in self._refusals:
                if refusal.recipient == address.lower():
                    if refusal.remaining is not None:
                        refusal.remaining -= 1
                        if refusal.remaining <= 0:
                            self._refusals.remove(refusal)
                    return refusal.reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # SMTP carries CRLF; the email package's in-memory form (and what tests compare with) uses LF.
        raw = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        message = BytesParser(policy=policy.default).parsebytes(raw)
        if not isinstance(message, EmailMessage):  # policy.default always yields EmailMessage
            return "554 5.6.0 Unparseable message"
        delivery = Delivery(envelope.mail_from or "", tuple(envelope.rcpt_tos), message)
        with self._changed:
            self._deliveries.append(delivery)
            self._changed.notify_all()
        return "250 Message accepted for delivery"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        given = (
            (auth_data.login.decode(), auth_data.password.decode())
            if isinstance(auth_data, LoginPassword)
            else None
        )
        if given is not None and given == self._credentials:
            return AuthResult(success=True, auth_data=auth_data)
        # handled=False: aiosmtpd itself answers 535 (handled=True would leave the client waiting).
        return AuthResult(success=False, handled=False)


class _BoundController(Controller):
    """aiosmtpd's threaded Controller serving on a socket that is already bound."""

    def __init__(self, handler: SmtpSink, sock: socket.socket, **smtp_kwargs: Any) -> None:
        self._sock = sock
        host, port = sock.getsockname()[:2]
        super().__init__(handler, hostname=host, port=port, **smtp_kwargs)

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        # The documented extension point: it must hand _factory_invoker to the loop.
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)
