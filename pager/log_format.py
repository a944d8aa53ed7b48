"""One-line structured logs: `ts=… level=… logger=… <event> key=value …`."""

from __future__ import annotations

import logging
from datetime import UTC, datetime


class KeyValueFormatter(logging.Formatter):
    """`ts=2026-03-08T08:30:00.123Z level=info logger=pager.engine alert_decided alert=42 …`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        line = f"ts={stamp} level={record.levelname.lower()} logger={record.name} {record.getMessage()}"
        if record.exc_info:
            line += " exc=" + repr(self.formatException(record.exc_info))
        return line


def configure_logging(level: int = logging.INFO) -> None:
    """Send pager's logs to stderr as key=value lines; quieten the per-second scheduler chatter."""
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)  # ~11 lines per API call
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plug-in loaded
