"""Rendered calendar feeds kept in memory until their inputs change.

A feed is a pure function of its inputs: the loaded config (its schedules), the window (`now`
floored to the hour), the alarm, the feed's display name, and the stored overrides that meet the
window. Every request still reads the token and the overrides from the database — an indexed read
of a few rows — so an override added or removed by any process (the CLI, another API process, a
future override kind stored in the same table) changes the key of the next request at once; only the
expensive part, computing a year of shifts and rendering them, is skipped. A revoked token is
refused before the cache is consulted, so a token change needs no invalidation. A config reload
replaces `Runtime.config` whole: the first lookup made with another config object empties the cache.

Entries are kept most-recently-used first, bounded by their total body size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

DEFAULT_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Feed:
    """A rendered feed: the .ics bytes, their strong ETag, and the name it is served under."""

    body: bytes
    etag: str
    filename: str
    name: str


class FeedCache:
    """A size-bounded LRU of rendered feeds, tied to one config object (thread-safe)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Feed] = OrderedDict()
        self._bytes = 0
        self._config: object | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_or_render(self, config: object, key: Hashable, render: Callable[[], Feed]) -> Feed:
        """The cached feed for `key` under `config`, or `render()`'s result (then kept)."""
        with self._lock:
            if config is not self._config:
                self._clear_locked()
                self._config = config
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        value = render()  # outside the lock: two threads may render the same feed once each
        size = len(value.body)
        with self._lock:
            if config is self._config and size <= self.max_bytes and key not in self._entries:
                self._entries[key] = value
                self._bytes += size
                while self._bytes > self.max_bytes:
                    _, dropped = self._entries.popitem(last=False)
                    self._bytes -= len(dropped.body)
        return value

    def clear(self) -> None:
        with self._lock:
            self._clear_locked()

    def __len__(self) -> int:
        return len(self._entries)

    def _clear_locked(self) -> None:
        self._entries.clear()
        self._bytes = 0
