"""The status page's three renderings of one `StatusPage`: the HTML page, the JSON document and the
Atom feed. Each is rendered once per refresh of the cache (`publishing.py`), never per request.

The JSON document's shape is stable (docs/status-page.md, "JSON"); `version` changes only when a
field is removed or changes meaning.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from pager.adapters.atom_feed import atom_feed
from pager.core.localtime import format_instant
from pager.core.status_page import STATE_LABELS, PublicIncident, StatusPage

JSON_VERSION = 1
STATUS_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}

_templates = Environment(
    loader=PackageLoader("pager", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["instant"] = lambda value: f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
_templates.filters["iso"] = lambda value: format_instant(value)


def status_html(page: StatusPage) -> bytes:
    """The page as HTML (pager/templates/status_page.html)."""
    template = _templates.get_template("status_page.html")
    return template.render(page=page, state_labels=STATE_LABELS, status_labels=STATUS_LABELS).encode("utf-8")


def status_json(page: StatusPage) -> bytes:
    """The JSON document (docs/status-page.md), as UTF-8 bytes."""
    return orjson.dumps(status_document(page))


def status_atom(page: StatusPage, public_url: str) -> bytes:
    """The Atom feed of the page's public updates."""
    return atom_feed(page, public_url)


def status_document(page: StatusPage) -> dict[str, Any]:
    """The page as the JSON document's plain values."""
    return {
        "version": JSON_VERSION,
        "generated_at": _instant(page.generated_at),
        "state": page.state,
        "description": page.label,
        "components": [{"id": c.id, "name": c.name, "state": c.state} for c in page.components],
        "incidents": [_incident(i) for i in page.open_incidents],
        "history": {
            "since": _instant(page.history_since),
            "days": [
                {"date": day.day.isoformat(), "incidents": [_incident(i) for i in day.incidents]}
                for day in page.history
            ],
        },
    }


def _incident(incident: PublicIncident) -> dict[str, Any]:
    return {
        "id": incident.number,
        "headline": incident.headline,
        "status": incident.status,
        "impact": incident.impact,
        "started_at": _instant(incident.started_at),
        "resolved_at": _instant(incident.resolved_at) if incident.resolved_at else None,
        "components": [{"id": c.id, "name": c.name} for c in incident.components],
        "updates": [
            {"id": u.id, "at": _instant(u.at), "status": u.status, "text": u.message}
            for u in incident.updates
        ],
        "more_updates": incident.more_updates,
    }


def _instant(value: datetime) -> str:
    return format_instant(value)
