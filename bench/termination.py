"""A benchmark stopped by SIGTERM or SIGHUP (`pkill -f bench/…`, a closed terminal) unwinds as on
Ctrl-C: its context managers stop the servers, workers and fakes it started and drop its scratch
databases. Without this, the signal ended only the parent and left its children serving."""

from __future__ import annotations

import signal
from types import FrameType


def unwind_on_termination() -> None:
    """Turn SIGTERM and SIGHUP into SystemExit in this (main) thread."""

    def unwind(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)
    signal.signal(signal.SIGHUP, unwind)
