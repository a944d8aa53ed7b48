"""One-line structured logs: `ts=… level=… logger=… <event> key=value …`, with secrets kept out."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

REDACTED = "[redacted]"
# What a request line can carry that would let someone reading the logs act as its sender. Each
# pattern keeps what helps debugging (the route, the parameter's name, the token's kind).
_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    # /integrations/<kind>/<integration key>, /ack/<signed email-link token>, /heartbeat/<monitor key>
    (re.compile(r"(/integrations/[^/?#\s\"]+/)[^/?#\s\"]+"), rf"\1{REDACTED}"),
    (re.compile(r"(/ack/)[^/?#\s\"]+"), rf"\1{REDACTED}"),
    (re.compile(r"(/heartbeat/)[^/?#\s\"]+"), rf"\1{REDACTED}"),
    # A query parameter named for a secret: token= (calendar feeds), routing_key=, api_key=, …
    (
        re.compile(r"(?i)((?:^|[?&;])[\w.-]*(?:token|key|secret|password)=)[^&;#\s\"]*"),
        rf"\1{REDACTED}",
    ),
    # API (pgr_) and calendar (pgc_) tokens, wherever they appear
    (re.compile(r"\b(pg[rc]_)[A-Za-z0-9_-]+"), rf"\1{REDACTED}"),
    # Integration (routing) keys: 32 hex digits standing alone
    (re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32}(?![0-9A-Za-z])"), REDACTED),
)


def redact(text: str) -> str:
    """`text` with integration keys, API and calendar tokens and email-link tokens replaced."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class SecretRedactingFilter(logging.Filter):
    """Redacts the string arguments of each record (uvicorn's access line: client, method, path+query,
    HTTP version, status), and a message that has no arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        args: Any = record.args
        if isinstance(args, Mapping):
            record.args = {name: _redacted(value) for name, value in args.items()}
        elif args:
            record.args = tuple(_redacted(value) for value in args)
        elif isinstance(record.msg, str):
            # Only without arguments: a redaction inside a format string could eat a `%s`.
            record.msg = redact(record.msg)
        return True


def _redacted(value: object) -> object:
    return redact(value) if isinstance(value, str) else value


class KeyValueFormatter(logging.Formatter):
    """`ts=2026-03-08T08:30:00.123Z level=info logger=pager.engine alert_decided alert=42 …`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        line = f"ts={stamp} level={record.levelname.lower()} logger={record.name} {record.getMessage()}"
        if record.exc_info:
            line += " exc=" + repr(self.formatException(record.exc_info))
        return line


def configure_logging(level: int = logging.INFO) -> None:
    """Send pager's logs to stderr as key=value lines; quieten the per-second scheduler chatter;
    keep integration keys and tokens out of the access log."""
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, SecretRedactingFilter) for existing in access.filters):
        access.addFilter(SecretRedactingFilter())
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # ~11 lines per API call
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plug-in loaded
