"""The fake Twilio's programmed faults: what it does instead of answering, and for which requests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["server_error", "rate_limited", "invalid_to", "hang", "drop"]
FAULT_KINDS: tuple[FaultKind, ...] = ("server_error", "rate_limited", "invalid_to", "hang", "drop")


@dataclass(frozen=True)
class Fault:
    """What the fake does instead of answering normally.

    `record` (hang, drop): create the resource before hanging/dropping; for a hang without it the
    resource is only created if the fake answers late. `delay` (hang): answer after this many seconds;
    None never answers (the connection is closed when the fake stops).
    """

    kind: FaultKind
    record: bool = True
    delay: float | None = None


@dataclass
class _FaultRule:
    fault: Fault
    method: str | None  # None: any method
    to: str | None  # None: the next matching request whatever its destination
    remaining: int | None  # None: forever


class FaultRules:
    """The faults programmed so far, taken by the requests they match (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_FaultRule] = []

    def add(self, fault: Fault, *, method: str | None, to: str | None, count: int | None) -> None:
        """Apply `fault` to the next `count` requests (None: all) with `method` (None: any) to `to`
        (None: whatever their destination)."""
        with self._lock:
            self._rules.append(_FaultRule(fault, method, to, count))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, method: str, to: str | None) -> Fault | None:
        """The fault for a request with this method and destination (None: answer normally)."""
        with self._lock:
            # Destination rules win over the queue of "next request" faults.
            ordered = [r for r in self._rules if r.to is not None] + [r for r in self._rules if r.to is None]
            for rule in ordered:
                if rule.method not in (None, method) or (rule.to is not None and rule.to != to):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._rules.remove(rule)
                return rule.fault
            return None
