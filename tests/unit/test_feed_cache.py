"""The feed cache on its own: hits, the byte bound, and a new config emptying it."""

from __future__ import annotations

from pager.services.calendars.feed_cache import Feed, FeedCache


def feed(size: int, tag: str = "") -> Feed:
    return Feed(body=b"x" * size, etag=f'"{tag}"', filename="f.ics", name=tag)


class Renders:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, size: int, tag: str) -> Feed:
        self.count += 1
        return feed(size, tag)


def test_a_key_renders_once_then_hits() -> None:
    cache, renders, config = FeedCache(), Renders(), object()
    first = cache.get_or_render(config, ("a",), lambda: renders(10, "a"))
    again = cache.get_or_render(config, ("a",), lambda: renders(10, "a2"))
    other = cache.get_or_render(config, ("b",), lambda: renders(10, "b"))
    assert (first.etag, again.etag, other.etag) == ('"a"', '"a"', '"b"')
    assert (renders.count, cache.hits, cache.misses) == (2, 1, 2)


def test_another_config_object_empties_the_cache() -> None:
    cache, renders = FeedCache(), Renders()
    old, new = object(), object()
    cache.get_or_render(old, ("a",), lambda: renders(10, "old"))
    assert cache.get_or_render(new, ("a",), lambda: renders(10, "new")).etag == '"new"'
    assert renders.count == 2 and len(cache) == 1
    # The old config's render, finishing late, is not kept for the new config.
    assert cache.get_or_render(new, ("a",), lambda: renders(10, "again")).etag == '"new"'


def test_total_body_bytes_are_bounded_least_recently_used_first() -> None:
    cache, renders, config = FeedCache(max_bytes=25), Renders(), object()
    for key in ("a", "b"):
        cache.get_or_render(config, (key,), lambda key=key: renders(10, key))  # type: ignore[misc]
    cache.get_or_render(config, ("a",), lambda: renders(10, "a-again"))  # a is now the freshest
    cache.get_or_render(config, ("c",), lambda: renders(10, "c"))  # 30 bytes: b goes
    assert len(cache) == 2
    assert cache.get_or_render(config, ("a",), lambda: renders(10, "a-new")).etag == '"a"'
    assert cache.get_or_render(config, ("b",), lambda: renders(10, "b-new")).etag == '"b-new"'
    # A body larger than the whole bound is served but not kept.
    cache.get_or_render(config, ("huge",), lambda: renders(100, "huge"))
    assert cache.get_or_render(config, ("huge",), lambda: renders(100, "huge2")).etag == '"huge2"'
