"""The status page's public updates as an Atom feed (RFC 4287), written with feedgen.

One entry per public update, newest first. Entry ids are tag URIs (RFC 4151) made of the public
URL's host and the update's id, so they never change when an update is re-rendered; `updated` and
`published` are the update's instant in UTC. The text is plain (`type="text"`); characters XML 1.0
cannot carry are dropped, so one odd update never breaks the feed for everyone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlsplit

from feedgen.feed import FeedGenerator

from pager.core.status_page import PublicIncident, PublicUpdate, StatusPage

FEED_TITLE = "Service status"
# The date part of the tag URIs: fixed, so the ids stay the same forever.
TAG_DATE = "2026"
MAX_ENTRIES = 50
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_STATUS_WORDS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "closed": "Resolved",
}


def tag_id(public_url: str, name: str) -> str:
    """A tag URI naming `name` under the public URL's host: `tag:status.example.com,2026:name`."""
    host = urlsplit(public_url).hostname or "localhost"
    return f"tag:{host},{TAG_DATE}:{name}"


def entry_title(incident: PublicIncident, update: PublicUpdate) -> str:
    """`Identified: Partial outage: Checkout API` (the update's status first when it set one)."""
    status = _STATUS_WORDS.get(update.status or "", "Update")
    return f"{status}: {incident.headline}"


def atom_feed(page: StatusPage, public_url: str) -> bytes:
    """The feed of the newest MAX_ENTRIES public updates on `page`, as UTF-8 XML."""
    base = public_url.rstrip("/")
    entries = page.public_updates()[:MAX_ENTRIES]
    feed = FeedGenerator()
    feed.id(tag_id(public_url, "status"))
    feed.title(FEED_TITLE)
    feed.author({"name": FEED_TITLE})
    feed.link(href=f"{base}/status", rel="alternate", type="text/html")
    feed.link(href=f"{base}/status/feed.atom", rel="self", type="application/atom+xml")
    feed.language("en")
    feed.updated(_utc(entries[0][1].at if entries else page.generated_at))
    for incident, update in entries:
        entry = feed.add_entry(order="append")
        entry.id(tag_id(public_url, f"status/update/{update.id}"))
        entry.title(_xml_text(entry_title(incident, update)))
        entry.updated(_utc(update.at))
        entry.published(_utc(update.at))
        entry.link(href=f"{base}/status#incident-{incident.number}", rel="alternate", type="text/html")
        entry.content(_xml_text(update.message), type="text")
    body: bytes = feed.atom_str(pretty=True, encoding="UTF-8")
    return body


def _utc(instant: datetime) -> datetime:
    aware = instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant
    return aware.astimezone(UTC).replace(microsecond=0)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)
